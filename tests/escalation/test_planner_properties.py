"""Properties of the planner over random valid policies and random event sequences."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from homefollow.escalation import AlertFacts, EscalationState, OnCallSchedule, PolicyError, parse_policy, plan

from .helpers import ON_CALL_PHONE, RESPONSE_CENTRE, ROUND_THE_CLOCK, UTC, make_team
from tests.conftest import examples

DAY_NURSES = OnCallSchedule.model_validate({
    "rotations": [{"role": "nurse", "people": [11, 12], "start_date": "2026-01-05", "shift_start": "08:00",
                   "shift_end": "16:00", "weekdays": [0, 1, 2, 3, 4]}],
})

targets = st.sampled_from([
    {"kind": "on_call", "role": "nurse"},
    {"kind": "role", "role": "coordinator"},
    {"kind": "role", "role": "physician"},  # e-mail only
    {"kind": "person", "account_id": 41},
    {"kind": "person", "account_id": 999},  # unknown: resolves to nobody
    {"kind": "phone", "number": RESPONSE_CENTRE},
    {"kind": "queue_only"},
])


@st.composite
def steps(draw, always_red: bool = False):
    target = draw(targets)
    if always_red:
        target = draw(targets.filter(lambda t: t["kind"] != "queue_only"))
    if target["kind"] == "queue_only":
        severities = ["yellow"]
    elif always_red:
        severities = ["red"] if draw(st.booleans()) else ["yellow", "red"]
    else:
        severities = draw(st.sampled_from([["yellow"], ["red"], ["yellow", "red"]]))
    channels = ["sms"] if target["kind"] == "phone" else draw(
        st.sampled_from([["sms"], ["email"], ["sms", "email"], ["email", "sms"]]))
    return {
        "target": target,
        "channels": channels,
        "severities": severities,
        "when": "always" if always_red else draw(st.sampled_from(["always", "in_opening_hours",
                                                                   "outside_opening_hours"])),
        "wait": {"red": draw(st.integers(0, 60)), "yellow": draw(st.integers(0, 240))},
    }


@st.composite
def policies(draw):
    chain = draw(st.lists(steps(), min_size=0, max_size=4))
    chain.insert(draw(st.integers(0, len(chain))), draw(steps(always_red=True)))
    data = {
        "name": "generated",
        "steps": chain,
        "repeat": draw(st.integers(0, 3)),
        "fallback": [{"kind": "phone", "number": ON_CALL_PHONE}] + draw(
            st.sampled_from([[], [{"kind": "person", "account_id": 42}]])),
        "ack_timeout": {"red": draw(st.integers(5, 60)), "yellow": draw(st.integers(5, 300))},
        "snooze_max": {"red": draw(st.integers(0, 240)), "yellow": draw(st.integers(0, 1440))},
    }
    if draw(st.booleans()):
        data["yellow_remeasure"] = {"wait": draw(st.integers(5, 120)), "rule_keys": ["copd.spo2"]}
    try:
        return parse_policy(data)
    except PolicyError:
        assume(False)


events = st.lists(
    st.tuples(
        st.integers(0, 120),  # minutes since the previous event
        st.sampled_from(["tick", "tick", "tick", "ack", "resolve", "raise", "snooze", "fail", "fail", "finding"]),
        st.integers(0, 1000),  # a free number for the action (which key fails, snooze length)
    ),
    max_size=40,
)
starts = st.integers(0, 365 * 24 * 4).map(lambda q: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * q))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(policies(), st.sampled_from(["yellow", "red"]), st.booleans(),
       st.sampled_from([ROUND_THE_CLOCK, DAY_NURSES, OnCallSchedule()]), starts, events)
def test_planner_properties(policy, severity, patient_sms, schedule, start, script):
    team = make_team(on_call=schedule)
    alert = AlertFacts(alert_id=1, severity=severity, opened_at=start, rule_key="copd.spo2", patient_sms=patient_sms)
    state: EscalationState | None = None
    failed: set[str] = set()
    issued: list[str] = []
    now = start
    for delta, action, n in [(0, "tick", 0), *script]:
        now += timedelta(minutes=delta)
        if action == "ack" and alert.acknowledged_at is None:
            alert = dataclasses.replace(alert, acknowledged_at=now)
        elif action == "resolve":
            alert = dataclasses.replace(alert, resolved_at=now)
        elif action == "raise" and alert.severity == "yellow":
            alert = dataclasses.replace(alert, severity="red", raised_at=now, acknowledged_at=None)
        elif action == "snooze":
            alert = dataclasses.replace(alert, snoozed_at=now, snoozed_until=now + timedelta(minutes=1 + n))
        elif action == "fail" and issued:
            failed.add(issued[n % len(issued)])
        elif action == "finding":
            alert = dataclasses.replace(alert, last_seen_at=now)

        before = state.episode if state else 0
        result = plan(policy, alert, team, state, now, frozenset(failed))

        # Idempotent: the same moment with the recorded state yields nothing new.
        again = plan(policy, alert, team, result.state, now, frozenset(failed))
        assert again.intents == () and again.next_due_at == result.next_due_at and not again.returned_to_queue

        # next_due_at is in the future, and nothing is due before it unless a fact changes.
        if result.next_due_at is not None:
            assert result.next_due_at > now
            probe = now + (result.next_due_at - now) / 2
            assert plan(policy, alert, team, result.state, probe, frozenset(failed)).intents == ()

        if result.status in ("resolved", "snoozed", "acknowledged"):
            assert result.intents == ()
        # Red never starts without paging someone (unless paused by an ack or snooze of this episode).
        if alert.severity == "red" and result.state.episode > before and result.status not in (
                "resolved", "snoozed", "acknowledged"):
            assert [i for i in result.intents if i.kind in ("page", "fallback")]
        if alert.severity == "red":
            assert all(i.kind != "remeasure" for i in result.intents)

        event(f"status {result.status}")
        for i in result.intents:
            event(f"intent {i.kind}" + (" (after a failure)" if failed else ""))
        if result.returned_to_queue:
            event("returned to the queue")
        issued.extend(i.dedup_key for i in result.intents)
        if result.returned_to_queue:
            alert = dataclasses.replace(alert, acknowledged_at=None)
        state = EscalationState.model_validate_json(result.state.model_dump_json())

    assert len(issued) == len(set(issued)), "dedup keys must be unique"
    assert all(len(k) <= 200 for k in issued)

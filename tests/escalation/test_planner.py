"""The planner's semantics, event by event (see the table in docs/escalation.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homefollow.escalation import (
    AlertFacts,
    EscalationState,
    OnCallSchedule,
    PhoneTarget,
    parse_policy,
    plan,
    snooze_problems,
)
from homefollow.escalation.policy import Contact, dedup_key, next_opening_change

from .helpers import (
    BASE_POLICY,
    HOURS_POLICY,
    ON_CALL_PHONE,
    RESPONSE_CENTRE,
    Timeline,
    make_policy,
    make_team,
    nurse_on_duty,
    oslo,
    policy_data,
)

T0 = oslo(2026, 3, 10, 10, 0)  # a Tuesday, in opening hours


def alert(severity="red", at=T0, **facts) -> AlertFacts:
    return AlertFacts(alert_id=7, severity=severity, opened_at=at, rule_key="copd.spo2", **facts)


# -- repeats and exhaustion -------------------------------------------------------------------

@pytest.mark.parametrize("repeat", [0, 1, 3])
def test_yellow_repeats_are_bounded_and_the_alert_stays_in_the_queue(repeat):
    tl = Timeline(make_policy(repeat=repeat), alert("yellow"))
    tl.run_until(T0 + timedelta(days=2), step=timedelta(minutes=5))
    rounds = sorted({s.intent.repeat_round for s in tl.sent})
    assert rounds == list(range(repeat + 1))
    assert len(tl.sent) == 3 * (repeat + 1)  # nurse + two coordinators per round
    # Never dropped: exhausted means nobody more is paged, the alert is still unresolved.
    assert tl.last.status == "exhausted" and tl.last.next_due_at is None
    assert tl.alert.resolved_at is None


@pytest.mark.parametrize("repeat", [0, 2])
def test_red_never_ends_in_silence_the_fallback_repeats_until_acknowledged(repeat):
    tl = Timeline(make_policy(repeat=repeat), alert())
    end_of_chain = T0 + timedelta(minutes=30 * (repeat + 1))  # two steps of 15 minutes per round
    plans = []
    while tl.clock.now() < end_of_chain + timedelta(hours=2):
        tl.tick()
        plans.append(tl.last)
        tl.clock.advance(minutes=5)
    chain = [s for s in tl.sent if s.at < end_of_chain]
    assert len(chain) == 3 * (repeat + 1)
    repeats = [s for s in tl.sent if s.at >= end_of_chain]
    assert [(s.at - end_of_chain, s.intent.kind, s.intent.recipient) for s in repeats] == [
        (timedelta(minutes=15 * n), "fallback", f"tel{ON_CALL_PHONE}") for n in range(8)]
    assert repeats[0].intent.dedup_key == f"esc:7:e1:red:r{repeat}:rep1:tel{ON_CALL_PHONE}:sms"
    assert [p.tell_admins for p in plans].count(True) == 1  # the admins are told once, at the first repeat
    assert tl.last.status == "repeating"
    tl.acknowledge()
    tl.run_until(tl.clock.now() + timedelta(minutes=29))
    assert tl.sent[-1] is repeats[-1]  # acknowledged: quiet until the ack timeout


def test_each_round_resolves_on_call_again():
    # Round 0 at 07:45 (yesterday's nurse), round 1 at 08:15 (after the 08:00 handover).
    start = oslo(2026, 3, 10, 7, 45)
    tl = Timeline(make_policy(repeat=1), alert(at=start))
    tl.run_until(start + timedelta(hours=1))
    nurses = [s.intent.account_id for s in tl.sent if s.intent.step_index == 0]
    assert nurses == [nurse_on_duty(start), nurse_on_duty(start + timedelta(minutes=30))]
    assert nurses[0] != nurses[1]


# -- fallback -----------------------------------------------------------------------------------

def test_nobody_on_call_pages_the_fallback_at_once():
    tl = Timeline(make_policy(), alert(), team=make_team(on_call=OnCallSchedule()))
    intents = tl.tick()
    assert [(i.kind, i.recipient, i.step_index) for i in intents] == [("fallback", f"tel{ON_CALL_PHONE}", 0)]
    assert intents[0].dedup_key == f"esc:7:e1:red:r0:s0fb:tel{ON_CALL_PHONE}:sms"
    assert isinstance(intents[0].target, PhoneTarget)


def test_a_person_without_a_usable_address_counts_as_nobody():
    policy = make_policy(steps=[
        {"target": {"kind": "person", "account_id": 51}, "channels": ["sms"], "wait": {"red": 10, "yellow": 10}},
        *BASE_POLICY["steps"],
    ])
    intents = Timeline(policy, alert()).tick()  # 51 (physician) has e-mail only
    assert [(i.kind, i.recipient) for i in intents] == [("fallback", f"tel{ON_CALL_PHONE}")]


def test_fallback_recipients_are_deduplicated():
    policy = make_policy(fallback=[{"kind": "phone", "number": ON_CALL_PHONE},
                                   {"kind": "phone", "number": "+47 90 00 00 00"},
                                   {"kind": "person", "account_id": 41}])
    intents = Timeline(policy, alert(), team=make_team(on_call=None)).tick()
    assert [i.recipient for i in intents] == [f"tel{ON_CALL_PHONE}", "acct41"]


def test_red_page_that_fails_by_sms_pages_the_fallback_by_sms_at_once():
    tl = Timeline(make_policy(), alert())
    for minute in range(0, 20):
        tl.clock.set(T0 + timedelta(minutes=minute))
        for intent in tl.tick():
            if intent.kind != "fallback":
                tl.fail(intent)  # every number and address is wrong
    kinds = [(s.local, s.intent.kind, s.intent.recipient, s.intent.channel) for s in tl.sent]
    nurse = f"acct{nurse_on_duty(T0)}"
    assert kinds == [
        ("10:00", "page", nurse, "sms"), ("10:01", "page", nurse, "email"),
        ("10:01", "fallback", f"tel{ON_CALL_PHONE}", "sms"),
        ("10:02", "page", "acct41", "sms"), ("10:02", "page", "acct42", "sms"),
        ("10:03", "page", "acct41", "email"), ("10:03", "page", "acct42", "email"),
        ("10:03", "fallback", f"tel{ON_CALL_PHONE}", "sms"),
        ("10:04", "fallback", f"tel{ON_CALL_PHONE}", "sms"), ("10:19", "fallback", f"tel{ON_CALL_PHONE}", "sms"),
    ]
    assert tl.last.status == "repeating"


def test_red_step_whose_people_have_no_mobile_number_also_pages_the_fallback():
    no_phones = make_team(contacts={k: Contact(email=v.email) for k, v in make_team().contacts.items()})
    intents = Timeline(make_policy(), alert(), team=no_phones).tick()
    assert [(i.kind, i.channel, i.recipient) for i in intents] == [
        ("page", "email", f"acct{nurse_on_duty(T0)}"), ("fallback", "sms", f"tel{ON_CALL_PHONE}")]
    yellow = Timeline(make_policy(), alert("yellow"), team=no_phones).tick()
    assert [(i.kind, i.channel) for i in yellow] == [("page", "email")]


def test_everything_failed_to_the_end_pages_the_fallback_once():
    tl = Timeline(make_policy(), alert("yellow"))
    for minute in range(0, 120):
        tl.clock.set(T0 + timedelta(minutes=minute))
        for intent in tl.tick():
            if intent.kind != "fallback":
                tl.fail(intent)  # every number and address is wrong
    kinds = [(s.local, s.intent.kind, s.intent.recipient, s.intent.channel) for s in tl.sent]
    nurse = f"acct{nurse_on_duty(T0)}"
    # Each failure is reported a minute after the page; every failure moves on at once.
    assert kinds == [
        ("10:00", "page", nurse, "sms"), ("10:01", "page", nurse, "email"),
        ("10:02", "page", "acct41", "sms"), ("10:02", "page", "acct42", "sms"),
        ("10:03", "page", "acct41", "email"), ("10:03", "page", "acct42", "email"),
        ("10:04", "fallback", f"tel{ON_CALL_PHONE}", "sms"),
    ]
    assert tl.sent[-1].intent.dedup_key == f"esc:7:e1:yellow:r0:end:tel{ON_CALL_PHONE}:sms"
    assert tl.last.status == "exhausted"


# -- severity raised ------------------------------------------------------------------------------

def test_severity_raise_restarts_at_step_zero_with_red_timings():
    tl = Timeline(make_policy(), alert("yellow"))
    tl.run_until(T0 + timedelta(minutes=20))
    tl.acknowledge()  # a yellow acknowledgement must not hold back the red
    tl.clock.advance(minutes=5)
    tl.update(severity="red", raised_at=tl.clock.now())
    tl.run_until(T0 + timedelta(minutes=54))
    nurse = f"acct{nurse_on_duty(T0)}"
    assert [(s.local, s.intent.severity, s.intent.recipient) for s in tl.sent] == [
        ("10:00", "yellow", nurse),
        ("10:25", "red", nurse),
        ("10:40", "red", "acct41"), ("10:40", "red", "acct42"),
    ]
    assert tl.sent[1].intent.dedup_key.startswith("esc:7:e2:red:r0:s0:")
    assert tl.state.episode == 2


def test_raise_without_raised_at_is_noticed_by_the_severity_change():
    tl = Timeline(make_policy(), alert("yellow"))
    tl.tick()
    tl.clock.advance(minutes=3)
    tl.update(severity="red")
    assert [i.severity for i in tl.tick()] == ["red"]


# -- acknowledge and its timeout ------------------------------------------------------------------

def test_ack_timeout_returns_to_the_queue_and_resumes_at_the_next_step():
    tl = Timeline(make_policy(repeat=1), alert())
    tl.run_until(T0 + timedelta(minutes=5))
    tl.acknowledge()  # 10:05
    tl.run_until(T0 + timedelta(minutes=34))
    assert len(tl.sent) == 1
    tl.run_until(T0 + timedelta(minutes=35))
    assert tl.returned == [T0 + timedelta(minutes=35)]
    assert [(s.local, s.intent.recipient) for s in tl.sent[1:]] == [("10:35", "acct41"), ("10:35", "acct42")]
    # And it carries on with its usual waits from there.
    tl.run_until(T0 + timedelta(minutes=50))
    assert [(s.local, s.intent.repeat_round, s.intent.step_index) for s in tl.sent[3:]] == [("10:50", 1, 0)]


def test_ack_timeout_on_red_with_nothing_left_pages_the_fallback():
    tl = Timeline(make_policy(), alert())
    tl.run_until(T0 + timedelta(minutes=16))
    tl.acknowledge()
    tl.run_until(T0 + timedelta(minutes=50))
    assert tl.returned == [T0 + timedelta(minutes=46)]
    assert [(s.local, s.intent.kind, s.intent.recipient) for s in tl.sent[3:]] == [
        ("10:46", "fallback", f"tel{ON_CALL_PHONE}")]
    assert tl.sent[3].intent.dedup_key == f"esc:7:e1:red:r0:rep1:tel{ON_CALL_PHONE}:sms"


def test_ack_timeout_on_yellow_with_nothing_left_only_returns_to_the_queue():
    tl = Timeline(make_policy(), alert("yellow"))
    tl.run_until(T0 + timedelta(minutes=61))
    tl.acknowledge()
    tl.run_until(T0 + timedelta(hours=8))
    assert tl.returned == [T0 + timedelta(minutes=61 + 240)]
    assert len(tl.sent) == 3


def test_a_new_ack_after_the_timeout_pauses_again():
    tl = Timeline(make_policy(repeat=2), alert())
    tl.run_until(T0 + timedelta(minutes=1))
    tl.acknowledge()
    tl.run_until(T0 + timedelta(minutes=31))  # returned at 10:31, coordinators paged
    tl.acknowledge()
    sent = len(tl.sent)
    tl.run_until(T0 + timedelta(minutes=60))
    assert len(tl.sent) == sent and tl.last.status == "acknowledged"


# -- snooze ---------------------------------------------------------------------------------------

def test_snooze_pauses_until_its_end_then_the_due_step_runs():
    tl = Timeline(make_policy(), alert("yellow"))
    tl.run_until(T0 + timedelta(minutes=5))
    tl.update(snoozed_at=tl.clock.now(), snoozed_until=T0 + timedelta(hours=3))
    tl.tick()
    assert tl.last.status == "snoozed" and tl.last.next_due_at == T0 + timedelta(hours=3)
    tl.run_until(T0 + timedelta(hours=3, minutes=30))
    assert [(s.local, s.intent.step_index) for s in tl.sent] == [("10:00", 0), ("13:00", 1), ("13:00", 1)]


def test_snooze_is_capped_at_the_policy_maximum():
    tl = Timeline(make_policy(), alert())
    tl.tick()
    tl.update(snoozed_at=T0, snoozed_until=T0 + timedelta(days=2))  # red max is 60 minutes
    tl.clock.set(T0 + timedelta(minutes=1))
    tl.tick()
    assert tl.last.next_due_at == T0 + timedelta(minutes=60)
    tl.run_until(T0 + timedelta(minutes=60))
    assert [s.local for s in tl.sent] == ["10:00", "11:00", "11:00"]


def test_a_snooze_from_before_the_raise_does_not_hold_back_red():
    tl = Timeline(make_policy(), alert("yellow"))
    tl.tick()
    tl.update(snoozed_at=T0, snoozed_until=T0 + timedelta(hours=12))
    tl.clock.set(T0 + timedelta(minutes=30))
    tl.update(severity="red", raised_at=tl.clock.now())
    assert [i.severity for i in tl.tick()] == ["red"]


def test_snooze_problems():
    policy = make_policy()
    assert snooze_problems(policy, "yellow", T0, T0 + timedelta(hours=2), "Patient ringt, måler i kveld") == []
    assert snooze_problems(policy, "red", T0, T0 + timedelta(hours=2), "x") == [
        ("until", "red alerts can be snoozed for at most 60 minutes")]
    assert snooze_problems(policy, "red", T0, T0 - timedelta(minutes=1), " ") == [
        ("reason", "say why the alert is snoozed"), ("until", "must be in the future")]
    assert snooze_problems(policy, "red", T0, None, "r") == [("until", "choose when the snooze ends")]
    no_red_snooze = make_policy(snooze_max={"red": 0, "yellow": 60})
    assert snooze_problems(no_red_snooze, "red", T0, T0 + timedelta(minutes=5), "r") == [
        ("until", "this policy does not allow snoozing red alerts")]


# -- failed deliveries ----------------------------------------------------------------------------

def test_failed_sms_moves_to_the_next_channel_at_once_and_keeps_the_step_deadline():
    tl = Timeline(make_policy(), alert())
    [sms] = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=3))
    tl.fail(sms)  # the delivery callback said undelivered
    email, fallback = tl.tick()
    assert (email.recipient, email.channel, email.address, email.step_index) == (
        sms.recipient, "email", f"nurse{sms.account_id}@example.no", 0)
    assert (fallback.kind, fallback.channel) == ("fallback", "sms")  # red also goes by SMS
    assert tl.last.next_due_at == T0 + timedelta(minutes=15)


def test_recipient_unreachable_on_every_channel_makes_the_next_step_due_at_once():
    tl = Timeline(make_policy(), alert())
    [sms] = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=2))
    tl.fail(sms)
    email, _fallback = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=4))
    tl.fail(email)
    assert [(i.recipient, i.step_index) for i in tl.tick()] == [("acct41", 1), ("acct42", 1)]
    assert tl.last.next_due_at == T0 + timedelta(minutes=19)


def test_one_unreachable_recipient_of_several_does_not_cut_the_wait():
    tl = Timeline(make_policy(steps=[BASE_POLICY["steps"][1], BASE_POLICY["steps"][0]]), alert())
    first, _ = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=1))
    tl.fail(first)
    tl.tick()  # acct41 by e-mail
    tl.clock.set(T0 + timedelta(minutes=2))
    tl.fail(tl.sent[-1].intent)
    assert tl.tick() == []
    assert tl.last.next_due_at == T0 + timedelta(minutes=15)


def test_failed_page_of_a_step_already_passed_changes_nothing():
    tl = Timeline(make_policy(), alert())
    tl.run_until(T0 + timedelta(minutes=16))
    tl.fail(tl.sent[0].intent)  # a late callback for the 10:00 nurse SMS
    assert tl.tick() == []


def test_phone_step_failure_goes_to_the_next_step():
    policy = make_policy(steps=[
        {"target": {"kind": "phone", "number": RESPONSE_CENTRE}, "wait": {"red": 15, "yellow": 60}},
        BASE_POLICY["steps"][0],
    ])
    tl = Timeline(policy, alert())
    [page] = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=1))
    tl.fail(page)
    assert [(i.kind, i.step_index) for i in tl.tick()] == [("fallback", 0), ("page", 1)]


# -- yellow re-measure ----------------------------------------------------------------------------

REMEASURE = {"wait": 30, "rule_keys": ["copd.spo2"]}


def test_yellow_asks_the_patient_to_remeasure_before_paging():
    tl = Timeline(make_policy(yellow_remeasure=REMEASURE), alert("yellow", patient_sms=True))
    tl.run_until(T0 + timedelta(minutes=40))
    assert [(s.local, s.intent.kind, s.intent.recipient) for s in tl.sent] == [
        ("10:00", "remeasure", "patient"), ("10:30", "page", f"acct{nurse_on_duty(T0)}")]
    assert tl.sent[0].intent.address is None and tl.sent[0].intent.target is None


def test_a_repeated_yellow_finding_after_the_request_pages_at_once():
    tl = Timeline(make_policy(yellow_remeasure=REMEASURE), alert("yellow", patient_sms=True))
    tl.run_until(T0 + timedelta(minutes=12))
    tl.update(last_seen_at=tl.clock.now())
    assert [i.kind for i in tl.tick()] == ["page"]


def test_red_never_waits_for_a_remeasure():
    tl = Timeline(make_policy(yellow_remeasure=REMEASURE), alert("red", patient_sms=True))
    assert [i.kind for i in tl.tick()] == ["page"]


def test_raise_to_red_during_the_remeasure_wait_pages_at_once():
    tl = Timeline(make_policy(yellow_remeasure=REMEASURE), alert("yellow", patient_sms=True))
    tl.run_until(T0 + timedelta(minutes=10))
    tl.update(severity="red", raised_at=tl.clock.now())
    assert [(i.kind, i.severity) for i in tl.tick()] == [("page", "red")]


@pytest.mark.parametrize(("rule_key", "patient_sms"), [("copd.spo2", False), ("hf.weight_gain_3d", True)])
def test_no_remeasure_when_the_patient_has_no_sms_or_the_rule_is_not_listed(rule_key, patient_sms):
    a = AlertFacts(alert_id=7, severity="yellow", opened_at=T0, rule_key=rule_key, patient_sms=patient_sms)
    assert [i.kind for i in Timeline(make_policy(yellow_remeasure=REMEASURE), a).tick()] == ["page"]


def test_undelivered_remeasure_request_pages_at_once():
    tl = Timeline(make_policy(yellow_remeasure=REMEASURE), alert("yellow", patient_sms=True))
    [request] = tl.tick()
    tl.clock.set(T0 + timedelta(minutes=1))
    tl.fail(request)
    assert [i.kind for i in tl.tick()] == ["page"]


# -- opening hours and queue-only steps -----------------------------------------------------------

def yellow_waits_for_morning_policy():
    return make_policy(steps=[
        {"target": {"kind": "on_call", "role": "nurse"}, "wait": {"red": 15, "yellow": 60},
         "when": "in_opening_hours"},
        {"target": {"kind": "phone", "number": RESPONSE_CENTRE}, "severities": ["red"],
         "wait": {"red": 15}, "when": "outside_opening_hours"},
    ])


def test_yellow_outside_hours_waits_for_the_morning():
    friday_evening = oslo(2026, 3, 27, 18, 0)  # Monday 30 March is after the spring DST change
    tl = Timeline(yellow_waits_for_morning_policy(), alert("yellow", at=friday_evening))
    tl.tick()
    assert tl.last.status == "waiting_for_hours"
    monday = oslo(2026, 3, 30, 8, 0)
    assert tl.last.next_due_at == monday
    tl.run_until(monday, step=timedelta(minutes=30))
    assert [(s.at, s.intent.recipient) for s in tl.sent] == [(monday, f"acct{nurse_on_duty(monday)}")]


def test_red_outside_hours_with_the_same_policy_goes_to_the_response_centre():
    tl = Timeline(yellow_waits_for_morning_policy(), alert("red", at=oslo(2026, 3, 27, 18, 0)))
    assert [i.recipient for i in tl.tick()] == [f"tel{RESPONSE_CENTRE}"]


def test_yellow_with_no_step_for_it_is_left_in_the_queue():
    policy = make_policy(steps=[{**BASE_POLICY["steps"][0], "severities": ["red"], "wait": {"red": 15}}])
    tl = Timeline(policy, alert("yellow"))
    assert tl.tick() == [] and tl.last.status == "exhausted"


def test_queue_only_step_holds_yellow_but_not_red():
    policy = make_policy(steps=[
        {"target": {"kind": "queue_only"}, "severities": ["yellow"], "wait": {"yellow": 120}},
        BASE_POLICY["steps"][0],
    ])
    yellow = Timeline(policy, alert("yellow"))
    yellow.run_until(T0 + timedelta(hours=3))
    assert [s.local for s in yellow.sent] == ["12:00"]
    red = Timeline(policy, alert("red"))
    assert len(red.tick()) == 1


def test_next_opening_change_crosses_the_weekend_and_dst():
    team = make_team()
    friday_close = oslo(2026, 3, 27, 15, 30)
    assert next_opening_change(team.opening_hours, team.time_zone, oslo(2026, 3, 27, 9, 0)) == friday_close
    assert next_opening_change(team.opening_hours, team.time_zone, friday_close) == oslo(2026, 3, 30, 8, 0)


# -- keys, state and the frozen snapshot ----------------------------------------------------------

def test_dedup_key_format():
    assert dedup_key(7, 1, "red", 0, "s0", "acct11", "sms") == "esc:7:e1:red:r0:s0:acct11:sms"
    tl = Timeline(make_policy(), alert())
    [intent] = tl.tick()
    assert intent.dedup_key == f"esc:7:e1:red:r0:s0:acct{nurse_on_duty(T0)}:sms"
    assert len(intent.dedup_key) <= 200  # the outbox column


def test_intent_as_json_for_the_event_log():
    [intent] = Timeline(make_policy(), alert()).tick()
    data = intent.as_json()
    assert data["target"] == {"kind": "on_call", "role": "nurse"}
    assert data["dedup_key"] == intent.dedup_key and data["kind"] == "page"


def test_resolved_alert_plans_nothing():
    result = plan(make_policy(), alert(resolved_at=T0), make_team(), None, T0)
    assert (result.intents, result.next_due_at, result.status) == ((), None, "resolved")


def test_the_frozen_snapshot_keeps_an_escalation_in_flight_when_the_policy_is_edited():
    snapshot = make_policy().model_dump(mode="json")  # stored on the alert when it fired
    tl = Timeline(parse_policy(snapshot), alert())
    tl.run_until(T0 + timedelta(minutes=5))
    # The team edits its policy: one step, to the physician by e-mail.
    edited = policy_data(steps=[{"target": {"kind": "role", "role": "physician"}, "channels": ["email"],
                                 "wait": {"red": 5, "yellow": 5}}])
    parse_policy(edited)
    tl.policy = parse_policy(snapshot)  # the sweep reads the alert's snapshot, not the team's policy
    tl.run_until(T0 + timedelta(minutes=20))
    assert [s.intent.recipient for s in tl.sent][1:] == ["acct41", "acct42"]


def test_state_survives_json_and_the_input_state_is_not_mutated():
    first = plan(make_policy(), alert(), make_team(), None, T0)
    frozen = first.state.model_dump_json()
    plan(make_policy(), alert(), make_team(), first.state, T0 + timedelta(minutes=15))
    assert first.state.model_dump_json() == frozen
    assert EscalationState.model_validate_json(frozen) == first.state


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        plan(make_policy(), alert(), make_team(), None, T0.replace(tzinfo=None))


def test_role_target_pages_every_member_with_contact_once():
    team = make_team(members={"coordinator": [41, 42, 41, 99]}, contacts={**make_team().contacts, 99: Contact()})
    intents = Timeline(make_policy(steps=[BASE_POLICY["steps"][1], BASE_POLICY["steps"][0]]), alert(), team).tick()
    assert [i.recipient for i in intents] == ["acct41", "acct42"]


def test_hours_policy_fixture_is_valid():
    assert len(make_policy(HOURS_POLICY).steps) == 3

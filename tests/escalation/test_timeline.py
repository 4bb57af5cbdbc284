"""Timelines from the issue, driven minute by minute with an injectable clock."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from homefollow.escalation import AlertFacts

from .helpers import (
    HOURS_POLICY,
    ON_CALL_PHONE,
    OSLO,
    RESPONSE_CENTRE,
    UTC,
    Timeline,
    make_policy,
    nurse_on_duty,
    oslo,
)


def red_alert(at: datetime, **facts) -> AlertFacts:
    return AlertFacts(alert_id=7, severity="red", opened_at=at, rule_key="copd.spo2", **facts)


def test_red_on_call_then_coordinator_then_ack_then_nothing_more():
    """red at 10:00 → SMS to on-call at 10:00 → no ack → coordinator at 10:15 → ack at 10:16
    → nothing more."""
    t0 = oslo(2026, 3, 10, 10, 0)
    tl = Timeline(make_policy(), red_alert(t0))
    nurse = nurse_on_duty(t0)

    tl.run_until(oslo(2026, 3, 10, 10, 15))
    tl.clock.advance(minutes=1)
    tl.acknowledge()
    tl.run_until(oslo(2026, 3, 10, 10, 45))  # the nurse works on it; the ack timeout is 30 min
    tl.resolve()
    tl.run_until(oslo(2026, 3, 11, 10, 0))

    assert tl.pages() == [("10:00", f"acct{nurse}", "sms"), ("10:15", "acct41", "sms"), ("10:15", "acct42", "sms")]
    assert tl.last.status == "resolved" and tl.last.next_due_at is None


def test_after_ack_nothing_is_due_until_the_ack_timeout():
    t0 = oslo(2026, 3, 10, 10, 0)
    tl = Timeline(make_policy(), red_alert(t0))
    tl.run_until(oslo(2026, 3, 10, 10, 16))
    tl.acknowledge()
    tl.tick()
    assert tl.last.status == "acknowledged"
    assert tl.last.next_due_at == oslo(2026, 3, 10, 10, 46)
    assert tl.run_until(oslo(2026, 3, 10, 10, 45)) == []


@pytest.mark.parametrize(
    ("start", "coordinator_local", "ack_local"),
    [
        # Spring forward: 02:00 CET → 03:00 CEST. 01:50 + 15 min is 03:05 on the wall clock.
        (oslo(2026, 3, 29, 1, 50), "03:05", "03:06"),
        # Fall back: 03:00 CEST → 02:00 CET. 02:50 CEST (first pass) + 15 min is 02:05 CET.
        (datetime(2026, 10, 25, 0, 50, tzinfo=UTC), "02:05", "02:06"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_the_same_timeline_across_the_dst_change_nights(start, coordinator_local, ack_local):
    tl = Timeline(make_policy(), red_alert(start))
    nurse = nurse_on_duty(start)
    tl.run_until(start + timedelta(minutes=15))
    tl.clock.advance(minutes=1)
    tl.acknowledge()
    tl.run_until(start + timedelta(minutes=40))
    tl.resolve()
    tl.run_until(start + timedelta(hours=12))

    first = tl.sent[0]
    assert (first.local, first.intent.recipient) == (start.astimezone(OSLO).strftime("%H:%M"), f"acct{nurse}")
    coordinators = [s for s in tl.sent if s.intent.step_index == 1]
    # Waits are elapsed time: exactly 15 minutes, whatever the wall clock does.
    assert {s.at - start for s in coordinators} == {timedelta(minutes=15)}
    assert {s.local for s in coordinators} == {coordinator_local}
    assert tl.alert.acknowledged_at.astimezone(OSLO).strftime("%H:%M") == ack_local
    assert len(tl.sent) == 3


def test_outside_opening_hours_the_response_centre_is_paged():
    evening = oslo(2026, 3, 10, 20, 0)
    tl = Timeline(make_policy(HOURS_POLICY), red_alert(evening))
    tl.run_until(evening + timedelta(hours=1))
    # Nobody acknowledges: after the last step the fallback is paged every 15 minutes.
    assert tl.pages() == [("20:00", f"tel{RESPONSE_CENTRE}", "sms"), ("20:15", f"tel{ON_CALL_PHONE}", "sms"),
                          ("20:30", f"tel{ON_CALL_PHONE}", "sms"), ("20:45", f"tel{ON_CALL_PHONE}", "sms"),
                          ("21:00", f"tel{ON_CALL_PHONE}", "sms")]
    assert tl.sent[0].intent.address == RESPONSE_CENTRE
    assert tl.last.status == "repeating"


def test_in_opening_hours_the_team_is_paged_and_not_the_response_centre():
    morning = oslo(2026, 3, 10, 9, 0)
    tl = Timeline(make_policy(HOURS_POLICY), red_alert(morning))
    tl.run_until(morning + timedelta(minutes=29))
    nurse = nurse_on_duty(morning)
    assert tl.pages() == [("09:00", f"acct{nurse}", "sms"), ("09:15", "acct41", "sms"), ("09:15", "acct42", "sms")]


def test_weekend_and_dst_sunday_go_to_the_response_centre():
    sunday_noon = oslo(2026, 3, 29, 12, 0)  # the spring DST Sunday; the team is closed
    tl = Timeline(make_policy(HOURS_POLICY), red_alert(sunday_noon))
    tl.run_until(sunday_noon + timedelta(minutes=14))
    assert tl.pages() == [("12:00", f"tel{RESPONSE_CENTRE}", "sms")]


def test_chain_that_crosses_closing_time_switches_route():
    before_closing = oslo(2026, 3, 10, 15, 20)  # closes 15:30
    tl = Timeline(make_policy(HOURS_POLICY), red_alert(before_closing))
    tl.run_until(before_closing + timedelta(minutes=45))
    nurse = nurse_on_duty(before_closing)
    # 15:20 nurse; at 15:35 the coordinator step no longer applies, the response centre does;
    # at 15:50 the chain is used up and the fallback (the on-call phone) is paged again.
    assert tl.pages() == [("15:20", f"acct{nurse}", "sms"), ("15:35", f"tel{RESPONSE_CENTRE}", "sms"),
                          ("15:50", f"tel{ON_CALL_PHONE}", "sms"), ("16:05", f"tel{ON_CALL_PHONE}", "sms")]


def test_friday_afternoon_red_keeps_paging_through_the_weekend_until_acknowledged():
    """The issue's case: red on a Friday at 15:00 with nobody acknowledging gave four SMS and
    then silence all weekend. Now the fallback is paged every 15 minutes until someone answers."""
    friday = oslo(2026, 3, 13, 15, 0)
    tl = Timeline(make_policy(HOURS_POLICY), red_alert(friday))
    tl.run_until(friday + timedelta(hours=24), step=timedelta(minutes=5))
    gaps = [b.at - a.at for a, b in itertools.pairwise(tl.sent)]
    assert max(gaps) <= timedelta(minutes=15)
    assert tl.last.status == "repeating" and tl.last.next_due_at <= tl.clock.now() + timedelta(minutes=15)
    tl.acknowledge()
    sent = len(tl.sent)
    tl.run_until(tl.clock.now() + timedelta(minutes=29))
    assert len(tl.sent) == sent  # an acknowledgement stops the repeats (until its timeout)

"""The missed-check-in rule counts a reading earlier the same local day for the day's first
slot, like 'I dag' (homefollow.services.checklist): a weight at 06:50 for a 13:00 slot is not
missed, so the patient is not reminded nor the team alerted for a measurement that was done."""

import pytest
from conftest import make_rule, obs, oslo
from rules.engine import evaluate
from rules.model import EvaluationContext, Status


def _missed(times, open_before="PT6H"):
    return make_rule(
        {"kind": "missed_checkin", "codes": ["weight"], "what": {"nb": "vektmåling", "en": "weight measurement"}},
        {"schedule": {"times": list(times)}, "grace": "PT2H", "open_before": open_before},
    )


@pytest.mark.parametrize("day", [(2026, 3, 10), (2026, 3, 29), (2026, 10, 25)])  # ordinary, spring, autumn DST
def test_a_reading_before_the_window_of_the_first_slot_counts(day):
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 3, 1, 0, 0))
    rule = _missed(("13:00",))
    early = obs("weight", 70.0, oslo(*day, 6, 50))
    assert evaluate(rule, None, [early], None, oslo(*day, 15, 30), ctx).state.status is Status.NORMAL
    assert evaluate(rule, None, [], None, oslo(*day, 15, 30), ctx).state.status is Status.FIRING


@pytest.mark.parametrize("day", [(2026, 3, 29), (2026, 10, 25)])
def test_a_reading_late_the_night_before_does_not_count(day):
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 3, 1, 0, 0))
    rule = _missed(("13:00",))
    y, m, d = day
    night = obs("weight", 70.0, oslo(y, m, d - 1, 23, 30))
    assert evaluate(rule, None, [night], None, oslo(*day, 15, 30), ctx).state.status is Status.FIRING


def test_an_early_reading_does_not_count_for_a_later_slot_of_the_day():
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 3, 1, 0, 0))
    rule = _missed(("13:00", "20:00"))
    early = obs("weight", 70.0, oslo(2026, 3, 10, 6, 50))
    ev = evaluate(rule, None, [early], None, oslo(2026, 3, 10, 22, 30), ctx)
    assert ev.state.status is Status.FIRING and ev.state.detail["missed"] == 1  # 20:00 only

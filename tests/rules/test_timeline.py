"""Timelines with a fixed clock: DST changes in Europe/Oslo and readings arriving out of order."""

import random
from datetime import date, time, timedelta

from conftest import UTC, make_rule, obs, oslo
from rules.engine import evaluate
from rules.model import EvaluationContext, Status
from rules.replay import backtest
from rules.schedule import Schedule, slots_on

CTX = EvaluationContext(tz="Europe/Oslo")


def _missed(times=("08:00",), grace="PT2H", open_before="PT6H"):
    return make_rule(
        {"kind": "missed_checkin", "codes": ["weight"], "what": {"nb": "vektmåling", "en": "weight measurement"}},
        {"schedule": {"times": list(times)}, "grace": grace, "open_before": open_before},
    )


def _steps(rule, steps, context=CTX):
    """Evaluate at each (now, readings known then, expected status), chaining the state."""
    state = None
    for now, readings, expected in steps:
        ev = evaluate(rule, None, readings, state, now, context)
        assert ev.state.status is expected, f"at {now.isoformat()}: {ev.state.status} ({ev.state.summary})"
        state = ev.state
    return state


def test_schedule_slots_keep_local_wall_clock_time_across_spring_forward():
    s = Schedule(times=(time(8, 0), time(2, 30)))
    saturday = slots_on(s, date(2026, 3, 28), "Europe/Oslo")
    sunday = slots_on(s, date(2026, 3, 29), "Europe/Oslo")
    assert [t.astimezone(UTC).hour for t in saturday] == [1, 7]  # UTC+1
    # 02:30 does not exist on 29 March: it moves forward by the gap to 03:30 CEST (01:30 UTC).
    assert [(t.hour, t.minute) for t in sunday] == [(1, 30), (6, 0)]


def test_missed_checkin_deadline_moves_with_local_time_on_spring_forward_day():
    rule = _missed()
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 3, 27, 12, 0))
    weigh_sat = obs("weight", 80.0, oslo(2026, 3, 28, 7, 45))
    state = _steps(rule, [
        (oslo(2026, 3, 28, 10, 0), [weigh_sat], Status.NORMAL),
    ], ctx)
    # Next deadline is 10:00 local on Sunday, which is 08:00 UTC (not 09:00) after the change.
    assert state.next_due_at == oslo(2026, 3, 29, 10, 0).astimezone(UTC)
    assert state.next_due_at.hour == 8
    ev = evaluate(rule, None, [weigh_sat], state, oslo(2026, 3, 29, 9, 59), ctx)
    assert ev.state.status is Status.NORMAL
    ev = evaluate(rule, None, [weigh_sat], ev.state, state.next_due_at, ctx)
    assert ev.state.status is Status.FIRING
    assert "for kl. 08:00 29. mars (frist 10:00)" in ev.findings[0].explanation.nb


def test_missed_checkin_on_fall_back_day():
    rule = _missed(times=("02:30",), grace="PT1H", open_before="PT2H")
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 10, 23, 12, 0))
    # 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice; the slot is the
    # first 02:30 (00:30 UTC) and its deadline 01:30 UTC.
    weigh = obs("weight", 80.0, oslo(2026, 10, 24, 2, 35))
    state = _steps(rule, [(oslo(2026, 10, 24, 4, 0), [weigh], Status.NORMAL)], ctx)
    assert state.next_due_at.isoformat() == "2026-10-25T01:30:00+00:00"
    ev = evaluate(rule, None, [weigh], state, state.next_due_at, ctx)
    assert ev.state.status is Status.FIRING


def test_change_window_counts_local_days_across_a_23_hour_day():
    rule = make_rule({"kind": "change", "code": "weight", "direction": "rise"}, {"amount": 2.0, "window_days": 3})
    readings = [
        obs("weight", 72.9, oslo(2026, 3, 27, 0, 30)),  # Friday just after midnight (CET)
        obs("weight", 75.1, oslo(2026, 3, 30, 23, 50)),  # Monday late evening (CEST)
    ]
    # 27 March is 3 local days before 30 March even though fewer than 4 × 24 h separate them.
    ev = evaluate(rule, None, readings, None, oslo(2026, 3, 31, 0, 0), CTX)
    assert ev.state.status is Status.FIRING
    assert "75,1 kg 30. mars er 2,2 kg over 72,9 kg 27. mars" in ev.findings[0].explanation.nb.replace("\u00a0", " ")


def test_moment_in_explanations_uses_summer_time_after_the_change():
    rule = make_rule({"kind": "zones", "code": "spo2"}, {"red_low": 88}, severity="red")
    ev = evaluate(rule, None, [obs("spo2", 85, oslo(2026, 3, 29, 9, 0))], None, oslo(2026, 3, 29, 9, 5), CTX)
    assert "29. mars 09:00" in ev.findings[0].explanation.nb


def test_readings_arriving_out_of_order_give_the_same_states_as_in_order():
    rule = make_rule({"kind": "n_of_m", "of": {"kind": "zones", "code": "spo2"}}, {"yellow_low": 92, "n": 2, "m": 3},
                     hold="PT1H")
    taken = [obs("spo2", v, oslo(2026, 3, 10, 8, 0) + timedelta(hours=6 * i), f"m:{i}")
             for i, v in enumerate([95, 91, 96, 90, 89, 97, 98])]
    end = oslo(2026, 3, 12, 8, 0)
    in_order = evaluate(rule, None, taken, None, end, CTX)
    shuffled = list(taken)
    random.Random(7).shuffle(shuffled)
    assert evaluate(rule, None, shuffled, None, end, CTX) == in_order
    # Device sync: everything arrives at once, late, and newest first.
    late = evaluate(rule, None, list(reversed(taken)), None, end, CTX)
    assert late == in_order


def test_a_late_batch_is_judged_by_reading_times_not_arrival():
    rule = make_rule({"kind": "zones", "code": "spo2"}, {"yellow_low": 92}, hold="PT2H")
    base = oslo(2026, 3, 10, 8, 0)
    first = evaluate(rule, None, [obs("spo2", 95, base)], None, base, CTX)
    assert first.state.status is Status.NORMAL
    # Readings taken at 09:00 and 10:30 (both low) arrive together at 12:00.
    batch = [obs("spo2", 95, base), obs("spo2", 90, base + timedelta(hours=3, minutes=30)),
             obs("spo2", 91, base + timedelta(hours=1))]
    ev = evaluate(rule, None, batch, first.state, base + timedelta(hours=4), CTX)
    assert ev.state.status is Status.FIRING
    assert ev.state.pending_since == base + timedelta(hours=1)
    assert ev.state.firing_since == base + timedelta(hours=3)


def test_backtest_over_a_dst_week_raises_one_alert_per_missed_morning():
    rule = _missed()
    ctx = EvaluationContext(tz="Europe/Oslo", active_since=oslo(2026, 3, 25, 12, 0))
    # Weighed every morning except Saturday 28 (the day before the change) and Monday 30.
    mornings = [oslo(2026, 3, d, 7, 30) for d in (26, 27, 29, 31)] + [oslo(2026, 4, 1, 7, 30)]
    readings = [obs("weight", 80, t) for t in mornings]
    alerts = backtest(rule, None, readings, oslo(2026, 3, 25, 12, 0), oslo(2026, 4, 1, 12, 0), ctx)
    assert [a.started_at for a in alerts] == [oslo(2026, 3, 28, 10, 0), oslo(2026, 3, 30, 10, 0)]
    assert [a.ended_at for a in alerts] == [oslo(2026, 3, 29, 7, 30), oslo(2026, 3, 31, 7, 30)]

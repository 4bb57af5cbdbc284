"""Backtests, runnable examples and the activation gate."""

from datetime import timedelta

import pytest

from conftest import T0, at, make_rule, obs
from rules.model import Example, EvaluationContext, Status
from rules.replay import backtest, backtest_days, replay
from rules.ruleset import (
    ActivationRefused,
    activation_problems,
    default_rules,
    ensure_activatable,
    run_examples,
)

SPO2 = {"kind": "zones", "code": "spo2"}


def test_backtest_lists_each_alert_with_start_end_and_findings():
    rule = make_rule(SPO2, {"yellow_low": 92}, hold="PT1H", key="copd.spo2_test", version=4)
    readings = [
        obs("spo2", 95, at(0)), obs("spo2", 90, at(10), "a"), obs("spo2", 94, at(12)),
        obs("spo2", 89, at(30), "b"), obs("spo2", 88, at(31), "c"),
    ]
    alerts = backtest(rule, None, readings, T0, at(40), EvaluationContext())
    assert len(alerts) == 2
    first, second = alerts
    # Pending at 10:00, picked up by the 15-minute sweep once the hold time ended at 11:00.
    assert first.started_at == at(11) and first.ended_at == at(12)
    assert first.first.observation_refs == ("a",)
    assert first.first.rule_version == 4
    assert second.started_at == at(31) and second.ended_at is None
    assert second.last.observation_refs == ("c",)
    assert second.evaluations == 1  # nothing is due afterwards: no staleness set, no new readings


def test_backtest_tick_decides_when_due_work_is_picked_up():
    rule = make_rule(SPO2, {"yellow_low": 92}, hold="PT50M")
    readings = [obs("spo2", 90, at(0))]
    (quarter,) = backtest(rule, None, readings, T0, at(3))
    (exact,) = backtest(rule, None, readings, T0, at(3), tick=None)
    assert exact.started_at == at(0) + timedelta(minutes=50)
    assert quarter.started_at == at(1)  # the next 15-minute tick after the hold time


def test_backtest_with_patient_parameters_and_last_n_days():
    rule = default_rules()["copd.spo2_low"]
    readings = [obs("spo2", v, at(12 * i)) for i, v in enumerate([91, 90, 93, 95, 92, 93, 96, 97])]
    assert backtest_days(rule, {"yellow_low": 88}, readings, at(90), days=4) == []
    alerts = backtest_days(rule, {"yellow_low": 94, "n": 2, "m": 3}, readings, at(90), days=4)
    # The first reading below 94 had no re-measurement within 15 minutes: it stands on its own.
    assert [a.started_at for a in alerts] == [at(0) + timedelta(minutes=15)]
    assert alerts[0].ended_at == at(84)  # the first time fewer than 2 of the last 3 are below 94


def test_replay_refuses_reversed_periods():
    rule = make_rule(SPO2, {"yellow_low": 92})
    with pytest.raises(ValueError, match="end must not be before start"):
        list(replay(rule, None, [], at(5), at(1)))


def test_failing_examples_refuse_activation_with_readable_messages():
    good = default_rules()["diabetes.glucose_red"]
    ensure_activatable(good)  # passes silently
    assert activation_problems(good) == []
    wrong = Example.model_validate({
        "name": "a normal glucose claimed to be red",
        "observations": [{"code": "glucose", "value": 6.0, "at": "2026-03-10T07:00:00+01:00"}],
        "expect": [{"at": "2026-03-10T07:00:00+01:00", "status": "firing"}],
    })
    bad = good.model_copy(update={"version": 2, "examples": good.examples + (wrong,)})
    results = run_examples(bad)
    assert [r.passed for r in results] == [True, True, False]
    assert results[2].message == "at 2026-03-10T06:00:00+00:00 expected firing, got normal"
    assert str(results[2]).startswith("FAIL diabetes.glucose_red v2 — a normal glucose claimed to be red")
    with pytest.raises(ActivationRefused) as info:
        ensure_activatable(bad)
    assert info.value.rule_version == 2
    assert "expected firing, got normal" in str(info.value)


def test_example_with_rejected_parameters_fails_instead_of_crashing():
    rule = default_rules()["diabetes.glucose_red"]
    broken = Example.model_validate({
        "name": "locked parameter", "parameters": {"red_low": "low"},
        "expect": [{"at": "2026-03-10T07:00:00+01:00", "status": "no_data"}],
    })
    (result,) = run_examples(rule.model_copy(update={"examples": (broken,)}))
    assert not result.passed
    assert "parameters rejected" in result.message and "red_low" in result.message


def test_example_explanation_fragments_are_checked():
    rule = default_rules()["diabetes.glucose_red"]
    example = rule.examples[0].model_copy(update={"expect": (
        rule.examples[0].expect[0].model_copy(update={"explanation_contains": ("not in the text",)}),
    )})
    (result,) = run_examples(rule.model_copy(update={"examples": (example,)}))
    assert not result.passed
    assert "lacks 'not in the text'" in result.message


def test_examples_evaluate_at_due_times_between_expectations():
    # Pending at the reading, firing at the expectation 3 hours later without new data.
    rule = make_rule(SPO2, {"yellow_low": 92}, hold="PT2H", examples=[{
        "name": "hold", "observations": [{"code": "spo2", "value": 90, "at": "2026-03-10T08:00:00+01:00"}],
        "expect": [
            {"at": "2026-03-10T08:00:00+01:00", "status": "pending"},
            {"at": "2026-03-10T11:00:00+01:00", "status": "firing"},
        ],
    }])
    assert [r.passed for r in run_examples(rule)] == [True]
    assert rule.examples[0].expect[0].status is Status.PENDING

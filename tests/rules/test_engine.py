"""Evaluation of each kind and the shared state machine, with a fixed clock."""

import pytest

from conftest import T0, at, make_rule, obs
from rules.engine import evaluate, evaluate_all
from rules.model import EvaluationContext, RuleState, Severity, Status
from rules.parameters import resolve_parameters
from rules.ruleset import default_rules

SPO2_RED = {"kind": "zones", "code": "spo2"}


def run(rule, observations, now, previous=None, parameters=None, context=None):
    return evaluate(rule, parameters, observations, previous, now, context or EvaluationContext())


# --- zones --------------------------------------------------------------------------------------


def test_zone_rule_fires_with_a_finding_naming_reading_limit_and_version():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", key="copd.spo2_red", version=3, instruction_key="spo2.red")
    ev = run(rule, [obs("spo2", 85, at(0), "m:7")], at(0.1))
    assert ev.state.status is Status.FIRING
    assert ev.started_firing
    (f,) = ev.findings
    assert (f.rule_key, f.rule_version, f.severity, f.instruction_key) == ("copd.spo2_red", 3, Severity.RED, "spo2.red")
    assert f.observation_refs == ("m:7",)
    assert f.value_text.nb == "85%" and f.threshold_text.en == "< 88%"
    assert f.explanation.nb == (
        "Oksygenmetning 85% 9. mars 09:00 er under planens grense for rød sone (88%). "
        "(Regel «Testregel», copd.spo2_red versjon 3.)"
    )
    assert f.explanation.en.startswith("Oxygen saturation 85% on 9 Mar 09:00 is below the plan's red limit (88%).")
    assert f.at == at(0.1)


def test_a_yellow_zone_rule_counts_red_values_but_a_red_rule_ignores_yellow_ones():
    limits = {"red_low": 85, "yellow_low": 90}
    yellow = make_rule(SPO2_RED, limits, severity="yellow")
    red = make_rule(SPO2_RED, limits, severity="red")
    assert run(yellow, [obs("spo2", 84, at(0))], at(0)).state.status is Status.FIRING
    assert run(yellow, [obs("spo2", 88, at(0))], at(0)).state.status is Status.FIRING
    assert run(red, [obs("spo2", 88, at(0))], at(0)).state.status is Status.NORMAL
    assert run(red, [obs("spo2", 84, at(0))], at(0)).state.status is Status.FIRING


def test_readings_taken_at_the_same_instant_count_in_the_order_they_arrived():
    """A device hub sent SpO2 95 and then 86 stamped with the same second: the 86, which came
    last, is the newest reading and fires, whatever the order of the values."""
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    normal_then_red = [obs("spo2", 95, at(0), "m:9"), obs("spo2", 86, at(0), "m:10")]
    red_then_normal = [obs("spo2", 86, at(0), "m:9"), obs("spo2", 95, at(0), "m:10")]
    fired = run(rule, normal_then_red, at(0.1))
    assert fired.state.status is Status.FIRING and fired.findings[0].observation_refs == ("m:10",)
    assert run(rule, list(reversed(normal_then_red)), at(0.1)).state.status is Status.FIRING
    assert run(rule, red_then_normal, at(0.1)).state.status is Status.NORMAL  # the 95 came last


def test_limits_are_strict():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    assert run(rule, [obs("spo2", 88, at(0))], at(0)).state.status is Status.NORMAL


def test_findings_are_emitted_on_every_evaluation_while_firing_and_not_otherwise():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    readings = [obs("spo2", 85, at(0))]
    first = run(rule, readings, at(0))
    again = run(rule, readings, at(1), first.state)
    assert len(first.findings) == len(again.findings) == 1
    assert first.started_firing and not again.started_firing
    assert again.state.since == first.state.since == at(0)
    recovered = run(rule, readings + [obs("spo2", 95, at(2))], at(2), again.state)
    assert recovered.state.status is Status.NORMAL
    assert recovered.findings == ()
    assert recovered.stopped_firing


def test_observations_after_now_are_ignored():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    ev = run(rule, [obs("spo2", 95, at(0)), obs("spo2", 80, at(5))], at(1))
    assert ev.state.status is Status.NORMAL
    assert ev.state.last_observation_at == at(0)


def test_no_readings_is_no_data_and_old_readings_are_stale():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", stale_after="P2D")
    assert run(rule, [], at(0)).state.status is Status.NO_DATA
    fresh = run(rule, [obs("spo2", 85, at(0))], at(1))
    assert fresh.state.status is Status.FIRING
    assert fresh.state.next_due_at == at(48)  # when it would go stale
    stale = run(rule, [obs("spo2", 85, at(0))], at(49), fresh.state)
    assert stale.state.status is Status.NO_DATA
    assert stale.findings == ()
    assert "older than 2 days" in stale.state.summary.en
    assert stale.state.next_due_at is None


def test_previous_state_of_another_rule_is_refused():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    other = RuleState(rule_key="other.rule", rule_version=1)
    with pytest.raises(ValueError, match="belongs to rule other.rule"):
        run(rule, [], at(0), other)


def test_now_must_be_aware():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red")
    with pytest.raises(ValueError, match="timezone-aware"):
        run(rule, [], at(0).replace(tzinfo=None))


# --- hold, pending, recovering -----------------------------------------------------------------


def test_hold_time_gives_pending_with_a_due_time_then_firing_from_the_sweep():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", hold="PT2H")
    readings = [obs("spo2", 85, at(0))]
    ev = run(rule, readings, at(0.25))
    assert ev.state.status is Status.PENDING
    assert ev.state.pending_since == at(0)
    assert ev.state.next_due_at == at(2)
    assert ev.findings == ()
    assert "Oksygenmetning 85%" in ev.state.summary.nb
    # The scheduler comes back at next_due_at without new data.
    swept = run(rule, readings, at(2), ev.state)
    assert swept.state.status is Status.FIRING
    assert swept.state.firing_since == at(2)


def test_a_normal_re_measurement_within_the_hold_time_cancels_the_pending_condition():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", hold="PT2H")
    ev = run(rule, [obs("spo2", 85, at(0))], at(0))
    ev = run(rule, [obs("spo2", 85, at(0)), obs("spo2", 93, at(0.5))], at(0.5), ev.state)
    assert ev.state.status is Status.NORMAL
    ev = run(rule, [obs("spo2", 85, at(0)), obs("spo2", 93, at(0.5))], at(2), ev.state)
    assert ev.state.status is Status.NORMAL


def test_a_late_reading_is_judged_by_when_it_was_taken():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", hold="PT2H")
    # Taken at 0h, synced from the device at 3h: the hold time has already passed.
    ev = run(rule, [obs("spo2", 85, at(0))], at(3))
    assert ev.state.status is Status.FIRING
    assert ev.state.firing_since == at(2)


def test_a_stored_pending_state_is_not_forgotten_when_older_readings_are_no_longer_passed():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", hold="PT4H")
    first = run(rule, [obs("spo2", 85, at(0))], at(0))
    stored = RuleState.model_validate_json(first.state.model_dump_json())  # a restart
    # The integration now passes only the newest reading (also low).
    later = run(rule, [obs("spo2", 86, at(3))], at(4), stored)
    assert later.state.status is Status.FIRING
    assert later.state.pending_since == at(0)


def test_recover_after_keeps_the_rule_recovering_until_it_has_stayed_normal():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", recover_after="PT6H")
    readings = [obs("spo2", 85, at(0))]
    firing = run(rule, readings, at(0))
    readings.append(obs("spo2", 94, at(1)))
    rec = run(rule, readings, at(1), firing.state)
    assert rec.state.status is Status.RECOVERING
    assert rec.state.next_due_at == at(7)
    assert rec.findings == ()
    assert rec.state.firing_since == at(0)
    # Worse again while recovering: firing again, same alert (firing_since kept).
    readings.append(obs("spo2", 84, at(3)))
    again = run(rule, readings, at(3), rec.state)
    assert again.state.status is Status.FIRING
    assert again.state.firing_since == at(0)
    assert not again.started_firing
    readings.append(obs("spo2", 95, at(4)))
    rec2 = run(rule, readings, at(4), again.state)
    assert rec2.state.status is Status.RECOVERING
    done = run(rule, readings, at(10), rec2.state)
    assert done.state.status is Status.NORMAL
    assert done.state.since == at(10)
    assert done.stopped_firing


# --- n of m --------------------------------------------------------------------------------------


def test_n_of_m_needs_n_confirmations_among_the_last_m():
    rule = make_rule({"kind": "n_of_m", "of": SPO2_RED}, {"yellow_low": 92, "n": 2, "m": 3})
    r = [obs("spo2", 90, at(0), "a"), obs("spo2", 95, at(1), "b"), obs("spo2", 95, at(2), "c"), obs("spo2", 91, at(3), "d")]
    assert run(rule, r[:1], at(0)).state.status is Status.NORMAL
    assert run(rule, r[:4], at(3)).state.status is Status.NORMAL  # 90 fell out of the last 3
    ev = run(rule, r[:2] + [obs("spo2", 91, at(1.5), "e")], at(2))
    assert ev.state.status is Status.FIRING
    assert ev.findings[0].observation_refs == ("a", "e")
    assert "2 of the last 3 readings are below the plan's yellow limit (92%)" in ev.findings[0].explanation.en
    assert ev.state.detail["confirmed"] == 2


def test_n_of_m_within_a_time_window_expires_and_says_when():
    rule = make_rule({"kind": "n_of_m", "of": SPO2_RED}, {"yellow_low": 92, "n": 2, "within": "PT24H"})
    r = [obs("spo2", 90, at(0)), obs("spo2", 91, at(10))]
    ev = run(rule, r, at(10))
    assert ev.state.status is Status.FIRING
    assert ev.state.next_due_at == at(24)  # the first confirmation leaves the window
    later = run(rule, r, at(24), ev.state)
    assert later.state.status is Status.NORMAL
    assert "2 readings in the last 1 day are below the plan's yellow limit (92%)" in ev.findings[0].explanation.en


# --- change ----------------------------------------------------------------------------------------


def test_change_over_window_uses_local_calendar_days_and_the_lowest_earlier_reading():
    rule = make_rule({"kind": "change", "code": "weight", "direction": "rise"}, {"amount": 2.0, "window_days": 3})
    r = [obs("weight", 73.5, at(0)), obs("weight", 72.9, at(0, days=1), "low"), obs("weight", 75.0, at(0, days=4), "new")]
    ev = run(rule, r, at(1, days=4))
    assert ev.state.status is Status.FIRING
    assert ev.findings[0].observation_refs == ("low", "new")
    assert ev.findings[0].value_text.en == "+2.1\u00a0kg"
    # Four days after the low reading it is out of the window.
    ev = run(rule, r[:2] + [obs("weight", 75.0, at(0, days=5))], at(0, days=5))
    assert ev.state.status is Status.NORMAL


def test_change_fall_inclusive():
    rule = make_rule({"kind": "change", "code": "spo2", "direction": "fall", "inclusive": True}, {"amount": 3, "window_days": 2})
    r = [obs("spo2", 95, at(0)), obs("spo2", 92, at(24))]
    assert run(rule, r, at(24)).state.status is Status.FIRING
    strict = make_rule({"kind": "change", "code": "spo2", "direction": "fall"}, {"amount": 3, "window_days": 2})
    assert run(strict, r, at(24)).state.status is Status.NORMAL


def test_change_from_baseline_prefers_plan_value_then_approved_then_trial_median():
    spec = {"kind": "change", "code": "spo2", "direction": "fall", "reference": "baseline", "inclusive": True}
    rule = make_rule(spec, {"amount": 3, "baseline_min_count": 3}, overridable=["baseline_value", "baseline_start", "baseline_end"])
    trial = [obs("spo2", v, at(0, days=d)) for d, v in enumerate([96, 95, 97, 96])]
    current = [obs("spo2", 93, at(0, days=10), "now")]
    period = {"baseline_start": T0.isoformat(), "baseline_end": at(0, days=5).isoformat()}
    ev = run(rule, trial + current, at(0, days=10), parameters=period)
    assert ev.state.status is Status.FIRING
    assert ev.state.baselines == {"spo2": 96.0}
    assert ev.state.detail["baseline_source"] == "trial"
    assert "median of 4 readings" in ev.findings[0].explanation.en
    approved = run(rule, current, at(0, days=10), parameters=period, context=EvaluationContext(baselines={"spo2": 95}))
    assert approved.state.status is Status.NORMAL and approved.state.baselines == {"spo2": 95}
    planned = run(rule, current, at(0, days=10), parameters={**period, "baseline_value": 97},
                  context=EvaluationContext(baselines={"spo2": 95}))
    assert planned.state.status is Status.FIRING and planned.state.baselines == {"spo2": 97}


def test_baseline_is_kept_in_the_state_when_trial_readings_are_no_longer_passed():
    spec = {"kind": "change", "code": "spo2", "direction": "fall", "reference": "baseline", "inclusive": True}
    rule = make_rule(spec, {"amount": 3, "baseline_min_count": 3, "baseline_start": T0.isoformat(),
                            "baseline_end": at(0, days=5).isoformat()})
    trial = [obs("spo2", v, at(0, days=d)) for d, v in enumerate([96, 95, 97, 96])]
    first = run(rule, trial + [obs("spo2", 95, at(0, days=6))], at(0, days=6))
    assert first.state.baselines == {"spo2": 96.0}
    later = run(rule, [obs("spo2", 92, at(0, days=30))], at(0, days=30), first.state)
    assert later.state.status is Status.FIRING
    assert later.state.baselines == {"spo2": 96.0}


def test_no_baseline_during_the_trial_period_is_no_data():
    spec = {"kind": "change", "code": "spo2", "direction": "fall", "reference": "baseline"}
    rule = make_rule(spec, {"amount": 3, "baseline_start": T0.isoformat(), "baseline_end": at(0, days=14).isoformat()})
    ev = run(rule, [obs("spo2", 80, at(0, days=2))], at(0, days=2))
    assert ev.state.status is Status.NO_DATA
    assert "no personal baseline yet" in ev.state.summary.en


# --- questionnaire -------------------------------------------------------------------------------


def test_questionnaire_total_rise_and_items():
    rule = make_rule({"kind": "questionnaire", "code": "cat.total", "items": [f"cat.item{i}" for i in range(1, 9)]},
                     {"at_least": 20, "rise_at_least": 2, "item_at_least": 5})
    week1, week2 = at(0), at(0, days=7)
    assert run(rule, [obs("cat.total", 12, week1)], week1).state.status is Status.NORMAL
    rise = run(rule, [obs("cat.total", 12, week1, "q1"), obs("cat.total", 14, week2, "q2")], week2)
    assert rise.state.status is Status.FIRING
    assert rise.findings[0].observation_refs == ("q1", "q2")
    item = run(rule, [obs("cat.total", 12, week1), obs("cat.total", 12, week2, "q2"), obs("cat.item3", 5, week2, "i3")], week2)
    assert item.state.status is Status.FIRING
    assert "CAT item 3: 5" in item.findings[0].explanation.en
    assert item.findings[0].observation_refs == ("q2", "i3")


# --- score bands ------------------------------------------------------------------------------------


def test_home_news2_reports_missing_parameters_and_never_a_full_low_score():
    rule = default_rules()["general.news2_medium"]
    r = [obs("spo2", 97, at(0)), obs("pulse", 70, at(0)), obs("temperature", 37.0, at(0))]
    ev = run(rule, r, at(0.1))
    assert ev.state.status is Status.NORMAL
    assert ev.state.detail["complete"] is False
    assert ev.state.detail["missing"] == ["resp_rate", "bp_systolic", "checkin.confusion"]
    assert "partial sum of 3 of 6 parameters, not a full score" in ev.state.summary.en
    assert "delsum" in ev.state.summary.nb


def test_home_news2_complete_score_and_spread():
    rule = default_rules()["general.news2_medium"]
    full = [obs("resp_rate", 22, at(0)), obs("spo2", 95, at(0)), obs("bp_systolic", 105, at(0)),
            obs("pulse", 95, at(0)), obs("checkin.confusion", 0, at(0)), obs("temperature", 38.5, at(0))]
    ev = run(rule, full, at(0.1))
    # 2 + 1 + 1 + 1 + 0 + 1 = 6 → medium → fires
    assert ev.state.detail == {"total": 6, "complete": True, "missing": [], "band": "Medium",
                               "points": {"resp_rate": 2, "spo2": 1, "bp_systolic": 1, "pulse": 1, "checkin.confusion": 0, "temperature": 1}}
    assert ev.state.status is Status.FIRING
    assert "6 points (full score, medium)" in ev.findings[0].explanation.en
    # A reading from 13 hours before the newest is not scored with it.
    old = [obs("resp_rate", 30, at(-13))] + full[1:]
    assert run(rule, old, at(0.1)).state.detail["missing"] == ["resp_rate"]


# --- missed check-in ----------------------------------------------------------------------------------


def _missed_rule(times=("08:00",), weekdays=None, grace="PT2H", **extra):
    schedule = {"times": list(times)}
    if weekdays is not None:
        schedule["weekdays"] = weekdays
    return make_rule({"kind": "missed_checkin", "codes": ["weight"], "what": {"nb": "vektmåling", "en": "weight measurement"}},
                     {"schedule": schedule, "grace": grace}, **extra)


def test_missed_checkin_says_when_it_is_next_due_even_without_data():
    rule = _missed_rule()
    # 9 March 2026 07:00 Oslo (06:00 UTC): the first deadline is 10:00 local = 09:00 UTC.
    ctx = EvaluationContext(active_since=at(-3))
    ev = run(rule, [], at(-2), context=ctx)
    assert ev.state.status is Status.NORMAL
    assert ev.state.next_due_at == at(1)
    ev = run(rule, [], at(1), ev.state, context=ctx)
    assert ev.state.status is Status.FIRING
    assert ev.findings[0].explanation.en.startswith("No weight measurement recorded for 08:00 on 9 Mar (deadline 10:00). Nothing recorded yet.")
    assert ev.state.next_due_at == at(25)


def test_missed_checkin_respects_weekdays():
    rule = _missed_rule(weekdays=[2])  # Wednesdays only
    ctx = EvaluationContext(active_since=at(-3))
    assert run(rule, [], at(3), context=ctx).state.status is Status.NORMAL  # Monday
    ev = run(rule, [], at(3, days=2), context=ctx)  # Wednesday after the deadline
    assert ev.state.status is Status.FIRING


# --- all of / any of -----------------------------------------------------------------------------------


def test_all_of_needs_every_part_and_any_of_one():
    children = [
        {"id": "low", "spec": {"kind": "zones", "code": "spo2"}},
        {"id": "tired", "spec": {"kind": "questionnaire", "code": "checkin.general"}},
    ]
    params = {"low": {"yellow_low": 92}, "tired": {"at_least": 1}}
    all_of = make_rule({"kind": "all_of", "of": children}, params)
    any_of = make_rule({"kind": "any_of", "of": children}, params)
    one = [obs("spo2", 90, at(0), "s"), obs("checkin.general", 0, at(0), "g")]
    both = [obs("spo2", 90, at(0), "s"), obs("checkin.general", 1, at(0), "g")]
    assert run(all_of, one, at(0)).state.status is Status.NORMAL
    assert run(any_of, one, at(0)).state.status is Status.FIRING
    ev = run(all_of, both, at(0))
    assert ev.state.status is Status.FIRING
    assert ev.findings[0].observation_refs == ("s", "g")
    assert "Oxygen saturation 90%" in ev.findings[0].explanation.en and "Answer to “General condition” on 9 Mar 09:00: worse than usual (1)" in ev.findings[0].explanation.en
    # A part without data makes all_of unknown, but any_of can still fire on the other part.
    assert run(all_of, both[1:], at(0)).state.status is Status.NO_DATA
    assert run(any_of, both[1:], at(0)).state.status is Status.FIRING


# --- evaluate_all ---------------------------------------------------------------------------------------


def test_evaluate_all_matches_evaluating_each_rule_alone():
    rules = list(default_rules().values())
    r = [obs("spo2", 86, at(0)), obs("spo2", 87, at(1)), obs("weight", 80, at(0)), obs("weight", 82.5, at(0, days=2)),
         obs("cat.total", 14, at(1)), obs("checkin.breathless", 2, at(1)), obs("glucose", 15.0, at(2))]
    now = at(3, days=2)
    together = evaluate_all(rules, {}, r, {}, now, EvaluationContext(active_since=at(-1)))
    for rule in rules:
        alone = evaluate(rule, None, r, None, now, EvaluationContext(active_since=at(-1)))
        assert together[rule.key] == alone, rule.key
    firing = {k for k, ev in together.items() if ev.state.status is Status.FIRING}
    assert {"copd.spo2_low", "hf.weight_gain_3d", "copd.cat", "hf.breathless_rest", "diabetes.glucose_red"} <= firing


def test_resolved_parameters_and_overrides_give_the_same_result():
    rule = default_rules()["copd.spo2_low"]
    r = [obs("spo2", 92, at(0)), obs("spo2", 93, at(1))]
    by_dict = run(rule, r, at(1), parameters={"yellow_low": 94})
    by_resolved = run(rule, r, at(1), parameters=resolve_parameters(rule, {"yellow_low": 94}))
    assert by_dict == by_resolved
    assert by_dict.state.status is Status.FIRING


def test_fast_built_states_and_findings_equal_validated_ones():
    rule = make_rule(SPO2_RED, {"red_low": 88}, severity="red", vkp_alert_code="5.1")
    ev = run(rule, [obs("spo2", 85, at(0), "m:1")], at(1))
    state, (finding,) = ev.state, ev.findings
    assert type(state).model_validate(state.model_dump()) == state
    assert type(finding).model_validate(finding.model_dump()) == finding
    assert finding.model_dump(mode="json")["explanation"]["nb"].startswith("Oksygenmetning 85%")
    assert state.model_fields_set == set(type(state).model_fields)


def test_news2_finding_short_texts():
    rule = default_rules()["general.news2_medium"]
    r = [obs("spo2", 93, at(0), "a"), obs("pulse", 115, at(0), "b"), obs("temperature", 38.5, at(0), "c")]
    (f,) = run(rule, r, at(0.1)).findings
    assert f.value_text.en == "5 points (partial)"
    assert f.threshold_text.en == "≥ 5 total or 3 on one parameter"
    assert f.observation_refs == ("a", "b", "c")

"""Per-patient parameters override defaults, with errors that name the key and the reason."""

from datetime import time, timedelta

import pytest

from conftest import make_rule
from rules.parameters import ParameterError, parameter_names, resolve_parameters
from rules.zones import ZoneLimits

ZONES = {"kind": "zones", "code": "spo2"}


def _spo2_rule(**extra):
    return make_rule({"kind": "n_of_m", "of": ZONES}, {"yellow_low": 88, "n": 2, "m": 3},
                     overridable=["yellow_low", "n", "m"], **extra)


def test_defaults_apply_without_overrides():
    p = resolve_parameters(_spo2_rule(), {})
    assert p["yellow_low"] == 88 and p["n"] == 2 and p["m"] == 3
    assert p.overridden == frozenset()


def test_override_replaces_default_and_is_marked():
    p = resolve_parameters(_spo2_rule(), {"yellow_low": 94})
    assert p["yellow_low"] == 94
    assert p.overridden == {"yellow_low"}
    assert p.overrides_json() == {"yellow_low": 94.0}
    counting, limits = p.node
    assert limits == ZoneLimits(yellow_low=94)


def test_unknown_key_is_reported_with_the_known_ones():
    with pytest.raises(ParameterError) as info:
        resolve_parameters(_spo2_rule(), {"yelow_low": 94})
    key, why = info.value.problems[0]
    assert key == "yelow_low"
    assert "known: n, m, within, confirm_within, red_low, yellow_low" in why


def test_locked_parameter_cannot_be_changed_but_may_be_repeated():
    rule = make_rule(ZONES, {"yellow_low": 92}, overridable=[])
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"yellow_low": 90})
    assert info.value.problems == [("yellow_low", "cannot be changed per patient for this rule (adjustable: none)")]
    assert resolve_parameters(rule, {"yellow_low": 92})["yellow_low"] == 92


@pytest.mark.parametrize(
    "override, key, reason",
    [
        ({"n": 0}, "n", "must be at least 1 (got 0)"),
        ({"n": 4}, "(parameters)", "n (4) cannot be larger than m (3)"),
        ({"yellow_low": "high"}, "yellow_low", "must be a number (got 'high')"),
        ({"yellow_low": 30}, "yellow_low", "30 is outside the plausible range 50–100 % for oxygen saturation"),
    ],
)
def test_bad_values_name_key_and_reason(override, key, reason):
    with pytest.raises(ParameterError) as info:
        resolve_parameters(_spo2_rule(), override)
    assert (key, reason) in info.value.problems
    assert reason in str(info.value)


def test_zone_order_is_checked():
    rule = make_rule(ZONES, {"yellow_low": 92, "red_low": 88}, overridable=["yellow_low", "red_low"])
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"red_low": 95})
    assert info.value.problems == [("(parameters)", "limits must be ordered: red low ≤ yellow low < yellow high ≤ red high")]


def test_combine_parameters_nest_by_child_id_and_accept_flat_or_nested_overrides():
    rule = make_rule(
        {"kind": "any_of", "of": [
            {"id": "swelling", "spec": {"kind": "questionnaire", "code": "checkin.swelling"}},
            {"id": "breathless", "spec": {"kind": "questionnaire", "code": "checkin.breathless"}},
        ]},
        {"swelling": {"at_least": 1}, "breathless": {"at_least": 1}},
        overridable=["breathless.at_least"],
    )
    assert "breathless.at_least" in parameter_names(rule.spec)
    assert resolve_parameters(rule, {"breathless": {"at_least": 2}})["breathless.at_least"] == 2
    assert resolve_parameters(rule, {"breathless.at_least": 2})["breathless.at_least"] == 2
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"swelling.at_least": 2})
    assert info.value.problems[0][0] == "swelling.at_least"


def test_missed_checkin_schedule_is_validated():
    rule = make_rule({"kind": "missed_checkin", "codes": ["weight"], "what": {"nb": "vekt", "en": "weight"}},
                     {"schedule": {"times": ["08:00"]}}, overridable=["schedule", "grace"])
    p = resolve_parameters(rule, {"schedule": {"times": ["07:30", "19:30"], "weekdays": [0, 2, 4]}, "grace": "PT1H"})
    assert p["schedule"].times == (time(7, 30), time(19, 30))
    assert p["grace"] == timedelta(hours=1)
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"schedule": {"times": ["08:00"], "weekdays": [7]}})
    assert info.value.problems[0][0].startswith("schedule.weekdays")
    assert "0 (Monday)" in info.value.problems[0][1]
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"grace": "soon"})
    assert info.value.problems[0] == ("grace", "must be a duration such as PT2H (2 hours) or P3D (3 days) (got 'soon')")


def test_baseline_period_needs_time_zones_and_both_ends():
    rule = make_rule({"kind": "change", "code": "spo2", "direction": "fall", "reference": "baseline"},
                     {"amount": 3}, overridable=["baseline_start", "baseline_end"])
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"baseline_start": "2026-03-01T00:00:00+01:00"})
    assert "set both baseline_start and baseline_end" in str(info.value)
    with pytest.raises(ParameterError) as info:
        resolve_parameters(rule, {"baseline_start": "2026-03-01T00:00:00", "baseline_end": "2026-03-15T00:00:00"})
    assert "time zone" in str(info.value)


def test_each_parameter_has_the_type_and_code_a_form_parses_it_by():
    from datetime import datetime

    from rules.parameters import parameter_codes, parameter_types
    from rules.ruleset import default_rules

    rules = default_rules()
    spo2_low = rules["copd.spo2_low"].spec
    assert parameter_types(spo2_low) == {"n": int, "m": int, "within": timedelta, "confirm_within": timedelta,
                                         "red_low": float,
                                         "yellow_low": float, "yellow_high": float, "red_high": float}
    assert parameter_codes(spo2_low)["yellow_low"] == "spo2" and "n" in parameter_codes(spo2_low)
    drop = rules["copd.spo2_drop"].spec
    assert parameter_types(drop)["baseline_start"] is datetime
    swelling = rules["hf.swelling"].spec
    assert parameter_codes(swelling)["swelling.at_least"] == "checkin.swelling"
    assert parameter_codes(swelling)["breathless.at_least"] == "checkin.breathless"
    assert parameter_codes(rules["general.news2_medium"].spec) == {}  # a score reads many codes
    for rule in rules.values():  # every name a rule accepts has a type
        assert set(parameter_types(rule.spec)) == set(parameter_names(rule.spec))

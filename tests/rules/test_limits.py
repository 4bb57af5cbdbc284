"""The limits a patient sees are read off the same rules that raise the alerts."""

from __future__ import annotations

from conftest import make_rule
from rules.limits import zone_limits
from rules.parameters import resolve_parameters
from rules.zones import Zone, classify

DRY_WEIGHT_RULE = make_rule({"kind": "change", "code": "weight", "direction": "rise", "reference": "baseline"},
                            {"amount": 2.0}, overridable=["amount", "baseline_value"])
SPO2_RED = make_rule({"kind": "zones", "code": "spo2"}, {"red_low": 88}, severity="red")
SPO2_YELLOW = make_rule({"kind": "zones", "code": "spo2"}, {"yellow_low": 92})


def limits_of(*pairs):
    return zone_limits((rule, resolve_parameters(rule, overrides)) for rule, overrides in pairs)


def test_red_and_yellow_zone_rules_make_one_set_of_limits():
    limits = limits_of((SPO2_RED, {}), (SPO2_YELLOW, {}))
    assert (limits["spo2"].red_low, limits["spo2"].yellow_low) == (88, 92)


def test_a_rise_above_a_dry_weight_set_by_the_team_is_a_plain_upper_limit():
    limits = limits_of((DRY_WEIGHT_RULE, {"baseline_value": 68.0}))
    assert limits["weight"].yellow_high == 70.0 and limits["weight"].red_high is None
    # Strict, as the rule is: exactly 2 kg above is not yet "more than 2 kg".
    assert classify("weight", 70.0, limits["weight"]).zone is Zone.GREEN
    assert classify("weight", 70.1, limits["weight"]).zone is Zone.YELLOW


def test_a_baseline_computed_from_readings_gives_no_fixed_limit():
    assert limits_of((DRY_WEIGHT_RULE, {})) == {}


def test_limits_that_contradict_each_other_keep_the_red_ones():
    weight_zones = make_rule({"kind": "zones", "code": "weight"}, {"yellow_low": 60})
    weight_red = make_rule({"kind": "zones", "code": "weight"}, {"red_high": 120}, severity="red")
    limits = limits_of((weight_zones, {}), (weight_red, {}), (DRY_WEIGHT_RULE, {"baseline_value": 50.0}))
    assert (limits["weight"].yellow_low, limits["weight"].yellow_high, limits["weight"].red_high) == (None, None, 120)

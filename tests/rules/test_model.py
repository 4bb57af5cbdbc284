"""The rule format: closed, typed, validated with messages that say which field and why."""

from datetime import datetime

import pytest
from pydantic import ValidationError

from conftest import UTC, at, make_rule
from rules.model import Observation, RuleState, Status
from rules.ruleset import RuleFormatError, parse_rule, parse_ruleset


def _rule(**over):
    data = {
        "key": "hf.weight_gain_3d",
        "version": 1,
        "title": {"nb": "Vekt", "en": "Weight"},
        "severity": "yellow",
        "instruction_key": "weight.yellow",
        "spec": {"kind": "change", "code": "weight", "direction": "rise"},
        "parameters": {"amount": 2.0, "window_days": 3},
    }
    data.update(over)
    return data


def _problems(data):
    with pytest.raises(RuleFormatError) as info:
        parse_rule(data)
    return info.value.problems


def test_a_valid_rule_parses():
    rule = parse_rule(_rule())
    assert rule.spec.kind == "change"
    assert rule.defaults["amount"] == 2.0


def test_unknown_kind_is_rejected_naming_the_field():
    problems = _problems(_rule(spec={"kind": "expression", "code": "weight"}))
    assert problems[0][0] == "spec"
    assert problems[0][1].startswith("unknown kind 'expression'; the kinds are 'zones', 'score_bands'")


def test_unknown_measurement_code_is_rejected_with_the_allowed_codes():
    problems = _problems(_rule(spec={"kind": "zones", "code": "spo3"}, parameters={"yellow_low": 90}))
    assert problems[0][0] == "spec.zones.code"
    assert "unknown observation code 'spo3'" in problems[0][1]
    assert "spo2" in problems[0][1]


def test_extra_fields_are_rejected():
    problems = _problems(_rule(threshold="x > 3"))
    assert problems == [("threshold", "is not a known name here (got 'x > 3')")]


def test_bad_duration_says_how_to_write_one():
    problems = _problems(_rule(hold="two hours"))
    assert problems[0][0] == "hold"
    assert "PT2H" in problems[0][1]


def test_default_parameters_are_validated_when_the_rule_is_loaded():
    problems = _problems(_rule(parameters={"amount": -2, "window_days": 3}))
    assert "parameter 'amount'" in problems[0][1]
    assert "greater than 0" in problems[0][1]


def test_overridable_names_must_be_parameters():
    problems = _problems(_rule(overridable=["amount", "dry_weight"]))
    assert "dry_weight" in problems[0][1]


def test_rule_key_format_is_enforced():
    problems = _problems(_rule(key="Weight Gain"))
    assert problems[0][0] == "key"


def test_score_bands_must_cover_every_value():
    spec = {
        "kind": "score_bands",
        "name": {"nb": "S", "en": "S"},
        "items": [{"code": "pulse", "name": {"nb": "puls", "en": "pulse"}, "bands": [{"max": 50, "points": 1}, {"max": 40, "points": 0}]}],
        "totals": [{"min": 0, "label": {"nb": "Lav", "en": "Low"}}],
    }
    problems = _problems(_rule(spec=spec, parameters={"fire_at_total": 1}))
    assert any("open-ended" in why or "increase" in why for _, why in problems)


def test_a_red_zone_rule_needs_a_red_limit():
    problems = _problems(_rule(severity="red", spec={"kind": "zones", "code": "spo2"}, parameters={"yellow_low": 92}))
    assert "a red rule needs red_low or red_high" in problems[0][1]


def test_zone_limits_outside_the_plausible_range_are_rejected():
    problems = _problems(_rule(spec={"kind": "zones", "code": "spo2"}, parameters={"yellow_low": 120}))
    assert "outside the plausible range 50–100" in problems[0][1]


def test_combine_needs_unique_child_ids():
    child = {"id": "a", "spec": {"kind": "questionnaire", "code": "checkin.cough"}}
    problems = _problems(_rule(spec={"kind": "any_of", "of": [child, child]}, parameters={"a": {"at_least": 1}}))
    assert "unique" in problems[0][1]


def test_ruleset_rejects_duplicate_keys():
    rule = _rule(examples=[])
    with pytest.raises(RuleFormatError) as info:
        parse_ruleset({"name": "x", "title": {"nb": "x", "en": "x"}, "rules": [rule, rule]})
    assert "hf.weight_gain_3d" in str(info.value)


def test_rules_are_immutable():
    rule = parse_rule(_rule())
    with pytest.raises(ValidationError, match="frozen"):
        rule.version = 2


def test_observation_requires_an_aware_time_and_converts_to_utc():
    with pytest.raises(ValueError, match="timezone-aware"):
        Observation("pulse", 70, datetime(2026, 3, 1, 8, 0))
    from zoneinfo import ZoneInfo

    o = Observation("pulse", 70, datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("Europe/Oslo")), "m:1")
    assert o.at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert o.at.tzinfo is UTC
    assert hash(o) == hash(Observation("pulse", 70.0, datetime(2026, 3, 1, 8, 0, tzinfo=UTC), "m:1"))


def test_rule_state_round_trips_through_json():
    state = RuleState(
        rule_key="x.y", rule_version=2, status=Status.PENDING, since=at(), pending_since=at(),
        next_due_at=at(2), detail={"missing": ["resp_rate"]}, baselines={"spo2": 94.0},
    )
    assert RuleState.model_validate_json(state.model_dump_json()) == state
    assert state.model_dump(mode="json")["status"] == "pending"


def test_spec_json_is_discriminated_on_kind():
    rule = make_rule({"kind": "n_of_m", "of": {"kind": "zones", "code": "spo2"}}, {"yellow_low": 92, "n": 2, "m": 3})
    dumped = rule.model_dump(mode="json")
    assert dumped["spec"] == {"kind": "n_of_m", "of": {"kind": "zones", "code": "spo2"}}
    assert dumped["hold"] == "PT0S"


def test_context_and_examples_reject_unknown_time_zones():
    from rules.model import EvaluationContext, Example

    with pytest.raises(ValueError, match="unknown time zone 'Europe/Olso'"):
        EvaluationContext(tz="Europe/Olso")
    with pytest.raises(Exception, match="unknown time zone"):
        Example.model_validate({"name": "x", "tz": "Mars/Base", "expect": [{"at": "2026-03-01T00:00:00Z", "status": "normal"}]})


def test_public_api_is_importable_from_the_package():
    import rules

    for name in rules.__all__:
        assert getattr(rules, name) is not None
    assert rules.evaluate is not None and rules.load_ruleset("copd").name == "copd"

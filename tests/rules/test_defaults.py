"""The shipped default rule sets: they load, their examples pass, and they say where values come from."""

import json

import pytest

from rules.cli import main as cli_main
from rules.model import RuleDefinition
from rules.ruleset import DEFAULTS_DIR, default_rules, load_default_rulesets, load_ruleset, run_examples

EXPECTED_SETS = {"general_vitals", "copd", "heart_failure", "diabetes", "missed", "safety"}


def test_all_expected_default_sets_ship():
    assert set(load_default_rulesets()) == EXPECTED_SETS


@pytest.mark.parametrize("name", sorted(EXPECTED_SETS))
def test_every_example_of_the_default_set_passes(name):
    results = run_examples(load_ruleset(name))
    assert results, f"{name} has no examples"
    failures = [str(r) for r in results if not r.passed]
    assert failures == []


def test_every_default_rule_has_examples_and_a_source_comment():
    for name, ruleset in load_default_rulesets().items():
        text = (DEFAULTS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
        assert "clinical.md" in text, f"{name}.yaml does not name its source"
        for rule in ruleset.rules:
            assert rule.examples, f"{rule.key} ships no examples"


def test_every_default_rule_survives_a_json_round_trip():
    for rule in default_rules().values():
        stored = json.dumps(rule.model_dump(mode="json"))
        again = RuleDefinition.model_validate(json.loads(stored))
        assert again == rule
        assert dict(again.defaults) == dict(rule.defaults)


def test_key_rules_of_the_issue_are_shipped_with_their_clinical_values():
    rules = default_rules()
    assert rules["hf.weight_gain_3d"].defaults["amount"] == 2.0
    assert rules["hf.weight_gain_3d"].defaults["window_days"] == 3
    assert rules["copd.spo2_drop"].defaults["amount"] == 3
    assert rules["copd.spo2_drop"].spec.inclusive is True
    assert rules["copd.cat"].defaults["at_least"] == 10
    assert rules["copd.cat"].defaults["rise_at_least"] == 2
    assert rules["diabetes.glucose_red"].defaults["red_low"] == 3.1
    assert rules["diabetes.glucose_red"].defaults["red_high"] == 14.4
    assert rules["diabetes.glucose_yellow"].defaults["yellow_low"] == 4.4
    assert rules["diabetes.glucose_yellow"].defaults["yellow_high"] == 10.0
    assert rules["general.news2_medium"].defaults["fire_at_total"] == 5
    assert rules["general.news2_high"].defaults["fire_at_total"] == 7
    assert rules["missed.measurement"].vkp_alert_code == "5.3.2"
    assert rules["missed.questionnaire"].vkp_alert_code == "5.3.1"


def test_cli_test_reports_and_exits_zero_for_the_defaults(capsys):
    assert cli_main(["test", "diabetes"]) == 0
    out = capsys.readouterr().out
    assert "PASS diabetes.glucose_red v1" in out
    assert out.strip().splitlines()[-1].endswith("passed, 0 failed")


def test_cli_test_exits_non_zero_for_an_unknown_set(capsys):
    assert cli_main(["test", "no_such_set"]) == 1
    assert "no rule set 'no_such_set'" in capsys.readouterr().out


RULESET_WITH_A_WRONG_EXAMPLE = """
name: local_test
title: {nb: Test, en: Test}
rules:
  - key: local.glucose
    version: 1
    title: {nb: Blodsukker, en: Glucose}
    severity: red
    instruction_key: glucose.red
    spec: {kind: zones, code: glucose}
    parameters: {red_low: 3.1}
    examples:
      - name: claims a normal value fires
        observations: [{code: glucose, value: 6.0, at: "2026-03-10T07:00:00+01:00"}]
        expect: [{at: "2026-03-10T07:00:00+01:00", status: firing}]
"""


def test_cli_test_fails_on_a_yaml_file_with_a_failing_example(tmp_path, capsys):
    path = tmp_path / "local.yaml"
    path.write_text(RULESET_WITH_A_WRONG_EXAMPLE, encoding="utf-8")
    assert cli_main(["test", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL local.glucose v1 — claims a normal value fires: at 2026-03-10T06:00:00+00:00 expected firing, got normal" in out
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_a_broken_rule_file_names_the_file_the_rule_and_the_field(tmp_path):
    from rules.ruleset import RuleFormatError

    path = tmp_path / "broken.yaml"
    path.write_text(RULESET_WITH_A_WRONG_EXAMPLE.replace("code: glucose}", "code: glucoze}"), encoding="utf-8")
    with pytest.raises(RuleFormatError) as info:
        load_ruleset(path)
    assert str(info.value).startswith("broken.yaml: rules.0.spec.zones.code: unknown observation code 'glucoze'")

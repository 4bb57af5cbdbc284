"""Bad policies cannot be constructed, and every error names the field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from homefollow.escalation import EscalationPolicy, PolicyError, parse_policy

from .helpers import BASE_POLICY, HOURS_POLICY, RESPONSE_CENTRE, policy_data


def problems(**changes) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(policy_data(**changes))
    return info.value.problems


def step(**fields):
    return {"target": {"kind": "on_call", "role": "nurse"}, "wait": {"red": 15, "yellow": 60}, **fields}


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"steps": []}, "steps", "add at least one step"),
        ({"steps": [step()] * 11}, "steps", "at most 10 steps"),
        ({"steps": [step(wait={"red": -5, "yellow": 60})]}, "steps.0.wait",
         "the wait for red alerts must be between 0 and 60 minutes (got -5)"),
        ({"steps": [step(wait={"red": 90, "yellow": 60})]}, "steps.0.wait",
         "the wait for red alerts must be between 0 and 60 minutes (got 90)"),
        ({"steps": [step(wait={"yellow": 60})]}, "steps.0.wait", "set the wait for red alerts (minutes)"),
        ({"repeat": 4}, "repeat", "Input should be less than or equal to 3"),
        ({"repeat": -1}, "repeat", "Input should be greater than or equal to 0"),
        ({"fallback": []}, "fallback", "add at least one fallback, e.g. the team's on-call phone number"),
        ({"fallback": [{"kind": "on_call", "role": "nurse"}]}, "fallback",
         "include at least one fixed phone number (the team's on-call phone or a 24/7 response centre): "
         "people and rotas can turn out empty"),
        ({"fallback": [{"kind": "queue_only"}, {"kind": "phone", "number": "+4790000000"}]}, "fallback",
         "the queue cannot be a fallback: the fallback must reach a person"),
        ({"steps": [{"target": {"kind": "queue_only"}, "wait": {"red": 0, "yellow": 60}}, step()]},
         "steps.0.severities", "a queue-only step cannot apply to red alerts: red alerts never wait; "
                               'limit it to ["yellow"]'),
        ({"steps": [{"target": {"kind": "queue_only"}, "severities": ["yellow"], "wait": {"yellow": 60}}]},
         "steps", "no step pages anyone about red alerts in opening hours; "
                  'add one with when "always" or "in_opening_hours"'),
        ({"steps": [step(when="in_opening_hours")]}, "steps",
         "no step pages anyone about red alerts outside opening hours; add one with when \"always\" or "
         '"outside_opening_hours" (e.g. the response centre)'),
        ({"steps": [step(severities=["yellow"], wait={"yellow": 60})]}, "steps",
         "no step pages anyone about red alerts in opening hours; "
         'add one with when "always" or "in_opening_hours"'),
        ({"steps": [step(channels=[])]}, "steps.0.channels", "choose at least one channel: sms or email"),
        ({"steps": [step(channels=["sms", "sms"])]}, "steps.0.channels", "list each channel once"),
        ({"steps": [{"target": {"kind": "phone", "number": RESPONSE_CENTRE}, "channels": ["sms", "email"],
                     "wait": {"red": 15, "yellow": 60}}]},
         "steps.0.channels", 'a phone number can only receive SMS; use ["sms"]'),
        ({"steps": [{"target": {"kind": "phone", "number": "22 00 00 00"}, "wait": {"red": 15, "yellow": 60}}]},
         "steps.0.target.phone.number",
         "write the number in international form, e.g. +4722334455 (got '22 00 00 00')"),
        ({"steps": [step(severities=[])]}, "steps.0.severities", "choose yellow, red or both"),
        ({"ack_timeout": {"red": 30}}, "ack_timeout", "set the acknowledgement timeout for yellow alerts (minutes)"),
        ({"ack_timeout": {"red": 1, "yellow": 60}}, "ack_timeout",
         "the acknowledgement timeout for red alerts must be between 5 and 1440 minutes (got 1)"),
        ({"snooze_max": {"red": 600, "yellow": 60}}, "snooze_max",
         "the longest snooze for red alerts must be between 0 and 240 minutes (got 600)"),
        ({"yellow_remeasure": {"wait": 1, "rule_keys": ["copd.spo2"]}}, "yellow_remeasure.wait",
         "Input should be greater than or equal to 5"),
        ({"yellow_remeasure": {"wait": 30, "rule_keys": []}}, "yellow_remeasure.rule_keys",
         "name at least one rule (e.g. copd.spo2)"),
        ({"name": "  "}, "name", "String should have at least 1 character"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_bad_policy_is_refused_with_a_message_naming_the_field(changes, path, message):
    assert (path, message) in problems(**changes)


def test_unknown_target_kind_and_role_are_named():
    found = problems(steps=[{"target": {"kind": "pager"}, "wait": {"red": 1, "yellow": 1}}])
    assert found[0][0] == "steps.0.target"
    assert "'queue_only', 'on_call', 'role', 'person', 'phone'" in found[0][1]
    found = problems(steps=[step(target={"kind": "role", "role": "janitor"})])
    assert found[0][0] == "steps.0.target.role.role"


def test_all_problems_are_reported_at_once_and_in_the_message():
    found = problems(repeat=9, fallback=[], ack_timeout={"red": 30})
    assert [p for p, _ in found] == ["repeat", "fallback", "ack_timeout"]
    with pytest.raises(PolicyError, match=r"fallback: add at least one fallback"):
        parse_policy(policy_data(fallback=[]))


def test_phone_numbers_are_normalised():
    policy = parse_policy(policy_data(fallback=[{"kind": "phone", "number": "0047 90 00-00 00"}]))
    assert policy.fallback[0].number == "+4790000000"


def test_queue_only_channels_are_cleared_and_severities_ordered():
    policy = parse_policy(policy_data(steps=[
        {"target": {"kind": "queue_only"}, "severities": ["yellow"], "channels": ["sms"], "wait": {"yellow": 30}},
        step(severities=["red", "yellow"]),
    ]))
    assert policy.steps[0].channels == ()
    assert policy.steps[1].severities == ("yellow", "red")


@pytest.mark.parametrize("data", [BASE_POLICY, HOURS_POLICY,
                                  policy_data(yellow_remeasure={"wait": 30, "rule_keys": ["copd.spo2"]})])
def test_json_round_trip(data):
    policy = parse_policy(data)
    stored = json.loads(json.dumps(policy.model_dump(mode="json")))
    assert parse_policy(stored) == policy
    assert parse_policy(stored).model_dump(mode="json") == stored


def test_policies_are_immutable():
    policy = parse_policy(BASE_POLICY)
    with pytest.raises(ValidationError):
        policy.repeat = 3  # type: ignore[misc]


def test_direct_construction_validates_too():
    with pytest.raises(ValidationError):
        EscalationPolicy(name="x", steps=(), fallback=(), ack_timeout={}, snooze_max={})

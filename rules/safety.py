"""The safety net under every plan: limits and answers no plan may silence.

Its rules are data like any other (rules/defaults/safety.yaml, keys 'safety.…'); HomeFollow
evaluates them for every patient beside the plan's own rules. This module gives what other
parts of rules/ need to know about them: the limits they set, for everyone or with a patient's
recorded decisions, and the range normal for anybody that those limits imply.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .limits import zone_limits
from .model import RuleDefinition
from .parameters import resolve_parameters
from .zones import ZoneLimits

RULESET = "safety"

# The lowest SpO2 red limit that means NEWS2 scale 2 (≤ 83 % scores 3): a recorded decision
# for confirmed hypercapnic respiratory failure. Everyone else is on scale 1 (red below 92).
SCALE2_RED_LOW = 84


@lru_cache(maxsize=1)
def default_safety_rules() -> tuple[RuleDefinition, ...]:
    from .ruleset import load_ruleset  # the rule set loader imports the engine; load lazily

    return load_ruleset(RULESET).rules


def safety_limits(rules: tuple[RuleDefinition, ...] | None = None,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, ZoneLimits]:
    """The safety net's zone limits per measurement code (red and yellow), with a patient's
    recorded decisions applied (overrides: rule key → parameters)."""
    rules = rules if rules is not None else default_safety_rules()
    overrides = overrides or {}
    return zone_limits((rule, resolve_parameters(rule, overrides.get(rule.key) or None)) for rule in rules)


def normal_range(code: str, safety: ZoneLimits) -> tuple[float | None, float | None]:
    """Values that are normal for anybody (NEWS2 scores them 0), given the patient's safety
    limits: SpO2 94–98 % on scale 1 (BTS target band), 88–92 % on scale 2 when a decision has
    put the patient on it."""
    if code == "spo2":
        scale2 = safety.red_low is not None and safety.red_low <= SCALE2_RED_LOW
        return (88, None) if scale2 else (94, None)
    return NORMAL_RANGES.get(code, (None, None))


# NEWS2's 0-point bands (clinical.md); glucose between "low" and "high".
NORMAL_RANGES: dict[str, tuple[float | None, float | None]] = {
    "pulse": (51, 90),
    "bp_systolic": (111, 219),
    "resp_rate": (12, 20),
    "temperature": (36.1, 38.0),
    "glucose": (4.4, 10.0),
}

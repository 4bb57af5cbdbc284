"""The personal zone limits a patient sees, read off the patient's zone rules.

There is one place for a patient's limits: the parameters of the zone rules in the plan. The
patient's traffic light for a single reading uses the same numbers as the alerts, so the two
can never disagree. Red limits come from red rules and yellow limits from yellow rules (also
when wrapped in "N of M": the patient sees yellow at once, the team is alerted when confirmed).
When several rules watch the same code, the strictest limit wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .model import ChangeSpec, NOfMSpec, RuleDefinition, Severity, ZonesSpec
from .parameters import Parameters
from .zones import ZoneLimits


def zones_of(rule: RuleDefinition, params: Parameters) -> tuple[str, ZoneLimits] | None:
    """(code, ZoneLimits) if the rule judges single readings against zone limits."""
    spec, node = rule.spec, params.node
    if isinstance(spec, NOfMSpec) and isinstance(spec.of, ZonesSpec):
        return spec.of.code, node[1]
    if isinstance(spec, ZonesSpec):
        return spec.code, node
    return None


def fixed_baseline_limit(rule: RuleDefinition, params: Parameters) -> tuple[str, str, float] | None:
    """(code, limit name, value) when the rule is a plain limit in disguise: a change of more
    than `amount` from a baseline the team has set (weight more than 2 kg above a dry weight of
    68 kg is weight above 70 kg). The patient then sees that limit, and the traffic light on a
    reading agrees with the alert. A baseline computed from readings has no fixed limit."""
    spec, p = rule.spec, params.node
    if not (isinstance(spec, ChangeSpec) and spec.reference == "baseline" and not spec.inclusive):
        return None
    if p.baseline_value is None:
        return None
    severity = "red" if rule.severity is Severity.RED else "yellow"
    if spec.direction == "rise":
        return spec.code, f"{severity}_high", p.baseline_value + p.amount
    return spec.code, f"{severity}_low", p.baseline_value - p.amount


def _limits_of(rule: RuleDefinition, params: Parameters) -> list[tuple[str, str, float]]:
    found = zones_of(rule, params)
    if found is not None:
        code, p = found
        names = ("red_low", "red_high") if rule.severity is Severity.RED else ("yellow_low", "yellow_high")
        return [(code, name, getattr(p, name)) for name in names if getattr(p, name) is not None]
    fixed = fixed_baseline_limit(rule, params)
    return [fixed] if fixed is not None else []


def zone_limits(rules: Iterable[tuple[RuleDefinition, Parameters]]) -> dict[str, ZoneLimits]:
    lows: dict[str, dict[str, float]] = {}
    highs: dict[str, dict[str, float]] = {}
    for rule, params in rules:
        for code, name, value in _limits_of(rule, params):
            if name.endswith("_low"):
                lows.setdefault(code, {})[name] = max(value, lows.get(code, {}).get(name, value))
            else:
                highs.setdefault(code, {})[name] = min(value, highs.get(code, {}).get(name, value))
    result = {}
    for code in set(lows) | set(highs):
        low, high = lows.get(code, {}), highs.get(code, {})
        red_low, yellow_low = low.get("red_low"), low.get("yellow_low")
        red_high, yellow_high = high.get("red_high"), high.get("yellow_high")
        # A yellow limit inside the red zone of a stricter rule adds nothing.
        if red_low is not None and yellow_low is not None and yellow_low <= red_low:
            yellow_low = None
        if red_high is not None and yellow_high is not None and yellow_high >= red_high:
            yellow_high = None
        try:
            result[code] = ZoneLimits(red_low=red_low, yellow_low=yellow_low, yellow_high=yellow_high,
                                      red_high=red_high)
        except ValueError:
            # Rules that contradict each other (a dry weight below a yellow low limit): the red
            # limits still hold; the plan editor's own checks show the team the contradiction.
            result[code] = ZoneLimits(red_low=red_low, red_high=red_high)
    return result


@dataclass(frozen=True)
class LimitSource:
    """One limit one rule sets: 'general.spo2_red sets red_low 92 for spo2'."""

    code: str
    name: str  # red_low, yellow_low, yellow_high, red_high
    value: float
    rule_key: str

    @property
    def low(self) -> bool:
        return self.name.endswith("_low")


def limit_sources(rules: Iterable[tuple[RuleDefinition, Parameters]]) -> list[LimitSource]:
    """Every limit the rules set, unmerged (zone_limits keeps only the strictest)."""
    return [LimitSource(code, name, value, rule.key) for rule, params in rules for code, name, value in
            _limits_of(rule, params)]


@dataclass(frozen=True)
class LimitConflict:
    """A limit of the plan that cannot stand: it contradicts another limit of the plan
    ("order": a yellow limit inside the red zone, yellow zones that cover the normal range),
    or it is looser than the safety net ("looser")."""

    kind: Literal["order", "looser"]
    limit: LimitSource  # the plan's limit at fault
    against: LimitSource  # the limit it contradicts


def _beyond(a: LimitSource, b: LimitSource) -> bool:
    """Whether limit a reaches as far as limit b or further out (lower on the low side)."""
    return a.value <= b.value if a.low else a.value >= b.value


def limit_conflicts(plan: list[LimitSource], safety: list[LimitSource]) -> list[LimitConflict]:
    """What is wrong with the plan's limits, each limit at fault once.

    Within the plan, per side of a measurement: a yellow limit at or beyond a red limit (its
    yellow zone would lie inside the red zone), and low limits at or above high ones. Against
    the safety net: a red limit beyond the safety net's red limit, a yellow limit at or beyond
    it, and a yellow limit beyond the safety net's yellow limit. A stricter limit is always
    allowed."""
    found: list[LimitConflict] = []
    seen: set[LimitSource] = set()

    def add(kind: Literal["order", "looser"], limit: LimitSource, against: LimitSource) -> None:
        if limit not in seen:
            seen.add(limit)
            found.append(LimitConflict(kind, limit, against))

    for p in plan:
        colour = p.name.split("_")[0]
        for q in plan:
            if q.code != p.code or q is p:
                continue
            yellow_beyond_red = q.low == p.low and colour == "yellow" and q.name.startswith("red") and _beyond(p, q)
            low_above_high = p.low and not q.low and p.value >= q.value
            if yellow_beyond_red or low_above_high:
                add("order", p, q)
        for s in safety:
            if s.code != p.code or s.low != p.low:
                continue
            safety_red = s.name.startswith("red")
            if safety_red:
                looser = (colour == "red" and s.value != p.value) or colour == "yellow"
            else:
                looser = colour == "yellow" and s.value != p.value
            if looser and _beyond(p, s):
                add("looser", p, s)
    return found

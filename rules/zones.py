"""Traffic-light zones for a single measurement against the limits in the patient's plan.

Limits are strict: a value is red when it is *below* `red_low` or *above* `red_high`, yellow
when below `yellow_low` or above `yellow_high`, green otherwise. This matches how clinical
guidance states them ("SpO2 red < 88, yellow < 92"; "glucose urgent high > 14.4").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict, model_validator

from .measurements import CATALOGUE
from .text import Text, both, value_with_unit


class Zone(str, Enum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def rank(self) -> int:
        return {"green": 0, "yellow": 1, "red": 2}[self.value]

    @staticmethod
    def worst(zones: Iterable[Zone | None]) -> Zone | None:
        present = [z for z in zones if z is not None]
        return max(present, key=lambda z: z.rank) if present else None


class ZoneLimits(BaseModel):
    """Yellow and red limits for one measurement code. Any limit may be absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ZoneLimits:
        present = [v for v in (self.red_low, self.yellow_low, self.yellow_high, self.red_high) if v is not None]
        if present != sorted(present):
            raise ValueError("limits must be ordered: red low ≤ yellow low < yellow high ≤ red high")
        if self.yellow_low is not None and self.yellow_high is not None and self.yellow_low >= self.yellow_high:
            raise ValueError("yellow low must be below yellow high")
        return self

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in (self.red_low, self.yellow_low, self.yellow_high, self.red_high))


@dataclass(frozen=True)
class ZoneResult:
    code: str
    value: float
    zone: Zone
    limit_name: str | None  # which limit was crossed: "red_low", "yellow_high", ...
    limit_value: float | None
    explanation: Text

    @property
    def threshold_text(self) -> Text:
        """'< 88 %' — the limit that was crossed, for queues and tables."""
        limit_value = self.limit_value
        if self.limit_name is None or limit_value is None:
            return Text("", "")
        sign = "<" if self.limit_name.endswith("_low") else ">"
        return both(lambda loc: f"{sign} {value_with_unit(self.code, limit_value, loc)}")


_ZONE_WORD = {
    "nb": {Zone.GREEN: "grønn", Zone.YELLOW: "gul", Zone.RED: "rød"},
    "en": {Zone.GREEN: "green", Zone.YELLOW: "yellow", Zone.RED: "red"},
}


def zone_word(zone: Zone, locale: str) -> str:
    return _ZONE_WORD["nb" if locale.startswith("nb") else "en"][zone]


def classify(code: str, value: float, limits: ZoneLimits) -> ZoneResult | None:
    """Zone of one value, or None when the plan sets no limits for this measurement."""
    if limits.is_empty:
        return None
    checks = (
        ("red_low", limits.red_low, value < limits.red_low if limits.red_low is not None else False, Zone.RED),
        ("red_high", limits.red_high, value > limits.red_high if limits.red_high is not None else False, Zone.RED),
        ("yellow_low", limits.yellow_low, value < limits.yellow_low if limits.yellow_low is not None else False, Zone.YELLOW),
        ("yellow_high", limits.yellow_high, value > limits.yellow_high if limits.yellow_high is not None else False, Zone.YELLOW),
    )
    for name, limit, crossed, zone in checks:
        if crossed:
            return ZoneResult(code, value, zone, name, limit, _explain(code, value, zone, name, limit))
    return ZoneResult(code, value, Zone.GREEN, None, None, _explain(code, value, Zone.GREEN, None, None))


def _explain(code: str, value: float, zone: Zone, limit_name: str | None, limit: float | None) -> Text:
    m = CATALOGUE[code]

    def build(loc: str) -> str:
        v = value_with_unit(code, value, loc)
        name = m.name(loc)
        if limit_name is None or limit is None:
            return (f"{name} {v} er innenfor planens grenser (grønn sone)" if loc == "nb"
                    else f"{name} {v} is within the plan's limits (green zone)")
        lim = value_with_unit(code, limit, loc)
        below = limit_name.endswith("_low")
        if loc == "nb":
            side = "under" if below else "over"
            return f"{name} {v} er {side} planens grense {lim} for {zone_word(zone, loc)} sone"
        side = "below" if below else "above"
        return f"{name} {v} is {side} the plan's {zone_word(zone, loc)} limit of {lim}"

    return both(build)


def classify_item(values: dict[str, float], limits: dict[str, ZoneLimits]) -> list[ZoneResult]:
    """Zones of all values of one report that have limits in the plan."""
    results = []
    for code, value in values.items():
        if code in limits:
            r = classify(code, value, limits[code])
            if r is not None:
                results.append(r)
    return results

"""Personal baselines and calibration of personal zone limits from the trial period.

The trial period (2–4 weeks of daily readings, clinical.md) establishes what is normal for
this patient. ``compute_baseline`` gives the median; ``propose_limits`` proposes personal
zone limits (median ± k × IQR) for a nurse to approve. A proposal is never more lenient than
the safety net (rules/safety.py: its red and yellow limits, with the patient's recorded
decisions) and never outside the plausible range of the measurement: the patient's "normal"
must not hide a value that is dangerous for anyone. Nor is a red limit ever inside the range
that is normal for anyone (safety.normal_range).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median, quantiles

from .codes import code_info, format_value
from .measurements import CATALOGUE
from .model import Observation
from .safety import normal_range, safety_limits
from .text import Text, day
from .zones import ZoneLimits

# A proposed red limit never lies inside the range normal for anybody (safety.normal_range: the
# NEWS2 0-point bands, SpO2 on the patient's scale, glucose between "low" and "high"): a personal
# red means "act now", and a patient whose readings hardly vary would otherwise get a red pulse
# limit of 84, calling an ordinary pulse of 85 an emergency. Yellow limits may lie inside it:
# noticing a departure from the patient's own normal is what they are for.

# The smallest spread used in place of the IQR, so that a patient whose trial readings hardly
# vary does not get limits right at the median (alerting on ordinary measurement noise).
# These are the engine's own choice (about the repeatability of home devices), not clinical
# reference values; the nurse sees them in the proposal's explanation.
MIN_SPREAD: dict[str, float] = {
    "spo2": 1.0,
    "pulse": 5.0,
    "bp_systolic": 8.0,
    "bp_diastolic": 5.0,
    "resp_rate": 2.0,
    "temperature": 0.3,
    "weight": 0.5,
    "glucose": 0.8,
}

# Which sides get limits by default. High SpO2 is never a concern at home.
DEFAULT_SIDES: dict[str, tuple[str, ...]] = {"spo2": ("low",)}


@dataclass(frozen=True)
class Baseline:
    code: str
    value: float  # the median
    count: int
    start: datetime
    end: datetime
    refs: tuple[str, ...]
    explanation: Text


def _in_period(code: str, observations: Iterable[Observation], start: datetime | None, end: datetime | None) -> list[Observation]:
    out = [o for o in observations if o.code == code and (start is None or o.at >= start) and (end is None or o.at < end)]
    out.sort(key=lambda o: (o.at, o.value, o.ref or ""))
    return out


def compute_baseline(
    code: str,
    observations: Sequence[Observation],
    start: datetime,
    end: datetime,
    min_count: int = 5,
    tz: str = "Europe/Oslo",
) -> Baseline | None:
    """Median of the patient's readings of ``code`` in [start, end), or None if too few."""
    picked = _in_period(code, observations, start, end)
    if len(picked) < min_count:
        return None
    value = float(median(o.value for o in picked))
    period = {loc: f"{day(start, tz, loc)}–{day(end - timedelta(seconds=1), tz, loc)}" for loc in ("nb", "en")}
    info = code_info(code)
    text = Text(
        f"Personlig utgangsverdi for {info.name_nb.lower()}: {format_value(code, value, 'nb')} "
        f"(median av {len(picked)} målinger {period['nb']}).",
        f"Personal baseline for {info.name_en.lower()}: {format_value(code, value, 'en')} "
        f"(median of {len(picked)} readings {period['en']}).",
    )
    return Baseline(code, value, len(picked), start, end, tuple(o.ref for o in picked if o.ref), text)


@dataclass(frozen=True)
class LimitProposal:
    code: str
    limits: ZoneLimits
    median: float
    q1: float
    q3: float
    iqr: float
    spread: float  # the IQR, or the minimum spread when the IQR was smaller
    count: int
    k: float
    red_k: float
    adjusted: tuple[str, ...]  # limits moved to a safety limit or out of the normal range, or dropped
    warnings: tuple[str, ...]
    explanation: Text


class NotEnoughReadings(ValueError):
    def __init__(self, code: str, count: int, needed: int):
        self.code, self.count, self.needed = code, count, needed
        super().__init__(f"{code}: {count} readings in the period, at least {needed} are needed for a proposal")


def _round(code: str, value: float, down: bool) -> float:
    """Round a limit outward to the reading precision (low limits down, high limits up)."""
    scale = 10 ** code_info(code).decimals
    steps = math.floor(value * scale + 1e-9) if down else math.ceil(value * scale - 1e-9)
    return float(steps / scale)


def propose_limits(
    code: str,
    observations: Sequence[Observation],
    start: datetime | None = None,
    end: datetime | None = None,
    k: float = 1.5,
    red_k: float = 3.0,
    min_count: int = 7,
    sides: tuple[str, ...] | None = None,
    safety: ZoneLimits | None = None,
    tz: str = "Europe/Oslo",
) -> LimitProposal:
    """Personal zone limits from the trial period: yellow at median ± k × IQR, red at ± red_k × IQR.

    Limits are rounded outward to the reading precision, then clipped: never more lenient than
    the safety net (``safety``: the patient's safety limits, red and yellow, by default the
    safety net's own), a red limit never inside the normal range, a yellow limit always inside
    its red limit, and limits outside the plausible range dropped. Raises NotEnoughReadings when
    the period has too few readings.
    """
    if code not in CATALOGUE:
        raise ValueError(f"{code}: limits can only be proposed for measurements ({', '.join(sorted(CATALOGUE))})")
    if not 0 < k < red_k:
        raise ValueError("k must be positive and smaller than red_k")
    sides = sides or DEFAULT_SIDES.get(code, ("low", "high"))
    safety = safety if safety is not None else safety_limits().get(code, ZoneLimits())
    values = [o.value for o in _in_period(code, observations, start, end)]
    if len(values) < min_count:
        raise NotEnoughReadings(code, len(values), min_count)
    info = code_info(code)
    q1, med, q3 = quantiles(values, n=4, method="inclusive")
    iqr = q3 - q1
    spread = max(iqr, MIN_SPREAD.get(code, 0.0))

    raw = {}
    if "low" in sides:
        raw["yellow_low"] = _round(code, med - k * spread, down=True)
        raw["red_low"] = _round(code, med - red_k * spread, down=True)
    if "high" in sides:
        raw["yellow_high"] = _round(code, med + k * spread, down=False)
        raw["red_high"] = _round(code, med + red_k * spread, down=False)
    limits = dict(raw)
    adjusted: list[str] = []
    warnings: list[str] = []
    if "red_low" in limits and safety.red_low is not None and limits["red_low"] < safety.red_low:
        limits["red_low"] = safety.red_low
        adjusted.append("red_low")
    if "red_high" in limits and safety.red_high is not None and limits["red_high"] > safety.red_high:
        limits["red_high"] = safety.red_high
        adjusted.append("red_high")
    if "yellow_low" in limits and safety.yellow_low is not None and limits["yellow_low"] < safety.yellow_low:
        limits["yellow_low"] = safety.yellow_low
        adjusted.append("yellow_low")
    if "yellow_high" in limits and safety.yellow_high is not None and limits["yellow_high"] > safety.yellow_high:
        limits["yellow_high"] = safety.yellow_high
        adjusted.append("yellow_high")
    normal_low, normal_high = normal_range(code, safety)
    if "red_low" in limits and normal_low is not None and limits["red_low"] > normal_low:
        limits["red_low"] = normal_low  # red below the lowest normal value, not within the range
        adjusted.append("red_low")
    if "red_high" in limits and normal_high is not None and limits["red_high"] < normal_high:
        limits["red_high"] = normal_high
        adjusted.append("red_high")
    # A yellow limit always lies inside its red limit, at least one reading step in: a yellow
    # zone at or beyond the red limit would be empty (and the plan refuses it).
    step = 10 ** -code_info(code).decimals
    if "yellow_low" in limits and limits["yellow_low"] <= limits["red_low"]:
        limits["yellow_low"] = round(limits["red_low"] + step, code_info(code).decimals)
        adjusted.append("yellow_low")
    if "yellow_high" in limits and limits["yellow_high"] >= limits["red_high"]:
        limits["yellow_high"] = round(limits["red_high"] - step, code_info(code).decimals)
        adjusted.append("yellow_high")
    for name in list(limits):
        v = limits[name]
        # A low limit at or below the plausible minimum (or a high one at or above the maximum)
        # can never be crossed by an accepted reading: leave it out rather than pretend.
        if (name.endswith("_low") and v <= info.minimum) or (name.endswith("_high") and v >= info.maximum):
            del limits[name]
            adjusted.append(name)
    if "yellow_low" in limits and "yellow_high" in limits and limits["yellow_low"] >= limits["yellow_high"]:
        warnings.append("yellow limits meet; widen k or set them by hand")
        del limits["yellow_high"]
    if (safety.red_low is not None and med < safety.red_low) or (safety.red_high is not None and med > safety.red_high):
        warnings.append("the median itself is beyond a safety limit: review the patient before approving")
    proposal = ZoneLimits(**limits)
    return LimitProposal(code, proposal, med, q1, q3, iqr, spread, len(values), k, red_k,
                         tuple(dict.fromkeys(adjusted)), tuple(warnings),
                         _explain(code, proposal, med, iqr, spread, len(values), k, red_k, adjusted, warnings, start, end, tz))


_WARNINGS_NB = {
    "yellow limits meet; widen k or set them by hand": "de gule grensene møtes; øk k eller sett dem for hånd",
    "the median itself is beyond a safety limit: review the patient before approving":
        "medianen selv er utenfor en sikkerhetsgrense: vurder pasienten før du godkjenner",
}

_NAMES = {
    "nb": {"red_low": "rød under", "yellow_low": "gul under", "yellow_high": "gul over", "red_high": "rød over"},
    "en": {"red_low": "red below", "yellow_low": "yellow below", "yellow_high": "yellow above", "red_high": "red above"},
}


def _explain(code: str, limits: ZoneLimits, med: float, iqr: float, spread: float, count: int, k: float, red_k: float,
             adjusted: Sequence[str], warnings: Sequence[str], start: datetime | None, end: datetime | None,
             tz: str) -> Text:
    out = {}
    for loc in ("nb", "en"):
        nb = loc == "nb"
        def f(v: float, loc: str = loc) -> str:
            return format_value(code, v, loc)
        period = ""
        if start is not None and end is not None:
            period = f" {day(start, tz, loc)}–{day(end - timedelta(seconds=1), tz, loc)}"
        listed = ", ".join(
            f"{_NAMES[loc][n]} {f(getattr(limits, n))}"
            for n in ("red_low", "yellow_low", "yellow_high", "red_high")
            if getattr(limits, n) is not None
        )
        kk = str(k).replace(".", ",") if nb else str(k)
        rk = str(red_k).replace(".", ",") if nb else str(red_k)
        if nb:
            text = (f"Forslag fra {count} målinger{period}: median {f(med)}, kvartilbredde (IQR) {f(iqr)}"
                    + (f" (minst {f(spread)} brukt)" if spread > iqr else "")
                    + f". Gul ved median ± {kk} × IQR, rød ved ± {rk} × IQR: {listed or 'ingen grenser'}.")
            if adjusted:
                text += (" Justert til sikkerhetsgrensene, ut av normalområdet eller til måleområdet: "
                         + ", ".join(_NAMES[loc][n] for n in dict.fromkeys(adjusted)) + ".")
            if warnings:
                text += " Obs: " + "; ".join(_WARNINGS_NB[w] for w in warnings) + "."
            text += " Må godkjennes av sykepleier før bruk."
        else:
            text = (f"Proposal from {count} readings{period}: median {f(med)}, interquartile range (IQR) {f(iqr)}"
                    + (f" (at least {f(spread)} used)" if spread > iqr else "")
                    + f". Yellow at median ± {kk} × IQR, red at ± {rk} × IQR: {listed or 'no limits'}.")
            if adjusted:
                text += (" Adjusted to the safety limits, out of the normal range or to the plausible range: "
                         + ", ".join(_NAMES[loc][n] for n in dict.fromkeys(adjusted)) + ".")
            if warnings:
                text += " Note: " + "; ".join(warnings) + "."
            text += " A nurse must approve it before use."
        out[loc] = text
    return Text(out["nb"], out["en"])

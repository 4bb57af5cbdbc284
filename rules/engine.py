"""Evaluation: rule + parameters + observations + previous state + now → new state and findings.

Each kind answers one question, "is the condition true now, and since when (per the data)?",
as a ``Check``. One state machine, shared by all kinds, turns checks into states:

    normal ──condition──▶ pending ──hold elapsed──▶ firing ──condition false──▶ recovering
       ▲                     │                        ▲                           │
       └────condition false──┘                        └──────condition again──────┤
       └──────────────────────────recover_after elapsed───────────────────────────┘
    any status ──no readings / readings older than stale_after / no baseline──▶ no_data

The onset of a condition is taken from the readings (the first of the current run of readings
for which the condition holds), not from when the evaluation happened to run, so a reading
that arrives late is judged by when it was taken. The previous state only adds what the
readings can no longer show (a pending onset older than the readings passed in).

Cost: observations are grouped by code once per patient evaluation and each code's readings
sorted when a rule first reads them (``ObservationIndex``); each kind then looks only at the
newest readings it needs (walks stop at the hold / recovery horizon); rules that read the same
score share its computation; explanations are built only for pending and firing rules, and
once per distinct input (``_texts``). ``benchmarks/rules_bench.py`` measures all of this.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, UTC
from functools import cache, lru_cache
from operator import attrgetter
from statistics import median
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from .codes import answer_text, code_info, format_delta, format_value, is_answer
from .model import (
    ChangeBaselineParams,
    ChangeSpec,
    ChangeWindowParams,
    CombineSpec,
    Evaluation,
    EvaluationContext,
    Finding,
    MissedCheckinSpec,
    MissedParams,
    NOfMParams,
    NOfMSpec,
    Observation,
    QuestionnaireParams,
    QuestionnaireSpec,
    ReadingSpec,
    RuleDefinition,
    RuleState,
    ScoreBand,
    ScoreBandsSpec,
    ScoreParams,
    SilenceParams,
    SilenceSpec,
    Status,
    ZonesSpec,
)
from .parameters import Parameters, resolve_parameters
from .schedule import Schedule, local_day_bounds, slots_on
from .text import Text, clock, day, duration, moment, number
from .zones import Zone, ZoneLimits, zone_word

_MAX_WALK = 500  # readings examined backwards for an onset; beyond that the onset is "at least this old"

# ---------------------------------------------------------------------------------------------
# Observations, grouped by code and sorted once


class Series:
    """The readings of one code in time order; bisects compare their POSIX times (``ts``)."""

    __slots__ = ("obs",)

    def __init__(self, obs: list[Observation]):
        self.obs = obs

    def upto(self, now_ts: float) -> int:
        """Number of readings taken at or before ``now_ts``."""
        return bisect_right(self.obs, now_ts, key=_TS)


_TS = attrgetter("ts")
_EMPTY = Series([])


def _tie_key(o: Observation) -> tuple[float, int, float, str]:
    """Readings taken at the same instant are ordered as they arrived: a ref that ends in a
    number (the app's "m:<id>") is that number, so the reading that came last is the newest.
    Ordering such ties by value made a device's SpO2 86 and 95 sent in one second read as 95
    "newest", and the 86 was stored red with no alert. Without numbered refs: by value."""
    ref = o.ref or ""
    tail = ref.rpartition(":")[2]
    return (o.ts, int(tail) if tail.isdigit() else -1, o.value, ref)


class ObservationIndex:
    """Observations grouped by code; a code's readings are sorted by (time, value, ref) when a
    rule first asks for them, so codes no rule reads cost only the grouping pass."""

    __slots__ = ("_groups", "_series", "_matching", "shared")

    def __init__(self, observations: Iterable[Observation]):
        groups: defaultdict[str, list[Observation]] = defaultdict(list)
        for o in observations:
            groups[o.code].append(o)
        self._groups = dict(groups)
        self._series: dict[str, Series] = {}
        self._matching: dict[tuple[str, ...], list[Series]] = {}
        # What rules evaluated on these readings can share (see _score_readings), by key.
        self.shared: dict[tuple[Any, ...], Any] = {}

    def series(self, code: str) -> Series:
        found = self._series.get(code)
        if found is None:
            group = self._groups.get(code)
            if group is None:
                return _EMPTY
            group.sort(key=_TS)
            if len(set(map(_TS, group))) < len(group):  # readings at the same instant: order them fully
                group.sort(key=_tie_key)
            found = self._series[code] = Series(group)
        return found

    def codes(self) -> Iterable[str]:
        return self._groups.keys()

    def matching(self, patterns: tuple[str, ...]) -> list[Series]:
        """Series of every code matching any of the patterns ('weight', 'checkin.*')."""
        found = self._matching.get(patterns)
        if found is None:
            codes: dict[str, None] = {}
            for p in patterns:
                if p.endswith(".*"):
                    codes.update((c, None) for c in self._groups if c.startswith(p[:-1]))
                elif p in self._groups:
                    codes[p] = None
            found = self._matching[patterns] = [self.series(c) for c in codes]
        return found


# ---------------------------------------------------------------------------------------------
# Checks


Parts = tuple[Text, Text, Text]  # value_text, threshold_text, explanation


@dataclass(slots=True)
class Check:
    truth: bool | None  # None: cannot tell (no data, stale, no baseline)
    onset: datetime | None = None  # since when ``truth`` has held, per the readings
    exact: bool = True  # False when the readings may not reach back to the real onset
    refs: tuple[str, ...] = ()
    newest: datetime | None = None  # newest reading looked at
    due: datetime | None = None  # when time alone may change the answer (deadline, staleness)
    explain: Callable[[], Parts] | None = None  # built only when needed
    note: Callable[[], Text] | None = None  # what to show when not true (no data, partial score)
    # Everything explain() and note() depend on besides the rule, its parameters and the time
    # zone; equal signatures give equal texts, so they are formatted once (see _texts).
    sig: tuple[Any, ...] | None = None
    baselines: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Run:
    """What every kind needs besides its own spec and parameters."""

    rule: RuleDefinition
    index: ObservationIndex
    now: datetime
    tz: str
    context: EvaluationContext
    previous: RuleState | None
    horizon: datetime  # how far back an onset matters: now − max(hold, recover_after)
    now_ts: float
    horizon_ts: float


def _min_due(*dues: datetime | None) -> datetime | None:
    present = [d for d in dues if d is not None]
    return min(present) if present else None


def _nb(loc: str) -> bool:
    return loc.startswith("nb")


# Who sets a limit, in explanations: the patient's plan, or the safety net under every plan.
_OWNER = {
    ("plan", "nb"): ("planen", "planens"), ("plan", "en"): ("the plan", "the plan's"),
    ("safety", "nb"): ("sikkerhetsnettet", "sikkerhetsnettets"),
    ("safety", "en"): ("the safety net", "the safety net's"),
}


def _owner(layer: str, loc: str, possessive: bool = False) -> str:
    """'planen' / 'sikkerhetsnettets' — whose limit a sentence speaks of."""
    return _OWNER[(layer, "nb" if _nb(loc) else "en")][possessive]


def _join(texts: Sequence[Text], sep: str = " ") -> Text:
    return Text(sep.join(t.nb for t in texts if t.nb), sep.join(t.en for t in texts if t.en))


def _delta(a: float, b: float) -> float:
    # Rounded so that 74.9 − 72.9 counts as 2.0 and not 2.0000000000000057.
    return round(a - b, 6)


def _no_data(reason_nb: str, reason_en: str, newest: datetime | None = None, due: datetime | None = None) -> Check:
    return Check(None, newest=newest, due=due, note=lambda: Text(reason_nb, reason_en), sig=("no_data", reason_en))


def _stale(run: _Run, newest: datetime, name: Text) -> Check | None:
    """A no-data check when the newest reading is older than stale_after, else None."""
    limit = run.rule.stale_after
    if limit is None or run.now - newest < limit:  # stale from newest + stale_after on, the due time
        return None
    return Check(
        None,
        newest=newest,
        sig=("stale", newest, limit),
        note=lambda: Text(
            f"{name.nb}: siste registrering {moment(newest, run.tz, 'nb')} er eldre enn "
            f"{duration(limit, 'nb')}; regelen kan ikke vurderes.",
            f"{name.en}: the latest reading, {moment(newest, run.tz, 'en')}, is older than "
            f"{duration(limit, 'en')}; the rule cannot be assessed.",
        ),
    )


def _stale_due(run: _Run, newest: datetime) -> datetime | None:
    return newest + run.rule.stale_after if run.rule.stale_after is not None else None


@cache
def _code_name(code: str) -> Text:
    info = code_info(code)
    return Text(info.name_nb, info.name_en)


def _walk(obs: list[Observation], n: int, truth_at: Callable[[int], bool],
          horizon_ts: float) -> tuple[bool, datetime, bool]:
    """Truth at the newest reading and the first reading of the run with that truth.

    Stops at the horizon (an older onset changes nothing) or after _MAX_WALK readings.
    Returns (truth, onset, exact).
    """
    i = n - 1
    truth = truth_at(i)
    steps = 0
    while i > 0 and obs[i].ts > horizon_ts and steps < _MAX_WALK:
        if truth_at(i - 1) != truth:
            return truth, obs[i].at, True
        i -= 1
        steps += 1
    return truth, obs[i].at, i > 0


# ---------------------------------------------------------------------------------------------
# Per-reading conditions (zones, change, questionnaire), usable alone or inside n_of_m


class _Reading(ABC):
    """A condition each reading of one code meets or not. Subclasses say when (``pred``) and
    how to explain it; made per evaluation, so they are plain slotted objects, not closures.
    When ``unknown`` is set the condition cannot be judged at all, and callers report that
    instead of asking about readings."""

    __slots__ = ("code", "obs", "n", "tz", "name", "unknown", "baselines", "detail", "layer")

    def __init__(self, code: str, run: _Run):
        self.code = code
        self.layer = run.rule.layer
        series = run.index.series(code)
        self.obs = series.obs
        self.n = series.upto(run.now_ts)  # readings at or before now
        self.tz = run.tz
        self.name = _code_name(code)
        self.unknown: Check | None = None  # set when the condition cannot be judged at all
        self.baselines: dict[str, float] = {}
        self.detail: dict[str, Any] = {}

    @abstractmethod
    def pred(self, i: int) -> bool:
        """Whether reading i meets the condition."""

    def refs(self, i: int) -> tuple[str, ...]:
        ref = self.obs[i].ref
        return (ref,) if ref else ()

    @abstractmethod
    def explain(self, i: int) -> Parts:
        """A true reading, in full."""

    @abstractmethod
    def criterion(self, loc: str) -> str:
        """'under planens grense for gul sone (92 %)'"""

    def sig(self, i: int) -> tuple[Any, ...]:
        """What explain(i) depends on."""
        return (self.obs[i],)

    def short(self, i: int, loc: str) -> str:
        """'90 % 11. mars 08:00'"""
        o = self.obs[i]
        when = moment(o.at, self.tz, loc)
        value = (answer_text if is_answer(self.code) else format_value)(self.code, o.value, loc)
        return f"{value} {when}" if _nb(loc) else f"{value} on {when}"


def _zone_rank(v: float, lim: ZoneLimits) -> tuple[int, str | None]:
    if lim.red_low is not None and v < lim.red_low:
        return 2, "red_low"
    if lim.red_high is not None and v > lim.red_high:
        return 2, "red_high"
    if lim.yellow_low is not None and v < lim.yellow_low:
        return 1, "yellow_low"
    if lim.yellow_high is not None and v > lim.yellow_high:
        return 1, "yellow_high"
    return 0, None


class _ZonesReading(_Reading):
    __slots__ = ("limits", "need")

    def __init__(self, spec: ZonesSpec, limits: ZoneLimits, run: _Run):
        super().__init__(spec.code, run)
        self.limits = limits
        self.need = run.rule.severity.rank

    def pred(self, i: int) -> bool:
        return _zone_rank(self.obs[i].value, self.limits)[0] >= self.need

    def _criterion_for(self, limit_name: str, limit: float, loc: str) -> str:
        zone = zone_word(Zone.RED if limit_name.startswith("red") else Zone.YELLOW, loc)
        lim = format_value(self.code, limit, loc)
        if _nb(loc):
            side = "under" if limit_name.endswith("_low") else "over"
            return f"{side} {_owner(self.layer, loc, True)} grense for {zone} sone ({lim})"
        side = "below" if limit_name.endswith("_low") else "above"
        return f"{side} {_owner(self.layer, loc, True)} {zone} limit ({lim})"

    def criterion(self, loc: str) -> str:
        # For n_of_m: the limits of the rule's own severity.
        limits = self.limits
        names = ("red_low", "red_high") if self.need == 2 else ("yellow_low", "yellow_high")
        present = [(nm, getattr(limits, nm)) for nm in names if getattr(limits, nm) is not None]
        if not present:  # a yellow rule given only red limits
            present = [(nm, getattr(limits, nm)) for nm in ("red_low", "red_high") if getattr(limits, nm) is not None]
        return (" eller " if _nb(loc) else " or ").join(self._criterion_for(nm, v, loc) for nm, v in present)

    def explain(self, i: int) -> Parts:
        code, name, value = self.code, self.name, self.obs[i].value
        limit_name = _zone_rank(value, self.limits)[1]
        assert limit_name is not None, "explain() is asked only of a reading that meets the condition"
        limit = getattr(self.limits, limit_name)
        sign = "<" if limit_name.endswith("_low") else ">"
        return (
            Text(format_value(code, value, "nb"), format_value(code, value, "en")),
            Text(f"{sign} {format_value(code, limit, 'nb')}", f"{sign} {format_value(code, limit, 'en')}"),
            Text(
                f"{name.nb} {self.short(i, 'nb')} er {self._criterion_for(limit_name, limit, 'nb')}.",
                f"{name.en} {self.short(i, 'en')} is {self._criterion_for(limit_name, limit, 'en')}.",
            ),
        )


@lru_cache(maxsize=8192)
def _window_start(at: datetime, tz: str, days: int) -> float:
    """Start of the local calendar day ``days`` before the day of ``at``, as POSIX time."""
    local: date = at.astimezone(ZoneInfo(tz)).date()
    return local_day_bounds(local - timedelta(days=days), tz)[0].timestamp()


def _amount_phrase(code: str, spec: ChangeSpec, amount: float, loc: str) -> str:
    a = format_delta(code, amount, loc)
    if _nb(loc):
        return f"{'minst' if spec.inclusive else 'mer enn'} {a}"
    return f"{'at least' if spec.inclusive else 'more than'} {a}"


class _ChangeReading(_Reading):
    __slots__ = ("spec", "rise", "amount")

    def __init__(self, spec: ChangeSpec, amount: float, run: _Run):
        super().__init__(spec.code, run)
        self.spec = spec
        self.rise = spec.direction == "rise"
        self.amount = amount

    def big_enough(self, change: float) -> bool:
        return change >= self.amount if self.spec.inclusive else change > self.amount


class _WindowChangeReading(_ChangeReading):
    """A change against the lowest (rise) or highest (fall) reading of the last days."""

    __slots__ = ("days",)

    def __init__(self, spec: ChangeSpec, params: ChangeWindowParams, run: _Run):
        super().__init__(spec, params.amount, run)
        self.days = params.window_days

    def reference(self, i: int) -> int | None:
        """Index of the lowest (rise) or highest (fall) earlier reading within the window."""
        obs = self.obs
        lo = bisect_left(obs, _window_start(obs[i].at, self.tz, self.days), 0, i, key=_TS)
        if lo >= i:
            return None
        if self.rise:
            return min(range(lo, i), key=lambda j: (obs[j].value, -j))
        return max(range(lo, i), key=lambda j: (obs[j].value, j))

    def change_at(self, i: int) -> tuple[float, int] | None:
        j = self.reference(i)
        if j is None:
            return None
        v, w = self.obs[i].value, self.obs[j].value
        return (_delta(v, w) if self.rise else _delta(w, v)), j

    def pred(self, i: int) -> bool:
        c = self.change_at(i)
        return c is not None and self.big_enough(c[0])

    def refs(self, i: int) -> tuple[str, ...]:
        c = self.change_at(i)
        out = [self.obs[c[1]].ref] if c else []
        out.append(self.obs[i].ref)
        return tuple(r for r in out if r)

    def criterion(self, loc: str) -> str:
        span = duration(timedelta(days=self.days), loc)
        amount = _amount_phrase(self.code, self.spec, self.amount, loc)
        if _nb(loc):
            return f"{'steget' if self.rise else 'falt'} {amount} på {span}"
        return f"{'risen' if self.rise else 'fallen'} {amount} within {span}"

    def explain(self, i: int) -> Parts:
        code, obs, rise, tz = self.code, self.obs, self.rise, self.tz
        found = self.change_at(i)
        assert found is not None, "explain() is asked only of a reading that meets the condition"
        change, j = found
        span = {loc: duration(timedelta(days=self.days), loc) for loc in ("nb", "en")}
        amt = {loc: format_delta(code, self.amount, loc) for loc in ("nb", "en")}
        d = {loc: format_delta(code, change, loc) for loc in ("nb", "en")}
        v = {loc: format_value(code, obs[i].value, loc) for loc in ("nb", "en")}
        r = {loc: format_value(code, obs[j].value, loc) for loc in ("nb", "en")}
        sign = "+" if rise else "−"
        inclusive = self.spec.inclusive
        if inclusive:
            rule_nb = f"{_owner(self.layer, 'nb')} varsler ved {'økning' if rise else 'fall'} på {amt['nb']} eller mer på {span['nb']}"
            rule_en = f"{_owner(self.layer, 'en')} alerts at a {'rise' if rise else 'fall'} of {amt['en']} or more within {span['en']}"
        else:
            rule_nb = f"{_owner(self.layer, 'nb')} tillater {amt['nb']} på {span['nb']}"
            rule_en = f"{_owner(self.layer, 'en')} allows {amt['en']} in {span['en']}"
        return (
            Text(f"{sign}{d['nb']}", f"{sign}{d['en']}"),
            Text(f"{'≥' if inclusive else '>'} {amt['nb']} / {span['nb']}",
                 f"{'≥' if inclusive else '>'} {amt['en']} / {span['en']}"),
            Text(
                f"{self.name.nb} {v['nb']} {day(obs[i].at, tz, 'nb')} er {d['nb']} "
                f"{'over' if rise else 'under'} {r['nb']} {day(obs[j].at, tz, 'nb')}; {rule_nb}.",
                f"{self.name.en} {v['en']} on {day(obs[i].at, tz, 'en')} is {d['en']} "
                f"{'above' if rise else 'below'} {r['en']} on {day(obs[j].at, tz, 'en')}; {rule_en}.",
            ),
        )

    def sig(self, i: int) -> tuple[Any, ...]:
        c = self.change_at(i)
        return (self.obs[i], self.obs[c[1]] if c else None)


class _BaselineChangeReading(_ChangeReading):
    """A change against the patient's personal baseline: an explicit value > an approved
    baseline in the context > the median of the trial period > the baseline the previous state
    computed from the same period."""

    __slots__ = ("params", "base", "source", "count", "from_")

    def __init__(self, spec: ChangeSpec, params: ChangeBaselineParams, run: _Run):
        super().__init__(spec, params.amount, run)
        self.params = params
        self.base, self.source, self.count = _resolve_baseline(spec.code, params, run)
        # Readings of the trial period itself are what the baseline is made of.
        # A trial baseline exists only once the period has ended, so it has an end.
        self.from_ = params.baseline_end.timestamp() if self.source == "trial" and params.baseline_end else None
        name = self.name
        if self.base is None:
            self.unknown = _no_data(
                f"{name.nb}: ingen personlig utgangsverdi ennå (prøveperioden er ikke ferdig, eller for få målinger).",
                f"{name.en}: no personal baseline yet (the trial period has not ended, or too few readings).",
            )
            return
        self.baselines = {spec.code: self.base}
        self.detail = {"baseline_source": self.source}
        if self.source == "trial" and params.baseline_start is not None and params.baseline_end is not None:
            self.detail["baseline_period"] = [params.baseline_start.isoformat(), params.baseline_end.isoformat()]
            self.detail["baseline_count"] = self.count

    def change(self, i: int) -> float:
        value = self.obs[i].value
        assert self.base is not None, "no change is judged without a baseline (unknown is set)"
        return _delta(value, self.base) if self.rise else _delta(self.base, value)

    def pred(self, i: int) -> bool:
        if self.from_ is not None and self.obs[i].ts < self.from_:
            return False
        return self.big_enough(self.change(i))

    def source_text(self, loc: str) -> str:
        assert self.base is not None, "no text is made without a baseline (unknown is set)"
        b = format_value(self.code, self.base, loc)
        params, tz = self.params, self.tz
        if self.source == "trial" and params.baseline_start is not None and params.baseline_end is not None:
            period = f"{day(params.baseline_start, tz, loc)}–{day(params.baseline_end - timedelta(seconds=1), tz, loc)}"
            return (f"personlig utgangsverdi {b} (median av {self.count} målinger {period})" if _nb(loc)
                    else f"the personal baseline {b} (median of {self.count} readings {period})")
        return f"personlig utgangsverdi {b}" if _nb(loc) else f"the personal baseline {b}"

    def criterion(self, loc: str) -> str:
        amt = _amount_phrase(self.code, self.spec, self.amount, loc)
        if _nb(loc):
            return f"{amt} {'over' if self.rise else 'under'} {self.source_text(loc)}"
        return f"{amt} {'above' if self.rise else 'below'} {self.source_text(loc)}"

    def explain(self, i: int) -> Parts:
        code, rise = self.code, self.rise
        d = {loc: format_delta(code, self.change(i), loc) for loc in ("nb", "en")}
        amt = {loc: format_delta(code, self.amount, loc) for loc in ("nb", "en")}
        sign = "+" if rise else "−"
        op = "≥" if self.spec.inclusive else ">"
        word_nb = "økning" if rise else "fall"
        word_en = "rise" if rise else "fall"
        if self.spec.inclusive:
            tail_nb = f"{_owner(self.layer, 'nb')} varsler ved {word_nb} på {amt['nb']} eller mer"
            tail_en = f"{_owner(self.layer, 'en')} alerts at a {word_en} of {amt['en']} or more"
        else:
            tail_nb = f"{_owner(self.layer, 'nb')} varsler ved {word_nb} på mer enn {amt['nb']}"
            tail_en = f"{_owner(self.layer, 'en')} alerts at a {word_en} of more than {amt['en']}"
        return (
            Text(f"{sign}{d['nb']}", f"{sign}{d['en']}"),
            Text(f"{op} {amt['nb']}", f"{op} {amt['en']}"),
            Text(
                f"{self.name.nb} {self.short(i, 'nb')} er {d['nb']} {'over' if rise else 'under'} "
                f"{self.source_text('nb')}; {tail_nb}.",
                f"{self.name.en} {self.short(i, 'en')} is {d['en']} {'above' if rise else 'below'} "
                f"{self.source_text('en')}; {tail_en}.",
            ),
        )

    def sig(self, i: int) -> tuple[Any, ...]:
        return (self.obs[i], self.base, self.source, self.count)


def _resolve_baseline(code: str, params: ChangeBaselineParams, run: _Run) -> tuple[float | None, str, int]:
    if params.baseline_value is not None:
        return params.baseline_value, "plan", 0
    if code in run.context.baselines:
        return float(run.context.baselines[code]), "approved", 0
    if params.baseline_start is None or params.baseline_end is None or run.now < params.baseline_end:
        return None, "", 0
    s = run.index.series(code)
    lo = bisect_left(s.obs, params.baseline_start.timestamp(), key=_TS)
    hi = bisect_left(s.obs, params.baseline_end.timestamp(), lo, key=_TS)
    if hi - lo >= params.baseline_min_count:
        return float(median(o.value for o in s.obs[lo:hi])), "trial", hi - lo
    prev = run.previous
    period = [params.baseline_start.isoformat(), params.baseline_end.isoformat()]
    if prev is not None and code in prev.baselines and prev.detail.get("baseline_period") == period:
        # The trial readings are no longer passed in; keep the baseline computed from them.
        return prev.baselines[code], "trial", int(prev.detail.get("baseline_count", 0))
    return None, "", 0


class _QuestionnaireReading(_Reading):
    """An answer (or total score) at or above a level, a rise from the previous answer, or any
    single item answer at or above a level."""

    __slots__ = ("params", "items")

    def __init__(self, spec: QuestionnaireSpec, params: QuestionnaireParams, run: _Run):
        super().__init__(spec.code, run)
        self.params = params
        self.items = [(c, run.index.series(c)) for c in spec.items] if params.item_at_least is not None else []

    def item_hits(self, i: int) -> list[tuple[str, float, str | None]]:
        """Item answers given together with answer i (same time) at or above item_at_least."""
        hits = []
        at = self.obs[i].ts
        for c, ser in self.items:
            answers = ser.obs
            j = bisect_left(answers, at, key=_TS)
            while j < len(answers) and answers[j].ts == at:
                at_least = self.params.item_at_least
                if at_least is not None and answers[j].value >= at_least:
                    hits.append((c, answers[j].value, answers[j].ref))
                j += 1
        return hits

    def _total(self, i: int) -> bool:
        return self.params.at_least is not None and self.obs[i].value >= self.params.at_least

    def _rise(self, i: int) -> bool:
        rise = self.params.rise_at_least
        return rise is not None and i > 0 and _delta(self.obs[i].value, self.obs[i - 1].value) >= rise

    def pred(self, i: int) -> bool:
        return self._total(i) or self._rise(i) or (bool(self.items) and bool(self.item_hits(i)))

    def refs(self, i: int) -> tuple[str, ...]:
        out = [self.obs[i].ref]
        if self._rise(i):
            out.insert(0, self.obs[i - 1].ref)
        out += [r for _, _, r in self.item_hits(i)] if self.items else []
        return tuple(r for r in out if r)

    def criterion(self, loc: str) -> str:
        code, params = self.code, self.params
        parts = []
        nb = _nb(loc)
        if params.at_least is not None:
            v = format_value(code, params.at_least, loc)
            parts.append(f"{v} eller mer" if nb else f"{v} or more")
        if params.rise_at_least is not None:
            v = format_value(code, params.rise_at_least, loc)
            parts.append(f"økt med {v} eller mer fra forrige svar" if nb else f"up {v} or more from the previous answer")
        if self.items:
            v = number(params.item_at_least, 0, loc)
            parts.append(f"et enkeltsvar på {v} eller mer" if nb else f"a single answer of {v} or more")
        return (" eller " if nb else " or ").join(parts)

    def explain(self, i: int) -> Parts:
        code, params, name, obs, short = self.code, self.params, self.name, self.obs, self.short
        sentences_nb, sentences_en, thr_nb, thr_en = [], [], [], []
        if self._total(i):
            v = {loc: format_value(code, params.at_least, loc) for loc in ("nb", "en")}
            if is_answer(code):
                when = {loc: moment(obs[i].at, self.tz, loc) for loc in ("nb", "en")}
                sentences_nb.append(f"Svar på «{name.nb}» {when['nb']}: {answer_text(code, obs[i].value, 'nb')}; "
                                    f"{_owner(self.layer, 'nb')} varsler fra {answer_text(code, params.at_least, 'nb')}.")
                sentences_en.append(f"Answer to “{name.en}” on {when['en']}: {answer_text(code, obs[i].value, 'en')}; "
                                    f"{_owner(self.layer, 'en')} alerts from {answer_text(code, params.at_least, 'en')}.")
            else:
                sentences_nb.append(f"{name.nb} {short(i, 'nb')} er {v['nb']} eller mer.")
                sentences_en.append(f"{name.en} {short(i, 'en')} is {v['en']} or more.")
            thr_nb.append(f"≥ {v['nb']}")
            thr_en.append(f"≥ {v['en']}")
        if self._rise(i):
            d = {loc: format_value(code, _delta(obs[i].value, obs[i - 1].value), loc) for loc in ("nb", "en")}
            lim = {loc: format_value(code, params.rise_at_least, loc) for loc in ("nb", "en")}
            sentences_nb.append(
                f"{name.nb} {short(i, 'nb')} er {d['nb']} over forrige svar {short(i - 1, 'nb')}; "
                f"{_owner(self.layer, 'nb')} varsler ved økning på {lim['nb']} eller mer."
            )
            sentences_en.append(
                f"{name.en} {short(i, 'en')} is {d['en']} above the previous answer, {short(i - 1, 'en')}; "
                f"{_owner(self.layer, 'en')} alerts at a rise of {lim['en']} or more."
            )
            thr_nb.append(f"+{lim['nb']}")
            thr_en.append(f"+{lim['en']}")
        hits = self.item_hits(i) if self.items else []
        if hits:
            lim = {loc: number(params.item_at_least, 0, loc) for loc in ("nb", "en")}
            listed = {loc: ", ".join(f"{code_info(c).name(loc)}: {number(v, 0, loc)}" for c, v, _ in hits) for loc in ("nb", "en")}
            sentences_nb.append(f"Enkeltsvar på {lim['nb']} eller mer: {listed['nb']}.")
            sentences_en.append(f"Single answers of {lim['en']} or more: {listed['en']}.")
            thr_nb.append(f"svar ≥ {lim['nb']}")
            thr_en.append(f"answer ≥ {lim['en']}")
        shown = answer_text if is_answer(code) else format_value
        return (
            Text(shown(code, obs[i].value, "nb"), shown(code, obs[i].value, "en")),
            Text(" / ".join(thr_nb), " / ".join(thr_en)),
            Text(" ".join(sentences_nb), " ".join(sentences_en)),
        )

    def sig(self, i: int) -> tuple[Any, ...]:
        obs = self.obs
        return (obs[i], obs[i - 1] if i > 0 else None, tuple(self.item_hits(i)) if self.items else ())


def _prepare(spec: ReadingSpec, node: BaseModel, run: _Run) -> _Reading:
    if type(spec) is ChangeSpec:
        if isinstance(node, ChangeWindowParams):
            return _WindowChangeReading(spec, node, run)
        assert isinstance(node, ChangeBaselineParams)
        return _BaselineChangeReading(spec, node, run)
    return _READINGS[type(spec)](spec, node, run)


_READINGS: dict[type, Callable[[Any, Any, _Run], _Reading]] = {ZonesSpec: _ZonesReading, QuestionnaireSpec: _QuestionnaireReading}


def _check_reading(spec: ReadingSpec, node: BaseModel, run: _Run) -> Check:
    r = _prepare(spec, node, run)
    if r.unknown is not None:
        return r.unknown
    name = _code_name(r.code)
    if r.n == 0:
        return _no_data(f"{name.nb}: ingen registreringer.", f"{name.en}: no readings.")
    newest = r.obs[r.n - 1].at
    stale = _stale(run, newest, name)
    if stale is not None:
        return stale
    truth, onset, exact = _walk(r.obs, r.n, r.pred, run.horizon_ts)
    last = r.n - 1
    return Check(
        truth,
        onset=onset,
        exact=exact,
        refs=r.refs(last) if truth else (),
        newest=newest,
        due=_stale_due(run, newest),
        explain=(lambda: r.explain(last)) if truth else None,
        baselines=r.baselines,
        detail=r.detail,
        sig=r.sig(last) if truth else None,
    )


def _check_n_of_m(spec: NOfMSpec, node: tuple[NOfMParams, Any], run: _Run) -> Check:
    counting, inner = node
    r = _prepare(spec.of, inner, run)
    if r.unknown is not None:
        return r.unknown
    name = _code_name(r.code)
    if r.n == 0:
        return _no_data(f"{name.nb}: ingen registreringer.", f"{name.en}: no readings.")
    obs = r.obs
    newest = obs[r.n - 1].at
    stale = _stale(run, newest, name)
    if stale is not None:
        return stale
    first = 0 if counting.m is None else max(0, r.n - counting.m)
    if counting.within is not None:
        # taken after now − within
        first = max(first, bisect_right(r.obs, run.now_ts - counting.within.total_seconds(), 0, r.n, key=_TS))
    counted = range(first, r.n)
    hits = [i for i in counted if r.pred(i)]
    truth = len(hits) >= counting.n
    due = _stale_due(run, newest)
    unconfirmed = False  # fires on one reading that no re-measurement followed in time
    if truth:
        # The condition held from the reading that completed N confirmations (at the latest).
        onset = obs[hits[counting.n - 1]].at
        if counting.within is not None:
            due = _min_due(due, obs[hits[len(hits) - counting.n]].at + counting.within)
    elif counting.confirm_within is not None and hits and hits[-1] == r.n - 1:
        # The newest reading meets the condition and nothing came after it: a re-measurement
        # was asked for; without one by the deadline, that reading stands on its own.
        deadline = newest + counting.confirm_within
        if run.now >= deadline:
            truth, unconfirmed, onset = True, True, deadline
            hits = hits[-1:]
        else:
            onset = newest
            due = _min_due(due, deadline)
    else:
        onset = newest
    detail = dict(r.detail)
    detail.update({"confirmed": len(hits), "counted": len(counted)})
    if not truth and counting.confirm_within is not None and hits and hits[-1] == r.n - 1:
        # Waiting for a re-measurement: the patient is asked to measure again by then.
        detail["confirm_by"] = (newest + counting.confirm_within).isoformat()

    def explain() -> Parts:
        head = {}
        for loc in ("nb", "en"):
            nb = _nb(loc)
            if counting.m is not None and counting.within is not None:
                scope = (f"av de siste {counting.m} målingene innen {duration(counting.within, loc)}" if nb
                         else f"of the last {counting.m} readings within {duration(counting.within, loc)}")
            elif counting.m is not None:
                scope = f"av de siste {counting.m} målingene" if nb else f"of the last {counting.m} readings"
            else:
                assert counting.within is not None, "validated: an n-of-m counts by m, a window or both"
                scope = (f"målinger siste {duration(counting.within, loc)}" if nb
                         else f"readings in the last {duration(counting.within, loc)}")
            listed = ", ".join(r.short(i, loc) for i in hits)
            verb = "er" if nb else ("are" if len(hits) > 1 else "is")
            head[loc] = f"{code_info(r.code).name(loc)}: {len(hits)} {scope} {verb} {r.criterion(loc)}: {listed}."
        need = {}
        for loc in ("nb", "en"):
            nb = _nb(loc)
            if counting.m is not None:
                need[loc] = f"{counting.n} {'av' if nb else 'of'} {counting.m}"
            else:
                assert counting.within is not None, "validated: an n-of-m counts by m, a window or both"
                need[loc] = f"{counting.n} {'innen' if nb else 'within'} {duration(counting.within, loc)}"
        if counting.n == 1:  # one reading is enough: say it as plainly as a single limit
            return r.explain(hits[-1])
        value, threshold, text = r.explain(hits[-1])
        if unconfirmed:
            confirm_within = counting.confirm_within
            assert confirm_within is not None, "only a confirmation deadline leaves a reading unconfirmed"
            wait = {loc: duration(confirm_within, loc) for loc in ("nb", "en")}
            return (value, threshold, Text(
                f"{text.nb} Ingen ny måling innen {wait['nb']}, så én måling er nok.",
                f"{text.en} No new reading within {wait['en']}, so one reading is enough."))
        return (
            value,
            Text(f"{threshold.nb} ({need['nb']})", f"{threshold.en} ({need['en']})"),
            Text(f"{head['nb'][:-1]}; {_owner(run.rule.layer, 'nb')} krever {need['nb']}.",
                 f"{head['en'][:-1]}; {_owner(run.rule.layer, 'en')} requires {need['en']}."),
        )

    return Check(
        truth,
        onset=onset,
        exact=False,
        refs=tuple(ref for i in hits for ref in r.refs(i)) if truth else (),
        newest=newest,
        due=due,
        explain=explain if truth else None,
        baselines=r.baselines,
        detail=detail,
        sig=(tuple(r.sig(i) for i in hits), len(counted), unconfirmed) if truth else None,
    )


# ---------------------------------------------------------------------------------------------
# Score bands (home NEWS2)


def _points(bands: Sequence[ScoreBand], value: float) -> int:
    for band in bands:
        if band.max is None or value <= band.max:
            return band.points
    return bands[-1].points  # pragma: no cover - the last band is open-ended by validation


_SCORE_KEYS: dict[tuple[int, str | None], tuple[ScoreBandsSpec, tuple[Any, ...]]] = {}


def _score_key(spec: ScoreBandsSpec, variant: str | None) -> tuple[Any, ...]:
    """What a score depends on besides the readings: each item's code and points table.
    Kept per spec object (alive while its entry is) so it is built once, not per evaluation."""
    hit = _SCORE_KEYS.get((id(spec), variant))
    if hit is not None and hit[0] is spec:
        return hit[1]
    key = tuple((item.code, tuple((b.max, b.points) for b in item.bands_for(variant))) for item in spec.items)
    if len(_SCORE_KEYS) >= 1000:
        _SCORE_KEYS.clear()
    _SCORE_KEYS[(id(spec), variant)] = (spec, key)
    return key


class _ScoreReadings:
    """A score's readings as of now, and its value at the moments a rule walks back over.
    Rules that read the same score and differ only in when they alert (home NEWS2 medium and
    high) share one of these per evaluation (``ObservationIndex.shared``)."""

    __slots__ = ("items", "newest", "at_of", "moments", "spread", "_scores")

    def __init__(self, spec: ScoreBandsSpec, variant: str | None, spread: float, run: _Run):
        self.items = []
        for item in spec.items:
            s = run.index.series(item.code)
            self.items.append((item, s, item.bands_for(variant), s.upto(run.now_ts)))
        self.newest = max((s.obs[n - 1].at for _, s, _, n in self.items if n), default=None)
        # Moments at which a new reading could change the score, newest first, back to the horizon.
        self.at_of = {
            s.obs[j].ts: s.obs[j].at
            for _, s, _, n in self.items
            for j in range(max(0, bisect_right(s.obs, run.horizon_ts, 0, n, key=_TS) - 1), n)
        }
        self.moments = sorted(self.at_of, reverse=True)
        self.spread = spread
        self._scores: dict[float, tuple[int, int, list[Any], list[Any]]] = {}

    def score_at(self, t: float) -> tuple[int, int, list[Any], list[Any]]:
        """(total, max single, [(item, value, points, at, ref)], [missing items]) as of POSIX time t."""
        found = self._scores.get(t)
        if found is None:
            got, missing = [], []
            for item, s, bands, n in self.items:
                j = bisect_right(s.obs, t, 0, n, key=_TS) - 1
                if j >= 0 and s.obs[j].ts >= t - self.spread:
                    o = s.obs[j]
                    got.append((item, o.value, _points(bands, o.value), o.at, o.ref))
                else:
                    missing.append(item)
            found = self._scores[t] = (sum(g[2] for g in got), max((g[2] for g in got), default=0), got, missing)
        return found


def _score_readings(spec: ScoreBandsSpec, params: ScoreParams, run: _Run) -> _ScoreReadings:
    spread = params.max_spread.total_seconds()
    key = ("score", _score_key(spec, params.variant), spread, run.now_ts, run.horizon_ts)
    found = run.index.shared.get(key)
    if found is None:
        found = run.index.shared[key] = _ScoreReadings(spec, params.variant, spread, run)
    return found


def _check_score(spec: ScoreBandsSpec, params: ScoreParams, run: _Run) -> Check:
    readings = _score_readings(spec, params, run)
    newest = readings.newest
    label = spec.name.text()
    if newest is None:
        return _no_data(f"{label.nb}: ingen registreringer.", f"{label.en}: no readings.")
    stale = _stale(run, newest, label)
    if stale is not None:
        return stale

    def fires(total: int, single: int) -> bool:
        return ((params.fire_at_total is not None and total >= params.fire_at_total)
                or (params.fire_on_single is not None and single >= params.fire_on_single))

    moments, at_of = readings.moments, readings.at_of
    total, single, got, missing = readings.score_at(moments[0])
    truth = fires(total, single)
    onset, exact = at_of[moments[0]], False
    for k in range(1, min(len(moments), _MAX_WALK)):
        if moments[k - 1] <= run.horizon_ts:
            exact = True
            break
        if fires(*readings.score_at(moments[k])[:2]) != truth:
            exact = True
            break
        onset = at_of[moments[k]]
    scored_at = at_of[moments[0]]
    complete = not missing
    band = spec.total_label(total)
    detail = {
        "total": total,
        "complete": complete,
        "missing": [m.code for m in missing],
        "points": {item.code: pts for item, _, pts, _, _ in got},
        "band": band.en,
    }

    def listing(loc: str) -> str:
        return ", ".join(
            f"{item.name.get(loc)} {format_value(item.code, v, loc)} ({pts})" for item, v, pts, _, _ in got
        )

    def missing_text(loc: str) -> str:
        names = [m.name.get(loc) for m in missing]
        if _nb(loc):
            return (f" Mangler {', '.join(names)}: dette er en delsum av {len(got)} av {len(spec.items)} parametre, "
                    "ikke en full skår, og den fulle skåren kan være høyere.")
        return (f" Missing {', '.join(names)}: this is a partial sum of {len(got)} of {len(spec.items)} parameters, "
                "not a full score, and the full score may be higher.")

    def rule_text(loc: str) -> str:
        nb = _nb(loc)
        parts = []
        if params.fire_at_total is not None:
            parts.append(f"{params.fire_at_total} poeng eller mer totalt" if nb else f"a total of {params.fire_at_total} or more")
        if params.fire_on_single is not None:
            parts.append(f"{params.fire_on_single} poeng på én parameter" if nb else f"{params.fire_on_single} points on one parameter")
        return f"{_owner(run.rule.layer, loc)} {'varsler ved' if nb else 'alerts at'} " + (" eller " if nb else " or ").join(parts)

    def sentence(loc: str) -> str:
        nb = _nb(loc)
        when = moment(scored_at, run.tz, loc)
        kind = ("delsum" if nb else "partial sum") if missing else ("full skår" if nb else "full score")
        head = (f"{label.get(loc)} {when}: {total} poeng ({kind}, {band.get(loc).lower()}) — {listing(loc)}."
                if nb else f"{label.get(loc)} on {when}: {total} points ({kind}, {band.get(loc).lower()}) — {listing(loc)}.")
        return head + (missing_text(loc) if missing else "")

    def note() -> Text:
        return Text(sentence("nb"), sentence("en"))

    def explain() -> Parts:
        partial_nb, partial_en = (" (delsum)", " (partial)") if missing else ("", "")
        thr_nb, thr_en = [], []
        if params.fire_at_total is not None:
            thr_nb.append(f"≥ {params.fire_at_total} totalt")
            thr_en.append(f"≥ {params.fire_at_total} total")
        if params.fire_on_single is not None:
            thr_nb.append(f"{params.fire_on_single} på én parameter")
            thr_en.append(f"{params.fire_on_single} on one parameter")
        return (
            Text(f"{total} poeng{partial_nb}", f"{total} points{partial_en}"),
            Text(" eller ".join(thr_nb), " or ".join(thr_en)),
            Text(f"{sentence('nb')} {rule_text('nb').capitalize()}.", f"{sentence('en')} {rule_text('en').capitalize()}."),
        )

    return Check(
        truth,
        onset=onset,
        exact=exact,
        refs=tuple(g[4] for g in got if g[4]) if truth else (),
        newest=newest,
        due=_stale_due(run, newest),
        explain=explain if truth else None,
        note=note,
        detail=detail,
        sig=(scored_at, tuple((g[0].code, g[1], g[2], g[3], g[4]) for g in got), tuple(m.code for m in missing), truth),
    )


# ---------------------------------------------------------------------------------------------
# Missed check-in


@dataclass(frozen=True, slots=True)
class _Slots:
    forward: tuple[datetime, ...]  # oldest first
    forward_deadlines: tuple[float, ...]  # slot + grace, POSIX time, ascending
    back: tuple[datetime, ...]  # newest first
    back_ts: tuple[float, ...]  # POSIX time of each slot in ``back``
    # For the first slot of its local day, the POSIX time that day starts (else None): a
    # reading earlier the same day counts for it (checklist: weight at 06:50 for a 13:00 slot).
    back_day_start: tuple[float | None, ...] = ()


@lru_cache(maxsize=4096)
def _missed_slots(schedule: Schedule, tz: str, today: date, grace: timedelta, lookback_days: int) -> _Slots:
    """The slots a missed-check-in rule looks at on a local date, computed once per day:
    forward from today − (grace days + 1), oldest first, for the next deadline (a slot of an
    earlier day can still be open when the grace period is a day or longer); and back from the
    end of today over the lookback days, newest first, for the slots missed in a row. Their
    POSIX times let the rule compare with floats instead of building a datetime per slot."""
    first = today - timedelta(days=grace.days + 1)
    forward = tuple(slot for k in range(8 + grace.days + 1) for slot in slots_on(schedule, first + timedelta(days=k), tz))
    back: list[datetime] = []
    day_starts: list[float | None] = []
    for k in range(lookback_days + 1):
        day_slots = slots_on(schedule, today - timedelta(days=k), tz)
        first_slot = min(day_slots) if day_slots else None
        start = local_day_bounds(today - timedelta(days=k), tz)[0].timestamp()
        for slot in reversed(day_slots):
            back.append(slot)
            day_starts.append(start if slot == first_slot else None)
    return _Slots(forward, tuple((slot + grace).timestamp() for slot in forward),
                  tuple(back), tuple(slot.timestamp() for slot in back), tuple(day_starts))


def _check_missed(spec: MissedCheckinSpec, params: MissedParams, run: _Run) -> Check:
    tz, now, now_ts = run.tz, run.now, run.now_ts
    active = run.context.active_since
    latest = None
    for s in run.index.matching(spec.codes):
        n = s.upto(now_ts)
        if n and (latest is None or s.obs[n - 1].at > latest):
            latest = s.obs[n - 1].at
    today = now.astimezone(ZoneInfo(tz)).date()
    grace = params.grace
    slots = _missed_slots(params.schedule, tz, today, grace, params.lookback_days)

    # The next deadline after now: the scheduler must look again then even if nothing arrives.
    forward = slots.forward
    due = next((forward[k] + grace for k in range(bisect_right(slots.forward_deadlines, now_ts), len(forward))
                if active is None or forward[k] >= active), None)

    missed: list[datetime] = []
    exact = False
    open_from = now_ts - grace.total_seconds()  # slots after this are not yet due
    active_ts = active.timestamp() if active is not None else None
    latest_ts = latest.timestamp() if latest is not None else None
    open_before = params.open_before.total_seconds()
    for slot, slot_ts, day_start in zip(slots.back, slots.back_ts, slots.back_day_start, strict=True):
        if slot_ts > open_from:
            continue  # not yet due
        if active_ts is not None and slot_ts < active_ts:
            exact = True
            break
        # A reading counts for a slot from open_before before it; for the day's first slot
        # from the start of that local day too (services.checklist, the same rule).
        opens = slot_ts - open_before if day_start is None else min(slot_ts - open_before, day_start)
        if latest_ts is not None and latest_ts >= opens:
            exact = True
            break
        missed.append(slot)
    what = spec.what
    if not missed:
        onset = latest or active or now
        return Check(False, onset=onset, exact=True, refs=(), newest=latest, due=due,
                     detail={"missed": 0})

    oldest, newest_missed = missed[-1], missed[0]

    def explain() -> Parts:
        out = {}
        for loc in ("nb", "en"):
            nb = _nb(loc)
            slot_text = (f"kl. {clock(newest_missed, tz, loc)} {day(newest_missed, tz, loc)}" if nb
                         else f"{clock(newest_missed, tz, loc)} on {day(newest_missed, tz, loc)}")
            deadline = clock(newest_missed + grace, tz, loc)
            if nb:
                text = f"Ingen {what.nb} registrert for {slot_text} (frist {deadline})."
                if len(missed) > 1:
                    text += f" {'Minst ' if not exact else ''}{len(missed)} planlagte på rad mangler, den første {day(oldest, tz, loc)} kl. {clock(oldest, tz, loc)}."
                text += (f" Siste registrering: {moment(latest, tz, loc)}." if latest else " Ingen registreringer ennå.")
            else:
                text = f"No {what.en} recorded for {slot_text} (deadline {deadline})."
                if len(missed) > 1:
                    text += f" {'At least ' if not exact else ''}{len(missed)} scheduled in a row are missing, the first at {clock(oldest, tz, loc)} on {day(oldest, tz, loc)}."
                text += (f" Latest: {moment(latest, tz, loc)}." if latest else " Nothing recorded yet.")
            out[loc] = text
        return (
            Text(f"{len(missed)} mangler", f"{len(missed)} missing"),
            Text(f"frist {clock(newest_missed, tz, 'nb')} + {duration(grace, 'nb')}",
                 f"due {clock(newest_missed, tz, 'en')} + {duration(grace, 'en')}"),
            Text(out["nb"], out["en"]),
        )

    return Check(True, onset=oldest + grace, exact=exact, refs=(), newest=latest, due=due,
                 explain=explain, detail={"missed": len(missed), "missed_since": oldest.isoformat()},
                 sig=(newest_missed, oldest, len(missed), exact, latest))


def _check_silence(spec: SilenceSpec, params: SilenceParams, run: _Run) -> Check:
    """True once nothing has been reported for ``after``, counted from the newest report or
    from when follow-up started or resumed, whichever is later."""
    latest = None
    for s in run.index.matching(spec.codes):
        n = s.upto(run.now_ts)
        if n and (latest is None or s.obs[n - 1].at > latest):
            latest = s.obs[n - 1].at
    active = run.context.active_since
    start = max(d for d in (latest, active) if d is not None) if (latest or active) else None
    if start is None:
        return _no_data("Ingen registreringer, og ingen startdato for oppfølgingen.",
                        "No reports, and no start date of the follow-up.")
    deadline = start + params.after
    if run.now < deadline:
        return Check(False, onset=start, refs=(), newest=latest, due=deadline)
    tz, what = run.tz, spec.what
    # How long it has been quiet, in whole days (whole hours under a day): the text changes as
    # the silence grows, but not on every sweep.
    span = run.now - start
    quiet_span = timedelta(days=span.days) if span.days else timedelta(hours=int(span.total_seconds() // 3600))

    def explain() -> Parts:
        out = {}
        for loc in ("nb", "en"):
            nb = _nb(loc)
            quiet = duration(quiet_span, loc)
            if latest is not None:
                since = moment(latest, tz, loc)
                out[loc] = (f"Ingen {what.nb} på {quiet}; siste {since}." if nb
                            else f"No {what.en} for {quiet}; the latest on {since}.")
            else:
                since = moment(start, tz, loc)
                out[loc] = (f"Ingen {what.nb} siden oppfølgingen startet {since}." if nb
                            else f"No {what.en} since the follow-up started on {since}.")
        return (Text(duration(quiet_span, "nb"), duration(quiet_span, "en")),
                Text(f"≥ {duration(params.after, 'nb')}", f"≥ {duration(params.after, 'en')}"),
                Text(out["nb"], out["en"]))

    return Check(True, onset=deadline, exact=True, refs=(), newest=latest, due=None, explain=explain,
                 detail={"quiet_since": start.isoformat()}, sig=(start, quiet_span, params.after))


# ---------------------------------------------------------------------------------------------
# all_of / any_of


def _check_combine(spec: CombineSpec, node: dict[str, Any], run: _Run) -> Check:
    checks = [(child, _check(child.spec, node[child.id], run)) for child in spec.of]
    truths = [c.truth for _, c in checks]
    if spec.kind == "any_of":
        truth = True if True in truths else (None if all(t is None for t in truths) else False)
    else:
        truth = False if False in truths else (None if None in truths else True)
    relevant = [c for _, c in checks if c.truth is truth]
    newest = max((c.newest for _, c in checks if c.newest), default=None)
    due = _min_due(*(c.due for _, c in checks))
    baselines: dict[str, float] = {}
    detail: dict[str, Any] = {}
    for child, c in checks:
        baselines.update(c.baselines)
        if c.detail:
            detail[child.id] = c.detail
    if truth is None:
        notes = [c.note for _, c in checks if c.note]
        return Check(None, newest=newest, due=due, note=(lambda: _join([f() for f in notes])) if notes else None,
                     baselines=baselines, detail=detail)
    onsets = [c.onset for c in relevant if c.onset is not None]
    # any_of true: since the first true child; all_of true: since the last child became true.
    # false is the mirror image.
    earliest = (spec.kind == "any_of") == truth
    onset = (min(onsets) if earliest else max(onsets)) if onsets else None
    exact = all(c.exact for c in relevant)
    refs = tuple(dict.fromkeys(r for c in relevant for r in c.refs)) if truth else ()
    explainers = [c.explain for c in relevant if c.explain] if truth else []

    def explain() -> Parts:
        parts = [f() for f in explainers]
        return (_join([p[0] for p in parts], "; "), _join([p[1] for p in parts], "; "), _join([p[2] for p in parts]))

    notes = [c.note for _, c in checks if c.note]
    sigs = tuple(c.sig for c in relevant)
    return Check(truth, onset=onset, exact=exact, refs=refs, newest=newest, due=due,
                 explain=explain if truth else None,
                 note=(lambda: _join([f() for f in notes])) if notes else None,
                 baselines=baselines, detail=detail,
                 sig=(sigs, tuple(c.sig for _, c in checks)) if None not in sigs else None)


def _check(spec: Any, node: Any, run: _Run) -> Check:
    return _CHECKS[type(spec)](spec, node, run)


_CHECKS: dict[type, Callable[[Any, Any, _Run], Check]] = {
    ZonesSpec: _check_reading,
    ChangeSpec: _check_reading,
    QuestionnaireSpec: _check_reading,
    NOfMSpec: _check_n_of_m,
    ScoreBandsSpec: _check_score,
    MissedCheckinSpec: _check_missed,
    SilenceSpec: _check_silence,
    CombineSpec: _check_combine,
}


# ---------------------------------------------------------------------------------------------
# The state machine


_TEXTS: dict[tuple[Any, ...], tuple[RuleDefinition, Any]] = {}
_TEXTS_MAX = 20000


def _explained(rule: RuleDefinition, check: Check) -> tuple[Parts, Text]:
    """check.explain() and the summary it gives with the rule's own suffix."""
    assert check.explain is not None, "only a check that holds is explained"
    parts = check.explain()
    return parts, _join([parts[2], rule.suffix])


def _texts(rule: RuleDefinition, params: Parameters, tz: str, check: Check, which: str) -> Any:
    """(check.explain(), summary) or check.note(), formatted once per distinct input.

    A rule that stays firing is re-evaluated on every reading and sweep with the same readings
    behind it; formatting dates and numbers in two languages is most of an evaluation's cost.
    The key holds everything the text depends on: the rule (by identity, kept alive by the
    entry), its parameter values, the time zone and the check's signature.
    """
    build: Callable[[], Any]
    if which == "explain":
        build = functools.partial(_explained, rule, check)
    else:
        assert check.note is not None, "a note is asked for only when the check has one"
        build = check.note
    if check.sig is None:
        return build()
    key = (id(rule), params.fingerprint, tz, which, check.sig)
    hit = _TEXTS.get(key)
    if hit is not None and hit[0] is rule:
        return hit[1]
    value = build()
    if len(_TEXTS) >= _TEXTS_MAX:
        _TEXTS.clear()
    _TEXTS[key] = (rule, value)
    return value


_BASE_SLOTS = BaseModel.__dict__
_set_fields_set = _BASE_SLOTS["__pydantic_fields_set__"].__set__
_set_extra = _BASE_SLOTS["__pydantic_extra__"].__set__
_set_private = _BASE_SLOTS["__pydantic_private__"].__set__


_M = TypeVar("_M", bound=BaseModel)


def _new(model: type[_M], values: dict[str, Any]) -> _M:
    """Build an output model from values the engine has already typed, skipping validation.

    Like pydantic's model_construct but without its per-field default handling: this runs for
    every rule on every evaluation. The tests check that the result equals a validated model.
    """
    obj = object.__new__(model)
    object.__setattr__(obj, "__dict__", values)
    _set_fields_set(obj, set(values))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def _utc_now(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now if now.tzinfo is UTC else now.astimezone(UTC)


def _next_state(rule: RuleDefinition, prev: RuleState | None, check: Check,
                now: datetime) -> tuple[Status, datetime | None, datetime | None, datetime | None, datetime | None]:
    """(status, since, pending_since, firing_since, next_due_at) after ``check``."""
    ps = prev.status if prev is not None else None
    hold, recover = rule.hold, rule.recover_after
    due = check.due
    pending_since: datetime | None = None
    firing_since: datetime | None = None
    since: datetime | None
    if check.truth is None:
        status = Status.NO_DATA
        since = prev.since if prev is not None and ps is Status.NO_DATA else now
    elif check.truth:
        if prev is not None and ps in (Status.FIRING, Status.RECOVERING):
            status = Status.FIRING
            firing_since = prev.firing_since
            pending_since = prev.pending_since
            since = prev.since if ps is Status.FIRING else max(check.onset or now, prev.since or now)
        else:
            onset = check.onset or now
            if prev is not None and ps is Status.PENDING and prev.pending_since is not None and not check.exact:
                onset = min(onset, prev.pending_since)  # the readings no longer reach back that far
            pending_since = onset
            if now >= onset + hold:
                status = Status.FIRING
                since = firing_since = onset + hold
            else:
                status = Status.PENDING
                since = onset
                due = _min_due(due, onset + hold)
    else:
        if prev is not None and ps in (Status.FIRING, Status.RECOVERING):
            if ps is Status.RECOVERING:
                assert prev.since is not None, "a recovering state has a since"
                start = prev.since
            else:
                start = max(check.onset or now, prev.since or now)
            start = min(start, now)
            if now >= start + recover:
                status = Status.NORMAL
                since = start + recover
            else:
                status = Status.RECOVERING
                since = start
                firing_since = prev.firing_since
                pending_since = prev.pending_since
                due = _min_due(due, start + recover)
        else:
            status = Status.NORMAL
            if prev is not None and ps is Status.NORMAL:
                since = prev.since
            else:
                since = check.onset or now
                if prev is not None and prev.since is not None:
                    since = min(now, max(since, prev.since))
    if due is not None and due <= now:
        due = None
    return status, since, pending_since, firing_since, due


def _evaluate_indexed(
    rule: RuleDefinition,
    params: Parameters,
    index: ObservationIndex,
    previous: RuleState | None,
    now: datetime,
    context: EvaluationContext,
) -> Evaluation:
    if previous is not None and previous.rule_key != rule.key:
        raise ValueError(f"previous state belongs to rule {previous.rule_key}, not {rule.key}")
    back = max(rule.hold, rule.recover_after)
    now_ts = now.timestamp()
    run = _Run(rule, index, now, context.tz, context, previous, now - back, now_ts, now_ts - back.total_seconds())
    check = _check(rule.spec, params.node, run)
    status, since, pending_since, firing_since, next_due_at = _next_state(rule, previous, check, now)
    parts = None
    if check.explain is not None and status in (Status.PENDING, Status.FIRING):
        parts, summary = _texts(rule, params, run.tz, check, "explain")
    elif check.note is not None:
        summary = _texts(rule, params, run.tz, check, "note")
    else:
        summary = None
    state = _new(RuleState, {
        "rule_key": rule.key,
        "rule_version": rule.version,
        "status": status,
        "since": since,
        "pending_since": pending_since,
        "firing_since": firing_since,
        "evaluated_at": now,
        "next_due_at": next_due_at,
        "last_observation_at": check.newest,
        "observation_refs": check.refs,
        "baselines": check.baselines,
        "detail": check.detail,
        "summary": summary,
    })
    findings: tuple[Finding, ...] = ()
    if status is Status.FIRING:
        assert parts is not None, "a firing check holds, so it was explained"
        findings = (
            _new(Finding, {
                "rule_key": rule.key,
                "rule_version": rule.version,
                "severity": rule.severity,
                "value_text": parts[0],
                "threshold_text": parts[1],
                "explanation": summary,
                "instruction_key": rule.instruction_key,
                "observation_refs": check.refs,
                "at": now,
                "firing_since": firing_since,
                "vkp_alert_code": rule.vkp_alert_code,
            }),
        )
    return Evaluation(state, findings, previous.status if previous is not None else None)


def _params_for(rule: RuleDefinition, parameters: Mapping[str, Any] | None) -> Parameters:
    if isinstance(parameters, Parameters) and parameters.rule_key == rule.key and parameters.rule_version == rule.version:
        return parameters
    if not parameters:
        defaults: Parameters = rule.defaults
        return defaults
    return resolve_parameters(rule, parameters)


def rule_codes(spec: BaseModel) -> tuple[str, ...]:
    """Codes (and code patterns such as 'checkin.*') a spec reads."""
    if isinstance(spec, (ZonesSpec, ChangeSpec)):
        return (spec.code,)
    if isinstance(spec, QuestionnaireSpec):
        return (spec.code, *spec.items)
    if isinstance(spec, NOfMSpec):
        return rule_codes(spec.of)
    if isinstance(spec, ScoreBandsSpec):
        return tuple(i.code for i in spec.items)
    if isinstance(spec, (MissedCheckinSpec, SilenceSpec)):
        return spec.codes
    if isinstance(spec, CombineSpec):
        return tuple(dict.fromkeys(c for child in spec.of for c in rule_codes(child.spec)))
    raise TypeError(spec)  # pragma: no cover


def evaluate(
    rule: RuleDefinition,
    parameters: Mapping[str, Any] | None,
    observations: Sequence[Observation],
    previous: RuleState | None,
    now: datetime,
    context: EvaluationContext | None = None,
) -> Evaluation:
    """Evaluate one rule for one patient at ``now``.

    ``parameters`` is a resolved ``Parameters`` or the patient's overrides (resolved here).
    Observations may come in any order; those after ``now`` are ignored. Pure: the same inputs
    give the same result, and evaluating again with the returned state changes nothing.
    """
    now = _utc_now(now)
    params = _params_for(rule, parameters)
    index = ObservationIndex(observations)
    return _evaluate_indexed(rule, params, index, previous, now, context or EvaluationContext())


def evaluate_all(
    rules: Sequence[RuleDefinition],
    parameters: Mapping[str, Mapping[str, Any]],
    observations: Sequence[Observation],
    states: Mapping[str, RuleState],
    now: datetime,
    context: EvaluationContext | None = None,
) -> dict[str, Evaluation]:
    """Evaluate a patient's active rules together, grouping and sorting the readings once.

    ``parameters`` and ``states`` are keyed by rule key; missing entries mean defaults / no state.
    """
    now = _utc_now(now)
    context = context or EvaluationContext()
    index = ObservationIndex(observations)
    return {
        rule.key: _evaluate_indexed(rule, _params_for(rule, parameters.get(rule.key)), index,
                                    states.get(rule.key), now, context)
        for rule in rules
    }

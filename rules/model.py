"""The rule format and the engine's inputs and outputs.

Rules are data: a closed set of typed kinds (a discriminated union on ``kind``), validated by
pydantic, stored as JSON in the database and as YAML for the shipped defaults. There is no
expression language: everything a clinician can change is a typed parameter.

A ``RuleDefinition`` is one immutable version of a rule. Its ``parameters`` are the defaults;
``overridable`` names the ones a patient's plan may change (see parameters.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .codes import check_code, check_code_pattern
from .schedule import Schedule
from .text import Text
from .zones import Zone

if TYPE_CHECKING:
    from .parameters import Parameters

# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class Observation:
    """One numeric reading or answer. ``at`` is converted to UTC; it must be timezone-aware."""

    code: str
    value: float
    at: datetime
    ref: str | None = None
    # POSIX time of ``at``, computed once: sorting floats is several times faster than sorting
    # datetimes, and every evaluation sorts the patient's readings.
    ts: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"observation {self.code} at {self.at}: time must be timezone-aware")
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", self.at.astimezone(UTC))
        if self.value != self.value:
            raise ValueError(f"observation {self.code} at {self.at}: value is not a number")
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "ts", self.at.timestamp())


@dataclass(frozen=True)
class EvaluationContext:
    """What the engine needs to know about the patient besides readings.

    ``baselines`` holds personal baselines the care team has approved (code → value); they take
    precedence over a baseline computed from the trial period. ``active_since`` is when
    monitoring started or resumed after a pause: no check-in is expected before it.
    """

    tz: str = "Europe/Oslo"
    baselines: Mapping[str, float] = field(default_factory=dict)
    active_since: datetime | None = None

    def __post_init__(self) -> None:
        _check_tz(self.tz)
        if self.active_since is not None:
            object.__setattr__(self, "active_since", _utc(self.active_since))


class Severity(str, Enum):
    YELLOW = "yellow"
    RED = "red"

    @property
    def zone(self) -> Zone:
        return _SEVERITY_ZONE[self]

    @property
    def rank(self) -> int:
        return 2 if self is Severity.RED else 1


_SEVERITY_ZONE = {Severity.YELLOW: Zone.YELLOW, Severity.RED: Zone.RED}


class Status(str, Enum):
    NORMAL = "normal"  # condition false (or recovered)
    PENDING = "pending"  # condition true, hold time not yet elapsed
    FIRING = "firing"  # condition true and held: findings are produced
    RECOVERING = "recovering"  # was firing, condition false, recover_after not yet elapsed
    NO_DATA = "no_data"  # no readings, readings older than stale_after, or no baseline yet


def _check_tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{tz}' (use an IANA name such as Europe/Oslo)") from None
    return tz


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Code = Annotated[str, AfterValidator(check_code)]


class LocalText(BaseModel):
    """A label in both UI languages, as written in rule files."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    nb: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def text(self) -> Text:
        return Text(self.nb, self.en)

    def get(self, locale: str) -> str:
        return self.nb if locale.startswith("nb") else self.en


# ---------------------------------------------------------------------------------------------
# Specs: the closed set of kinds. Thresholds live in parameters, not in the spec, so that a
# patient's plan can override them without a new rule version.


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZonesSpec(_Spec):
    """Yellow/red low/high limits for one measurement (parameters: red_low … red_high)."""

    kind: Literal["zones"] = "zones"
    code: Code


class ScoreBand(_Spec):
    """Points for values above the previous band's ``max`` up to and including this ``max``."""

    max: float | None = None
    points: int = Field(ge=0)


def _check_bands(bands: tuple[ScoreBand, ...]) -> tuple[ScoreBand, ...]:
    if not bands:
        raise ValueError("a score item needs at least one band")
    maxima = [b.max for b in bands[:-1] if b.max is not None]
    if len(maxima) != len(bands) - 1:
        raise ValueError("only the last band may be open-ended (no max)")
    if bands[-1].max is not None:
        raise ValueError("the last band must be open-ended (no max) so that every value scores")
    if maxima != sorted(maxima) or len(set(maxima)) != len(maxima):
        raise ValueError("band maxima must increase strictly")
    return bands


class ScoreItem(_Spec):
    code: Code
    name: LocalText
    bands: tuple[ScoreBand, ...]
    # Alternative band tables chosen by the ``variant`` parameter (NEWS2 SpO2 scale 2).
    variants: dict[str, tuple[ScoreBand, ...]] = Field(default_factory=dict)

    @field_validator("bands")
    @classmethod
    def _bands(cls, v: tuple[ScoreBand, ...]) -> tuple[ScoreBand, ...]:
        return _check_bands(v)

    @field_validator("variants")
    @classmethod
    def _variant_bands(cls, v: dict[str, tuple[ScoreBand, ...]]) -> dict[str, tuple[ScoreBand, ...]]:
        for bands in v.values():
            _check_bands(bands)
        return v

    def bands_for(self, variant: str | None) -> tuple[ScoreBand, ...]:
        return self.variants.get(variant, self.bands) if variant else self.bands


class TotalBand(_Spec):
    min: int = Field(ge=0)
    label: LocalText


class ScoreBandsSpec(_Spec):
    """A points table per parameter and bands for the total (home NEWS2)."""

    kind: Literal["score_bands"] = "score_bands"
    name: LocalText
    items: tuple[ScoreItem, ...] = Field(min_length=1)
    totals: tuple[TotalBand, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ScoreBandsSpec:
        codes = [i.code for i in self.items]
        if len(set(codes)) != len(codes):
            raise ValueError("each score item must use a different code")
        mins = [t.min for t in self.totals]
        if mins != sorted(mins) or len(set(mins)) != len(mins) or mins[0] != 0:
            raise ValueError("total bands must start at 0 and increase strictly")
        return self

    def total_label(self, total: int) -> LocalText:
        label = self.totals[0].label
        for band in self.totals:
            if total >= band.min:
                label = band.label
        return label


class ChangeSpec(_Spec):
    """Rise or fall of at least ``amount`` against the extreme of a window or a personal baseline."""

    kind: Literal["change"] = "change"
    code: Code
    direction: Literal["rise", "fall"]
    reference: Literal["window", "baseline"] = "window"
    # False: the change must exceed the amount ("more than 2 kg"); True: "3 points or more".
    inclusive: bool = False


class QuestionnaireSpec(_Spec):
    """Thresholds on a questionnaire total (or one answer) and on its rise since the previous answer."""

    kind: Literal["questionnaire"] = "questionnaire"
    code: Code
    items: tuple[Code, ...] = ()  # item codes checked against ``item_at_least``


ReadingSpec = Annotated[ZonesSpec | ChangeSpec | QuestionnaireSpec, Field(discriminator="kind")]


class NOfMSpec(_Spec):
    """A per-reading condition confirmed by N of the last M readings and/or within a time window."""

    kind: Literal["n_of_m"] = "n_of_m"
    of: ReadingSpec


class MissedCheckinSpec(_Spec):
    """A measurement or questionnaire expected on a schedule in the patient's time zone."""

    kind: Literal["missed_checkin"] = "missed_checkin"
    codes: tuple[str, ...] = Field(min_length=1)  # any of these counts; 'checkin.*' patterns allowed
    what: LocalText  # "vektmåling" / "weight measurement"

    @field_validator("codes")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_code_pattern(c) for c in v)


class SilenceSpec(_Spec):
    """Nothing at all reported for a while: an inactive patient (VKP 5.3). Unlike a missed
    check-in it needs no schedule, and it grows with the silence: rules with longer ``after``
    escalate it."""

    kind: Literal["silence"] = "silence"
    codes: tuple[str, ...] = Field(min_length=1)  # any of these counts; 'checkin.*' patterns allowed
    what: LocalText  # "registrering" / "report"

    @field_validator("codes")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_code_pattern(c) for c in v)


class Child(_Spec):
    """One named part of all_of / any_of. Its parameters are nested under ``id``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    spec: Spec


class CombineSpec(_Spec):
    kind: Literal["all_of", "any_of"]
    of: tuple[Child, ...] = Field(min_length=2)

    @field_validator("of")
    @classmethod
    def _unique_ids(cls, v: tuple[Child, ...]) -> tuple[Child, ...]:
        ids = [c.id for c in v]
        if len(set(ids)) != len(ids):
            raise ValueError(f"child ids must be unique, got {ids}")
        return v


Spec = Annotated[
    ZonesSpec | ScoreBandsSpec | ChangeSpec | QuestionnaireSpec | NOfMSpec | MissedCheckinSpec | SilenceSpec | CombineSpec,
    Field(discriminator="kind"),
]
Child.model_rebuild()
CombineSpec.model_rebuild()


# ---------------------------------------------------------------------------------------------
# Parameter models, one per kind (flat; see parameters.py for how they nest).


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZonesParams(_Params):
    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None


class ScoreParams(_Params):
    fire_at_total: int | None = Field(default=None, ge=1)
    fire_on_single: int | None = Field(default=None, ge=1)  # any one parameter scoring this much
    max_spread: timedelta = timedelta(hours=12)  # readings this close to the newest score together
    variant: str | None = None

    @model_validator(mode="after")
    def _something_fires(self) -> ScoreParams:
        if self.fire_at_total is None and self.fire_on_single is None:
            raise ValueError("set fire_at_total or fire_on_single (or both)")
        if self.max_spread <= timedelta(0):
            raise ValueError("max_spread must be positive")
        return self


class ChangeWindowParams(_Params):
    amount: float = Field(gt=0)
    window_days: int = Field(ge=1, le=60)  # local calendar days before the reading


class ChangeBaselineParams(_Params):
    amount: float = Field(gt=0)
    baseline_value: float | None = None  # set by the care team (e.g. dry weight)
    baseline_start: datetime | None = None  # trial period used for the median
    baseline_end: datetime | None = None
    baseline_min_count: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _period(self) -> ChangeBaselineParams:
        for name in ("baseline_start", "baseline_end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must include a time zone (e.g. 2026-03-01T00:00:00+01:00)")
        if (self.baseline_start is None) != (self.baseline_end is None):
            raise ValueError("set both baseline_start and baseline_end, or neither")
        if self.baseline_start is not None and self.baseline_end is not None and self.baseline_end <= self.baseline_start:
            raise ValueError("baseline_end must be after baseline_start")
        return self


class QuestionnaireParams(_Params):
    at_least: float | None = None
    rise_at_least: float | None = Field(default=None, gt=0)
    item_at_least: float | None = None

    @model_validator(mode="after")
    def _something_fires(self) -> QuestionnaireParams:
        if self.at_least is None and self.rise_at_least is None and self.item_at_least is None:
            raise ValueError("set at_least, rise_at_least or item_at_least")
        return self


class NOfMParams(_Params):
    n: int = Field(ge=1)
    m: int | None = Field(default=None, ge=1)
    within: timedelta | None = None
    # A single reading that meets the condition is not noise until proven so (clinical.md): the
    # patient is asked to measure again, and when no newer reading has come this long after it,
    # the rule fires on that reading alone. None: only N confirmations fire.
    confirm_within: timedelta | None = None

    @model_validator(mode="after")
    def _window(self) -> NOfMParams:
        if self.m is None and self.within is None:
            raise ValueError("set m (last M readings) or within (a time window), or both")
        if self.m is not None and self.n > self.m:
            raise ValueError(f"n ({self.n}) cannot be larger than m ({self.m})")
        if self.within is not None and self.within <= timedelta(0):
            raise ValueError("within must be positive")
        if self.confirm_within is not None and self.confirm_within <= timedelta(0):
            raise ValueError("confirm_within must be positive")
        return self


class MissedParams(_Params):
    schedule: Schedule
    grace: timedelta = timedelta(hours=2)  # how late a check-in may be before it counts as missed
    open_before: timedelta = timedelta(hours=12)  # how early a reading counts for a slot
    lookback_days: int = Field(default=14, ge=1, le=60)  # how far back missed slots are counted

    @model_validator(mode="after")
    def _spans(self) -> MissedParams:
        if self.grace < timedelta(0) or self.open_before < timedelta(0):
            raise ValueError("grace and open_before cannot be negative")
        return self


class SilenceParams(_Params):
    after: timedelta  # how long without any report before the rule fires

    @model_validator(mode="after")
    def _positive(self) -> SilenceParams:
        if self.after <= timedelta(0):
            raise ValueError("after must be positive")
        return self


# ---------------------------------------------------------------------------------------------
# Examples shipped with a rule: readings and the states expected at given times.


class ExampleObservation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: Code
    value: float
    at: UtcDatetime
    ref: str | None = None

    def observation(self) -> Observation:
        return Observation(self.code, self.value, self.at, self.ref)


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime
    status: Status
    explanation_contains: tuple[str, ...] = ()  # fragments of the nb or en explanation


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    tz: Annotated[str, AfterValidator(_check_tz)] = "Europe/Oslo"
    parameters: dict[str, Any] = Field(default_factory=dict)  # patient overrides
    baselines: dict[str, float] = Field(default_factory=dict)
    active_since: UtcDatetime | None = None
    observations: tuple[ExampleObservation, ...] = ()
    expect: tuple[Expectation, ...] = Field(min_length=1)


# ---------------------------------------------------------------------------------------------
# The rule definition


class RuleDefinition(BaseModel):
    """One immutable version of a rule. Edit a rule by storing a new version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    version: int = Field(ge=1)
    title: LocalText
    severity: Severity
    instruction_key: str = Field(min_length=1)
    spec: Spec
    parameters: dict[str, Any] = Field(default_factory=dict)
    overridable: tuple[str, ...] = ()
    hold: timedelta = timedelta(0)  # the condition must persist this long before firing
    stale_after: timedelta | None = None  # readings older than this give no_data
    recover_after: timedelta = timedelta(0)  # the condition must stay false this long to recover
    vkp_alert_code: str | None = None  # VKP digital home follow-up alert code, e.g. "5.3.2"
    # Rules that watch the same thing at different severities (a red and a yellow SpO2 rule)
    # share a group: the patient then has one alert for it, raised from yellow to red.
    group: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    examples: tuple[Example, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> RuleDefinition:
        for name in ("hold", "recover_after"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} cannot be negative")
        if self.stale_after is not None and self.stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        # Validates the default parameters and the overridable names (raises ParameterError).
        from .parameters import resolve_parameters

        resolve_parameters(self, {})
        return self

    @cached_property
    def defaults(self) -> Parameters:
        """The validated default parameters (a parameters.Parameters mapping)."""
        from .parameters import resolve_parameters

        return resolve_parameters(self, {})

    @property
    def layer(self) -> str:
        """"safety" for a rule of the safety net (key 'safety.…', rules/defaults/safety.yaml),
        applied to every patient whatever the plan says; its explanations speak of the safety
        net, not the plan. "plan" for every other rule. (Read off the key rather than stored,
        so the stored definitions of earlier versions stay byte for byte the same.)"""
        return "safety" if self.key.startswith("safety.") else "plan"

    @property
    def alert_key(self) -> str:
        """What one open alert per patient is kept for: the group, or the rule itself."""
        return self.group or self.key

    @cached_property
    def suffix(self) -> Text:
        """The rule's name, key and version, appended to every explanation."""
        return Text(
            f"(Regel «{self.title.nb}», {self.key} versjon {self.version}.)",
            f"(Rule “{self.title.en}”, {self.key} version {self.version}.)",
        )


class RuleSet(BaseModel):
    """A shipped or team-authored collection of rules for one patient group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: LocalText
    description: LocalText | None = None
    rules: tuple[RuleDefinition, ...] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_keys(cls, v: tuple[RuleDefinition, ...]) -> tuple[RuleDefinition, ...]:
        keys = [r.key for r in v]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"rule keys must be unique within a rule set: {', '.join(dupes)}")
        return v


# ---------------------------------------------------------------------------------------------
# Outputs


class RuleState(BaseModel):
    """Per patient × rule. Stored as JSON; ``next_due_at`` tells the scheduler when to come back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_key: str
    rule_version: int
    status: Status = Status.NORMAL
    since: UtcDatetime | None = None  # when the current status began
    pending_since: UtcDatetime | None = None  # onset of the condition (pending, firing)
    firing_since: UtcDatetime | None = None  # kept while firing and recovering
    evaluated_at: UtcDatetime | None = None
    next_due_at: UtcDatetime | None = None
    last_observation_at: UtcDatetime | None = None  # newest reading the rule looked at
    observation_refs: tuple[str, ...] = ()  # readings behind the current condition
    baselines: dict[str, float] = Field(default_factory=dict)  # personal baselines used
    detail: dict[str, Any] = Field(default_factory=dict)  # kind-specific facts (score, missing…)
    summary: Text | None = None  # what the rule sees now, for nurses (also when not firing)


class Finding(BaseModel):
    """Produced on every evaluation while a rule is firing; one open alert per patient × rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_key: str
    rule_version: int
    severity: Severity
    value_text: Text
    threshold_text: Text
    explanation: Text
    instruction_key: str
    observation_refs: tuple[str, ...]
    at: datetime  # the evaluation time
    firing_since: datetime | None = None
    vkp_alert_code: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: RuleState
    findings: tuple[Finding, ...]
    previous_status: Status | None = None

    @property
    def started_firing(self) -> bool:
        return self.state.status is Status.FIRING and self.previous_status not in (Status.FIRING, Status.RECOVERING)

    @property
    def stopped_firing(self) -> bool:
        return self.previous_status in (Status.FIRING, Status.RECOVERING) and self.state.status not in (
            Status.FIRING,
            Status.RECOVERING,
        )

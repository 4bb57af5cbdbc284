"""Escalation policies and the pure planner that decides who is paged when.

Nothing here reads the clock, the database or the network: `now` and every fact about the
alert and the team are arguments. The caller (scheduler sweep, alert service, SMS and
delivery webhooks) persists the policy snapshot and the planner state as JSON on the alert,
enqueues the returned intents in the outbox with their dedup keys, and calls again at
`next_due_at` or whenever a fact changes. See docs/escalation.md.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, UTC
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from rules.schedule import local_date_of, local_to_utc

from .oncall import LocalTime, OnCallSchedule, Role, check_time_zone, who_is_on_call

Severity = Literal["yellow", "red"]
Channel = Literal["sms", "email"]
When = Literal["always", "in_opening_hours", "outside_opening_hours"]
SEVERITIES: tuple[Severity, ...] = ("yellow", "red")

# Bounds a clinician can choose within, in minutes. Red must reach someone fast.
MAX_STEPS = 10
MAX_REPEAT = 3
MAX_FALLBACK = 5
MAX_WAIT = {"red": 60, "yellow": 24 * 60}
ACK_TIMEOUT_RANGE = (5, 24 * 60)
MAX_SNOOZE = {"red": 4 * 60, "yellow": 7 * 24 * 60}
REMEASURE_WAIT_RANGE = (5, 4 * 60)
FALLBACK_CHANNELS: tuple[Channel, ...] = ("sms", "email")
# After a red alert's last step, its fallback is paged again this often until a person
# acknowledges it: red never ends in silence, in or out of hours.
RED_REPEAT_MINUTES = 15

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# -- targets ---------------------------------------------------------------------------------


class QueueOnly(_Frozen):
    """Page nobody: the alert waits in the triage queue for the step's wait (yellow only)."""

    kind: Literal["queue_only"] = "queue_only"


class OnCallTarget(_Frozen):
    """Whoever is on call for the role at the moment the step runs."""

    kind: Literal["on_call"] = "on_call"
    role: Role = "nurse"


class RoleTarget(_Frozen):
    """Every team member with the role (all of them: the first to answer acknowledges for all)."""

    kind: Literal["role"] = "role"
    role: Role


class PersonTarget(_Frozen):
    kind: Literal["person"] = "person"
    account_id: int = Field(ge=1)


class PhoneTarget(_Frozen):
    """A fixed number, e.g. a 24/7 response centre or the team's on-call phone. SMS only."""

    kind: Literal["phone"] = "phone"
    number: str
    label: str = Field(default="", max_length=100)

    @field_validator("number")
    @classmethod
    def _e164(cls, v: str) -> str:
        cleaned = re.sub(r"[\s\-()]", "", v)
        if cleaned.startswith("00"):
            cleaned = "+" + cleaned[2:]
        if not _E164.match(cleaned):
            raise ValueError(f"write the number in international form, e.g. +4722334455 (got {v!r})")
        return cleaned


Target = Annotated[QueueOnly | OnCallTarget | RoleTarget | PersonTarget | PhoneTarget, Field(discriminator="kind")]


# -- the policy ------------------------------------------------------------------------------


class PerSeverity(_Frozen):
    """Minutes per severity. A value is required for each severity that uses it."""

    yellow: int | None = None
    red: int | None = None

    def of(self, severity: Severity) -> int:
        value: int | None = getattr(self, severity)
        if value is None:  # validation makes this unreachable for a constructed policy
            raise ValueError(f"no value for {severity}")
        return value

    def minutes(self, severity: Severity) -> timedelta:
        return timedelta(minutes=self.of(severity))


def _require(v: PerSeverity, severities: Sequence[Severity], low: int, high: Mapping[str, int] | int,
             what: str) -> PerSeverity:
    for sev in severities:
        value = getattr(v, sev)
        top = high[sev] if isinstance(high, Mapping) else high
        if value is None:
            raise ValueError(f"set the {what} for {sev} alerts (minutes)")
        if not low <= value <= top:
            raise ValueError(f"the {what} for {sev} alerts must be between {low} and {top} minutes (got {value})")
    return v


class Step(_Frozen):
    target: Target
    # Defaults are validated too: a queue-only step left at both severities must be refused.
    channels: tuple[Channel, ...] = Field(default=("sms",), validate_default=True)  # in order of preference
    severities: tuple[Severity, ...] = Field(default=SEVERITIES, validate_default=True)  # which alerts it is for
    when: When = "always"
    wait: PerSeverity = Field(description="minutes before the next step (or the next round)")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: tuple[Channel, ...], info: ValidationInfo) -> tuple[Channel, ...]:
        target = info.data.get("target")
        if isinstance(target, QueueOnly):
            return ()  # nobody is paged, so no channel applies
        if not v:
            raise ValueError("choose at least one channel: sms or email")
        if len(set(v)) != len(v):
            raise ValueError("list each channel once")
        if isinstance(target, PhoneTarget) and v != ("sms",):
            raise ValueError('a phone number can only receive SMS; use ["sms"]')
        return v

    @field_validator("severities")
    @classmethod
    def _severities(cls, v: tuple[Severity, ...], info: ValidationInfo) -> tuple[Severity, ...]:
        if not v:
            raise ValueError("choose yellow, red or both")
        if len(set(v)) != len(v):
            raise ValueError("list each severity once")
        if "red" in v and isinstance(info.data.get("target"), QueueOnly):
            raise ValueError("a queue-only step cannot apply to red alerts: red alerts never wait; "
                             'limit it to ["yellow"]')
        return tuple(s for s in SEVERITIES if s in v)

    @field_validator("wait")
    @classmethod
    def _wait(cls, v: PerSeverity, info: ValidationInfo) -> PerSeverity:
        return _require(v, info.data.get("severities", ()), 0, MAX_WAIT, "wait")

    @property
    def pages(self) -> bool:
        return not isinstance(self.target, QueueOnly)


class Remeasure(_Frozen):
    """Yellow alerts of these rules first ask the patient to measure again, then wait."""

    wait: int = Field(ge=REMEASURE_WAIT_RANGE[0], le=REMEASURE_WAIT_RANGE[1], description="minutes")
    rule_keys: tuple[str, ...]

    @field_validator("rule_keys")
    @classmethod
    def _keys(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not k for k in v):
            raise ValueError("name at least one rule (e.g. copd.spo2)")
        return tuple(dict.fromkeys(v))


class EscalationPolicy(_Frozen):
    name: str = Field(min_length=1, max_length=100)
    steps: tuple[Step, ...]
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT, description="extra passes through the steps")
    fallback: tuple[Target, ...] = Field(description="paged when a step resolves to nobody")
    ack_timeout: PerSeverity
    snooze_max: PerSeverity
    yellow_remeasure: Remeasure | None = None

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: tuple[Step, ...]) -> tuple[Step, ...]:
        if not v:
            raise ValueError("add at least one step")
        if len(v) > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} steps")
        red = [s for s in v if s.pages and "red" in s.severities]
        if not any(s.when != "outside_opening_hours" for s in red):
            raise ValueError("no step pages anyone about red alerts in opening hours; "
                             'add one with when "always" or "in_opening_hours"')
        if not any(s.when != "in_opening_hours" for s in red):
            raise ValueError("no step pages anyone about red alerts outside opening hours; add one with "
                             'when "always" or "outside_opening_hours" (e.g. the response centre)')
        return v

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        if not v:
            raise ValueError("add at least one fallback, e.g. the team's on-call phone number")
        if len(v) > MAX_FALLBACK:
            raise ValueError(f"at most {MAX_FALLBACK} fallback targets")
        if any(isinstance(t, QueueOnly) for t in v):
            raise ValueError("the queue cannot be a fallback: the fallback must reach a person")
        # People and rotas can be empty at 3 a.m.; a fixed number cannot.
        if not any(isinstance(t, PhoneTarget) for t in v):
            raise ValueError("include at least one fixed phone number (the team's on-call phone or a "
                             "24/7 response centre): people and rotas can turn out empty")
        return v

    @field_validator("ack_timeout")
    @classmethod
    def _ack(cls, v: PerSeverity) -> PerSeverity:
        return _require(v, SEVERITIES, ACK_TIMEOUT_RANGE[0], ACK_TIMEOUT_RANGE[1], "acknowledgement timeout")

    @field_validator("snooze_max")
    @classmethod
    def _snooze(cls, v: PerSeverity) -> PerSeverity:
        return _require(v, SEVERITIES, 0, MAX_SNOOZE, "longest snooze")


class PolicyError(ValueError):
    """A policy that does not validate. `problems`: (field path, reason), e.g.
    ("steps.1.wait", "set the wait for red alerts (minutes)")."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {why}" for path, why in problems))


def describe(exc: ValidationError) -> list[tuple[str, str]]:
    """(field path, reason) for each error of a pydantic ValidationError, without pydantic's
    'Value error, ' prefix, for forms."""
    problems = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(policy)"
        problems.append((path, err["msg"].removeprefix("Value error, ")))
    return problems


def parse_policy(data: Mapping[str, Any]) -> EscalationPolicy:
    """An EscalationPolicy from JSON data (a form or a column), raising PolicyError."""
    try:
        return EscalationPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(describe(exc)) from None


# -- opening hours ---------------------------------------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAY_KEYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OpeningHours(RootModel[dict[Weekday, tuple[LocalTime, LocalTime]]]):
    """The team's JSON {"mon": ["08:00", "15:30"], ...}; a missing day is closed.

    An interval is [opens, closes) on one local date, converted to UTC the same way as
    rules.schedule (a time in the spring DST gap moves forward by the gap; an ambiguous
    autumn time is its first occurrence), so is_open and next_opening_change always agree."""

    model_config = ConfigDict(frozen=True)

    @field_validator("root")
    @classmethod
    def _order(cls, v: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
        for day, (opens, closes) in v.items():
            if closes <= opens:
                raise ValueError(f"{day}: closes ({closes:%H:%M}) must be after it opens ({opens:%H:%M})")
        return v


def opening_interval(hours: OpeningHours, tz: str, local_date: date) -> tuple[datetime, datetime] | None:
    span = hours.root.get(WEEKDAY_KEYS[local_date.weekday()])
    if span is None:
        return None
    return local_to_utc(local_date, span[0], tz), local_to_utc(local_date, span[1], tz)


def is_open(hours: OpeningHours, tz: str, at: datetime) -> bool:
    interval = opening_interval(hours, tz, local_date_of(at, tz))
    return interval is not None and interval[0] <= at < interval[1]


def next_opening_change(hours: OpeningHours, tz: str, after: datetime) -> datetime | None:
    """The first moment after `after` at which the team opens or closes; None if never."""
    first = local_date_of(after, tz)
    for offset in range(0, 8):
        interval = opening_interval(hours, tz, first + timedelta(days=offset))
        if interval is not None:
            for moment in interval:
                if moment > after:
                    return moment
    return None


# -- inputs of the planner -------------------------------------------------------------------


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True)
class Contact:
    phone: str | None = None  # E.164
    email: str | None = None

    def address(self, channel: Channel) -> str | None:
        return self.phone if channel == "sms" else self.email


@dataclass(frozen=True)
class TeamContext:
    """What the planner needs to know about the alert's team at the moment of planning.
    Only active accounts belong in `members` and `contacts`."""

    time_zone: str = "Europe/Oslo"
    opening_hours: OpeningHours = field(default_factory=lambda: OpeningHours({}))
    members: Mapping[str, Sequence[int]] = field(default_factory=dict)  # role → account ids
    contacts: Mapping[int, Contact] = field(default_factory=dict)  # account id → contact
    on_call: OnCallSchedule | None = None

    def __post_init__(self) -> None:
        check_time_zone(self.time_zone)


@dataclass(frozen=True)
class AlertFacts:
    """The alert as it is now (from the alert row)."""

    alert_id: int
    severity: Severity
    opened_at: datetime
    rule_key: str = ""
    raised_at: datetime | None = None  # when the severity was last raised
    last_seen_at: datetime | None = None  # the rule's latest finding for this alert
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    snoozed_at: datetime | None = None
    snoozed_until: datetime | None = None
    patient_sms: bool = False  # the patient has a mobile number and has not sent STOP

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be yellow or red (got {self.severity!r})")
        for name in ("opened_at", "raised_at", "last_seen_at", "acknowledged_at", "resolved_at",
                     "snoozed_at", "snoozed_until"):
            _aware(name, getattr(self, name))
        if (self.snoozed_at is None) != (self.snoozed_until is None):
            raise ValueError("snoozed_at and snoozed_until go together")


# -- planner state (persisted as JSON on the alert) -----------------------------------------


class RecipientRun(BaseModel):
    """One recipient of a step and the channels still to try, in order."""

    recipient: str  # "acct12", "tel+4722334455" or "patient"
    account_id: int | None = None
    target: Target | None = None  # None for the patient
    channels: list[tuple[Channel, str | None]]  # (channel, address); address None for the patient
    tried: int = 1  # channels[:tried] have been paged


class StepRun(BaseModel):
    """The step (or fallback, or re-measure request) whose wait is running."""

    slot: str  # "s2", "s2fb" (fallback for step 2), "rm", "end", "ack1", "rep1"
    round: int
    step_index: int | None
    kind: Literal["page", "fallback", "remeasure"]
    fired_at: AwareDatetime
    recipients: list[RecipientRun] = []
    done: bool = False  # everyone unreachable, or answered by a re-measurement: wait cut short
    sms_fallback: bool = False  # red: nobody of the step could get an SMS, so the fallback was paged too


class EscalationState(BaseModel):
    """Where an alert's escalation stands. Start with EscalationState() (or None)."""

    episode: int = 0  # 1 for the first severity, +1 on every severity change
    severity: Severity | None = None
    episode_started_at: AwareDatetime | None = None
    started: bool = False
    round: int = 0
    step: int = 0  # the next step to run
    next_at: AwareDatetime | None = None  # when the next step is due
    waiting_for_hours: bool = False  # nothing applies now; next_at is an opening-hours change
    exhausted: bool = False
    current: StepRun | None = None
    expired_ack_at: AwareDatetime | None = None  # the acknowledgement whose timeout has run out
    ack_expiries: int = 0
    end_fallback_sent: bool = False
    episode_pages: list[str] = []  # dedup keys of staff pages in this episode
    repeats: int = 0  # red: times the fallback was paged again after the last step (slots rep1, rep2, …)


@dataclass(frozen=True)
class PageIntent:
    """A message to enqueue in the outbox under `dedup_key` (the same key is never sent twice)."""

    alert_id: int
    episode: int
    severity: Severity
    kind: Literal["page", "fallback", "remeasure"]
    step_index: int | None  # None for the re-measure request and end/ack fallbacks
    repeat_round: int
    target: Any  # the policy Target; None for the patient
    recipient: str
    account_id: int | None
    channel: Channel
    address: str | None  # phone or e-mail; None for the patient (use the patient's number)
    dedup_key: str

    def as_json(self) -> dict[str, Any]:
        """For the alert's event log."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["target"] = self.target.model_dump(mode="json") if self.target is not None else None
        return data


PlanStatus = Literal["resolved", "snoozed", "acknowledged", "remeasure", "escalating", "waiting_for_hours",
                     "repeating", "exhausted"]


@dataclass(frozen=True)
class Plan:
    state: EscalationState
    intents: tuple[PageIntent, ...]
    next_due_at: datetime | None
    status: PlanStatus
    returned_to_queue: bool = False  # the acknowledgement timed out now: set the alert open again
    tell_admins: bool = False  # a red alert's chain ended unacknowledged now: tell the team's admins


def dedup_key(alert_id: int, episode: int, severity: str, repeat_round: int, slot: str, recipient: str,
              channel: str) -> str:
    return f"esc:{alert_id}:e{episode}:{severity}:r{repeat_round}:{slot}:{recipient}:{channel}"


def ack_deadline(policy: EscalationPolicy, severity: Severity, acknowledged_at: datetime) -> datetime:
    """When an acknowledged, unresolved alert returns to the queue."""
    return acknowledged_at + policy.ack_timeout.minutes(severity)


def snooze_problems(policy: EscalationPolicy, severity: Severity, now: datetime, until: datetime | None,
                    reason: str) -> list[tuple[str, str]]:
    """Why a snooze may not be set; empty when it may. Snoozes always end."""
    problems = []
    if not (reason or "").strip():
        problems.append(("reason", "say why the alert is snoozed"))
    limit = policy.snooze_max.of(severity)
    if until is None:
        problems.append(("until", "choose when the snooze ends"))
    elif until.tzinfo is None:
        problems.append(("until", "must include a time zone"))
    elif until <= now:
        problems.append(("until", "must be in the future"))
    elif limit == 0:
        problems.append(("until", f"this policy does not allow snoozing {severity} alerts"))
    elif until - now > timedelta(minutes=limit):
        problems.append(("until", f"{severity} alerts can be snoozed for at most {limit} minutes"))
    return problems


# -- the planner -----------------------------------------------------------------------------


def applies(step: Step, severity: Severity, team: TeamContext, at: datetime) -> bool:
    if severity not in step.severities:
        return False
    if step.when == "always":
        return True
    return is_open(team.opening_hours, team.time_zone, at) == (step.when == "in_opening_hours")


def _account_run(account_id: int, target: Any, channels: Sequence[Channel], team: TeamContext) -> RecipientRun | None:
    contact = team.contacts.get(account_id)
    if contact is None:
        return None
    usable = [(c, contact.address(c)) for c in channels if contact.address(c)]
    if not usable:
        return None
    return RecipientRun(recipient=f"acct{account_id}", account_id=account_id, target=target, channels=usable)


def resolve(target: Any, channels: Sequence[Channel], team: TeamContext, at: datetime) -> list[RecipientRun]:
    """Who a target reaches at `at`, with the channels each can receive; may be empty."""
    if isinstance(target, PhoneTarget):
        return [RecipientRun(recipient=f"tel{target.number}", target=target, channels=[("sms", target.number)])]
    if isinstance(target, OnCallTarget):
        person = who_is_on_call(team.on_call, target.role, at) if team.on_call is not None else None
        accounts: Sequence[int] = [person] if person is not None else []
    elif isinstance(target, RoleTarget):
        accounts = team.members.get(target.role, ())
    elif isinstance(target, PersonTarget):
        accounts = [target.account_id]
    else:
        accounts = []
    runs = [_account_run(a, target, channels, team) for a in dict.fromkeys(accounts)]
    return [r for r in runs if r is not None]


class _Planner:
    def __init__(self, policy: EscalationPolicy, alert: AlertFacts, team: TeamContext, state: EscalationState,
                 now: datetime, failed: Collection[str]):
        self.policy, self.alert, self.team, self.st, self.now, self.failed = policy, alert, team, state, now, failed
        self.intents: list[PageIntent] = []
        self.tell_admins = False

    @property
    def severity(self) -> Severity:
        return self.alert.severity

    def key(self, run: StepRun, r: RecipientRun, index: int) -> str:
        return dedup_key(self.alert.alert_id, self.st.episode, self.severity, run.round, run.slot, r.recipient,
                         r.channels[index][0])

    def emit(self, run: StepRun, r: RecipientRun, index: int) -> None:
        channel, address = r.channels[index]
        key = self.key(run, r, index)
        self.intents.append(PageIntent(
            alert_id=self.alert.alert_id, episode=self.st.episode, severity=self.severity, kind=run.kind,
            step_index=run.step_index, repeat_round=run.round, target=r.target, recipient=r.recipient,
            account_id=r.account_id, channel=channel, address=address, dedup_key=key,
        ))
        if run.kind != "remeasure":
            self.st.episode_pages.append(key)

    def fire(self, slot: str, kind: Literal["page", "fallback", "remeasure"], step_index: int | None,
             recipients: list[RecipientRun]) -> StepRun:
        run = StepRun(slot=slot, round=self.st.round, step_index=step_index, kind=kind, fired_at=self.now,
                      recipients=recipients)
        for r in recipients:
            self.emit(run, r, 0)
        return run

    def fallback_recipients(self) -> list[RecipientRun]:
        seen: dict[str, RecipientRun] = {}
        for target in self.policy.fallback:
            for r in resolve(target, FALLBACK_CHANNELS, self.team, self.now):
                seen.setdefault(r.recipient, r)
        return list(seen.values())

    def run_step(self, index: int) -> None:
        step = self.policy.steps[index]
        if not step.pages:
            self.st.current = StepRun(slot=f"s{index}", round=self.st.round, step_index=index, kind="page",
                                      fired_at=self.now)
        else:
            channels = step.channels
            if self.severity == "red" and "sms" in channels:
                channels = ("sms", *(c for c in channels if c != "sms"))  # red goes by SMS first
            recipients = resolve(step.target, channels, self.team, self.now)
            if recipients:
                self.st.current = self.fire(f"s{index}", "page", index, recipients)
                self.red_by_sms()
            else:  # nobody on call, nobody with the role, no usable address
                self.st.current = self.fire(f"s{index}fb", "fallback", index, self.fallback_recipients())
        self.st.next_at = self.now + step.wait.minutes(self.severity)

    def red_by_sms(self) -> None:
        """Red always goes by SMS: when nobody of the running step can get one (no mobile
        number, or every SMS failed for good), the fallback is paged by SMS at once, in
        addition to the e-mails."""
        run = self.st.current
        if (self.severity != "red" or run is None or run.kind != "page" or run.sms_fallback
                or run.step_index is None):
            return
        for r in run.recipients:
            sms = [i for i, (channel, _address) in enumerate(r.channels) if channel == "sms"]
            if sms and not (sms[0] < r.tried and self.key(run, r, sms[0]) in self.failed):
                return  # this recipient has an SMS out or still to try
        run.sms_fallback = True
        self.fire(f"s{run.step_index}fb", "fallback", run.step_index, self.fallback_recipients())

    def remaining_outlook(self) -> Literal["now", "later", "never"]:
        """Whether a step from the cursor to the end of the last round applies at this moment,
        only at other hours, or not at all (no remaining step is for this severity)."""
        steps = self.policy.steps
        ahead = steps if self.st.round < self.policy.repeat else steps[self.st.step:]
        rest = [s for s in ahead if self.severity in s.severities]
        if not rest:
            return "never"
        return "now" if any(applies(s, self.severity, self.team, self.now) for s in rest) else "later"

    def advance(self) -> None:
        st, steps = self.st, self.policy.steps
        while not st.exhausted and st.next_at is not None and st.next_at <= self.now:
            if st.repeats:
                self.repeat_red()
                break
            if st.step >= len(steps):
                if st.round >= self.policy.repeat:
                    self.exhaust()
                    break
                st.round, st.step = st.round + 1, 0
            outlook = self.remaining_outlook()
            if outlook == "never":
                self.exhaust()
                break
            if outlook == "later" and self.severity == "red":
                self.exhaust()  # red does not wait for opening hours: it repeats now
                break
            if outlook == "later":
                # Nothing from here on applies at this hour: keep the place and look again when
                # the team opens or closes (a yellow outside hours waits for the morning).
                change = next_opening_change(self.team.opening_hours, self.team.time_zone, self.now)
                if change is None:
                    self.exhaust()
                else:
                    st.next_at, st.waiting_for_hours = change, True
                break
            index = st.step
            st.step += 1
            if applies(steps[index], self.severity, self.team, self.now):
                st.waiting_for_hours = False
                self.run_step(index)

    def exhaust(self) -> None:
        """The chain is used up. A yellow alert stays in the queue; a red one keeps paging."""
        if self.severity == "red":
            self.repeat_red()
            return
        self.st.exhausted, self.st.next_at, self.st.waiting_for_hours = True, None, False

    def repeat_red(self) -> None:
        """Page the fallback again now, and again every RED_REPEAT_MINUTES until acknowledged."""
        st = self.st
        st.repeats += 1
        st.waiting_for_hours = False
        st.current = self.fire(f"rep{st.repeats}", "fallback", None, self.fallback_recipients())
        st.next_at = self.now + timedelta(minutes=RED_REPEAT_MINUTES)
        if st.repeats == 1:
            self.tell_admins = True

    def fail_over(self) -> None:
        """Permanently failed pages of the running step: next channel at once; if nobody of
        the step can be reached any more, the wait is cut short and the next step is due now."""
        run = self.st.current
        if run is None or run.done or not run.recipients or self.st.exhausted:
            return
        for r in run.recipients:
            while r.tried < len(r.channels) and self.key(run, r, r.tried - 1) in self.failed:
                self.emit(run, r, r.tried)
                r.tried += 1
        self.red_by_sms()
        if run.slot.startswith("rep"):
            return  # a repeat keeps its interval even when it failed: no tight loop of failing pages
        if all(self.key(run, r, r.tried - 1) in self.failed for r in run.recipients):
            self.cut_wait()

    def cut_wait(self) -> None:
        assert self.st.current is not None, "only a step that ran has a wait to cut"
        self.st.current.done = True
        if self.st.next_at is not None:
            self.st.next_at = min(self.st.next_at, self.now)

    def start_episode(self) -> None:
        self.st.started = True
        remeasure = self.policy.yellow_remeasure
        if (self.severity == "yellow" and remeasure is not None and self.alert.rule_key in remeasure.rule_keys
                and self.alert.patient_sms):
            patient = RecipientRun(recipient="patient", channels=[("sms", None)])
            self.st.current = self.fire("rm", "remeasure", None, [patient])
            self.st.next_at = self.now + timedelta(minutes=remeasure.wait)

    def end_fallback_if_nobody_reached(self) -> None:
        st = self.st
        if st.exhausted and not st.end_fallback_sent and st.episode_pages and all(
                k in self.failed for k in st.episode_pages):
            st.end_fallback_sent = True
            st.current = self.fire("end", "fallback", None, self.fallback_recipients())


def _episode_changed(state: EscalationState, alert: AlertFacts) -> bool:
    return state.episode == 0 or state.severity != alert.severity


def plan(policy: EscalationPolicy, alert: AlertFacts, team: TeamContext, state: EscalationState | None,
         now: datetime, failed: Collection[str] = frozenset()) -> Plan:
    """What is due now for this alert, and when to look again.

    `state` is the previous Plan.state (None at first); `failed` holds the dedup keys of pages
    that failed permanently (undelivered, invalid number). Calling again with the returned
    state at the same `now` yields no intents."""
    _aware("now", now)
    now = now.astimezone(UTC)  # persisted state always reads in UTC
    st = (state or EscalationState()).model_copy(deep=True)
    if alert.resolved_at is not None:
        return Plan(st, (), None, "resolved")
    if _episode_changed(st, alert):
        # A new severity is news for whoever answers: start over at step 0 with its timings.
        first = st.episode == 0
        start = (alert.raised_at or (alert.opened_at if first else now)).astimezone(UTC)
        st = EscalationState(episode=st.episode + 1, severity=alert.severity, episode_started_at=start,
                             next_at=now)
    p = _Planner(policy, alert, team, st, now, failed)
    sev = alert.severity
    returned = False
    episode_started_at = st.episode_started_at
    assert episode_started_at is not None, "every episode has a start (set just above when it began)"

    # Snoozes and acknowledgements from before this episode do not hold back the new severity.
    if alert.snoozed_at is not None and alert.snoozed_until is not None and alert.snoozed_at >= episode_started_at:
        until = min(alert.snoozed_until, alert.snoozed_at + policy.snooze_max.minutes(sev))
        if now < until:
            return Plan(st, (), until, "snoozed")
    ack = alert.acknowledged_at
    if ack is not None and ack >= episode_started_at and ack != st.expired_ack_at:
        deadline = ack_deadline(policy, sev, ack)
        if now < deadline:
            return Plan(st, (), deadline, "acknowledged")
        # Nobody resolved it in time: back to the queue, and paging resumes at the next step.
        st.expired_ack_at, returned = ack, True
        st.ack_expiries += 1
        if st.current is not None:
            st.current.done = True
        if st.next_at is not None:
            st.next_at = min(st.next_at, deadline)

    if not st.started:
        p.start_episode()
    run = st.current
    if run is not None and run.kind == "remeasure" and not run.done and alert.last_seen_at is not None \
            and alert.last_seen_at > run.fired_at:
        p.cut_wait()  # the patient measured again and the rule still fires: page now
    p.fail_over()
    p.advance()
    if returned and sev == "red" and not p.intents:
        # The chain has nothing left for this hour: an abandoned red alert still reaches someone.
        st.current = p.fire(f"ack{st.ack_expiries}", "fallback", None, p.fallback_recipients())
    p.end_fallback_if_nobody_reached()

    if st.exhausted:
        status: PlanStatus = "exhausted"
    elif st.current is not None and st.current.kind == "remeasure" and not st.current.done:
        status = "remeasure"
    elif st.waiting_for_hours:
        status = "waiting_for_hours"
    elif st.repeats:
        status = "repeating"
    else:
        status = "escalating"
    return Plan(st, tuple(p.intents), None if st.exhausted else st.next_at, status, returned, p.tell_admins)


__all__ = [
    "AlertFacts",
    "Channel",
    "Contact",
    "EscalationPolicy",
    "EscalationState",
    "OnCallTarget",
    "OpeningHours",
    "PageIntent",
    "PerSeverity",
    "PersonTarget",
    "PhoneTarget",
    "Plan",
    "PolicyError",
    "QueueOnly",
    "RED_REPEAT_MINUTES",
    "RecipientRun",
    "Remeasure",
    "RoleTarget",
    "Severity",
    "Step",
    "StepRun",
    "Target",
    "TeamContext",
    "ack_deadline",
    "applies",
    "dedup_key",
    "describe",
    "is_open",
    "next_opening_change",
    "opening_interval",
    "parse_policy",
    "plan",
    "resolve",
    "snooze_problems",
]

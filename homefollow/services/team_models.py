"""The team settings as typed: pydantic models that own their rules (opening hours, phones, the
on-call rota, the escalation policy).

Field names follow the portal's forms, so a problem's location (pydantic's `loc`, e.g.
("rota", 2, "people", 0)) names the form field it is about (homefollow.form_errors). Each problem
is a PydanticCustomError whose `type` is a code the portal words, with its facts in `ctx`;
rules that compare fields raise a ValidationError at the exact field (`refuse`), which pydantic
keeps under the row's location. Values are read by homefollow.values. Nothing here knows about
requests; the escalation package keeps the last word on what a policy may be (parse_policy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, time
from typing import Annotated, Any, NoReturn, TypeVar, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator, \
    model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .. import values
from ..escalation.oncall import ROLES
from ..escalation.policy import SEVERITIES
from ..input_guard import row_id
from .teams import WEEKDAY_KEYS

T = TypeVar("T")

Problem = tuple[tuple, str, dict]  # (location, code, parameters of the message)
TARGET_KINDS = ("queue_only", "on_call", "role", "person", "phone")
WHEN = ("always", "in_opening_hours", "outside_opening_hours")
MAX_MINUTES = 99_999


def problem(code: str, **ctx) -> PydanticCustomError:
    return PydanticCustomError(code, code, ctx)


def refuse(title: str, problems: Iterable[Problem]) -> None:
    """Raise one ValidationError with every problem at its own location (none: return)."""
    errors: list[InitErrorDetails] = [{"type": problem(code, **params), "loc": tuple(loc), "input": None}
                                      for loc, code, params in problems]
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def refuse_one(title: str, loc: tuple, code: str, params: dict) -> NoReturn:
    """`refuse` with this one problem, which always raises."""
    refuse(title, [(loc, code, params)])
    raise AssertionError("refuse raises when given a problem")


def problems_of(error: ValidationError, known: frozenset[str] | set[str] | None = None) -> list[Problem]:
    """A ValidationError as (location, code, parameters); a pydantic error of its own (a
    wrong type where a form always sends text) is 'policy_other' with its message. `known`:
    the codes the caller words (by default the team settings' codes)."""
    known = _CODES if known is None else known
    result = []
    for e in error.errors():
        ctx = dict(e.get("ctx") or {})
        if e["type"] in known:
            result.append((tuple(e["loc"]), e["type"], ctx))
        else:
            result.append((tuple(e["loc"]), "policy_other", {"reason": e["msg"]}))
    return result


# The codes these models raise (the portal has a message for each).
_CODES = {"time_missing", "time_format", "closes_before_opens", "on_call_phone_required", "phone_invalid",
          "choose_role", "not_a_member", "person_twice", "shift_without_person", "shift_without_weekdays",
          "date_format", "choose_handover", "shifts_overlap", "whole_minutes", "choose_target", "number_missing",
          "choose_when", "choose_repeat", "name_length", "remeasure_wait_missing"}


# ---- typed values: an empty field is None, anything else is read by homefollow.values ---------

def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _typed(value: Any, parse: Callable[[str], T], code: str) -> T | None:
    """A typed field read by `parse` (homefollow.values); empty is None, a bad value the problem `code`."""
    if not _text(value):
        return None
    try:
        return parse(value)
    except values.BadValue as exc:
        raise problem(code, value=exc.text) from None


def _time(value: Any) -> time | None:
    return _typed(value, values.parse_time, "time_format")


def _present(found: T | None, code: str) -> T:
    if found is None:
        raise problem(code)
    return found


def _required_time(value: Any) -> time:
    return _present(_time(value), "time_missing")


def _phone(value: Any) -> str | None:
    return _typed(value, values.parse_norwegian_phone, "phone_invalid")


def _required_phone(value: Any) -> str:
    return _present(_phone(value), "on_call_phone_required")


def _minutes(value: Any) -> int | None:
    minutes = _typed(value, values.parse_integer, "whole_minutes")
    if minutes is not None and not 0 <= minutes <= MAX_MINUTES:
        raise problem("whole_minutes", value=_text(value))
    return minutes


def _member(value: Any, info: ValidationInfo) -> int | None:
    if not _text(value):
        return None
    account_id = row_id(value)
    if account_id is None or account_id not in (info.context or {}).get("member_ids", ()):
        raise problem("not_a_member")
    return account_id


def _choice(allowed: tuple[str, ...], code: str):
    def check(value: Any) -> str:
        if value not in allowed:
            raise problem(code)
        return value
    return BeforeValidator(check)


Time = Annotated[time | None, BeforeValidator(_time)]
RequiredTime = Annotated[time, BeforeValidator(_required_time)]
Phone = Annotated[str | None, BeforeValidator(_phone)]
Minutes = Annotated[int | None, BeforeValidator(_minutes)]
Member = Annotated[int | None, BeforeValidator(_member)]
Role = Annotated[str, _choice(ROLES, "choose_role")]


def _hhmm(at: time) -> str:
    return values.format_time(at)


class _Typed(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- opening hours and phones --------------------------------------------------------------

class OpeningDay(_Typed):
    """One weekday: both times, or neither (closed)."""

    opens: Time = None
    closes: Time = None

    @model_validator(mode="after")
    def _both_and_in_order(self):
        if (self.opens is None) != (self.closes is None):
            refuse("OpeningDay", [(("closes",) if self.closes is None else ("opens",), "time_missing", {})])
        if self.opens is not None and self.closes <= self.opens:
            refuse("OpeningDay", [(("closes",), "closes_before_opens", {})])
        return self

    def hours(self) -> list[str] | None:
        if self.opens is None:
            return None
        assert self.closes is not None, "_both_and_in_order: both times or neither"
        return [_hhmm(self.opens), _hhmm(self.closes)]


class PhonesInput(_Typed):
    """The team's phone (patients call it in opening hours), its on-call phone (paged) and the
    number patients are told to call when the team is closed (empty: legevakt 116 117)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    phone: Phone = None
    on_call_phone: Annotated[str, BeforeValidator(_required_phone)] = ""
    out_of_hours_phone: Phone = None


# ---- the on-call rota ----------------------------------------------------------------------

def _weekdays(value: Any) -> list[int]:
    days = sorted({int(d) for d in (value or []) if isinstance(d, str) and d.isdigit() and int(d) < 7})
    if not days:
        raise problem("shift_without_weekdays")
    return days


def _start_date(value: Any, info: ValidationInfo) -> date:
    if not _text(value):
        return (info.context or {}).get("today") or date.today()
    try:
        return values.parse_date(value)
    except values.BadValue as exc:
        raise problem("date_format", value=exc.text) from None


class RotaRow(_Typed):
    """One rotation: its shifts start at the same local time on the chosen weekdays and the
    people take turns."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)  # an absent field is empty

    role: Role = "nurse"
    people: list[Member] = []
    weekdays: Annotated[list[int], BeforeValidator(_weekdays)] = []
    # An absent field is the empty text, which the before-validators turn (validate_default) into its problem
    # or, for the start date, today: the default is an input, the field's type what validation makes of it.
    shift_start: RequiredTime = cast(time, "")
    shift_end: RequiredTime = cast(time, "")
    start_date: Annotated[date, BeforeValidator(_start_date)] = cast(date, "")
    handover: Annotated[str, _choice(("daily", "weekly"), "choose_handover")] = "daily"

    @field_validator("people")
    @classmethod
    def _each_once_and_someone(cls, people: list[int | None]) -> list[int | None]:
        seen: set[int | None] = set()
        twice: list[Problem] = []
        for j, person in enumerate(people):
            if person is not None and person in seen:
                twice.append(((j,), "person_twice", {}))
            seen.add(person)
        refuse("people", twice)
        if not seen - {None}:
            refuse("people", [((0,), "shift_without_person", {})])
        return people

    @staticmethod
    def is_blank(data: Any) -> bool:
        """A row left empty on the form is no rotation."""
        data = data if isinstance(data, dict) else {}
        return not any(_text(p) for p in data.get("people") or []) and not data.get("weekdays") \
            and not _text(data.get("shift_start")) and not _text(data.get("shift_end"))

    def rotation(self) -> dict:
        """As stored in the team's OnCallSchedule."""
        return {"role": self.role, "people": [p for p in self.people if p is not None],
                "start_date": self.start_date.isoformat(), "shift_start": _hhmm(self.shift_start),
                "shift_end": _hhmm(self.shift_end), "weekdays": self.weekdays, "handover": self.handover}

    def week_minutes(self) -> list[tuple[int, int]]:
        """The shifts as [from, to) minutes of a week starting Monday 00:00 local; a shift past
        Sunday midnight wraps to Monday. A shift ending at or before its start ends the next day."""
        week, day = 7 * 24 * 60, 24 * 60
        begin_of_day = self.shift_start.hour * 60 + self.shift_start.minute
        length = (self.shift_end.hour * 60 + self.shift_end.minute) - begin_of_day
        length += day if length <= 0 else 0
        spans = []
        for weekday in self.weekdays:
            begin = weekday * day + begin_of_day
            spans.append((begin, min(begin + length, week)))
            if begin + length > week:
                spans.append((0, begin + length - week))
        return spans


def _rota_row(value: Any) -> Any:
    return None if RotaRow.is_blank(value) else value


class RotaInput(_Typed):
    """The rota form's rows; blank rows are kept (as None) so every location names its row."""

    rota: list[Annotated[RotaRow | None, BeforeValidator(_rota_row)]] = []

    @model_validator(mode="after")
    def _no_overlap(self):
        """Two rows for one role whose shifts overlap: only the first would ever count."""
        problems = []
        rows = [(i, row, row.week_minutes()) for i, row in enumerate(self.rota) if row is not None]
        for n, (i, row, spans) in enumerate(rows):
            for k, other, other_spans in rows[:n]:
                at = _first_overlap(spans, other_spans) if other.role == row.role else None
                if at is not None:
                    problems.append((("rota", i, "shift_start"), "shifts_overlap",
                                     {"other": k + 1, "day": WEEKDAY_KEYS[at // (24 * 60)],
                                      "time": f"{at % (24 * 60) // 60:02d}:{at % 60:02d}"}))
        refuse("Rota", problems)
        return self

    def rotations(self) -> list[dict]:
        return [row.rotation() for row in self.rota if row is not None]


def _first_overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int | None:
    starts = [max(x[0], y[0]) for x in a for y in b if max(x[0], y[0]) < min(x[1], y[1])]
    return min(starts) if starts else None


# ---- the escalation policy -----------------------------------------------------------------

class TargetRow(_Typed):
    """Who a step or the fallback pages. kind '' is a row left unused."""

    kind: Annotated[str, _choice(("", *TARGET_KINDS), "choose_target")] = ""
    role: str = "nurse"
    person: str | None = ""
    number: str | None = ""
    label: str | None = ""

    @model_validator(mode="after")
    def _what_the_kind_needs(self):
        if self.kind in ("on_call", "role") and self.role not in ROLES:
            refuse("Target", [(("role",), "choose_role", {})])
        if self.kind == "phone" and not _text(self.number):
            refuse("Target", [(("number",), "number_missing", {})])
        return self

    def target(self, member_ids: set[int]) -> dict | None:
        """The target as the policy stores it (None for an unused row)."""
        if self.kind in ("on_call", "role"):
            return {"kind": self.kind, "role": self.role}
        if self.kind == "person":
            return {"kind": "person", "account_id": self.account_id(member_ids)}
        if self.kind == "phone":
            return {"kind": "phone", "number": self.phone(), "label": _text(self.label)[:100]}
        return {"kind": "queue_only"} if self.kind else None

    def account_id(self, member_ids: set[int]) -> int:
        account_id = row_id(self.person)
        if account_id is None or account_id not in member_ids:
            refuse_one("Target", ("person",), "not_a_member", {})
        return account_id

    def phone(self) -> str:
        try:
            number = _phone(self.number)
        except PydanticCustomError as exc:
            refuse_one("Target", ("number",), exc.type, exc.context or {})
        assert number is not None, "_what_the_kind_needs: a phone row has a number"
        return number


class StepRow(TargetRow):
    channels: list[str] = []
    severities: list[str] = []
    when: Annotated[str, _choice(WHEN, "choose_when")] = "always"
    wait_yellow: Minutes = None
    wait_red: Minutes = None

    def step(self, member_ids: set[int]) -> dict:
        return {"target": self.target(member_ids),
                "channels": [c for c in ("sms", "email") if c in self.channels],
                "severities": [s for s in SEVERITIES if s in self.severities], "when": self.when,
                "wait": {s: w for s in SEVERITIES if (w := getattr(self, f"wait_{s}")) is not None}}


def _name(value: Any) -> str:
    text = _text(value)
    if not text or len(text) > 100:
        raise problem("name_length")
    return text


def _rule_keys(value: Any) -> list[str]:
    return [k for k in _text(value).replace(",", " ").split() if k]


class PolicyInput(_Typed):
    """The policy form as typed; `data()` is what parse_policy checks as a whole."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    name: Annotated[str, BeforeValidator(_name)] = ""
    steps: list[StepRow] = []
    fallback: list[TargetRow] = []
    repeat: Annotated[str, _choice(("0", "1", "2", "3"), "choose_repeat")] = "0"
    ack_yellow: Minutes = None
    ack_red: Minutes = None
    snooze_yellow: Minutes = None
    snooze_red: Minutes = None
    remeasure_wait: Minutes = None
    remeasure_rules: Annotated[list[str], BeforeValidator(_rule_keys)] = []

    @model_validator(mode="after")
    def _people_and_numbers(self, info: ValidationInfo):
        """Named people belong to the team; fixed numbers are Norwegian; a remeasure rule has its
        wait. Checked here, with every row's location, before the policy is judged as a whole."""
        member_ids = (info.context or {}).get("member_ids", set())
        problems = []
        for name, rows in (("steps", self.steps), ("fallback", self.fallback)):
            for i, row in enumerate(rows):
                try:
                    row.target(member_ids)
                except ValidationError as exc:
                    problems += [((name, i, *loc), code, params) for loc, code, params in problems_of(exc)]
        if self.remeasure_rules and self.remeasure_wait is None:
            problems.append((("remeasure_wait",), "remeasure_wait_missing", {}))
        refuse("Policy", problems)
        return self

    def used_steps(self) -> list[int]:
        return [i for i, row in enumerate(self.steps) if row.kind]

    def used_fallback(self) -> list[int]:
        return [i for i, row in enumerate(self.fallback) if row.kind]

    def data(self, member_ids: set[int]) -> dict:
        data: dict[str, Any] = {
            "name": self.name, "repeat": int(self.repeat),
            "steps": [self.steps[i].step(member_ids) for i in self.used_steps()],
            "fallback": [self.fallback[i].target(member_ids) for i in self.used_fallback()],
            "ack_timeout": {"yellow": self.ack_yellow, "red": self.ack_red},
            "snooze_max": {"yellow": self.snooze_yellow, "red": self.snooze_red},
        }
        if self.remeasure_wait is not None or self.remeasure_rules:
            data["yellow_remeasure"] = {"wait": self.remeasure_wait, "rule_keys": self.remeasure_rules}
        return data

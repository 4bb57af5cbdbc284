"""The care team's plan editor: one section of the plan at a time.

A section's values come nested like the PlanContent document and like the section's WTForms
form (clinician_portal/plan_forms.py), so every problem is reported by its location there,
("anticipated_events", 1, "title"), and homefollow.form_errors puts it on that field; a
pydantic error of the whole document has the same shape (empty rows left out are counted
back). Saving a section merges it into the newest plan and writes a new version through
plan_changes.change_plan (checked, audited, in force for the patient at once).

Personal zone limits are not a field of a measurement: they are the parameters of the plan's
zone rules (docs/rules.md). The measurements section shows them per measurement and writes
them back into the parameters of the rule that owns each limit.

Everything here takes a locale and returns translated text (homefollow.i18n.t), so the
module knows nothing of requests. Typed values (numbers, times of day, dates, durations, phone
numbers) are read and written by homefollow.values, as on every form; the editor adds what only
it knows (a measurement's plausible range, the order of zone limits, a decision's date).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, UTC
from typing import Any
from collections.abc import Mapping

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session, col, select

from rules import ParameterError, resolve_parameters, zone_limits
from rules.codes import code_info
from rules.parameters import parameter_codes, parameter_types
from rules.limits import zones_of
from rules.measurements import CATALOGUE, ITEMS
from rules.model import RuleDefinition, Severity
from rules.schedule import local_date_of, local_day_bounds
from rules.text import duration

from .. import values
from ..clock import Clock
from ..form_errors import validation_problems
from ..i18n import N_, t
from ..models import Account, CarePlan, Patient
from ..questionnaires import QUESTIONNAIRES
from . import evaluation, plan_changes, plan_safety, plans, rule_tools, rulebook
from .plans import PlanContent

SECTIONS: dict[str, str] = {
    "matters": N_("What matters to you, and goals"),
    "measurements": N_("Measurements, limits and what to do"),
    "checkins": N_("Check-ins and self-care tasks"),
    "events": N_("Anticipated events"),
    "rules": N_("Rules and personal parameters"),
    "safety": N_("Safety net: limits no plan may silence"),
    "contacts": N_("Contacts, responsibilities and next review"),
}

LIMIT_NAMES = ("red_low", "yellow_low", "yellow_high", "red_high")
LIMIT_LABELS = {
    "red_low": N_("red lower limit"),
    "yellow_low": N_("yellow lower limit"),
    "yellow_high": N_("yellow upper limit"),
    "red_high": N_("red upper limit"),
}
ZONE_LABELS = {"green": N_("green zone"), "yellow": N_("yellow zone"), "red": N_("red zone")}
# Rule parameters in words, for the plan overview and the rules form. A parameter of a part of
# a combined rule ("swelling.at_least") is named by its last part.
PARAMETER_LABELS = {
    **LIMIT_LABELS,
    "amount": N_("change of at least"),
    "window_days": N_("within days"),
    "baseline_value": N_("personal baseline value"),
    "baseline_start": N_("trial period from"),
    "baseline_end": N_("trial period to"),
    "baseline_min_count": N_("readings needed for the baseline"),
    "fire_at_total": N_("alert at a total score of"),
    "fire_on_single": N_("alert when one parameter scores"),
    "at_least": N_("score at least"),
    "rise_at_least": N_("rise at least"),
    "item_at_least": N_("one answer at least"),
    "n": N_("readings needed (N)"),
    "m": N_("of the last (M)"),
    "within": N_("within"),
    "confirm_within": N_("one reading alone counts when no new one comes within"),
    "after": N_("after"),
    "grace": N_("grace period"),
    "lookback_days": N_("days looked back"),
    "max_spread": N_("largest spread allowed in the trial period"),
    "open_before": N_("can be answered this long before the time"),
    "schedule": N_("times"),
    "variant": N_("variant"),
}
EVENT_FIELDS = {
    "title": N_("Event"),
    "signs": N_("How to recognise it"),
    "patient": N_("What the patient does"),
    "relative": N_("What the relative does"),
    "home_nursing": N_("What home nursing does"),
    "gp": N_("What the GP does"),
    "team": N_("What the care team does"),
    "responsible": N_("Responsible for follow-up"),
}
WEEKDAY_NAMES = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
BACKTEST_DAYS = 30
_DURATION = TypeAdapter(timedelta)
PLAN_TZ = "Europe/Oslo"  # the time zone the plan's dates are written in (the patients' own)
# Dates that end a period: stored as the end of the day written (periods exclude their end), so
# "trial period to 14.03" includes the readings of 14 March, and shown as that day again.
END_DATES = {"baseline_end"}


# ---- the rules behind the form ---------------------------------------------------------------

@dataclass(frozen=True)
class RuleInfo:
    key: str
    definition: RuleDefinition
    defaults: dict[str, Any]  # the rule version's default parameters (flat, JSON values)
    editable: tuple[str, ...]  # overridable parameters with a single value (numbers, durations)
    types: dict[str, type]  # parameter name → float, int, timedelta, datetime, str …
    codes: dict[str, str]  # parameter name → the measurement or question it is about

    def title(self, locale: str) -> str:
        return self.definition.title.get(locale)


def active_rules(session: Session, layer: str = "plan") -> dict[str, RuleInfo]:
    """Every rule with an active version, for the rules section and for reading limits: the
    rules a plan may list (layer "plan"), or the safety net's (layer "safety")."""
    found = {}
    for key, version in sorted(rulebook.active_versions(session).items()):
        definition = rulebook.definition_of(version)
        if definition.layer != layer:
            continue
        defaults = definition.defaults.as_json()
        editable = tuple(n for n in definition.overridable
                         if not isinstance(defaults.get(n), (dict, list)))
        found[key] = RuleInfo(key, definition, defaults, editable,
                              parameter_types(definition.spec), parameter_codes(definition.spec))
    return found


# ---- the safety net ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SafetyLimit:
    """One parameter of the safety net a clinical decision may change for a patient."""

    choice: str  # "safety.spo2_red:red_low", the form's value
    rule: RuleInfo
    name: str
    default: Any  # the rule's value for everyone
    value: Any  # the value for this patient
    decision: plans.SafetyDecision | None

    def label(self, locale: str) -> str:
        return f"{self.rule.title(locale)}: {parameter_label(self.name, locale, self.rule)}"


def safety_limits(session: Session, content: PlanContent) -> list[SafetyLimit]:
    """Every parameter of the safety net a decision may change, with its value for this patient
    and the decision that set it, if any."""
    decided = {(d.rule, name): d for d in content.safety_decisions for name in d.parameters}
    out = []
    for key, info in active_rules(session, layer="safety").items():
        for name in info.editable:
            decision = decided.get((key, name))
            value = decision.parameters[name] if decision else info.defaults.get(name)
            out.append(SafetyLimit(f"{key}:{name}", info, name, info.defaults.get(name), value, decision))
    return out


def _limit_owners(content: PlanContent, rules_: Mapping[str, RuleInfo]) -> dict[tuple[str, str], int]:
    """(measurement code, limit name) → index of the plan rule that holds that limit: red limits
    in red zone rules, yellow ones in yellow rules (as rules.zone_limits reads them)."""
    owners: dict[tuple[str, str], int] = {}
    for index, assigned in enumerate(content.rules):
        info = rules_.get(assigned.key)
        if info is None:
            continue
        try:
            found = zones_of(info.definition, resolve_parameters(info.definition, {}))
        except ParameterError:  # a rule whose defaults do not resolve has no limits to show
            continue
        if found is None:
            continue
        code = found[0]
        colour = "red" if info.definition.severity is Severity.RED else "yellow"
        for name in LIMIT_NAMES:
            if name.startswith(colour) and (name in info.editable or assigned.parameters.get(name) is not None):
                owners.setdefault((code, name), index)
    return owners


def _limit_value(content: PlanContent, rules_: Mapping[str, RuleInfo], index: int, name: str):
    assigned = content.rules[index]
    value = assigned.parameters.get(name)
    return value if value is not None else rules_[assigned.key].defaults.get(name)


# ---- formatting and parsing of typed values --------------------------------------------------

def parameter_label(name: str, locale: str, rule: RuleInfo | None = None) -> str:
    """'score at least'; for a part of a combined rule, prefixed with what that part reads
    ('Swelling: score at least'), since the parts share parameter names."""
    leaf = name.rsplit(".", 1)[-1]
    label = t(locale, PARAMETER_LABELS[leaf]) if leaf in PARAMETER_LABELS else name
    if rule is not None and "." in name and name in rule.codes:
        return f"{code_info(rule.codes[name]).name(locale)}: {label}"
    return label


def parameter_hint(rule: RuleInfo, name: str, locale: str) -> str:
    """The default, and how to write a value of the parameter's type."""
    default = rule.defaults.get(name)
    shown = parameter_text(default, locale) if default is not None else "–"
    kind = rule.types.get(name)
    if kind is timedelta:
        return t(locale, N_("Default: %(default)s. Write a duration such as 3 hours, 2 days or 30 minutes."),
                 default=shown)
    if kind is datetime:
        return t(locale, N_("Default: %(default)s. Write a date as dd.mm.yyyy."), default=shown)
    return t(locale, N_("Default: %(default)s"), default=shown)


def parameter_text(value, locale: str, tz: str = PLAN_TZ, name: str = "") -> str:
    """A parameter value as a nurse reads it: dates as local dates, durations in hours."""
    if isinstance(value, dict):  # a schedule the plan gives a missed-check-in rule: "kl. 09:00", not the dict
        from ..plan_text import schedule_words

        return schedule_words(value, locale)
    if isinstance(value, str) and value.startswith("P"):  # an ISO 8601 duration: PT3H
        try:
            return duration(_DURATION.validate_python(value), locale)
        except ValidationError:
            return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        if name.rsplit(".", 1)[-1] in END_DATES:
            value -= timedelta(microseconds=1)  # the last day of the period, not the day after
        return values.format_date(local_date_of(value, tz))
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return values.format_number(value, locale)
    return str(value)  # a flag or a word: as it is


def fmt_with_unit(code: str, value, locale: str) -> str:
    """'92 %', '70,5 kg'; '–' for no value."""
    if value is None:
        return "–"
    return f"{parameter_text(value, locale)} {CATALOGUE[code].unit}"


def slug(text: str) -> str:
    """A task key from its text: 'Ta morgenmedisinen' → 'ta_morgenmedisinen'."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text or not text[0].isalpha():
        text = "task_" + text
    return text[:40].rstrip("_")


# ---- form values ------------------------------------------------------------------------------
# A section's values are nested like the plan document and the section's form
# (clinician_portal/plan_forms.py): {"measurements": [{"schedule": {"times": "08:00"}}]}, and a
# problem's location is its path there: ("measurements", 0, "schedule", "times").

Location = tuple
ALL_WEEKDAYS = [str(d) for d in range(7)]


def _schedule_data(schedule) -> dict:
    if schedule is None:
        return {"times": "", "weekdays": ALL_WEEKDAYS}
    return {"times": values.format_times(schedule.times), "weekdays": [str(d) for d in schedule.weekdays]}


def _matters_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"what_matters": content.what_matters, "goals": list(content.goals)}


def _measurements_data(content: PlanContent, rules_, locale: str) -> dict:
    owners = _limit_owners(content, rules_)
    limits: dict[str, dict[str, str]] = {}
    for (code, name), index in owners.items():
        if any(code in ITEMS[m.item].codes for m in content.measurements if m.item in ITEMS):
            limits.setdefault(code, {})[name] = parameter_text(_limit_value(content, rules_, index, name), locale)
    rows = [{"item": m.item, "schedule": _schedule_data(m.schedule), "grace_minutes": str(m.grace_minutes),
             "patient_actions": m.patient_actions.model_dump(), "team_actions": m.team_actions.model_dump()}
            for m in content.measurements]
    return {"measurements": rows, "limits": limits}


def _checkins_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"questionnaires": [{"key": q.key, "schedule": _schedule_data(q.schedule),
                                "grace_minutes": str(q.grace_minutes)} for q in content.questionnaires],
            "tasks": [{"key": task.key, "text": task.text, "schedule": _schedule_data(task.schedule),
                       "grace_minutes": str(task.grace_minutes)} for task in content.tasks]}


def _events_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"anticipated_events": [event.model_dump() for event in content.anticipated_events]}


def _rules_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"rules": [{"key": assigned.key,
                       **{name: parameter_text(value, locale, name=name) for name, value in assigned.parameters.items()
                          if not isinstance(value, (dict, list))}}
                      for assigned in content.rules]}


def _safety_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"safety_decisions": [{"rule": d.rule, "remove": False} for d in content.safety_decisions],
            "new_decisions": []}


def _contacts_data(content: PlanContent, rules_, locale: str) -> dict:
    return {"contacts": [{"name": c.name, "role": c.role, "phone": values.format_phone(c.phone)}
                         for c in content.contacts],
            "responsibilities": [r.model_dump() for r in content.responsibilities],
            "next_review": values.format_date(content.next_review) if content.next_review else ""}


_INITIAL = {"matters": _matters_data, "measurements": _measurements_data, "checkins": _checkins_data,
            "events": _events_data, "rules": _rules_data, "safety": _safety_data, "contacts": _contacts_data}


def initial_data(section: str, content: PlanContent, rules_: Mapping[str, RuleInfo], locale: str) -> dict:
    """The section's values, filled from the plan."""
    return _INITIAL[section](content, rules_, locale)


# ---- from form values to a plan ---------------------------------------------------------------

@dataclass
class Outcome:
    content: PlanContent | None = None
    # (location, translated text); the location () is about the whole plan, not one field
    problems: list[tuple[Location, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.content is not None and not self.problems


def text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _rows(data: Mapping, name: str) -> list[tuple[int, Mapping]]:
    return [(i, row) for i, row in enumerate(data.get(name) or []) if isinstance(row, Mapping)]


def _kept_rows(data: Mapping, name: str, key: str):
    """The rows of a scheduled section that name what they schedule and are not marked for
    removal: (form row index, location, that name, row)."""
    for i, row in _rows(data, name):
        value = text(row.get(key))
        if value and not row.get("remove"):
            yield i, (name, i), value, row


def _is_blank(row: Mapping, names) -> bool:
    return all(not text(row.get(n)) for n in names)


# Where the editor says more than homefollow.values: the field holds minutes, or several times.
_MINUTES_PROBLEMS = dict.fromkeys(("not_a_number", "not_whole"), N_("Write a whole number of minutes, such as 180."))
_TIMES_PROBLEMS = {"not_a_time": N_("Write times of day as HH:MM, separated by commas, such as 08:00, 18:00.")}


class _Builder:
    """Reads typed values (homefollow.values), recording a translated problem per field (the
    first one only)."""

    def __init__(self, locale: str, today: date | None = None, author_account_id: int | None = None):
        self.locale = locale
        self.today = today or date.max
        self.author_account_id = author_account_id
        self.problems: list[tuple[Location, str]] = []

    def day(self, loc: Location, typed) -> date | None:
        """A date as typed ('15.03.2027', '2027-03-15'), between the years values allows."""
        try:
            return values.parse_date(typed)
        except values.BadValue as exc:
            self.bad_value(loc, exc)
            return None

    def error(self, loc: Location, message: str, **params) -> None:
        self._record(loc, t(self.locale, message, **params))

    def bad_value(self, loc: Location, error: values.BadValue, own: Mapping[str, str] | None = None) -> None:
        """A value homefollow.values could not read, in its words (the same on every form), or
        in the editor's own where it has more to say about that reason."""
        if own and error.reason in own:
            self.error(loc, own[error.reason])
        else:
            self._record(loc, values.problem_text(error, self.locale))

    def _record(self, loc: Location, message: str) -> None:
        if all(loc != seen for seen, _text in self.problems):
            self.problems.append((loc, message))

    def number(self, loc: Location, typed: str, plausible_for: str | None = None) -> float | None:
        """A number as typed (comma or point), within the plausible range of a measurement
        when one is named; None after recording the problem."""
        try:
            value = values.parse_decimal(typed)
        except values.BadValue as exc:
            self.bad_value(loc, exc)
            return None
        kind = CATALOGUE.get(plausible_for) if plausible_for else None
        if kind is not None and not kind.plausible_min <= value <= kind.plausible_max:
            self.error(loc, N_("Write a value between %(min)s and %(max)s."),
                       min=fmt_with_unit(kind.code, kind.plausible_min, self.locale),
                       max=fmt_with_unit(kind.code, kind.plausible_max, self.locale))
            return None
        return value

    def minutes(self, loc: Location, typed, default: int) -> int:
        if not text(typed):
            return default
        try:
            return values.parse_integer(typed)
        except values.BadValue as exc:
            self.bad_value(loc, exc, own=_MINUTES_PROBLEMS)
            return default

    def schedule(self, loc: Location, data, required: bool) -> dict | None:
        data = data if isinstance(data, Mapping) else {}
        typed = text(data.get("times"))
        if not typed:
            if required:
                self.error((*loc, "times"), N_("Write at least one time of day, such as 10:00."))
            return None
        try:
            times = [values.format_time(at) for at in values.parse_times(typed)]
        except values.BadValue as exc:
            self.bad_value((*loc, "times"), exc, own=_TIMES_PROBLEMS)
            return None
        days = sorted({int(d) for d in data.get("weekdays") or [] if str(d) in ALL_WEEKDAYS})
        if not days:
            self.error((*loc, "weekdays"), N_("Choose at least one weekday."))
            return None
        return {"times": times, "weekdays": days}


@dataclass
class _Draft:
    """A section being read into the plan document."""

    b: _Builder
    doc: dict  # the newest plan, as JSON, with this section replaced
    content: PlanContent
    data: Mapping
    rules_: Mapping[str, RuleInfo]
    safety_rules_: Mapping[str, RuleInfo]
    # list name → the form row each document row came from (empty rows are left out)
    rows: dict[str, list[int]] = field(default_factory=dict)

    def add(self, list_name: str, form_row: int, value) -> None:
        self.doc[list_name].append(value)
        self.rows.setdefault(list_name, []).append(form_row)


def _build_matters(d: _Draft) -> None:
    d.doc["what_matters"] = text(d.data.get("what_matters"))
    d.doc["goals"] = []
    for i, goal in enumerate(d.data.get("goals") or []):
        if text(goal):
            d.add("goals", i, text(goal))


def _build_measurements(d: _Draft) -> None:
    owners = _limit_owners(d.content, d.rules_)
    d.doc["measurements"] = []
    for i, loc, item, row in _kept_rows(d.data, "measurements", "item"):
        d.add("measurements", i, {
            "item": item,
            "schedule": d.b.schedule((*loc, "schedule"), row.get("schedule"), required=False),
            "grace_minutes": d.b.minutes((*loc, "grace_minutes"), row.get("grace_minutes"), 180),
            "patient_actions": {z: text((row.get("patient_actions") or {}).get(z)) for z in ZONE_LABELS},
            "team_actions": {z: text((row.get("team_actions") or {}).get(z)) for z in ZONE_LABELS},
        })
        for code in ITEMS[item].codes if item in ITEMS else ():
            _build_limits(d, code, owners)


def _build_limits(d: _Draft, code: str, owners: Mapping[tuple[str, str], int]) -> None:
    """The limits typed for one measured value, written into the parameters of the rules that
    hold them; an emptied field returns to the rule's default."""
    typed_limits = ((d.data.get("limits") or {}).get(code)) or {}
    limits = {}
    for name in LIMIT_NAMES:
        typed = typed_limits.get(name)
        if (code, name) not in owners or typed is None:  # not on the form
            continue
        assigned = d.doc["rules"][owners[(code, name)]]
        params, default = assigned["parameters"], d.rules_[assigned["key"]].defaults.get(name)
        if not text(typed):
            params.pop(name, None)
            limits[name] = default
            continue
        value = d.b.number(("limits", code, name), text(typed), plausible_for=code)
        if value is None:
            continue
        limits[name] = value
        if value != default or name in params:
            params[name] = int(value) if value.is_integer() else value
    _check_limit_order(d.b, code, limits, lambda name: ("limits", code, name))


def _build_checkins(d: _Draft) -> None:
    d.doc["questionnaires"] = []
    for i, loc, key, row in _kept_rows(d.data, "questionnaires", "key"):
        d.add("questionnaires", i, {
            "key": key, "schedule": d.b.schedule((*loc, "schedule"), row.get("schedule"), required=True),
            "grace_minutes": d.b.minutes((*loc, "grace_minutes"), row.get("grace_minutes"), 240)})
    d.doc["tasks"] = []
    keys: set[str] = set()
    for i, row in _rows(d.data, "tasks"):
        schedule = row.get("schedule") or {}
        if row.get("remove") or (not text(row.get("text")) and not text(schedule.get("times"))):
            continue
        key = text(row.get("key")) or slug(text(row.get("text")))
        while key in keys:  # two new tasks whose texts start alike
            key = f"{key[:37]}_{len(keys)}"
        keys.add(key)
        loc = ("tasks", i)
        d.add("tasks", i, {"key": key, "text": text(row.get("text")),
                           "schedule": d.b.schedule((*loc, "schedule"), schedule, required=False),
                           "grace_minutes": d.b.minutes((*loc, "grace_minutes"), row.get("grace_minutes"), 180)})


def _build_events(d: _Draft) -> None:
    d.doc["anticipated_events"] = []
    for i, row in _rows(d.data, "anticipated_events"):
        if not _is_blank(row, EVENT_FIELDS):
            d.add("anticipated_events", i, {name: text(row.get(name)) for name in EVENT_FIELDS})


def _build_rules(d: _Draft) -> None:
    kept_before = {r.key: r.parameters for r in d.content.rules}
    d.doc["rules"] = []
    for i, row in _rows(d.data, "rules"):
        key = text(row.get("key"))
        if not key or row.get("remove"):
            continue
        info = d.rules_.get(key)
        # Parameters the form cannot show (a schedule) are kept as they are.
        parameters = {n: v for n, v in kept_before.get(key, {}).items() if isinstance(v, (dict, list))}
        if info:
            for name in info.editable:
                typed = text(row.get(name))
                value = _read_parameter(d.b, ("rules", i, name), typed, info.types.get(name), info.codes.get(name)) \
                    if typed else None
                if value is not None:
                    parameters[name] = value
            _check_rule_parameters(d.b, ("rules", i), info, parameters)
        d.add("rules", i, {"key": key, "parameters": parameters})


def _build_safety(d: _Draft) -> None:
    """Recorded decisions are kept unless ticked for removal (a decision is never edited in
    place: who decided what, and why, stays as it was); filled-in new rows are added."""
    rows = list(d.data.get("safety_decisions") or [])

    def removed(i: int, decision) -> bool:
        row = rows[i] if i < len(rows) and isinstance(rows[i], Mapping) else {}
        return bool(row.get("remove")) and text(row.get("rule")) == decision.rule

    d.doc["safety_decisions"] = [dec.model_dump(mode="json") for i, dec in enumerate(d.content.safety_decisions)
                                 if not removed(i, dec)]
    taken = {(dec["rule"], name) for dec in d.doc["safety_decisions"] for name in dec["parameters"]}
    for j, row in _rows(d.data, "new_decisions"):
        if _is_blank(row, ("limit", "value", "reason")):
            continue
        decision = _new_decision(d, ("new_decisions", j), row, taken)
        if decision is not None:
            taken.add((decision["rule"], *decision["parameters"]))
            d.doc["safety_decisions"].append(decision)


def _new_decision(d: _Draft, loc: Location, row: Mapping, taken: set) -> dict | None:
    b = d.b
    rule_key, _sep, name = text(row.get("limit")).partition(":")
    info = d.safety_rules_.get(rule_key)
    if info is None or name not in info.editable:
        b.error((*loc, "limit"), N_("Choose the limit the decision changes."))
        return None
    if (rule_key, name) in taken:
        b.error((*loc, "limit"), N_("This limit already has a decision. Remove that one first if it no longer holds."))
        return None
    typed = text(row.get("value"))
    value = None
    if typed:
        value = _read_parameter(b, (*loc, "value"), typed, info.types.get(name), info.codes.get(name))
    else:
        b.error((*loc, "value"), N_("Write the new value."))
    reason, who = text(row.get("reason")), text(row.get("decided_by"))
    if len(reason) < 10:
        b.error((*loc, "reason"), N_("Write why, such as the diagnosis and the blood gas it rests on (at least 10 "
                                     "characters)."))
    elif len(reason) > 500:
        b.error((*loc, "reason"), N_("Please shorten this to at most %(max)s characters."), max=500)
    if len(who) < 2 or len(who) > 200:
        b.error((*loc, "decided_by"), N_("Write the name and role of the clinician who decided, such as "
                                         "Ingrid Berg, physician."))
    decided_on = b.day((*loc, "decided_on"), text(row.get("decided_on")))
    if decided_on is not None and decided_on.year < 2000:  # '15.03.95' is 1995: a slip, not a decision
        b.error((*loc, "decided_on"), N_("A decision must be dated in the year 2000 or later."))
    elif decided_on is not None and decided_on > b.today:
        b.error((*loc, "decided_on"), N_("A decision cannot be dated in the future."))
    if value is None or decided_on is None or b.problems:
        return None
    return {"rule": rule_key, "parameters": {name: value}, "reason": reason, "decided_by": who,
            "decided_by_account_id": b.author_account_id, "decided_on": decided_on.isoformat()}


def _build_contacts(d: _Draft) -> None:
    d.doc["contacts"] = []
    for i, row in _rows(d.data, "contacts"):
        if _is_blank(row, ("name", "role", "phone")):
            continue
        name, role, phone = text(row.get("name")), text(row.get("role")), text(row.get("phone"))
        if not name:
            d.b.error(("contacts", i, "name"), N_("Write the name of the contact."))
        if not role:
            d.b.error(("contacts", i, "role"), N_("Write the role, such as GP or daughter."))
        if phone:
            try:
                phone = values.parse_phone(phone)  # stored as +4792612345, shown as 926 12 345
            except values.BadValue as exc:
                d.b.bad_value(("contacts", i, "phone"), exc)
        d.add("contacts", i, {"name": name, "role": role, "phone": phone or None})
    d.doc["responsibilities"] = []
    for i, row in _rows(d.data, "responsibilities"):
        if not _is_blank(row, ("what", "who")):
            d.add("responsibilities", i, {"what": text(row.get("what")), "who": text(row.get("who"))})
    typed = text(d.data.get("next_review"))
    d.doc["next_review"] = None
    if typed and (day := d.b.day(("next_review",), typed)) is not None:
        d.doc["next_review"] = day.isoformat()


_BUILDERS = {"matters": _build_matters, "measurements": _build_measurements, "checkins": _build_checkins,
             "events": _build_events, "rules": _build_rules, "safety": _build_safety, "contacts": _build_contacts}


def build(section: str, content: PlanContent, data: Mapping, rules_: Mapping[str, RuleInfo],
          locale: str, safety_rules_: Mapping[str, RuleInfo] | None = None, today: date | None = None,
          author_account_id: int | None = None) -> Outcome:
    """The plan with this section replaced by what the form holds, or the problems, each at
    its location. `content` is the newest plan; other sections are kept as they are."""
    draft = _Draft(_Builder(locale, today, author_account_id), content.model_dump(mode="json"), content, data,
                   rules_, safety_rules_ or {})
    _BUILDERS[section](draft)
    try:
        new = PlanContent.model_validate(draft.doc)
    except ValidationError as exc:
        # The plan's own rules (pydantic), at the form row each document row came from.
        found = validation_problems(exc, lambda err: _message(err, locale))
        return Outcome(None, draft.b.problems + [(_form_location(loc, draft.rows), msg) for loc, msg in found])
    return Outcome(new, draft.b.problems)


def _form_location(loc: Location, rows: Mapping[str, list[int]]) -> Location:
    """A location in the plan document as one in the form: empty rows were left out."""
    if len(loc) >= 2 and isinstance(loc[1], int) and loc[1] < len(rows.get(loc[0], ())):
        return (loc[0], rows[loc[0]][loc[1]], *loc[2:])
    return tuple(loc)


def _read_parameter(b: _Builder, loc: Location, typed: str, kind: type | None, code: str | None):
    """A rule parameter as a nurse typed it, as the plan stores it (JSON), or None after a
    translated problem: the rule book's own messages are for rule authors, in English."""
    if kind is bool:
        return typed.lower() in ("1", "true", "ja", "yes")
    if kind is timedelta:
        return _read_duration(b, loc, typed)
    if kind is datetime:
        day = b.day(loc, typed)
        if day is None:
            return None
        start, end = local_day_bounds(day, PLAN_TZ)
        return (end if str(loc[-1]).rsplit(".", 1)[-1] in END_DATES else start).isoformat()
    if kind not in (int, float):
        return typed
    return _read_number(b, loc, typed, kind, code)


_BARE_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def _read_duration(b: _Builder, loc: Location, typed: str):
    # values reads a bare '2' as minutes; a rule's window or grace period is seldom that, so
    # the unit is asked for rather than guessed.
    if _BARE_NUMBER.fullmatch(typed.strip()):
        b.error(loc, N_("Write the unit too, such as 3 hours, 2 days or 30 minutes."))
        return None
    try:
        span = values.parse_duration(typed)
    except values.BadValue as exc:
        b.bad_value(loc, exc)
        return None
    if span <= timedelta(0):
        b.error(loc, N_("Write a duration longer than zero, such as 3 hours."))
        return None
    return _DURATION.dump_python(span, mode="json")


def _read_number(b: _Builder, loc: Location, typed: str, kind: type, code: str | None):
    leaf = str(loc[-1]).rsplit(".", 1)[-1]
    measured = leaf in LIMIT_NAMES or leaf == "baseline_value"  # a value of the measurement itself
    number = b.number(loc, typed, plausible_for=code if measured else None)
    if number is None:
        return None
    if not measured and number <= 0:
        b.error(loc, N_("Write a number above zero."))
        return None
    if kind is int:
        if not number.is_integer():
            b.error(loc, N_("Write a whole number, such as 3."))
            return None
        return int(number)
    return int(number) if number.is_integer() else number


def _check_rule_parameters(b: _Builder, loc: Location, info: RuleInfo, parameters: dict) -> None:
    """What a rule requires of its parameters together, said in the nurse's language before
    the rule book is asked (which would say it in English)."""
    def value(name):
        return parameters.get(name, info.defaults.get(name))

    code = next((info.codes[n] for n in LIMIT_NAMES if n in info.codes), None)
    if code is not None:
        limits = {n: value(n) for n in LIMIT_NAMES if value(n) is not None}
        _check_limit_order(b, code, limits, lambda name: (*loc, name))
    n, m = value("n"), value("m")
    if isinstance(n, int) and isinstance(m, int) and n > m:
        b.error((*loc, "n"), N_("The readings needed cannot be more than the readings counted (%(m)s)."), m=m)
    if ("baseline_start" in info.editable and
            (value("baseline_start") is None) != (value("baseline_end") is None)):
        missing = "baseline_end" if value("baseline_end") is None else "baseline_start"
        b.error((*loc, missing), N_("Fill in both dates of the trial period, or neither."))


def _check_limit_order(b: _Builder, code: str, limits: dict, at) -> None:
    """The yellow zone lies between the red zone and the normal range. ``at(name)`` is the
    location of a limit."""
    red_low, yellow_low = limits.get("red_low"), limits.get("yellow_low")
    yellow_high, red_high = limits.get("yellow_high"), limits.get("red_high")
    if red_low is not None and yellow_low is not None and yellow_low <= red_low:
        b.error(at("yellow_low"), N_("The yellow lower limit must be above the red lower limit (%(red)s): "
                                     "the yellow zone lies between the red zone and the normal range."),
                red=fmt_with_unit(code, red_low, b.locale))
    if red_high is not None and yellow_high is not None and yellow_high >= red_high:
        b.error(at("yellow_high"), N_("The yellow upper limit must be below the red upper limit (%(red)s): "
                                      "the yellow zone lies between the normal range and the red zone."),
                red=fmt_with_unit(code, red_high, b.locale))
    if yellow_low is not None and yellow_high is not None and yellow_low >= yellow_high:
        b.error(at("yellow_high"), N_("The yellow upper limit must be above the yellow lower limit (%(low)s)."),
                low=fmt_with_unit(code, yellow_low, b.locale))
    if red_low is not None and red_high is not None and red_low >= red_high:
        b.error(at("red_high"), N_("The red upper limit must be above the red lower limit (%(low)s)."),
                low=fmt_with_unit(code, red_low, b.locale))


_MESSAGES = {
    "missing": N_("Please fill this in."),
    "string_too_short": N_("Please fill this in."),
    "string_pattern_mismatch": N_("Use lower-case letters a–z, digits and _, starting with a letter."),
}


def _message(err: dict, locale: str) -> str:
    """One pydantic error of the plan document in words."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _MESSAGES:
        return t(locale, _MESSAGES[kind])
    if kind == "string_too_long":
        return t(locale, N_("Please shorten this to at most %(max)s characters."), max=ctx.get("max_length"))
    if kind in ("greater_than_equal", "greater_than"):
        return t(locale, N_("Must be at least %(min)s."), min=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return t(locale, N_("Must be at most %(max)s."), max=ctx.get("le", ctx.get("lt")))
    msg = str(err.get("msg", ""))
    if "only once" in msg:
        return t(locale, N_("Each measurement, questionnaire, task and rule may appear only once in a plan."))
    if "unknown" in msg:
        return t(locale, N_("Choose one from the list."))
    return t(locale, N_("This value is not accepted: %(reason)s"), reason=msg)


def _present(data: Mapping, loc: Location) -> bool:
    """Whether the section's form has a value at this location (a field it shows)."""
    node: Any = data  # a mapping, a list or a value, on the way down
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            return False
    return True


def _rule_locations(content: PlanContent, data: Mapping, rules_) -> tuple[dict, dict]:
    """Where a rule's parameter lives in this section's form: a zone limit on the measurements
    page (limits, code, name), otherwise the rule's row on the rules page."""
    limits = {(content.rules[i].key, name): ("limits", code, name)
              for (code, name), i in _limit_owners(content, rules_).items()}
    rule_rows = {text(row.get("key")): i for i, row in _rows(data, "rules")}
    return limits, rule_rows


def _first_present(data: Mapping, candidates) -> Location | None:
    return next((c for c in candidates if c and _present(data, c)), None)


def check_rules(session: Session, content: PlanContent, data: Mapping,
                rules_: Mapping[str, RuleInfo], locale: str) -> list[tuple[Location, str]]:
    """The rule book's verdict on the plan's rules and parameters, at their fields."""
    try:
        evaluation.assigned_rules(session, content)
    except evaluation.PlanRulesInvalid as exc:
        found = exc.problems
    else:
        return []
    limits, rule_rows = _rule_locations(content, data, rules_)
    problems = []
    for key, name, reason in found:
        message = t(locale, N_("Not accepted by the rule: %(reason)s"), reason=reason)
        row = rule_rows.get(key)
        loc = _first_present(data, [limits.get((key, name)), ("rules", row, name) if row is not None else None])
        problems.append((loc, message) if loc else ((), f"{key} {name}: {message}".replace(" :", ":")))
    return problems


def check_safety(session: Session, content: PlanContent, current: PlanContent, data: Mapping,
                 rules_: Mapping[str, RuleInfo], locale: str) -> list[tuple[Location, str]]:
    """What plan_safety finds wrong that this change brings (problems the plan already had do
    not block an unrelated change; the plan page lists them), at fields where the section has
    them."""
    found = plan_safety.new_problems(session, content, current, locale)
    if not found:
        return []
    limits, rule_rows = _rule_locations(content, data, rules_)
    item_rows = {text(row.get(key)): (list_name, i, key)
                 for list_name, key in (("measurements", "item"), ("questionnaires", "key"))
                 for i, row in _rows(data, list_name)}
    problems, used = [], set()
    for problem in found:
        row = rule_rows.get(problem.rule)
        loc = _first_present(data, [limits.get((problem.rule, problem.parameter)),
                                    ("rules", row, problem.parameter) if row is not None else None,
                                    ("rules", row, "key") if row is not None else None,
                                    item_rows.get(problem.item) if problem.item is not None else None])
        problems.append((loc, problem.message) if loc and loc not in used else ((), problem.message))
        used.add(loc)
    return problems


def standing_problems(session: Session, content: PlanContent, locale: str) -> list[str]:
    """What the plan in force lacks or contradicts (a plan saved before the checks), for the
    plan page: each must be fixed in its section."""
    return [p.message for p in plan_safety.problems(session, content, locale)]


# ---- saving ------------------------------------------------------------------------------------

@dataclass
class SaveResult:
    outcome: Outcome
    plan: CarePlan | None = None


def save_section(session: Session, clock: Clock, *, patient: Patient, section: str, data: Mapping,
                 author_account_id: int, locale: str, base_version: int | None = None) -> SaveResult:
    """Save what the form holds for one section as a new plan version. Nothing is saved when
    anything is wrong; every problem comes back at its field."""
    current, version = plans.current_content(session, patient.id)
    rules_ = active_rules(session)
    outcome = build(section, current, data, rules_, locale, active_rules(session, layer="safety"),
                    today=local_date_of(clock.now(), patient.time_zone), author_account_id=author_account_id)
    reason = text(data.get("reason"))
    outcome.problems += _reason_problems(reason, locale)
    if base_version is not None and version is not None and base_version != version:
        outcome.problems.append(((), t(locale, N_(
            "Someone else saved a new version of the plan (version %(version)s) while you were editing. "
            "Your changes are still here: check them and save again."), version=version)))
    if outcome.content is not None and not outcome.problems:
        outcome.problems += check_rules(session, outcome.content, data, rules_, locale)
    if outcome.content is not None and not outcome.problems:
        outcome.problems += check_safety(session, outcome.content, current, data, rules_, locale)
    if (outcome.content is not None and not outcome.problems
            and outcome.content.model_dump(mode="json") == current.model_dump(mode="json")):
        # A version that changes nothing would still show up in the patient's "changes to the plan".
        outcome.problems.append(((), t(locale, N_("Nothing in the plan was changed, so no new version was saved."))))
    if not outcome.ok:
        return SaveResult(outcome)
    assert outcome.content is not None  # outcome.ok
    plan = plan_changes.change_plan(session, clock, patient=patient, content=outcome.content,
                                    author_account_id=author_account_id, reason=reason)
    return SaveResult(outcome, plan)


def _reason_problems(reason: str, locale: str) -> list[tuple[Location, str]]:
    if not reason:
        return [(("reason",), t(locale, N_("Write why the plan is changed. The reason is kept with the version.")))]
    if len(reason) > 500:
        return [(("reason",), t(locale, N_("Please shorten this to at most %(max)s characters."), max=500))]
    return []


# ---- backtest preview --------------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewRow:
    key: str
    title: str
    before: int
    after: int


@dataclass(frozen=True)
class Preview:
    rows: list[PreviewRow]
    days: int

    @property
    def before(self) -> int:
        return sum(r.before for r in self.rows)

    @property
    def after(self) -> int:
        return sum(r.after for r in self.rows)


def preview_rules(session: Session, clock: Clock, patient: Patient, current: PlanContent, proposed: PlanContent,
                  locale: str, days: int = BACKTEST_DAYS) -> Preview:
    """How many alerts the current and the proposed rules would have raised over the last
    `days` days, rule by rule (rule_tools.backtest_patient with each set of parameters)."""
    rules_ = active_rules(session)
    now_params = {r.key: dict(r.parameters) for r in current.rules}
    new_params = {r.key: dict(r.parameters) for r in proposed.rules}
    rows = []
    for key in list(now_params) + [k for k in new_params if k not in now_params]:
        if key not in rules_:
            continue

        def count(params, key=key):
            if params is None:
                return 0
            return len(rule_tools.backtest_patient(session, clock, patient, key, parameters=params, days=days).alerts)

        rows.append(PreviewRow(key, rules_[key].title(locale), count(now_params.get(key)), count(new_params.get(key))))
    return Preview(rows, days)


# ---- versions and what changed -----------------------------------------------------------------

@dataclass(frozen=True)
class VersionView:
    plan: CarePlan
    author: str | None
    changes: list[str]


def history(session: Session, patient_id: int, locale: str) -> list[VersionView]:
    """Every version of the plan, newest first, each with what changed from the one before."""
    versions = list(session.exec(select(CarePlan).where(CarePlan.patient_id == patient_id)
                                 .order_by(col(CarePlan.version))))
    ids = {v.created_by_account_id for v in versions if v.created_by_account_id}
    names = {a.id: a.name for a in session.exec(select(Account).where(col(Account.id).in_(ids)))} if ids else {}
    rules_ = active_rules(session)
    out, previous = [], None
    for v in versions:
        content = PlanContent.model_validate(v.content)
        author = names.get(v.created_by_account_id) if v.created_by_account_id else None
        out.append(VersionView(v, author, describe_changes(previous, content, rules_, locale)))
        previous = content
    return list(reversed(out))


def zone_limits_of(content: PlanContent, rules_: Mapping[str, RuleInfo]) -> dict:
    pairs = []
    for assigned in content.rules:
        info = rules_.get(assigned.key)
        if info is None:
            continue
        try:
            pairs.append((info.definition, resolve_parameters(info.definition, assigned.parameters)))
        except ParameterError:  # an old version's parameters the active rule no longer takes
            continue
    return zone_limits(pairs)


class _Words:
    """The reader's words for describing a change; `lines` collects what changed."""

    def __init__(self, locale: str, rules_: Mapping[str, RuleInfo]):
        self.locale, self.rules_ = locale, rules_
        self.lines: list[str] = []

    def tr(self, msg: str, **kw) -> str:
        return t(self.locale, msg, **kw)

    def changed(self, label: str, before: str, after: str) -> None:
        if before != after:
            self.lines.append(f"{label}: {before} → {after}")

    def schedule(self, s) -> str:
        if s is None:
            return self.tr(N_("when needed"))
        days = "" if s.is_daily else " (" + ", ".join(self.tr(WEEKDAY_NAMES[d]) for d in s.weekdays) + ")"
        return values.format_times(s.times) + days

    def added_removed(self, old: list[str], new: list[str], added: str, removed: str, key: str = "name") -> None:
        self.lines += [self.tr(added, **{key: x}) for x in new if x not in old]
        self.lines += [self.tr(removed, **{key: x}) for x in old if x not in new]


def _q(text) -> str:
    return f"«{text}»" if text else "–"


def _day(d) -> str:
    return values.format_date(d) if d else "–"


def describe_changes(old: PlanContent | None, new: PlanContent, rules_: Mapping[str, RuleInfo],
                     locale: str) -> list[str]:
    """What changed, field by field, in words: 'Vekt, gul øvre grense: 70 kg → 71 kg'."""
    if old is None:
        return [t(locale, N_("The first version of the plan."))]
    w = _Words(locale, rules_)
    w.changed(w.tr(N_("What matters to the patient")), _q(old.what_matters), _q(new.what_matters))
    w.added_removed([_q(g) for g in old.goals], [_q(g) for g in new.goals],
                    N_("Goal added: %(text)s"), N_("Goal removed: %(text)s"), key="text")
    for describe in (_measurement_changes, _limit_changes, _rule_changes, _decision_changes,
                     _questionnaire_changes, _task_changes, _event_changes):
        describe(w, old, new)
    for key in sorted(set(old.instructions) | set(new.instructions)):
        w.changed(w.tr(N_("Instruction %(key)s"), key=key), _q(old.instructions.get(key)),
                  _q(new.instructions.get(key)))

    def contact_words(c):
        return f"{c.name} ({c.role}{', ' + values.format_phone(c.phone) if c.phone else ''})"

    w.added_removed([contact_words(c) for c in old.contacts], [contact_words(c) for c in new.contacts],
                    N_("Contact added: %(name)s"), N_("Contact removed: %(name)s"))
    w.added_removed([f"{r.what}: {r.who}" for r in old.responsibilities],
                    [f"{r.what}: {r.who}" for r in new.responsibilities],
                    N_("Responsibility added: %(text)s"), N_("Responsibility removed: %(text)s"), key="text")
    w.changed(w.tr(N_("Next review")), _day(old.next_review), _day(new.next_review))
    return w.lines or [w.tr(N_("No change to the content."))]


def _measurement_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    def item_name(key):
        return ITEMS[key].name(w.locale) if key in ITEMS else key

    for m in new.measurements:
        before = old.measurement(m.item)
        name = item_name(m.item)
        if before is None:
            w.lines.append(w.tr(N_("Measurement added: %(name)s, %(when)s"), name=name, when=w.schedule(m.schedule)))
            continue
        w.changed(w.tr(N_("%(name)s, times"), name=name), w.schedule(before.schedule), w.schedule(m.schedule))
        w.changed(w.tr(N_("%(name)s, minutes before a report counts as missed"), name=name),
                  str(before.grace_minutes), str(m.grace_minutes))
        for zone in ZONE_LABELS:
            zone_words = w.tr(ZONE_LABELS[zone])
            w.changed(w.tr(N_("%(name)s, what the patient does in the %(zone)s"), name=name, zone=zone_words),
                      _q(getattr(before.patient_actions, zone)), _q(getattr(m.patient_actions, zone)))
            w.changed(w.tr(N_("%(name)s, what the team does in the %(zone)s"), name=name, zone=zone_words),
                      _q(getattr(before.team_actions, zone)), _q(getattr(m.team_actions, zone)))
    for m in old.measurements:
        if new.measurement(m.item) is None:
            w.lines.append(w.tr(N_("Measurement removed: %(name)s"), name=item_name(m.item)))


def _limit_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    """Zone limits as the patient sees them (rules.zone_limits), so a limit moved between rules
    reads as one change."""
    old_limits, new_limits = zone_limits_of(old, w.rules_), zone_limits_of(new, w.rules_)
    for code in sorted(set(old_limits) | set(new_limits), key=list(CATALOGUE).index):
        for name in LIMIT_NAMES:
            a, z = getattr(old_limits.get(code), name, None), getattr(new_limits.get(code), name, None)
            if a != z:
                w.lines.append(f"{CATALOGUE[code].name(w.locale)}, {w.tr(LIMIT_LABELS[name])}: "
                               f"{fmt_with_unit(code, a, w.locale)} → {fmt_with_unit(code, z, w.locale)}")


def _rule_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    def rule_title(key):
        return f"«{w.rules_[key].title(w.locale)}» ({key})" if key in w.rules_ else key

    old_rules = {r.key: r.parameters for r in old.rules}
    new_rules = {r.key: r.parameters for r in new.rules}
    for key, params in new_rules.items():
        if key not in old_rules:
            w.lines.append(w.tr(N_("Rule added: %(rule)s"), rule=rule_title(key)))
        else:
            _parameter_changes(w, key, rule_title(key), old_rules[key], params)
    for key in old_rules:
        if key not in new_rules:
            w.lines.append(w.tr(N_("Rule removed: %(rule)s"), rule=rule_title(key)))


def _parameter_changes(w: _Words, key: str, title: str, before: Mapping, after: Mapping) -> None:
    info = w.rules_.get(key)
    zone_rule = info is not None and _zones_of_safe(info)
    for name in sorted(set(before) | set(after)):
        if zone_rule and name in LIMIT_NAMES:
            continue  # described as a zone limit
        default = info.defaults.get(name) if info else None
        a, z = before.get(name, default), after.get(name, default)
        if a != z:
            w.lines.append(w.tr(N_("Rule %(rule)s, %(parameter)s"), rule=title,
                                parameter=parameter_label(name, w.locale))
                           + f": {parameter_text(a, w.locale, name=name) or '–'} → "
                             f"{parameter_text(z, w.locale, name=name) or '–'}")


def _decision_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    def words(d):
        limits = ", ".join(f"{parameter_label(n, w.locale)} {parameter_text(v, w.locale, name=n)}"
                           for n, v in d.parameters.items())
        return w.tr(N_("%(rule)s, %(limits)s (decided by %(who)s on %(when)s: «%(reason)s»)"), rule=d.rule,
                    limits=limits, who=d.decided_by, when=values.format_date(d.decided_on), reason=d.reason)

    old_dumped = [d.model_dump(mode="json") for d in old.safety_decisions]
    new_dumped = [d.model_dump(mode="json") for d in new.safety_decisions]
    w.lines += [w.tr(N_("Safety net changed by a clinical decision: %(what)s"), what=words(d))
                for d, dumped in zip(new.safety_decisions, new_dumped, strict=True) if dumped not in old_dumped]
    w.lines += [w.tr(N_("Clinical decision removed; the safety net's own limit applies again: %(what)s"),
                     what=words(d))
                for d, dumped in zip(old.safety_decisions, old_dumped, strict=True) if dumped not in new_dumped]


def _questionnaire_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    def name(key):
        return w.tr(QUESTIONNAIRES[key].title) if key in QUESTIONNAIRES else key

    for qn in new.questionnaires:
        before = old.questionnaire(qn.key)
        if before is None:
            w.lines.append(w.tr(N_("Questionnaire added: %(name)s, %(when)s"), name=name(qn.key),
                                when=w.schedule(qn.schedule)))
        else:
            w.changed(w.tr(N_("%(name)s, times"), name=name(qn.key)), w.schedule(before.schedule),
                      w.schedule(qn.schedule))
    for qn in old.questionnaires:
        if new.questionnaire(qn.key) is None:
            w.lines.append(w.tr(N_("Questionnaire removed: %(name)s"), name=name(qn.key)))


def _task_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    for task in new.tasks:
        before = old.task(task.key)
        if before is None:
            w.lines.append(w.tr(N_("Task added: %(name)s, %(when)s"), name=_q(task.text),
                                when=w.schedule(task.schedule)))
            continue
        w.changed(w.tr(N_("Task %(name)s, text"), name=_q(before.text)), _q(before.text), _q(task.text))
        w.changed(w.tr(N_("Task %(name)s, times"), name=_q(task.text)), w.schedule(before.schedule),
                  w.schedule(task.schedule))
    for task in old.tasks:
        if new.task(task.key) is None:
            w.lines.append(w.tr(N_("Task removed: %(name)s"), name=_q(task.text)))


def _event_changes(w: _Words, old: PlanContent, new: PlanContent) -> None:
    old_events = {e.title: e for e in old.anticipated_events}
    for event in new.anticipated_events:
        before = old_events.get(event.title)
        if before is None:
            w.lines.append(w.tr(N_("Anticipated event added: %(name)s"), name=_q(event.title)))
            continue
        for fname, label in EVENT_FIELDS.items():
            if fname != "title":
                w.changed(f"{_q(event.title)}, {w.tr(label).lower()}", _q(getattr(before, fname)),
                          _q(getattr(event, fname)))
    new_titles = {e.title for e in new.anticipated_events}
    for event in old.anticipated_events:
        if event.title not in new_titles:
            w.lines.append(w.tr(N_("Anticipated event removed: %(name)s"), name=_q(event.title)))


def _zones_of_safe(info: RuleInfo) -> bool:
    try:
        return zones_of(info.definition, resolve_parameters(info.definition, {})) is not None
    except ParameterError:
        return False

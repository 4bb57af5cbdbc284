"""The care team's plan editor: one section of the plan at a time, as plain form fields.

A section's form fields are named by their place in the PlanContent document
(`measurements.0.schedule.times`, `anticipated_events.1.gp`), so a pydantic validation error
of the whole document points straight back at the field that caused it. Saving a section
merges it into the newest plan and writes a new version through plan_changes.change_plan
(checked, audited, in force for the patient at once).

Personal zone limits are not a field of a measurement: they are the parameters of the plan's
zone rules (docs/rules.md). The measurements section shows them per measurement and writes
them back into the parameters of the rule that owns each limit.

Everything here takes a locale and returns translated text (homefollow.i18n.t), so the
module knows nothing of requests.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session, select

from rules import resolve_parameters
from rules.codes import code_info
from rules.parameters import parameter_codes, parameter_types
from rules.limits import zones_of
from rules.measurements import CATALOGUE, ITEMS, parse_decimal
from rules.model import RuleDefinition, Severity
from rules.schedule import local_date_of, local_day_bounds
from rules.text import duration, parse_duration

from ..clock import Clock
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
BLANK_ROWS = 1  # empty rows offered for adding to a list without JavaScript
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
        except Exception:  # a rule whose defaults do not resolve has no limits to show
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
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if name.rsplit(".", 1)[-1] in END_DATES:
            value -= timedelta(microseconds=1)  # the last day of the period, not the day after
        return local_date_of(value, tz).strftime("%d.%m.%Y")
    return fmt_number(value, locale)


def fmt_number(value, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = str(int(value)) if float(value).is_integer() else f"{value:g}"
    return text.replace(".", ",") if locale.startswith("nb") else text


def fmt_with_unit(code: str, value, locale: str) -> str:
    if value is None:
        return "–"
    unit = CATALOGUE[code].unit
    return f"{fmt_number(value, locale)} {unit}" if unit != "%" else f"{fmt_number(value, locale)} %"


_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def parse_times(text: str) -> list[str] | None:
    """'8:00, 18.30' → ['08:00', '18:30']; None when a part is not a time of day."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    out = []
    for part in parts:
        match = _TIME.match(part)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            return None
        out.append(f"{int(match.group(1)):02d}:{match.group(2)}")
    return out


def fmt_times(times) -> str:
    return ", ".join(x.strftime("%H:%M") if isinstance(x, time) else str(x)[:5] for x in times)


def parse_date(text: str) -> date | None:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def slug(text: str) -> str:
    """A task key from its text: 'Ta morgenmedisinen' → 'ta_morgenmedisinen'."""
    text = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text or not text[0].isalpha():
        text = "task_" + text
    return text[:40].rstrip("_")


# ---- form values ------------------------------------------------------------------------------

def _schedule_values(prefix: str, schedule) -> dict[str, str]:
    if schedule is None:
        return {f"{prefix}.schedule.times": "", f"{prefix}.schedule.weekdays": "0,1,2,3,4,5,6"}
    return {f"{prefix}.schedule.times": fmt_times(schedule.times),
            f"{prefix}.schedule.weekdays": ",".join(str(d) for d in schedule.weekdays)}


def initial_values(section: str, content: PlanContent, rules_: Mapping[str, RuleInfo], locale: str) -> dict[str, str]:
    """The form fields of a section, filled from the plan."""
    v: dict[str, str] = {}
    if section == "matters":
        v["what_matters"] = content.what_matters
        for i, goal in enumerate(content.goals):
            v[f"goals.{i}"] = goal
    elif section == "measurements":
        owners = _limit_owners(content, rules_)
        for i, m in enumerate(content.measurements):
            p = f"measurements.{i}"
            v[f"{p}.item"] = m.item
            v.update(_schedule_values(p, m.schedule))
            v[f"{p}.grace_minutes"] = str(m.grace_minutes)
            for zone in ("green", "yellow", "red"):
                v[f"{p}.patient_actions.{zone}"] = getattr(m.patient_actions, zone)
                v[f"{p}.team_actions.{zone}"] = getattr(m.team_actions, zone)
            for code in ITEMS[m.item].codes:
                for name in LIMIT_NAMES:
                    if (code, name) in owners:
                        v[f"limits.{code}.{name}"] = fmt_number(
                            _limit_value(content, rules_, owners[(code, name)], name), locale)
    elif section == "checkins":
        for i, q in enumerate(content.questionnaires):
            p = f"questionnaires.{i}"
            v[f"{p}.key"] = q.key
            v.update(_schedule_values(p, q.schedule))
            v[f"{p}.grace_minutes"] = str(q.grace_minutes)
        for i, task in enumerate(content.tasks):
            p = f"tasks.{i}"
            v[f"{p}.key"] = task.key
            v[f"{p}.text"] = task.text
            v.update(_schedule_values(p, task.schedule))
            v[f"{p}.grace_minutes"] = str(task.grace_minutes)
    elif section == "events":
        for i, event in enumerate(content.anticipated_events):
            for name in EVENT_FIELDS:
                v[f"anticipated_events.{i}.{name}"] = getattr(event, name)
    elif section == "rules":
        for i, assigned in enumerate(content.rules):
            v[f"rules.{i}.key"] = assigned.key
            for name, value in assigned.parameters.items():
                if not isinstance(value, (dict, list)):
                    v[f"rules.{i}.{name}"] = parameter_text(value, locale, name=name)
    elif section == "contacts":
        for i, contact in enumerate(content.contacts):
            v[f"contacts.{i}.name"] = contact.name
            v[f"contacts.{i}.role"] = contact.role
            v[f"contacts.{i}.phone"] = contact.phone or ""
        for i, r in enumerate(content.responsibilities):
            v[f"responsibilities.{i}.what"] = r.what
            v[f"responsibilities.{i}.who"] = r.who
        v["next_review"] = content.next_review.isoformat() if content.next_review else ""
    return v


def row_count(values: Mapping[str, str], prefix: str) -> int:
    """How many rows of a list the form holds (the highest index + 1)."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)(?:\.|$)")
    indices = [int(m.group(1)) for k in values if (m := pattern.match(k))]
    return max(indices) + 1 if indices else 0


# ---- from form fields to a plan ---------------------------------------------------------------

@dataclass
class Outcome:
    content: PlanContent | None = None
    errors: dict[str, str] = field(default_factory=dict)  # field name → translated message
    general: list[str] = field(default_factory=list)  # problems no single field owns

    @property
    def ok(self) -> bool:
        return self.content is not None and not self.errors and not self.general


class _Builder:
    def __init__(self, values: Mapping[str, str], locale: str, today: date | None = None,
                 author_account_id: int | None = None):
        self.values, self.locale = values, locale
        self.today = today or date.max
        self.author_account_id = author_account_id
        self.errors: dict[str, str] = {}

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def error(self, name: str, message: str, **params) -> None:
        self.errors.setdefault(name, t(self.locale, message, **params))
        return None

    def number(self, name: str, text: str, plausible_for: str | None = None) -> float | None:
        """A number as typed (comma or point), within the plausible range of a measurement
        when one is named; None after recording the error."""
        try:
            value = parse_decimal(text)
        except ValueError:
            self.error(name, N_("Write a number, such as 92 or 70,5."))
            return None
        kind = CATALOGUE.get(plausible_for) if plausible_for else None
        if kind is not None and not kind.plausible_min <= value <= kind.plausible_max:
            self.error(name, N_("Write a value between %(min)s and %(max)s."),
                       min=fmt_with_unit(plausible_for, kind.plausible_min, self.locale),
                       max=fmt_with_unit(plausible_for, kind.plausible_max, self.locale))
            return None
        return value

    def integer(self, name: str, default: int) -> int:
        text = self.get(name)
        if not text:
            return default
        if not re.fullmatch(r"\d+", text):
            self.error(name, N_("Write a whole number of minutes, such as 180."))
            return default
        return int(text)

    def schedule(self, prefix: str, required: bool) -> dict | None:
        times_name, days_name = f"{prefix}.schedule.times", f"{prefix}.schedule.weekdays"
        text = self.get(times_name)
        if not text:
            if required:
                self.error(times_name, N_("Write at least one time of day, such as 10:00."))
            return None
        times = parse_times(text)
        if times is None:
            self.error(times_name, N_("Write times of day as HH:MM, separated by commas, such as 08:00, 18:00."))
            return None
        days = [int(d) for d in self.get(days_name).split(",") if d.strip().isdigit()]
        if not days:
            self.error(days_name, N_("Choose at least one weekday."))
            return None
        return {"times": times, "weekdays": days}


def _base_document(content: PlanContent) -> dict:
    return content.model_dump(mode="json")


def _is_blank(values: Mapping[str, str], prefix: str, names) -> bool:
    return all(not (values.get(f"{prefix}.{n}") or "").strip() for n in names)


def build(section: str, content: PlanContent, values: Mapping[str, str], rules_: Mapping[str, RuleInfo],
          locale: str, safety_rules_: Mapping[str, RuleInfo] | None = None, today: date | None = None,
          author_account_id: int | None = None) -> Outcome:
    """The plan with this section replaced by what the form holds, or the problems, each tied
    to its field. `content` is the newest plan; other sections are kept as they are."""
    b = _Builder(values, locale, today, author_account_id)
    doc = _base_document(content)
    renumber: dict[str, dict[int, int]] = {}  # list name → form row → document index

    def rows(prefix: str) -> range:
        return range(row_count(values, prefix))

    if section == "matters":
        doc["what_matters"] = b.get("what_matters")
        doc["goals"] = []
        for i in rows("goals"):
            if b.get(f"goals.{i}"):
                renumber.setdefault("goals", {})[i] = len(doc["goals"])
                doc["goals"].append(b.get(f"goals.{i}"))
    elif section == "measurements":
        _build_measurements(b, doc, content, rules_, rows, renumber)
    elif section == "checkins":
        doc["questionnaires"] = []
        for i in rows("questionnaires"):
            p = f"questionnaires.{i}"
            key = b.get(f"{p}.key")
            if not key or b.get(f"{p}.remove"):
                continue
            renumber.setdefault("questionnaires", {})[i] = len(doc["questionnaires"])
            doc["questionnaires"].append({"key": key, "schedule": b.schedule(p, required=True),
                                          "grace_minutes": b.integer(f"{p}.grace_minutes", 240)})
        doc["tasks"] = []
        keys = set()
        for i in rows("tasks"):
            p = f"tasks.{i}"
            text = b.get(f"{p}.text")
            if b.get(f"{p}.remove") or _is_blank(values, p, ("text", "schedule.times")):
                continue
            key = b.get(f"{p}.key") or slug(text)
            while key in keys:  # two new tasks whose texts start alike
                key = f"{key[:37]}_{len(keys)}"
            keys.add(key)
            renumber.setdefault("tasks", {})[i] = len(doc["tasks"])
            doc["tasks"].append({"key": key, "text": text, "schedule": b.schedule(p, required=False),
                                 "grace_minutes": b.integer(f"{p}.grace_minutes", 180)})
    elif section == "events":
        doc["anticipated_events"] = []
        for i in rows("anticipated_events"):
            p = f"anticipated_events.{i}"
            if _is_blank(values, p, EVENT_FIELDS):
                continue
            renumber.setdefault("anticipated_events", {})[i] = len(doc["anticipated_events"])
            doc["anticipated_events"].append({name: b.get(f"{p}.{name}") for name in EVENT_FIELDS})
    elif section == "rules":
        doc["rules"] = []
        for i in rows("rules"):
            p = f"rules.{i}"
            key = b.get(f"{p}.key")
            if not key or b.get(f"{p}.remove"):
                continue
            info = rules_.get(key)
            kept = next((r.parameters for r in content.rules if r.key == key), {})
            # Parameters the form cannot show (a schedule) are kept as they are.
            parameters = {n: v for n, v in kept.items() if isinstance(v, (dict, list))}
            for name in (info.editable if info else ()):
                text = b.get(f"{p}.{name}")
                if text:
                    value = _read_parameter(b, f"{p}.{name}", text, info.types.get(name), info.codes.get(name))
                    if value is not None:
                        parameters[name] = value
            if info:
                _check_rule_parameters(b, p, info, parameters)
            renumber.setdefault("rules", {})[i] = len(doc["rules"])
            doc["rules"].append({"key": key, "parameters": parameters})
    elif section == "safety":
        _build_safety_decisions(b, doc, content, values, safety_rules_ or {})
    elif section == "contacts":
        doc["contacts"] = []
        for i in rows("contacts"):
            p = f"contacts.{i}"
            if _is_blank(values, p, ("name", "role", "phone")):
                continue
            renumber.setdefault("contacts", {})[i] = len(doc["contacts"])
            name, role = b.get(f"{p}.name"), b.get(f"{p}.role")
            if not name:
                b.error(f"{p}.name", N_("Write the name of the contact."))
            if not role:
                b.error(f"{p}.role", N_("Write the role, such as GP or daughter."))
            phone = b.get(f"{p}.phone")
            if phone and not re.fullmatch(r"\+?[\d ]{8,15}", phone):
                b.error(f"{p}.phone", N_("Write a phone number of 8 digits, such as 926 12 345."))
            doc["contacts"].append({"name": name, "role": role, "phone": phone or None})
        doc["responsibilities"] = []
        for i in rows("responsibilities"):
            p = f"responsibilities.{i}"
            if _is_blank(values, p, ("what", "who")):
                continue
            renumber.setdefault("responsibilities", {})[i] = len(doc["responsibilities"])
            doc["responsibilities"].append({"what": b.get(f"{p}.what"), "who": b.get(f"{p}.who")})
        text = b.get("next_review")
        doc["next_review"] = None
        if text:
            parsed = parse_date(text)
            if parsed is None:
                b.error("next_review", N_("Write a date as dd.mm.yyyy, such as 15.03.2027."))
            else:
                doc["next_review"] = parsed.isoformat()
    else:
        raise KeyError(section)

    try:
        new = PlanContent.model_validate(doc)
    except ValidationError as exc:
        general = []
        for err in exc.errors():
            name = _field_for(err["loc"], renumber, values)
            if name is None:
                general.append(_message(err, locale))
            else:
                b.errors.setdefault(name, _message(err, locale))
        return Outcome(None, b.errors, general)
    return Outcome(new, b.errors)


def _read_parameter(b: _Builder, field_name: str, text: str, kind: type | None, code: str | None):
    """A rule parameter as a nurse typed it, as the plan stores it (JSON), or None after a
    translated error: the rule book's own messages are for rule authors, in English."""
    if kind is bool:
        return text.lower() in ("1", "true", "ja", "yes")
    if kind is timedelta:
        try:
            span = parse_duration(text)
        except ValueError:
            b.error(field_name, N_("Write a duration such as 3 hours, 2 days or 30 minutes."))
            return None
        if span <= timedelta(0):
            b.error(field_name, N_("Write a duration longer than zero, such as 3 hours."))
            return None
        return _DURATION.dump_python(span, mode="json")
    leaf = field_name.rsplit(".", 1)[-1]
    if kind is datetime:
        day = parse_date(text)
        if day is None:
            b.error(field_name, N_("Write a date as dd.mm.yyyy, such as 15.03.2027."))
            return None
        start, end = local_day_bounds(day, PLAN_TZ)
        return (end if leaf in END_DATES else start).isoformat()
    if kind not in (int, float):
        return text
    measured = leaf in LIMIT_NAMES or leaf == "baseline_value"  # a value of the measurement itself
    number = b.number(field_name, text, plausible_for=code if measured else None)
    if number is None:
        return None
    if not measured and number <= 0:
        b.error(field_name, N_("Write a number above zero."))
        return None
    if kind is int:
        if not number.is_integer():
            b.error(field_name, N_("Write a whole number, such as 3."))
            return None
        return int(number)
    return int(number) if number.is_integer() else number


def _build_safety_decisions(b: _Builder, doc: dict, content: PlanContent, values: Mapping[str, str],
                            safety_rules_: Mapping[str, RuleInfo]) -> None:
    """Recorded decisions are kept unless ticked for removal (a decision is never edited in
    place: who decided what, and why, stays as it was); filled-in new rows are added."""
    doc["safety_decisions"] = [d.model_dump(mode="json") for i, d in enumerate(content.safety_decisions)
                               if not b.get(f"safety_decisions.{i}.remove")]
    taken = {(d["rule"], name) for d in doc["safety_decisions"] for name in d["parameters"]}
    for j in range(row_count(values, "new_decisions")):
        p = f"new_decisions.{j}"
        if _is_blank(values, p, ("limit", "value", "reason")):
            continue
        rule_key, _sep, name = b.get(f"{p}.limit").partition(":")
        info = safety_rules_.get(rule_key)
        if info is None or name not in info.editable:
            b.error(f"{p}.limit", N_("Choose the limit the decision changes."))
            continue
        if (rule_key, name) in taken:
            b.error(f"{p}.limit", N_("This limit already has a decision. Remove that one first if it no longer holds."))
            continue
        text = b.get(f"{p}.value")
        value = (_read_parameter(b, f"{p}.value", text, info.types.get(name), info.codes.get(name)) if text
                 else b.error(f"{p}.value", N_("Write the new value.")))
        reason = b.get(f"{p}.reason")
        if len(reason) < 10:
            b.error(f"{p}.reason", N_("Write why, such as the diagnosis and the blood gas it rests on (at least 10 "
                                      "characters)."))
        elif len(reason) > 500:
            b.error(f"{p}.reason", N_("Please shorten this to at most %(max)s characters."), max=500)
        who = b.get(f"{p}.decided_by")
        if len(who) < 2 or len(who) > 200:
            b.error(f"{p}.decided_by", N_("Write the name and role of the clinician who decided, such as "
                                          "Ingrid Berg, physician."))
        decided_on = parse_date(b.get(f"{p}.decided_on"))
        if decided_on is None or decided_on.year < 2000:
            b.error(f"{p}.decided_on", N_("Write a date as dd.mm.yyyy, such as 15.03.2027."))
        elif decided_on > b.today:
            b.error(f"{p}.decided_on", N_("A decision cannot be dated in the future."))
        if value is None or b.errors:
            continue
        taken.add((rule_key, name))
        doc["safety_decisions"].append({"rule": rule_key, "parameters": {name: value}, "reason": reason,
                                        "decided_by": who, "decided_by_account_id": b.author_account_id,
                                        "decided_on": decided_on.isoformat()})


def _check_rule_parameters(b: _Builder, prefix: str, info: RuleInfo, parameters: dict) -> None:
    """What a rule requires of its parameters together, said in the nurse's language before
    the rule book is asked (which would say it in English)."""
    def value(name):
        return parameters.get(name, info.defaults.get(name))

    code = next((info.codes[n] for n in LIMIT_NAMES if n in info.codes), None)
    if code is not None:
        limits = {n: value(n) for n in LIMIT_NAMES if value(n) is not None}
        _check_limit_order(b, code, limits, lambda name: f"{prefix}.{name}")
    n, m = value("n"), value("m")
    if isinstance(n, int) and isinstance(m, int) and n > m:
        b.error(f"{prefix}.n", N_("The readings needed cannot be more than the readings counted (%(m)s)."), m=m)
    if ("baseline_start" in info.editable and
            (value("baseline_start") is None) != (value("baseline_end") is None)):
        missing = "baseline_end" if value("baseline_end") is None else "baseline_start"
        b.error(f"{prefix}.{missing}", N_("Fill in both dates of the trial period, or neither."))


def _build_measurements(b: _Builder, doc: dict, content: PlanContent, rules_, rows, renumber) -> None:
    owners = _limit_owners(content, rules_)
    doc["measurements"] = []
    rules_doc = doc["rules"]
    for i in rows("measurements"):
        p = f"measurements.{i}"
        item = b.get(f"{p}.item")
        if not item or b.get(f"{p}.remove"):
            continue
        renumber.setdefault("measurements", {})[i] = len(doc["measurements"])
        doc["measurements"].append({
            "item": item,
            "schedule": b.schedule(p, required=False),
            "grace_minutes": b.integer(f"{p}.grace_minutes", 180),
            "patient_actions": {z: b.get(f"{p}.patient_actions.{z}") for z in ("green", "yellow", "red")},
            "team_actions": {z: b.get(f"{p}.team_actions.{z}") for z in ("green", "yellow", "red")},
        })
        if item not in ITEMS:
            continue
        for code in ITEMS[item].codes:
            limits = {}
            for name in LIMIT_NAMES:
                field_name = f"limits.{code}.{name}"
                if (code, name) not in owners or field_name not in b.values:
                    continue
                index = owners[(code, name)]
                text = b.get(field_name)
                params = rules_doc[index]["parameters"]
                if not text:
                    params.pop(name, None)  # back to the rule's default
                    limits[name] = rules_[rules_doc[index]["key"]].defaults.get(name)
                    continue
                value = b.number(field_name, text, plausible_for=code)
                if value is None:
                    continue
                limits[name] = value
                if value != rules_[rules_doc[index]["key"]].defaults.get(name) or name in params:
                    params[name] = int(value) if value.is_integer() else value
            _check_limit_order(b, code, limits, lambda name, code=code: f"limits.{code}.{name}")


def _check_limit_order(b: _Builder, code: str, limits: dict, f) -> None:
    """The yellow zone lies between the red zone and the normal range. ``f`` names the field
    of a limit."""
    red_low, yellow_low = limits.get("red_low"), limits.get("yellow_low")
    yellow_high, red_high = limits.get("yellow_high"), limits.get("red_high")
    if red_low is not None and yellow_low is not None and yellow_low <= red_low:
        b.error(f("yellow_low"), N_("The yellow lower limit must be above the red lower limit (%(red)s): "
                                    "the yellow zone lies between the red zone and the normal range."),
                red=fmt_with_unit(code, red_low, b.locale))
    if red_high is not None and yellow_high is not None and yellow_high >= red_high:
        b.error(f("yellow_high"), N_("The yellow upper limit must be below the red upper limit (%(red)s): "
                                     "the yellow zone lies between the normal range and the red zone."),
                red=fmt_with_unit(code, red_high, b.locale))
    if yellow_low is not None and yellow_high is not None and yellow_low >= yellow_high:
        b.error(f("yellow_high"), N_("The yellow upper limit must be above the yellow lower limit (%(low)s)."),
                low=fmt_with_unit(code, yellow_low, b.locale))
    if red_low is not None and red_high is not None and red_low >= red_high:
        b.error(f("red_high"), N_("The red upper limit must be above the red lower limit (%(low)s)."),
                low=fmt_with_unit(code, red_low, b.locale))


def _field_for(loc: tuple, renumber: dict[str, dict[int, int]], values: Mapping[str, str]) -> str | None:
    """The form field a pydantic error location points at (document indices → form rows)."""
    parts = [str(x) for x in loc]
    if len(parts) >= 2 and parts[0] in renumber and parts[1].isdigit():
        back = {doc: form for form, doc in renumber[parts[0]].items()}
        if int(parts[1]) in back:
            parts[1] = str(back[int(parts[1])])
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in values:
            return name
    return None


def _message(err: dict, locale: str) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("missing", "string_too_short"):
        return t(locale, N_("Please fill this in."))
    if kind == "string_too_long":
        return t(locale, N_("Please shorten this to at most %(max)s characters."), max=ctx.get("max_length"))
    if kind == "string_pattern_mismatch":
        return t(locale, N_("Use lower-case letters a–z, digits and _, starting with a letter."))
    if kind in ("greater_than_equal", "greater_than"):
        return t(locale, N_("Must be at least %(min)s."), min=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return t(locale, N_("Must be at most %(max)s."), max=ctx.get("le", ctx.get("lt")))
    text = str(err.get("msg", ""))
    if "only once" in text:
        return t(locale, N_("Each measurement, questionnaire, task and rule may appear only once in a plan."))
    if "unknown" in text:
        return t(locale, N_("Choose one from the list."))
    return t(locale, N_("This value is not accepted: %(reason)s"), reason=text)


def check_rules(session: Session, content: PlanContent, values: Mapping[str, str],
                rules_: Mapping[str, RuleInfo], locale: str) -> tuple[dict[str, str], list[str]]:
    """The rule book's verdict on the plan's rules and parameters, tied to the fields."""
    try:
        evaluation.assigned_rules(session, content)
    except evaluation.PlanRulesInvalid as exc:
        problems = exc.problems
    else:
        return {}, []
    owners = {(content.rules[i].key, name): f"limits.{code}.{name}"
              for (code, name), i in _limit_owners(content, rules_).items()}
    errors, general = {}, []
    for key, name, reason in problems:
        message = t(locale, N_("Not accepted by the rule: %(reason)s"), reason=reason)
        index = next((i for i in range(row_count(values, "rules")) if values.get(f"rules.{i}.key") == key), None)
        candidates = [owners.get((key, name)), f"rules.{index}.{name}" if index is not None else None]
        target = next((c for c in candidates if c and c in values), None)
        if target:
            errors.setdefault(target, message)
        else:
            general.append(f"{key} {name}: {message}".replace(" :", ":"))
    return errors, general


def check_safety(session: Session, content: PlanContent, current: PlanContent, values: Mapping[str, str],
                 rules_: Mapping[str, RuleInfo], locale: str) -> tuple[dict[str, str], list[str]]:
    """What plan_safety finds wrong that this change brings (problems the plan already had do
    not block an unrelated change; the plan page lists them), tied to fields where the section
    has them."""
    found = plan_safety.new_problems(session, content, current, locale)
    if not found:
        return {}, []
    owners = {(content.rules[i].key, name): f"limits.{code}.{name}"
              for (code, name), i in _limit_owners(content, rules_).items()}
    rule_rows = {values.get(f"rules.{i}.key"): i for i in range(row_count(values, "rules"))}
    item_rows = {values.get(f"{p}.{k}"): f"{p}.{k}" for p, k in
                 [(f"measurements.{i}", "item") for i in range(row_count(values, "measurements"))]
                 + [(f"questionnaires.{i}", "key") for i in range(row_count(values, "questionnaires"))]}
    errors, general = {}, []
    for problem in found:
        candidates = [owners.get((problem.rule, problem.parameter)),
                      f"rules.{rule_rows[problem.rule]}.{problem.parameter}" if problem.rule in rule_rows else None,
                      f"rules.{rule_rows[problem.rule]}.key" if problem.rule in rule_rows else None,
                      item_rows.get(problem.item)]
        target = next((c for c in candidates if c and c in values), None)
        if target and target not in errors:
            errors[target] = problem.message
        else:
            general.append(problem.message)
    return errors, general


def standing_problems(session: Session, content: PlanContent, locale: str) -> list[str]:
    """What the plan in force lacks or contradicts (a plan saved before the checks), for the
    plan page: each must be fixed in its section."""
    return [p.message for p in plan_safety.problems(session, content, locale)]


# ---- saving ------------------------------------------------------------------------------------

@dataclass
class SaveResult:
    outcome: Outcome
    plan: CarePlan | None = None


def save_section(session: Session, clock: Clock, *, patient: Patient, section: str, values: Mapping[str, str],
                 author_account_id: int, locale: str, base_version: int | None = None) -> SaveResult:
    """Save what the form holds for one section as a new plan version. Nothing is saved when
    anything is wrong; every problem comes back tied to its field."""
    current, version = plans.current_content(session, patient.id)
    rules_ = active_rules(session)
    outcome = build(section, current, values, rules_, locale, active_rules(session, layer="safety"),
                    today=local_date_of(clock.now(), patient.time_zone), author_account_id=author_account_id)
    reason = (values.get("reason") or "").strip()
    if not reason:
        outcome.errors["reason"] = t(locale, N_("Write why the plan is changed. The reason is kept with the version."))
    elif len(reason) > 500:
        outcome.errors["reason"] = t(locale, N_("Please shorten this to at most %(max)s characters."), max=500)
    if base_version is not None and version is not None and base_version != version:
        outcome.general.append(t(locale, N_(
            "Someone else saved a new version of the plan (version %(version)s) while you were editing. "
            "Your changes are still here: check them and save again."), version=version))
    if outcome.content is not None and not outcome.errors:
        errors, general = check_rules(session, outcome.content, values, rules_, locale)
        outcome.errors.update(errors)
        outcome.general.extend(general)
    if outcome.content is not None and not outcome.errors and not outcome.general:
        errors, general = check_safety(session, outcome.content, current, values, rules_, locale)
        outcome.errors.update(errors)
        outcome.general.extend(general)
    if outcome.ok and outcome.content.model_dump(mode="json") == current.model_dump(mode="json"):
        # A version that changes nothing would still show up in the patient's "changes to the plan".
        outcome.general.append(t(locale, N_("Nothing in the plan was changed, so no new version was saved.")))
    if not outcome.ok:
        return SaveResult(outcome)
    plan = plan_changes.change_plan(session, clock, patient=patient, content=outcome.content,
                                    author_account_id=author_account_id, reason=reason)
    return SaveResult(outcome, plan)


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

        def count(params):
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
                                 .order_by(CarePlan.version)))
    ids = {v.created_by_account_id for v in versions if v.created_by_account_id}
    names = {a.id: a.name for a in session.exec(select(Account).where(Account.id.in_(ids)))} if ids else {}
    rules_ = active_rules(session)
    out, previous = [], None
    for v in versions:
        content = PlanContent.model_validate(v.content)
        out.append(VersionView(v, names.get(v.created_by_account_id), describe_changes(previous, content, rules_, locale)))
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
        except Exception:  # an old version's parameters the active rule no longer takes
            continue
    from rules import zone_limits
    return zone_limits(pairs)


def describe_changes(old: PlanContent | None, new: PlanContent, rules_: Mapping[str, RuleInfo],
                     locale: str) -> list[str]:
    """What changed, field by field, in words: 'Vekt, gul øvre grense: 70 kg → 71 kg'."""
    if old is None:
        return [t(locale, N_("The first version of the plan."))]
    lines: list[str] = []
    tr = lambda msg, **kw: t(locale, msg, **kw)  # noqa: E731

    def q(text) -> str:
        return f"«{text}»" if text else "–"

    def changed(label: str, before: str, after: str) -> None:
        if before != after:
            lines.append(f"{label}: {before} → {after}")

    def schedule_words(s) -> str:
        if s is None:
            return tr(N_("when needed"))
        days = "" if s.is_daily else " (" + ", ".join(tr(WEEKDAY_NAMES[d]) for d in s.weekdays) + ")"
        return fmt_times(s.times) + days

    changed(tr(N_("What matters to the patient")), q(old.what_matters), q(new.what_matters))
    for goal in new.goals:
        if goal not in old.goals:
            lines.append(tr(N_("Goal added: %(text)s"), text=q(goal)))
    for goal in old.goals:
        if goal not in new.goals:
            lines.append(tr(N_("Goal removed: %(text)s"), text=q(goal)))

    def item_name(key):
        return ITEMS[key].name(locale) if key in ITEMS else key

    for m in new.measurements:
        before = old.measurement(m.item)
        name = item_name(m.item)
        if before is None:
            lines.append(tr(N_("Measurement added: %(name)s, %(when)s"), name=name, when=schedule_words(m.schedule)))
            continue
        changed(tr(N_("%(name)s, times"), name=name), schedule_words(before.schedule), schedule_words(m.schedule))
        changed(tr(N_("%(name)s, minutes before a report counts as missed"), name=name),
                str(before.grace_minutes), str(m.grace_minutes))
        for zone in ("green", "yellow", "red"):
            changed(tr(N_("%(name)s, what the patient does in the %(zone)s"), name=name, zone=tr(ZONE_LABELS[zone])),
                    q(getattr(before.patient_actions, zone)), q(getattr(m.patient_actions, zone)))
            changed(tr(N_("%(name)s, what the team does in the %(zone)s"), name=name, zone=tr(ZONE_LABELS[zone])),
                    q(getattr(before.team_actions, zone)), q(getattr(m.team_actions, zone)))
    for m in old.measurements:
        if new.measurement(m.item) is None:
            lines.append(tr(N_("Measurement removed: %(name)s"), name=item_name(m.item)))

    old_limits, new_limits = zone_limits_of(old, rules_), zone_limits_of(new, rules_)
    for code in sorted(set(old_limits) | set(new_limits), key=lambda c: list(CATALOGUE).index(c)):
        for name in LIMIT_NAMES:
            a = getattr(old_limits.get(code), name, None) if code in old_limits else None
            z = getattr(new_limits.get(code), name, None) if code in new_limits else None
            if a != z:
                lines.append(f"{CATALOGUE[code].name(locale)}, {tr(LIMIT_LABELS[name])}: "
                             f"{fmt_with_unit(code, a, locale)} → {fmt_with_unit(code, z, locale)}")

    def rule_title(key):
        return f"«{rules_[key].title(locale)}» ({key})" if key in rules_ else key

    old_rules = {r.key: r.parameters for r in old.rules}
    new_rules = {r.key: r.parameters for r in new.rules}
    for key, params in new_rules.items():
        if key not in old_rules:
            lines.append(tr(N_("Rule added: %(rule)s"), rule=rule_title(key)))
            continue
        for pname in sorted(set(params) | set(old_rules[key])):
            zone_rule = key in rules_ and _zones_of_safe(rules_[key])
            if zone_rule and pname in LIMIT_NAMES:
                continue  # described above as a zone limit
            default = rules_[key].defaults.get(pname) if key in rules_ else None
            a, z = old_rules[key].get(pname, default), params.get(pname, default)
            if a != z:
                lines.append(tr(N_("Rule %(rule)s, %(parameter)s"), rule=rule_title(key),
                                parameter=parameter_label(pname, locale))
                             + f": {parameter_text(a, locale, name=pname) or '–'} → "
                               f"{parameter_text(z, locale, name=pname) or '–'}")
    for key in old_rules:
        if key not in new_rules:
            lines.append(tr(N_("Rule removed: %(rule)s"), rule=rule_title(key)))

    def decision_words(d):
        limits = ", ".join(f"{parameter_label(n, locale)} {parameter_text(v, locale, name=n)}" for n, v in d.parameters.items())
        return tr(N_("%(rule)s, %(limits)s (decided by %(who)s on %(when)s: «%(reason)s»)"), rule=d.rule, limits=limits,
                  who=d.decided_by, when=d.decided_on.strftime("%d.%m.%Y"), reason=d.reason)

    old_decisions = [d.model_dump(mode="json") for d in old.safety_decisions]
    new_decisions = [d.model_dump(mode="json") for d in new.safety_decisions]
    lines += [tr(N_("Safety net changed by a clinical decision: %(what)s"), what=decision_words(d))
              for d, dumped in zip(new.safety_decisions, new_decisions) if dumped not in old_decisions]
    lines += [tr(N_("Clinical decision removed; the safety net's own limit applies again: %(what)s"),
                 what=decision_words(d))
              for d, dumped in zip(old.safety_decisions, old_decisions) if dumped not in new_decisions]

    def questionnaire_name(key):
        return tr(QUESTIONNAIRES[key].title) if key in QUESTIONNAIRES else key

    for qn in new.questionnaires:
        before = old.questionnaire(qn.key)
        if before is None:
            lines.append(tr(N_("Questionnaire added: %(name)s, %(when)s"), name=questionnaire_name(qn.key),
                            when=schedule_words(qn.schedule)))
        else:
            changed(tr(N_("%(name)s, times"), name=questionnaire_name(qn.key)),
                    schedule_words(before.schedule), schedule_words(qn.schedule))
    for qn in old.questionnaires:
        if new.questionnaire(qn.key) is None:
            lines.append(tr(N_("Questionnaire removed: %(name)s"), name=questionnaire_name(qn.key)))
    for task in new.tasks:
        before = old.task(task.key)
        if before is None:
            lines.append(tr(N_("Task added: %(name)s, %(when)s"), name=q(task.text), when=schedule_words(task.schedule)))
            continue
        changed(tr(N_("Task %(name)s, text"), name=q(before.text)), q(before.text), q(task.text))
        changed(tr(N_("Task %(name)s, times"), name=q(task.text)), schedule_words(before.schedule),
                schedule_words(task.schedule))
    for task in old.tasks:
        if new.task(task.key) is None:
            lines.append(tr(N_("Task removed: %(name)s"), name=q(task.text)))

    for key in sorted(set(old.instructions) | set(new.instructions)):
        changed(tr(N_("Instruction %(key)s"), key=key), q(old.instructions.get(key)), q(new.instructions.get(key)))

    old_events = {e.title: e for e in old.anticipated_events}
    for event in new.anticipated_events:
        before = old_events.get(event.title)
        if before is None:
            lines.append(tr(N_("Anticipated event added: %(name)s"), name=q(event.title)))
            continue
        for fname, label in EVENT_FIELDS.items():
            if fname != "title":
                changed(f"{q(event.title)}, {tr(label).lower()}", q(getattr(before, fname)), q(getattr(event, fname)))
    new_titles = {e.title for e in new.anticipated_events}
    for event in old.anticipated_events:
        if event.title not in new_titles:
            lines.append(tr(N_("Anticipated event removed: %(name)s"), name=q(event.title)))

    def contact_words(c):
        return f"{c.name} ({c.role}{', ' + c.phone if c.phone else ''})"

    old_contacts, new_contacts = [contact_words(c) for c in old.contacts], [contact_words(c) for c in new.contacts]
    lines += [tr(N_("Contact added: %(name)s"), name=c) for c in new_contacts if c not in old_contacts]
    lines += [tr(N_("Contact removed: %(name)s"), name=c) for c in old_contacts if c not in new_contacts]
    old_resp = [f"{r.what}: {r.who}" for r in old.responsibilities]
    new_resp = [f"{r.what}: {r.who}" for r in new.responsibilities]
    lines += [tr(N_("Responsibility added: %(text)s"), text=r) for r in new_resp if r not in old_resp]
    lines += [tr(N_("Responsibility removed: %(text)s"), text=r) for r in old_resp if r not in new_resp]

    def day(d):
        return d.strftime("%d.%m.%Y") if d else "–"

    changed(tr(N_("Next review")), day(old.next_review), day(new.next_review))
    return lines or [tr(N_("No change to the content."))]


def _zones_of_safe(info: RuleInfo) -> bool:
    try:
        return zones_of(info.definition, resolve_parameters(info.definition, {})) is not None
    except Exception:
        return False


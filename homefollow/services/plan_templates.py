"""Plan templates and baseline calibration: starting points for a patient's plan, and personal
zone limits from the trial period.

A template is a PlanContent document. The shipped ones (homefollow/plan_templates/*.yaml) are
shared by every team (team_id None) and brought in by `sync_defaults`; a team's admins copy one
into the team and adapt it. Starting a patient's plan from a template, and calibrating the
limits, each write a new plan version through plan_changes.change_plan, so a plan keeps one
history whatever changed it.

Personal limits live in one place, the parameters of the plan's zone rules (rules.limits):
red limits in red rules, yellow limits in yellow rules. Writing limits here follows the same
mapping, so what the nurse approves is exactly what the patient's traffic light then uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from collections.abc import Mapping
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from sqlmodel import Session, col, select

from rules import LimitProposal, NotEnoughReadings, Observation, ZoneLimits, code_info
from rules.safety import safety_limits
from rules.limits import zones_of  # the one definition of "a rule that judges readings against limits"
from rules.measurements import ITEMS
from rules.model import Severity

from .. import values
from ..clock import Clock
from ..models import CarePlan, Patient, PlanTemplate
from . import audit, evaluation, plan_safety, rule_tools
from .audit import Actor
from .plan_changes import change_plan
from .plans import PlanContent, current_content
from .team_models import Problem, problem, problems_of

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "plan_templates"
LIMIT_NAMES = ("red_low", "yellow_low", "yellow_high", "red_high")
MAX_YAML_CHARS = 100_000


class TemplateInvalid(ValueError):
    """A template's content is not a valid plan; `problems` says where and why, one per line."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class PlanChanged(Exception):
    """The plan got a new version after the page was opened: the user must look again."""


def _validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "content"
        problems.append(f"{where}: {error['msg']}")
    return problems


def parse_content(data: Any) -> PlanContent:
    """A PlanContent from parsed YAML/JSON; TemplateInvalid lists every problem."""
    if not isinstance(data, dict):
        raise TemplateInvalid(["content: must be a mapping with keys such as goals, measurements and rules"])
    try:
        return PlanContent.model_validate(data)
    except ValidationError as exc:
        raise TemplateInvalid(_validation_problems(exc)) from None


def parse_yaml_content(text: str) -> PlanContent:
    """PlanContent from YAML: either the content itself or a whole template file (with a
    `content:` key), so a shipped file can be pasted as it is."""
    if len(text) > MAX_YAML_CHARS:
        raise TemplateInvalid([f"the text is longer than {MAX_YAML_CHARS} characters"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise TemplateInvalid([f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"]) from None
    if isinstance(data, dict) and isinstance(data.get("content"), dict):
        data = data["content"]
    return parse_content(data)


def check_rules(session: Session, content: PlanContent) -> None:
    """Refuse content whose rules are unknown or get parameters they do not accept."""
    try:
        evaluation.assigned_rules(session, content)
    except evaluation.PlanRulesInvalid as exc:
        raise TemplateInvalid([f"rules.{key}{'.' + name if name else ''}: {reason}"
                               for key, name, reason in exc.problems]) from None


def _short_times(node: Any) -> Any:
    """'08:00:00' → '08:00' in schedules, as people write them (safe_dump quotes what needs it)."""
    if isinstance(node, dict):
        return {k: ([t[:5] if isinstance(t, str) and t.endswith(":00") and len(t) == 8 else t for t in v]
                    if k == "times" and isinstance(v, list) else _short_times(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_short_times(v) for v in node]
    return node


def content_yaml(content: PlanContent) -> str:
    return yaml.safe_dump(_short_times(content.model_dump(mode="json", exclude_defaults=True)), allow_unicode=True,
                          sort_keys=False, width=100)


# --- shipped templates --------------------------------------------------------------------


@dataclass(frozen=True)
class ShippedTemplate:
    key: str
    name: str
    description: str
    content: PlanContent


def shipped_templates(directory: Path = TEMPLATE_DIR) -> list[ShippedTemplate]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            content = parse_content(data.get("content"))
        except TemplateInvalid as exc:
            raise TemplateInvalid([f"{path.name}: {p}" for p in exc.problems]) from None
        found.append(ShippedTemplate(str(data["key"]), str(data["name"]), str(data.get("description", "")), content))
    return found


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (f"Plan templates: {len(self.added)} added, {len(self.updated)} updated, "
                f"{self.unchanged} unchanged.")


def sync_defaults(session: Session, clock: Clock) -> SyncReport:
    """Bring the shipped templates into the shared ones. Idempotent.

    Shared templates are only ever changed here (teams change their own copies), so a shipped
    file that changed simply replaces the shared template's text and content."""
    report = SyncReport()
    for shipped in shipped_templates():
        data = shipped.content.model_dump(mode="json")
        row = session.exec(select(PlanTemplate).where(col(PlanTemplate.team_id).is_(None),
                                                      PlanTemplate.key == shipped.key)).first()
        if row is None:
            session.add(PlanTemplate(team_id=None, key=shipped.key, name=shipped.name,
                                     description=shipped.description, content=data, is_active=True,
                                     created_at=clock.now(), updated_at=clock.now()))
            report.added.append(shipped.key)
        elif (row.name, row.description, row.content) != (shipped.name, shipped.description, data):
            row.name, row.description, row.content = shipped.name, shipped.description, data
            row.updated_at, row.updated_by_account_id = clock.now(), None
            session.add(row)
            report.updated.append(shipped.key)
        else:
            report.unchanged += 1
    return report


# --- templates of a team -------------------------------------------------------------------


def content_of(template: PlanTemplate) -> PlanContent:
    return PlanContent.model_validate(template.content)


def shared_templates(session: Session, *, active_only: bool = True) -> list[PlanTemplate]:
    query = select(PlanTemplate).where(col(PlanTemplate.team_id).is_(None))
    if active_only:
        query = query.where(col(PlanTemplate.is_active).is_(True))
    return list(session.exec(query.order_by(PlanTemplate.name)))


def team_templates(session: Session, team_id: int, *, active_only: bool = False) -> list[PlanTemplate]:
    query = select(PlanTemplate).where(PlanTemplate.team_id == team_id)
    if active_only:
        query = query.where(col(PlanTemplate.is_active).is_(True))
    return list(session.exec(query.order_by(col(PlanTemplate.is_active).desc(), col(PlanTemplate.name))))


def usable_templates(session: Session, team_id: int) -> list[PlanTemplate]:
    """What a team may start a plan from: its own active templates, then the shared ones."""
    return team_templates(session, team_id, active_only=True) + shared_templates(session)


def _free_key(session: Session, team_id: int, key: str) -> str:
    taken = set(session.exec(select(PlanTemplate.key).where(PlanTemplate.team_id == team_id)))
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key[:55]}_{n}"
    return candidate


def copy_to_team(session: Session, clock: Clock, template: PlanTemplate, *, team_id: int,
                 actor: Actor) -> PlanTemplate:
    copy = PlanTemplate(team_id=team_id, key=_free_key(session, team_id, template.key), name=template.name,
                        description=template.description, content=dict(template.content), is_active=True,
                        created_at=clock.now(), updated_at=clock.now(), updated_by_account_id=actor.account_id)
    session.add(copy)
    session.flush()
    audit.record(session, clock, actor=actor, action="plan_template.copy", object_type="plan_template",
                 object_id=copy.id, source_template_id=template.id, team_id=team_id)
    return copy


def update_template(session: Session, clock: Clock, template: PlanTemplate, *, name: str, description: str,
                    content: PlanContent, actor: Actor, how: str, locale: str = "nb") -> PlanTemplate:
    """Save a team template's text and content. Raises TemplateInvalid (nothing saved) when
    its rules do not resolve, or when the change leaves something unwatched or makes a limit
    contradict another or the safety net (plan_safety: what a plan must satisfy)."""
    if template.team_id is None:
        raise PermissionError("shared templates change only through the shipped files")
    check_rules(session, content)
    unsafe = plan_safety.new_problems(session, content, content_of(template), locale)
    if unsafe:
        raise TemplateInvalid([p.message for p in unsafe])
    template.name, template.description = name, description
    template.content = content.model_dump(mode="json")
    template.updated_at, template.updated_by_account_id = clock.now(), actor.account_id
    session.add(template)
    audit.record(session, clock, actor=actor, action="plan_template.change", object_type="plan_template",
                 object_id=template.id, team_id=template.team_id, how=how)
    return template


def set_active(session: Session, clock: Clock, template: PlanTemplate, active: bool, *,
               actor: Actor) -> PlanTemplate:
    if template.team_id is None:
        raise PermissionError("shared templates change only through the shipped files")
    template.is_active = active
    template.updated_at, template.updated_by_account_id = clock.now(), actor.account_id
    session.add(template)
    audit.record(session, clock, actor=actor,
                 action="plan_template.activate" if active else "plan_template.deactivate",
                 object_type="plan_template", object_id=template.id, team_id=template.team_id)
    return template


# --- limits in a plan ----------------------------------------------------------------------


def limit_slots(session: Session, content: PlanContent) -> dict[str, dict[str, list[str]]]:
    """Per measurement code, which personal limits the plan can hold and in which rules:
    {"spo2": {"red_low": ["copd.spo2_red"], "yellow_low": ["copd.spo2_low"]}}. A limit the rule
    does not let a plan override is not offered."""
    slots: dict[str, dict[str, list[str]]] = {}
    for a in evaluation.assigned_rules(session, content, strict=False, safety=False):
        found = zones_of(a.definition, a.parameters)
        if found is None:
            continue
        code = found[0]
        names = ("red_low", "red_high") if a.definition.severity is Severity.RED else ("yellow_low", "yellow_high")
        for name in names:
            if name in a.definition.overridable:
                slots.setdefault(code, {}).setdefault(name, []).append(a.version.key)
    return slots


def current_limits(session: Session, content: PlanContent) -> dict[str, ZoneLimits]:
    return evaluation.personal_zone_limits(evaluation.assigned_rules(session, content, strict=False))


def with_limits(content: PlanContent, slots: dict[str, dict[str, list[str]]],
                chosen: Mapping[str, Mapping[str, float | None]]) -> PlanContent:
    """The plan with these limits written into the parameters of the rules that hold them; a
    limit of None removes the plan's own value, so the rule's default applies."""
    updates: dict[str, dict[str, float | None]] = {}
    for code, named in chosen.items():
        for name, value in named.items():
            for key in slots.get(code, {}).get(name, []):
                updates.setdefault(key, {})[name] = value

    def changed(parameters: dict, update: dict) -> dict:
        merged = {**parameters, **update}
        return {k: v for k, v in merged.items() if v is not None}

    rules = [r.model_copy(update={"parameters": changed(r.parameters, updates[r.key])}) if r.key in updates else r
             for r in content.rules]
    return content.model_copy(update={"rules": rules})


def limits_after(session: Session, content: PlanContent, slots: dict[str, dict[str, list[str]]],
                 chosen: Mapping[str, Mapping[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """Each code's four limits once `chosen` is saved: the value chosen, else the rule's default
    (None: no rule holds that limit). A limit typed on one side can cross a default on the other
    (yellow below 185 beside the default yellow above 179 makes every blood pressure yellow), so
    limit_problems must see these, not only what was typed."""
    defaults = current_limits(session, with_limits(content, slots, {
        code: dict.fromkeys(names) for code, names in slots.items()}))
    after = {}
    for code in slots:
        typed, default = chosen.get(code, {}), defaults.get(code, ZoneLimits())
        after[code] = {name: typed[name] if typed.get(name) is not None else getattr(default, name)
                       for name in LIMIT_NAMES}
    return after


@dataclass(frozen=True)
class LimitProblem:
    name: str  # the limit the problem is about
    kind: str  # "range", "order", "safety"
    bound: float | None = None


def limit_problems(code: str, values: dict[str, float | None],
                   safety: ZoneLimits | None = None) -> list[LimitProblem]:
    """What is wrong with a set of limits for one code (None = not set): outside the plausible
    range, out of order, or a red limit more lenient than the safety limit (the patient's, with
    any recorded decision; by default the safety net's own)."""
    info = code_info(code)
    problems = []
    for name, value in values.items():
        if value is not None and not info.minimum < value < info.maximum:
            problems.append(LimitProblem(name, "range"))
    present = [(n, v) for n in LIMIT_NAMES if (v := values.get(n)) is not None]
    for (low_name, low), (high_name, high) in itertools.pairwise(present):
        if low > high or (low == high and (low_name, high_name) == ("yellow_low", "yellow_high")):
            problems.append(LimitProblem(high_name, "order"))
    safety = safety if safety is not None else safety_limits().get(code, ZoneLimits())
    red_low, red_high = values.get("red_low"), values.get("red_high")
    if red_low is not None and safety.red_low is not None and red_low < safety.red_low:
        problems.append(LimitProblem("red_low", "safety", safety.red_low))
    if red_high is not None and safety.red_high is not None and red_high > safety.red_high:
        problems.append(LimitProblem("red_high", "safety", safety.red_high))
    return problems


# --- starting a plan from a template -------------------------------------------------------


def merged_with_patient(template: PlanContent, current: PlanContent) -> PlanContent:
    """The template's content, keeping what is the patient's own when already set: what matters,
    goals, contacts and the next review."""
    keep: dict[str, Any] = {}
    if current.what_matters.strip():
        keep["what_matters"] = current.what_matters
    if current.goals:
        keep["goals"] = list(current.goals)
    if current.contacts:
        keep["contacts"] = list(current.contacts)
    if current.next_review is not None:
        keep["next_review"] = current.next_review
    return template.model_copy(update=keep, deep=True)


def _check_version(session: Session, patient: Patient, expected_version: int | None) -> PlanContent:
    content, version = current_content(session, patient.id)
    if version != expected_version:
        raise PlanChanged()
    return content


def start_from_template(session: Session, clock: Clock, *, patient: Patient, template: PlanTemplate,
                        actor: Actor, reason: str, expected_version: int | None) -> CarePlan:
    """A new plan version from a template, by the actor. Raises PlanChanged when the plan is no longer the
    one the user saw, evaluation.PlanRulesInvalid when the template's rules do not resolve.
   """
    current = _check_version(session, patient, expected_version)
    content = merged_with_patient(content_of(template), current)
    audit.record(session, clock, actor=actor, action="plan.template_applied", patient_id=patient.id,
                 object_type="plan_template", object_id=template.id, reason=reason)
    try:
        return change_plan(session, clock, patient=patient, content=content, author_account_id=actor.account_id,
                           actor_kind=actor.kind, reason=reason, template_id=template.id)
    except evaluation.PlanRulesInvalid:
        session.rollback()
        raise


# --- baseline calibration ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCalibration:
    code: str
    item: str
    slots: dict[str, list[str]]  # limit name -> rules that hold it
    current: ZoneLimits
    readings: list[Observation]  # the trial period's readings of this code
    proposal: LimitProposal | None
    too_few: NotEnoughReadings | None
    safety: ZoneLimits = ZoneLimits()  # the safety net's limits for this patient

    @property
    def names(self) -> list[str]:
        """The limits the nurse decides on: those the plan can hold that are proposed or set."""
        proposed = self.proposal.limits if self.proposal else ZoneLimits()
        return [n for n in LIMIT_NAMES if n in self.slots
                and (getattr(proposed, n) is not None or getattr(self.current, n) is not None)]


@dataclass(frozen=True)
class Calibration:
    patient: Patient
    start: datetime
    end: datetime
    trial_over: bool
    plan_version: int | None
    codes: list[CodeCalibration]

    @property
    def end_of_trial(self) -> datetime:
        return self.start + rule_tools.TRIAL_PERIOD


def calibration(session: Session, clock: Clock, patient: Patient) -> Calibration:
    """Proposals for every measured code of the plan that a zone rule watches."""
    content, version = current_content(session, patient.id)
    now = clock.now()
    start, end = rule_tools.trial_period(patient, now)
    trial_over = now >= start + rule_tools.TRIAL_PERIOD
    slots = limit_slots(session, content)
    limits = current_limits(session, content)
    observations = [o for o in evaluation.observations(session, patient.id, start) if o.at < end]
    safety = rule_tools.safety_limits_of(session, patient)
    codes = []
    for measurement in content.measurements:
        for code in ITEMS[measurement.item].codes:
            if code not in slots:
                continue
            proposal = too_few = None
            try:
                proposal = rule_tools.propose_personal_limits(session, clock, patient, code, start=start, end=end)
            except NotEnoughReadings as exc:
                too_few = exc
            codes.append(CodeCalibration(code, measurement.item, slots[code], limits.get(code, ZoneLimits()),
                                         [o for o in observations if o.code == code], proposal, too_few,
                                         safety.get(code, ZoneLimits())))
    return Calibration(patient, start, end, trial_over, version, codes)


def _limit(value: Any) -> float | None:
    try:
        return values.optional_decimal(value)
    except values.BadValue as exc:
        raise problem("not_a_number", value=exc.text, reason=exc.reason) from None


Limit = Annotated[float | None, BeforeValidator(_limit)]


class LimitRow(BaseModel):
    """One measurement's row of the calibration form: whether its limits change, and the new
    limits typed (empty: the limit stays as it is)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = ""
    use: bool = False
    red_low: Limit = None
    yellow_low: Limit = None
    yellow_high: Limit = None
    red_high: Limit = None

    def given(self, names: list[str]) -> dict[str, float]:
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class CalibrationInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    codes: list[LimitRow] = []


def calibratable(cal: Calibration) -> list[CodeCalibration]:
    """The codes the nurse decides on, in the order of the form's rows."""
    return [c for c in cal.codes if c.proposal is not None and c.names] if cal.trial_over else []


def _row_problems(i: int, c: CodeCalibration, given: dict[str, float]) -> list[Problem]:
    """The limits judged as they will be: the current ones with the nurse's changes. Each
    problem is put on a limit the nurse typed (the one it is about, if typed)."""
    merged = {n: given.get(n, getattr(c.current, n)) for n in LIMIT_NAMES}
    problems = []
    for p in limit_problems(c.code, merged, c.safety):
        target = p.name if p.name in given else next(iter(given), None)
        if target is not None:
            problems.append((("codes", i, target), f"limit_{p.kind}", {"code": c.code, "bound": p.bound}))
    return problems


CALIBRATION_CODES = frozenset({"not_a_number"})


def check_calibration(cal: Calibration, rows: list[dict]) -> tuple[dict[str, dict[str, float]] | None,
                                                                   list[Problem]]:
    """The calibration form's rows → the limits chosen per code, or the problems at their
    fields: a value that is no number, a limit out of range, out of order or more lenient than
    the safety limit; nothing ticked. Rows that no longer match the codes (new readings since
    the page was shown) are 'rows_changed' for the whole form."""
    codes = calibratable(cal)
    try:
        typed = CalibrationInput.model_validate({"codes": rows})
    except ValidationError as exc:
        return None, problems_of(exc, CALIBRATION_CODES)
    if [r.code for r in typed.codes] != [c.code for c in codes]:
        return None, [((), "rows_changed", {})]
    chosen, problems = {}, []
    for i, (c, row) in enumerate(zip(codes, typed.codes, strict=True)):
        given = row.given(c.names) if row.use else {}
        problems += _row_problems(i, c, given)
        if given:
            chosen[c.code] = given
    if not problems and not chosen:
        problems.append((("codes", 0, "use"), "none_ticked", {}))
    return (None, problems) if problems else (chosen, [])


def apply_calibration(session: Session, clock: Clock, *, patient: Patient, chosen: dict[str, dict[str, float]],
                      actor: Actor, reason: str, expected_version: int | None) -> CarePlan:
    """Write the approved limits into the plan as a new version, by the actor. Raises PlanChanged or
    evaluation.PlanRulesInvalid (nothing saved)."""
    content = _check_version(session, patient, expected_version)
    slots = limit_slots(session, content)
    new_content = with_limits(content, slots, chosen)
    audit.record(session, clock, actor=actor, action="plan.limits_calibrated", patient_id=patient.id, limits=chosen,
                 reason=reason)
    try:
        return change_plan(session, clock, patient=patient, content=new_content,
                           author_account_id=actor.account_id, actor_kind=actor.kind, reason=reason)
    except evaluation.PlanRulesInvalid:
        session.rollback()
        raise

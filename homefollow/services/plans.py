"""The patient's plan: its document format and its versions.

A plan version is immutable. Changing a plan writes a new version with who, when and why;
everything that reads a plan (the patient's "today", zones, alerts) reads the newest.
"""

from __future__ import annotations

from datetime import date

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func
from sqlmodel import Session, select, col

from rules.measurements import ITEMS
from rules.schedule import Schedule
from rules.zones import Zone

from ..clock import Clock
from ..db import among_ids
from ..models import CarePlan


class ZoneActions(BaseModel):
    """What to do in each zone, in the plan's own words."""

    model_config = ConfigDict(extra="forbid")

    green: str = ""
    yellow: str = ""
    red: str = ""

    def for_zone(self, zone: Zone | str) -> str:
        return getattr(self, Zone(zone).value)


class PlanMeasurement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str  # rules.measurements.ITEMS key, e.g. "blood_pressure"
    schedule: Schedule | None = None  # None: measured when needed, not expected on a schedule
    # How long after a scheduled time a missing report counts as missed.
    grace_minutes: int = Field(default=180, ge=15, le=24 * 60)
    patient_actions: ZoneActions = Field(default_factory=ZoneActions)
    team_actions: ZoneActions = Field(default_factory=ZoneActions)

    @field_validator("item")
    @classmethod
    def _known_item(cls, v: str) -> str:
        if v not in ITEMS:
            raise ValueError(f"unknown measurement {v!r}")
        return v


class PlanTask(BaseModel):
    """A self-care action of the plan ("Ta morgenmedisinen", "15 minutters gåtur"), ticked off
    as done or not. Reports give the rules 'task.<key>' = 1 (done) or 0."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    text: str = Field(min_length=1, max_length=200)
    schedule: Schedule | None = None  # None: when needed (the rescue inhaler)
    grace_minutes: int = Field(default=180, ge=15, le=24 * 60)


class PlanQuestionnaire(BaseModel):
    """A questionnaire the patient answers on a schedule (homefollow.questionnaires)."""

    model_config = ConfigDict(extra="forbid")

    key: str
    schedule: Schedule
    grace_minutes: int = Field(default=240, ge=15, le=3 * 24 * 60)

    @field_validator("key")
    @classmethod
    def _known(cls, v: str) -> str:
        from ..questionnaires import QUESTIONNAIRES

        if v not in QUESTIONNAIRES:
            raise ValueError(f"unknown questionnaire {v!r}")
        return v


class AssignedRule(BaseModel):
    """A rule the plan applies to this patient, with the patient's own parameters (personal
    limits, dry weight, SpO2 target band). The defaults come from the rule's active version."""

    model_config = ConfigDict(extra="forbid")

    key: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class SafetyDecision(BaseModel):
    """A limit of the safety net changed for this patient: a clinical decision with who, when
    and why (e.g. SpO2 scale 2, red below 84 %, for documented hypercapnic respiratory failure).
    Shown with the plan and in every alert the changed limit raises. Only a decision can make
    the safety net looser; a plan's own rules may only be stricter (services.plan_safety)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(pattern=r"^safety\.[a-z0-9_]+$")  # the safety rule whose parameters change
    parameters: dict[str, Any] = Field(min_length=1)  # e.g. {"red_low": 84}
    reason: str = Field(min_length=10, max_length=500)
    decided_by: str = Field(min_length=2, max_length=200)  # the clinician's name and role
    decided_by_account_id: int | None = None  # who recorded it
    decided_on: date


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: str  # "fastlege", "hjemmesykepleien", "datter"
    phone: str | None = None


class AnticipatedEvent(BaseModel):
    """A crisis that is likely for this patient (a COPD exacerbation, a fall), agreed in advance:
    how to recognise it, what each party does and who is responsible for following it up."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    signs: str = Field(default="", max_length=1000)
    patient: str = Field(default="", max_length=1000)
    relative: str = Field(default="", max_length=1000)
    home_nursing: str = Field(default="", max_length=1000)
    gp: str = Field(default="", max_length=1000)
    team: str = Field(default="", max_length=1000)
    responsible: str = Field(default="", max_length=200)


class Responsibility(BaseModel):
    """Who is responsible for what in the follow-up ("Medisinendringer": "fastlegen")."""

    model_config = ConfigDict(extra="forbid")

    what: str = Field(min_length=1, max_length=200)
    who: str = Field(min_length=1, max_length=200)


class PlanContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what_matters: str = ""  # "Hva er viktig for deg?" in the patient's words
    goals: list[str] = Field(default_factory=list)
    measurements: list[PlanMeasurement] = Field(default_factory=list)
    questionnaires: list[PlanQuestionnaire] = Field(default_factory=list)
    tasks: list[PlanTask] = Field(default_factory=list)
    rules: list[AssignedRule] = Field(default_factory=list)
    # Instructions by a rule's instruction key ("copd.yellow": "Start the standby course …"),
    # besides each measurement's own zone instructions ("weight.yellow").
    instructions: dict[str, str] = Field(default_factory=dict)
    contacts: list[Contact] = Field(default_factory=list)
    next_review: date | None = None
    # Optional and defaulted, so plans stored before they existed stay valid.
    anticipated_events: list[AnticipatedEvent] = Field(default_factory=list)
    responsibilities: list[Responsibility] = Field(default_factory=list)
    safety_decisions: list[SafetyDecision] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_entry_each(self) -> PlanContent:
        items = [m.item for m in self.measurements]
        if len(items) != len(set(items)):
            raise ValueError("each measurement may appear only once in a plan")
        for name, entries in (("rule", self.rules), ("questionnaire", self.questionnaires), ("task", self.tasks)):
            keys = [e.key for e in entries]
            if len(keys) != len(set(keys)):
                raise ValueError(f"each {name} may appear only once in a plan")
        decided = [(d.rule, name) for d in self.safety_decisions for name in d.parameters]
        if len(decided) != len(set(decided)):
            raise ValueError("each limit of the safety net may have only one decision in a plan")
        return self

    def safety_overrides(self) -> dict[str, dict[str, Any]]:
        """The safety rules' parameters as the recorded decisions set them, by rule key."""
        found: dict[str, dict[str, Any]] = {}
        for decision in self.safety_decisions:
            found.setdefault(decision.rule, {}).update(decision.parameters)
        return found

    def measurement(self, item: str) -> PlanMeasurement | None:
        return next((m for m in self.measurements if m.item == item), None)

    def task(self, key: str) -> PlanTask | None:
        return next((t for t in self.tasks if t.key == key), None)

    def questionnaire(self, key: str) -> PlanQuestionnaire | None:
        return next((q for q in self.questionnaires if q.key == key), None)

    def instruction(self, key: str) -> str:
        """The plan's words for an instruction key: 'copd.yellow', or '<item>.<zone>'."""
        if key in self.instructions:
            return self.instructions[key]
        item, _sep, zone = key.rpartition(".")
        measurement = self.measurement(item)
        if measurement is not None and zone in ("green", "yellow", "red"):
            return measurement.patient_actions.for_zone(zone)
        return ""


def current_plan(session: Session, patient_id: int) -> CarePlan | None:
    return session.exec(
        select(CarePlan).where(col(CarePlan.patient_id) == patient_id).order_by(col(CarePlan.version).desc()).limit(1)
    ).first()


def current_content(session: Session, patient_id: int) -> tuple[PlanContent, int | None]:
    """The newest plan's content and version; an empty plan when none exists yet."""
    plan = current_plan(session, patient_id)
    if plan is None:
        return PlanContent(), None
    return PlanContent.model_validate(plan.content), plan.version


def current_contents(session: Session, patient_ids: list[int]) -> dict[int, PlanContent]:
    """The newest plan of each of these patients (one query); patients without a plan get an
    empty one."""
    return {pid: content for pid, (content, _version) in current_plans(session, patient_ids).items()}


def current_plans(session: Session, patient_ids: list[int]) -> dict[int, tuple[PlanContent, int]]:
    """The newest plan of each of these patients and its version (one query per thousand);
    patients without a plan get an empty one, version 0."""
    found = {patient_id: (PlanContent.model_validate(content), version)
             for patient_id, content, version in _newest(session, patient_ids, CarePlan.content, CarePlan.version)}
    return {pid: found.get(pid, (PlanContent(), 0)) for pid in patient_ids}


def current_versions(session: Session, patient_ids: list[int]) -> dict[int, int]:
    """The newest plan version of each of these patients, 0 for none, without reading the plans."""
    found: dict[int, int] = {}
    for chunk in _chunks(patient_ids):
        found.update(session.execute(select(CarePlan.patient_id, func.max(CarePlan.version))
                                     .where(among_ids(session, col(CarePlan.patient_id), chunk))
                                     .group_by(col(CarePlan.patient_id))).all())
    return {pid: found.get(pid, 0) for pid in patient_ids}


def current_template_ids(session: Session, patient_ids: list[int]) -> dict[int, int | None]:
    """The template each patient's newest plan was started from (None: not from a template),
    for the patients that have a plan."""
    return {patient_id: template_id for patient_id, template_id in _newest(session, patient_ids, CarePlan.template_id)}


def next_reviews(session: Session, patient_ids: list[int]) -> dict[int, date | None]:
    """Each patient's next plan review by the newest plan (None: none set, or no plan), read out
    of the plans in the database: a team's thousand plans are not parsed for one date each."""
    found = {patient_id: date.fromisoformat(day) if day else None for patient_id, day in _newest(
        session, patient_ids, col(CarePlan.content)["next_review"].as_string())}
    return {pid: found.get(pid) for pid in patient_ids}


def _chunks(patient_ids: list[int], size: int = 1000) -> list[list[int]]:
    """The ids a thousand at a time: an IN list within every database's limit."""
    return [patient_ids[start:start + size] for start in range(0, len(patient_ids), size)]


def _newest(session: Session, patient_ids: list[int], *columns) -> list:
    """(patient id, *columns) of each of these patients' newest plan, a query per thousand."""
    rows: list = []
    for chunk in _chunks(patient_ids):
        newest = (select(CarePlan.patient_id, func.max(CarePlan.version).label("version"))
                  .where(among_ids(session, col(CarePlan.patient_id), chunk)).group_by(col(CarePlan.patient_id))
                  .subquery())
        rows += session.execute(select(CarePlan.patient_id, *columns)
                                .join(newest, (col(CarePlan.patient_id) == newest.c.patient_id)
                                      & (CarePlan.version == newest.c.version))).all()
    return rows


def save_new_version(
    session: Session,
    clock: Clock,
    *,
    patient_id: int,
    content: PlanContent,
    author_account_id: int | None,
    reason: str,
    template_id: int | None = None,
) -> CarePlan:
    """Add a plan version.
    `template_id`: the template the plan starts from now; without it the version keeps the
    template of the one before."""
    previous = current_plan(session, patient_id)
    plan = CarePlan(
        patient_id=patient_id,
        version=(previous.version + 1) if previous else 1,
        content=content.model_dump(mode="json"),
        created_at=clock.now(),
        created_by_account_id=author_account_id,
        change_reason=reason,
        template_id=template_id if template_id is not None else (previous.template_id if previous else None),
    )
    session.add(plan)
    session.flush()
    return plan

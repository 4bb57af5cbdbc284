"""The patient's plan: its document format and its versions.

A plan version is immutable. Changing a plan writes a new version with who, when and why;
everything that reads a plan (the patient's "today", zones, alerts) reads the newest.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlmodel import Session, select

from rules.measurements import ITEMS
from rules.schedule import Schedule
from rules.zones import Zone, ZoneLimits

from ..clock import Clock
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
    limits: dict[str, ZoneLimits] = Field(default_factory=dict)  # per measurement code
    patient_actions: ZoneActions = Field(default_factory=ZoneActions)
    team_actions: ZoneActions = Field(default_factory=ZoneActions)

    @field_validator("item")
    @classmethod
    def _known_item(cls, v: str) -> str:
        if v not in ITEMS:
            raise ValueError(f"unknown measurement {v!r}")
        return v

    @model_validator(mode="after")
    def _limits_belong_to_item(self) -> "PlanMeasurement":
        for code in self.limits:
            if code not in ITEMS[self.item].codes:
                raise ValueError(f"limits for {code!r} do not belong to {self.item!r}")
        return self


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: str  # "fastlege", "hjemmesykepleien", "datter"
    phone: str | None = None


class PlanContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what_matters: str = ""  # "Hva er viktig for deg?" in the patient's words
    goals: list[str] = Field(default_factory=list)
    measurements: list[PlanMeasurement] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    next_review: date | None = None

    @model_validator(mode="after")
    def _one_entry_per_item(self) -> "PlanContent":
        items = [m.item for m in self.measurements]
        if len(items) != len(set(items)):
            raise ValueError("each measurement may appear only once in a plan")
        return self

    def measurement(self, item: str) -> PlanMeasurement | None:
        return next((m for m in self.measurements if m.item == item), None)

    def limits_for(self, code: str) -> ZoneLimits | None:
        for m in self.measurements:
            if code in m.limits:
                return m.limits[code]
        return None


def current_plan(session: Session, patient_id: int) -> CarePlan | None:
    return session.exec(
        select(CarePlan).where(CarePlan.patient_id == patient_id).order_by(CarePlan.version.desc()).limit(1)
    ).first()


def current_content(session: Session, patient_id: int) -> tuple[PlanContent, int | None]:
    """The newest plan's content and version; an empty plan when none exists yet."""
    plan = current_plan(session, patient_id)
    if plan is None:
        return PlanContent(), None
    return PlanContent.model_validate(plan.content), plan.version


def save_new_version(
    session: Session,
    clock: Clock,
    *,
    patient_id: int,
    content: PlanContent,
    author_account_id: int | None,
    reason: str,
) -> CarePlan:
    """Add a plan version. Does not commit: the caller's use case owns the transaction."""
    previous = current_plan(session, patient_id)
    plan = CarePlan(
        patient_id=patient_id,
        version=(previous.version + 1) if previous else 1,
        content=content.model_dump(mode="json"),
        created_at=clock.now(),
        created_by_account_id=author_account_id,
        change_reason=reason,
    )
    session.add(plan)
    session.flush()
    return plan

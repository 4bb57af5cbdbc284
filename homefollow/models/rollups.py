"""Counts kept beside the raw reports so that pages over a whole team do not re-read months of
them (issue 22). A cache of one definition, never a second one: services.adherence_days keeps
them current from services.checklist and says when they are stale."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class AdherenceDay(SQLModel, table=True):
    """Slots the plan expected and slots done, of one report kind, on one whole local day of a
    patient (checklist.adherence_by_day), by the plan version its AdherenceRollup names."""

    __tablename__ = "adherence_day"

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    day: date = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)  # ReportKind
    expected: int
    done: int


class AdherenceRollup(SQLModel, table=True):
    """Which of a patient's AdherenceDay rows hold: the days [first_day, through), counted by
    plan version `plan_version` (0: no plan) in `time_zone`, with follow-up from `since_day`.
    `expects` is False when that plan asks for nothing at set times (no day is counted)."""

    __tablename__ = "adherence_rollup"

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    plan_version: int
    expects: bool
    time_zone: str = Field(max_length=64)
    since_day: date
    first_day: date
    through: date

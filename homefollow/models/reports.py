"""What patients and relatives report: one Report per submission, holding its values."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class ReportKind(str, Enum):
    MEASUREMENT = "measurement"  # item_key: rules.measurements.ITEMS key
    QUESTIONNAIRE = "questionnaire"  # item_key: homefollow.questionnaires key
    TASK = "task"  # item_key: the plan's self-care task key


class ReportSource(str, Enum):
    PORTAL = "portal"
    SMS = "sms"
    DEVICE = "device"
    API = "api"
    STAFF = "staff"  # a nurse who registered a reading for the patient (a call, a home visit)
    DEMO = "demo"


class Report(SQLModel, table=True):
    """One submission. The idempotency key (from the form, the SMS id or the sender's id)
    makes a repeated submission return the first one instead of storing twice."""

    # (patient, time, id): a patient's newest report and a window of their reports by index
    __table_args__ = (UniqueConstraint("patient_id", "idempotency_key"),
                      Index("ix_report_patient_measured", "patient_id", "measured_at", "id"))

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id", index=True)
    kind: str = Field(default=ReportKind.MEASUREMENT.value, max_length=20)  # ReportKind
    item_key: str = Field(max_length=40)
    idempotency_key: str = Field(max_length=100)
    source: str = Field(max_length=20)  # ReportSource
    reported_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    reported_at: datetime = utc_column()
    measured_at: datetime = utc_column()
    zone: str | None = Field(default=None, max_length=10)
    plan_version: int | None = None
    # What the patient was told on the result page, in the plan's own words: a record of the
    # advice given, and what the page shows again if reopened.
    instructions: list = json_column(default_factory=list)
    team_alerted: bool = Field(default=False)  # the report opened or updated an alert
    # A single reading outside a limit that must be confirmed: the patient is asked to measure
    # again by this time, and without a new reading the team is told then (rules: n_of_m with
    # confirm_within).
    remeasure_by: datetime | None = utc_column(nullable=True)
    comment: str | None = Field(default=None, max_length=1000)  # e.g. why a task was not done


class Measurement(SQLModel, table=True):
    """One numeric observation the rules read: a measured value in its canonical unit
    (rules.measurements.CATALOGUE), a questionnaire score ('cat.total', 'checkin.swelling') or a
    self-care task done or not ('task.walk' 1/0)."""

    __table_args__ = (Index("ix_measurement_patient_code_time", "patient_id", "code", "measured_at"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    report_id: int = Field(foreign_key="report.id", index=True)
    patient_id: int = Field(foreign_key="patient.id")
    code: str = Field(max_length=40)
    value: float
    measured_at: datetime = utc_column()


class QuestionnaireDraft(SQLModel, table=True):
    """Answers given so far to a questionnaire the patient has not finished: kept, so stopping
    half-way loses nothing. Replaced by a Report when the last question is answered."""

    __tablename__ = "questionnaire_draft"
    __table_args__ = (UniqueConstraint("patient_id", "questionnaire_key"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id")
    questionnaire_key: str = Field(max_length=40)
    answers: dict = json_column()
    idempotency_key: str = Field(max_length=100)
    started_at: datetime = utc_column()
    updated_at: datetime = utc_column()

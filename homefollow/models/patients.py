"""Patients and the relatives they let in."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class PatientStatus(str, Enum):
    REFERRED = "referred"  # no consent yet: nothing is sent to them and nothing expected of them
    ACTIVE = "active"
    PAUSED = "paused"  # admitted to hospital, on holiday: no missed-check-in alerts
    ENDED = "ended"  # ended or consent withdrawn: follow-up has stopped


class Patient(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    account_id: int | None = Field(default=None, foreign_key="account.id", unique=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    municipality_id: int | None = Field(default=None, foreign_key="organisation.id")
    name: str = Field(max_length=200)
    birth_date: date | None = None
    phone: str | None = Field(default=None, max_length=32)
    time_zone: str = Field(default="Europe/Oslo", max_length=64)
    gp_name: str | None = Field(default=None, max_length=200)
    gp_phone: str | None = Field(default=None, max_length=32)
    diagnoses: list = json_column(default_factory=list)
    # Clinical Frailty Scale (1 very fit … 9 terminally ill), as last assessed by the team.
    frailty_score: int | None = Field(default=None)
    status: str = Field(default=PatientStatus.ACTIVE.value, max_length=20)
    # When follow-up began (the inclusion date of the outcome figures): no check-in is expected
    # before it.
    monitoring_since: datetime | None = utc_column(nullable=True)
    # When follow-up last resumed after a pause (a discharge from hospital): check-ins missed
    # while paused are not held against the patient.
    resumed_at: datetime | None = utc_column(nullable=True)
    # A pause (status paused): since when and why ("admission", "holiday"), when it ends by
    # itself (None: when a discharge or a clinician resumes it), and when the team is asked
    # whether a pause without an end still holds (services.pauses).
    paused_at: datetime | None = utc_column(nullable=True)
    pause_reason: str | None = Field(default=None, max_length=20)
    paused_until: datetime | None = utc_column(nullable=True, index=True)
    pause_review_at: datetime | None = utc_column(nullable=True, index=True)
    # SMS reminders for scheduled measurements not done in time: services.reminders.Settings
    # as JSON, and when the reminder sweep must next look at this patient.
    reminders: dict = json_column()
    reminder_due_at: datetime | None = utc_column(nullable=True, index=True)
    is_demo: bool = Field(default=False)
    created_at: datetime = utc_column()

    @property
    def in_follow_up(self) -> bool:
        """Consented and not ended (a pause counts): only then is anything sent to the patient
        or their relatives. Referred without consent, consent withdrawn, or ended: nothing."""
        return self.status in (PatientStatus.ACTIVE.value, PatientStatus.PAUSED.value)

    @property
    def followed_since(self) -> datetime:
        """Since when the plan asks things of the patient: nothing is expected before."""
        return self.resumed_at or self.monitoring_since or self.created_at


class RelativeAccess(SQLModel, table=True):
    """What one relative may do for one patient. Checked on every request, so a revoked or
    expired grant takes effect at once."""

    __tablename__ = "relative_access"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id", index=True)
    relative_account_id: int = Field(foreign_key="account.id", index=True)
    relation: str = Field(max_length=100)  # "datter", "sønn", "ektefelle" — shown with values
    can_view: bool = Field(default=True)
    can_report: bool = Field(default=False)
    receives_alerts: bool = Field(default=False)
    valid_until: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.valid_until is None or now < self.valid_until)

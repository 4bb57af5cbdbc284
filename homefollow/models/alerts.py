"""Alerts: at most one open alert per patient × rule, with an append-only event log."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from .base import JSONType, json_column, utc_column


class AlertStatus(str, Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(str, Enum):
    ADVICE_GIVEN = "advice_given"
    PLAN_ADJUSTED = "plan_adjusted"
    HOME_VISIT = "home_visit"
    REFERRED_TO_GP = "referred_to_gp"
    ADMITTED = "admitted"
    MEASUREMENT_ERROR = "measurement_error"
    OTHER = "other"


class Alert(SQLModel, table=True):
    __table_args__ = (
        # The database itself guarantees one unresolved alert per patient and rule.
        Index(
            "uq_alert_open_per_rule",
            "patient_id",
            "rule_key",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_alert_team_status", "team_id", "status"),
    )

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    # The alert's key: the rule's group (one alert for a red and a yellow rule on the same
    # thing) or the rule key itself.
    rule_key: str = Field(max_length=100)
    rule_version: int = Field(default=1)
    # The exact rule version whose finding last updated the alert, and that rule's title.
    rule_version_id: int | None = Field(default=None, foreign_key="rule_version.id")
    title: dict = json_column()
    severity: str = Field(max_length=10)  # rules.zones.Zone: yellow or red
    status: str = Field(default=AlertStatus.OPEN.value, max_length=20)
    # Short code a nurse can reply with by SMS; never reveals anything about the patient.
    short_code: str = Field(max_length=8, unique=True)
    opened_at: datetime = utc_column()
    # Since when the alert has had its current severity: a yellow alert raised to red has
    # waited for a red response since the raise, not since the yellow opened.
    severity_since: datetime = utc_column()
    last_seen_at: datetime = utc_column()
    occurrences: int = Field(default=1)
    # Bilingual texts {"nb": ..., "en": ...} as produced by the rule engine.
    value_text: dict = json_column()
    threshold_text: dict = json_column()
    explanation: dict = json_column()
    last_report_id: int | None = Field(default=None, foreign_key="report.id")
    acknowledged_at: datetime | None = utc_column(nullable=True)
    acknowledged_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    resolved_at: datetime | None = utc_column(nullable=True)
    resolved_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    outcome: str | None = Field(default=None, max_length=30)  # Outcome
    resolution_note: str | None = Field(default=None, max_length=2000)
    # Paging: the team's policy frozen when the alert fired, the planner's state, and when the
    # planner must look again (the scheduler's sweep claims alerts whose time has come).
    escalation_policy: dict | None = Field(default=None, sa_type=JSONType, nullable=True)
    escalation_state: dict | None = Field(default=None, sa_type=JSONType, nullable=True)
    escalation_due_at: datetime | None = utc_column(nullable=True, index=True)
    # A snooze pauses paging until it ends; the alert stays in the queue meanwhile.
    snoozed_at: datetime | None = utc_column(nullable=True)
    snoozed_until: datetime | None = utc_column(nullable=True)
    snooze_reason: str | None = Field(default=None, max_length=500)
    # Who in the team is following the alert up (assigned to themselves or by a colleague).
    assigned_to_account_id: int | None = Field(default=None, foreign_key="account.id")
    assigned_at: datetime | None = utc_column(nullable=True)


class AlertEvent(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted (enforced in services.events)."""

    __tablename__ = "alert_event"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: datetime = utc_column()
    actor_account_id: int | None = Field(default=None, foreign_key="account.id")
    kind: str = Field(max_length=40)  # opened, repeated, severity_raised, notified, acknowledged, resolved
    data: dict = json_column()

"""Who read or changed which patient's data, when. Append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_patient_at", "patient_id", "at"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    at: datetime = utc_column()
    actor_account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    actor_kind: str = Field(max_length=20)  # staff, patient, relative, system, anonymous
    action: str = Field(max_length=60)  # e.g. view.today, report.create, alert.resolve, access.denied
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    object_type: str | None = Field(default=None, max_length=40)
    object_id: int | None = None
    ip: str | None = Field(default=None, max_length=64)
    detail: dict = json_column()

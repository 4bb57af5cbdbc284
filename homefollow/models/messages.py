"""Messages between a patient (or a relative) and the care team. Not for emergencies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from .base import utc_column


class Message(SQLModel, table=True):
    __table_args__ = (Index("ix_message_patient_created", "patient_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    author_account_id: int | None = Field(default=None, foreign_key="account.id")
    from_team: bool  # written by staff (True) or by the patient or a relative (False)
    body: str = Field(sa_type=Text)
    created_at: datetime = utc_column()
    read_by_team_at: datetime | None = utc_column(nullable=True)
    read_by_patient_at: datetime | None = utc_column(nullable=True)

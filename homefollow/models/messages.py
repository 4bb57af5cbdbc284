"""Messages between a patient (or a relative) and the care team. Not for emergencies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import utc_column


class Message(SQLModel, table=True):
    # The key from the form makes a double send from a flaky phone one message.
    __table_args__ = (Index("ix_message_patient_created", "patient_id", "created_at"),
                      UniqueConstraint("patient_id", "idempotency_key", name="uq_message_patient_idempotency_key"))

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id")
    author_account_id: int | None = Field(default=None, foreign_key="account.id")
    from_team: bool  # written by staff (True) or by the patient or a relative (False)
    body: str = Field(sa_type=Text)
    idempotency_key: str | None = Field(default=None, max_length=100)
    created_at: datetime = utc_column()
    read_by_team_at: datetime | None = utc_column(nullable=True)
    read_by_patient_at: datetime | None = utc_column(nullable=True)

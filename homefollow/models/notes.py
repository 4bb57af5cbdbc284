"""Clinical notes the team writes on a patient's timeline, and the team's plan templates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class PatientNote(SQLModel, table=True):
    """A note by a member of the team ("Ringte Astrid, ok etter ny dose furosemid"). Never
    edited: a correction is a new note."""

    __tablename__ = "patient_note"
    __table_args__ = (Index("ix_patient_note_patient_created", "patient_id", "created_at"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id")
    author_account_id: int = Field(foreign_key="account.id")
    body: str = Field(sa_type=Text)
    created_at: datetime = utc_column()


class PlanTemplate(SQLModel, table=True):
    """A starting point for a patient's plan (COPD, heart failure, frail elderly, diabetes),
    kept by a team's admins. `content` is a PlanContent document; team_id None is shared."""

    __tablename__ = "plan_template"
    __table_args__ = (UniqueConstraint("team_id", "key"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    team_id: int | None = Field(default=None, foreign_key="team.id")
    key: str = Field(max_length=60)
    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=1000)
    content: dict = json_column()
    is_active: bool = Field(default=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    updated_by_account_id: int | None = Field(default=None, foreign_key="account.id")

"""The patient's plan, one immutable row per version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class CarePlan(SQLModel, table=True):
    """One version of a patient's plan. `content` is a PlanContent document
    (homefollow.plan_content); a change is a new row, never an update."""

    __tablename__ = "care_plan"
    __table_args__ = (UniqueConstraint("patient_id", "version"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id", index=True)
    version: int
    content: dict = json_column()
    created_at: datetime = utc_column()
    created_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    change_reason: str = Field(default="", max_length=500)
    # The template the plan was last started from; later versions carry it on, so "patients on
    # this template" (backtests, service figures) is the newest version's template.
    template_id: int | None = Field(default=None, foreign_key="plan_template.id", index=True)

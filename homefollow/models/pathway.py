"""The enrolment pathway (pakkeforløp) of one patient: referral, consent, the mapping
conversation, plan, trial period, follow-up with evaluations, and ending. Dates are the
patient's local calendar dates, as the team records them; deadlines follow from them and the
team's settings (homefollow.services.pathway)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class EndReason(str, Enum):
    IMPROVED = "improved"
    TOO_ILL = "too_ill"
    DIED = "died"
    MOVED = "moved"
    DECLINED = "declined"  # also what a withdrawal of consent ends with


class CarePathway(SQLModel, table=True):
    __tablename__ = "care_pathway"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id", unique=True)
    referred_on: date
    referred_by: str = Field(default="", max_length=200)  # who referred: a ward, the GP, the municipality
    consent_on: date | None = None
    consent_scope: list = json_column(default_factory=list)  # services.pathway.CONSENT_SCOPES
    consent_given_by: str | None = Field(default=None, max_length=20)  # "patient" or "representative"
    consent_representative: str = Field(default="", max_length=200)  # the representative's name and relation
    consent_withdrawn_on: date | None = None
    mapping_on: date | None = None
    what_matters: str = Field(default="", max_length=2000)
    goals: str = Field(default="", max_length=2000)
    risks: str = Field(default="", max_length=2000)
    trial_start_on: date | None = None
    trial_end_on: date | None = None
    # [{"on": "2026-06-01", "note": "...", "by": account id}], oldest first
    evaluations: list = json_column(default_factory=list)
    ended_on: date | None = None
    end_reason: str | None = Field(default=None, max_length=20)  # EndReason
    end_note: str = Field(default="", max_length=2000)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()

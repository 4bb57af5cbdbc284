"""Organisations and the cross-level teams whose members come from several of them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import JSONType, json_column, utc_column


class OrganisationKind(str, Enum):
    MUNICIPALITY = "municipality"
    HOSPITAL = "hospital"
    GP_OFFICE = "gp_office"


class Organisation(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)  # OrganisationKind
    created_at: datetime = utc_column()


class Team(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    name: str = Field(max_length=200)
    # What patients call in opening hours, and where alert SMS go until issue-4 style
    # escalation policies route them.
    phone: str | None = Field(default=None, max_length=32)
    on_call_phone: str | None = Field(default=None, max_length=32)
    # What patients are told to call when the team is closed (a 24/7 response centre); None:
    # legevakt 116 117.
    out_of_hours_phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200)
    time_zone: str = Field(default="Europe/Oslo", max_length=64)
    # {"mon": ["08:00", "15:30"], ...}; a missing day means closed.
    opening_hours: dict = json_column()
    # homefollow.escalation.EscalationPolicy as JSON; None: the default built from this team
    # (see services.escalation.team_policy).
    escalation_policy: dict | None = Field(default=None, sa_type=JSONType, nullable=True)
    # homefollow.escalation.OnCallSchedule as JSON; None: no rota (role steps page the role).
    on_call_schedule: dict | None = Field(default=None, sa_type=JSONType, nullable=True)
    # services.pathway.Deadlines as JSON; None: the defaults.
    pathway_deadlines: dict | None = Field(default=None, sa_type=JSONType, nullable=True)
    created_at: datetime = utc_column()


class Role(str, Enum):
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    PHYSICIAN = "physician"
    GP = "gp"
    TEAM_ADMIN = "team_admin"


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team_id", "account_id", "role"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    team_id: int = Field(foreign_key="team.id", index=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    role: str = Field(max_length=20)  # Role
    created_at: datetime = utc_column()

"""Use of health services (admissions, emergency contacts, short-term stays) per person.

Admission history arrives from a hospital's data warehouse before anyone is enrolled (it is how
candidates are found), so events hang on a `ServicePerson`, not on a Patient; the person is
linked to a Patient once enrolled. No national id number is stored: the person key is the
hospital's own patient id or a keyed HMAC of the national id (homefollow.outcomes.imports).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class ServiceKind(str, Enum):
    ADMISSION = "admission"  # a hospital stay; `acute` tells emergency from elective
    EMERGENCY = "emergency"  # emergency department or legevakt contact without admission
    SHORT_STAY = "short_stay"  # municipal short-term stay (kommunalt korttidsopphold)


class ServicePerson(SQLModel, table=True):
    """Someone in a team's catchment whose service use is known; maybe never a patient."""

    __tablename__ = "service_person"
    __table_args__ = (UniqueConstraint("team_id", "person_key"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    team_id: int = Field(foreign_key="team.id", index=True)
    # "local:<source>:<hospital patient id>" or "nid:<HMAC-SHA256 of the national id>".
    person_key: str = Field(max_length=120)
    name: str = Field(default="", max_length=200)
    birth_date: date | None = None
    patient_id: int | None = Field(default=None, foreign_key="patient.id", unique=True)
    # Marked by the team: in palliative care, so not a candidate for home follow-up.
    palliative: bool = Field(default=False)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ServiceUse(SQLModel, table=True):
    """One event. Dates are local (Norwegian) calendar dates, as hospitals report them."""

    __tablename__ = "service_use"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    person_id: int = Field(foreign_key="service_person.id", index=True)
    kind: str = Field(max_length=20)  # ServiceKind
    start_date: date
    end_date: date | None = None  # None: still admitted, or a contact without a stay
    acute: bool = Field(default=True)
    diagnoses: list = json_column(default_factory=list)  # ICD-10 codes as given, e.g. ["I50.1"]
    # Who sent it and their id for it: re-importing the same event updates, never duplicates.
    source: str = Field(max_length=100)
    source_id: str = Field(max_length=100)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()

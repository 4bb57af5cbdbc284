"""Rule versions (immutable definitions) and each patient's rule state."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class RuleVersionStatus(str, Enum):
    DRAFT = "draft"  # stored, not yet in use (e.g. its examples fail)
    ACTIVE = "active"  # the version patients' plans use
    RETIRED = "retired"  # replaced by a newer version; kept because alerts name it


class RuleVersion(SQLModel, table=True):
    """One immutable version of a rule: `definition` is a rules.RuleDefinition as JSON."""

    __tablename__ = "rule_version"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        Index("uq_rule_version_one_active", "key", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    key: str = Field(max_length=100, index=True)
    version: int
    definition: dict = json_column()
    # SHA-256 of the canonical JSON of `definition`: what parsed definitions are cached by, and
    # a check that a stored version was never edited.
    digest: str = Field(max_length=64)
    status: str = Field(default=RuleVersionStatus.DRAFT.value, max_length=10)
    origin: str = Field(default="default", max_length=10)  # default (shipped) or custom
    created_at: datetime = utc_column()
    created_by_account_id: int | None = Field(default=None, foreign_key="account.id")
    activated_at: datetime | None = utc_column(nullable=True)


class RuleState(SQLModel, table=True):
    """Where one rule stands for one patient (normal, pending, firing …), kept across restarts.
    `next_due_at` is when time alone may change it; the scheduler's sweep looks for it."""

    __tablename__ = "rule_state"
    __table_args__ = (UniqueConstraint("patient_id", "rule_key"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    patient_id: int = Field(foreign_key="patient.id")  # looked up by the unique key below
    rule_key: str = Field(max_length=100)
    rule_version_id: int = Field(foreign_key="rule_version.id")
    status: str = Field(max_length=12)
    state: dict = json_column()
    next_due_at: datetime | None = utc_column(nullable=True, index=True)
    updated_at: datetime = utc_column()

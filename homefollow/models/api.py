"""The JSON API for hospital systems: organisations' access tokens, and the calls they made.

A token is stored only as a SHA-256 hash (it is a long random string, so a plain hash cannot be
guessed back); the token itself is shown once, when it is made.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import json_column, utc_column


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)  # what it is for: "DIPS Arena, UNN"
    # The name the sender's own ids are known by (ServiceUse.source, "local:<source>:<id>").
    source: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the token's first characters, to recognise it in a list
    scopes: list = json_column(default_factory=list)
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)
    last_used_at: datetime | None = utc_column(nullable=True)


class ApiEvent(SQLModel, table=True):
    """One accepted call, keyed by the sender's id: the same id again gets the same answer and
    changes nothing; the same id with other content is refused (409)."""

    __tablename__ = "api_event"
    __table_args__ = (UniqueConstraint("organisation_id", "kind", "sender_id"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    organisation_id: int = Field(foreign_key="organisation.id")
    kind: str = Field(max_length=20)  # admission, discharge, observation
    sender_id: str = Field(max_length=64)
    content_hash: str = Field(max_length=64)  # of the parsed content, never holding a national id
    patient_id: int = Field(foreign_key="patient.id", index=True)
    token_id: int = Field(foreign_key="api_token.id")
    response: dict = json_column()
    created_at: datetime = utc_column()

"""Process heartbeats, so /healthz and admins can see whether the scheduler is alive."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import utc_column


class Heartbeat(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=200)  # "scheduler@host:pid"
    role: str = Field(max_length=20)
    host: str = Field(max_length=200)
    pid: int
    started_at: datetime = utc_column()
    beat_at: datetime = utc_column(index=True)

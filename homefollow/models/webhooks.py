"""Twilio requests already applied: a replayed webhook is answered again and changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import utc_column


class ProcessedWebhook(SQLModel, table=True):
    __tablename__ = "processed_webhook"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    # "sms:<MessageSid>" or "status:<MessageSid>:<MessageStatus>"
    key: str = Field(max_length=120, unique=True)
    reply: str | None = Field(default=None, max_length=2000)  # the SMS reply first given, if any
    received_at: datetime = utc_column()

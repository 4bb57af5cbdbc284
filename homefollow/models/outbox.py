"""The outbox: every SMS and e-mail is a row written in the same transaction as its cause,
and delivered afterwards by the scheduler, at least once, deduplicated by `dedup_key`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from .base import utc_column


class Channel(str, Enum):
    SMS = "sms"
    EMAIL = "email"


class NotificationStatus(str, Enum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; returns to pending if its lease expires
    SENT = "sent"
    FAILED = "failed"


class Priority(int, Enum):
    """Sending order within a pass: a slow provider must never hold back a red page."""

    RED = 0  # red alert pages, and notices to admins that paging is in trouble
    YELLOW = 1  # yellow alert pages
    OTHER = 2  # reminders, re-measure requests, replies, sign-in codes


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_status_due", "status", "priority", "due_at"),)

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    dedup_key: str = Field(max_length=200, unique=True)
    channel: str = Field(max_length=10)
    recipient: str = Field(max_length=200)
    subject: str | None = Field(default=None, max_length=200)
    body: str = Field(sa_type=Text)
    status: str = Field(default=NotificationStatus.PENDING.value, max_length=10)
    attempts: int = Field(default=0)
    due_at: datetime = utc_column()
    lease_until: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    provider: str | None = Field(default=None, max_length=20)
    provider_ref: str | None = Field(default=None, max_length=100, index=True)
    # What the provider later reported (Twilio status callbacks): delivered, undelivered, failed.
    delivery_status: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=500)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    # The body holds a secret (a sign-in code): it is blanked once delivery has ended, so
    # nobody reading the outbox later sees it.
    secret: bool = Field(default=False)
    priority: int = Field(default=Priority.OTHER.value)
    # A token carried in the SMS text ("Ref: …"), so that a message whose fate is unknown can
    # be looked up at the provider before it is sent again (outbox.reconcile).
    ref: str | None = Field(default=None, max_length=16)
    # The last attempt may have reached the provider (the sender died after claiming it, or the
    # provider did not answer in time): look before sending again.
    fate_unknown: bool = Field(default=False)
    # Who holds the claim: a sender checks it is still theirs just before talking to the provider.
    claimed_by: str | None = Field(default=None, max_length=40)


class SmsOptOut(SQLModel, table=True):
    """Numbers that replied STOP. No SMS is sent to them until they reply START."""

    __tablename__ = "sms_opt_out"

    phone: str = Field(primary_key=True, max_length=32)
    opted_out_at: datetime = utc_column()

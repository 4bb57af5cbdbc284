"""The outbox: enqueue in the caller's transaction; deliver later, at least once.

Delivery claims one row at a time with a compare-and-set update that must touch exactly one
row, so two sender processes never take the same message. A claimed row carries a lease; if
the process dies before recording the result, the lease expires and the row is sent again.
A row is marked sent only after the provider accepted it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..clock import Clock
from ..models import Channel, Notification, NotificationStatus, SmsOptOut
from .email import EmailSender
from .errors import PermanentError, TransientError
from .sms import SmsSender

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
BATCH = 100


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 30 min."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 1800))


def opted_out_numbers(session: Session) -> frozenset[str]:
    """Numbers that replied STOP, read once per session (a request, or one sweep)."""
    if "opted_out" not in session.info:
        session.info["opted_out"] = frozenset(session.exec(select(SmsOptOut.phone)).all())
    return session.info["opted_out"]


def forget_opt_outs(session: Session) -> None:
    """After a STOP or START in this session."""
    session.info.pop("opted_out", None)


def message(
    session: Session,
    clock: Clock,
    *,
    dedup_key: str,
    channel: Channel,
    recipient: str,
    body: str,
    subject: str | None = None,
    alert_id: int | None = None,
    patient_id: int | None = None,
    due_at: datetime | None = None,
    secret: bool = False,
) -> dict:
    """An outbox row, not yet added (enqueue or add_new add it)."""
    now = clock.now()
    row = {"dedup_key": dedup_key, "channel": channel.value, "recipient": recipient, "subject": subject, "body": body,
           "due_at": due_at or now, "created_at": now, "alert_id": alert_id, "patient_id": patient_id,
           "secret": secret, "status": NotificationStatus.PENDING.value, "last_error": None}
    if channel == Channel.SMS and recipient in opted_out_numbers(session):
        # The number replied STOP: the message is refused at once, so escalation moves on to the
        # next channel or step instead of waiting for the provider to refuse it.
        row["status"] = NotificationStatus.FAILED.value
        row["last_error"] = "recipient opted out (STOP)"
    return row


def add_new(session: Session, rows: list[dict]) -> list[Notification]:
    """Add message() rows in one INSERT, without looking up their keys: for keys that name
    something created in this transaction (a new alert's pages), which no other transaction
    can have used. Rows in, objects back: building SQLModel objects field by field cost a sweep
    that opens hundreds of alerts a tenth of its time (benchmarks/sweep_bench.py)."""
    if not rows:
        return []
    return list(session.scalars(insert(Notification).returning(Notification, sort_by_parameter_order=True), rows))


def enqueue(session: Session, clock: Clock, **fields) -> Notification | None:
    """Add a message (fields as for message()) to the outbox unless one with the same key
    exists. Does not commit."""
    return add_unless_queued(session, message(session, clock, **fields))


def add_unless_queued(session: Session, row: dict) -> Notification | None:
    """Add this message() row unless one with its key exists (None then). Does not commit."""
    if session.exec(select(Notification.id).where(Notification.dedup_key == row["dedup_key"])).first() is not None:
        return None
    try:
        with session.begin_nested():  # a concurrent transaction may insert the same key
            [notification] = add_new(session, [row])
    except IntegrityError:
        return None
    return notification


@dataclass
class Senders:
    sms: SmsSender
    email: EmailSender
    status_callback_url: str | None = None  # Twilio delivery callbacks


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another process first
    released: int = 0  # expired leases returned to the queue
    failed_ids: list[int] = field(default_factory=list)


def release_expired_leases(session: Session, clock: Clock) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.SENDING.value, Notification.lease_until < clock.now())
        .values(status=NotificationStatus.PENDING.value, lease_until=None)
    )
    session.commit()
    return result.rowcount


def claim(session: Session, clock: Clock, notification_id: int) -> Notification | None:
    """Take one due message for sending; None unless this process's update hit the row.

    The transaction ends before the caller talks to the provider, so no database lock is
    held during a slow network call."""
    now = clock.now()
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == NotificationStatus.PENDING.value,
            Notification.due_at <= now,
        )
        .values(status=NotificationStatus.SENDING.value, lease_until=now + LEASE,
                attempts=Notification.attempts + 1)
    )
    claimed = session.get(Notification, notification_id, populate_existing=True) if result.rowcount == 1 else None
    session.commit()
    return claimed


def dispatch_due(engine: Engine, clock: Clock, senders: Senders, *, limit: int = BATCH) -> DispatchResult:
    result = DispatchResult()
    with Session(engine, expire_on_commit=False) as session:
        result.released = release_expired_leases(session, clock)
        due_ids = session.exec(
            select(Notification.id)
            .where(Notification.status == NotificationStatus.PENDING.value, Notification.due_at <= clock.now())
            .order_by(Notification.due_at, Notification.id)
            .limit(limit)
        ).all()
        session.commit()  # end the read transaction before the first network call
        for notification_id in due_ids:
            notification = claim(session, clock, notification_id)
            if notification is None:
                result.skipped += 1
                continue
            _deliver(session, clock, senders, notification, result)
    return result


def deliver_now(engine: Engine, clock: Clock, senders: Senders, notification_id: int) -> bool:
    """Send one message at once (a sign-in code the user is waiting for) instead of at the next
    sweep. If it cannot be sent now it stays in the outbox and the sweep retries it. Returns
    whether the provider accepted it."""
    result = DispatchResult()
    with Session(engine, expire_on_commit=False) as session:
        notification = claim(session, clock, notification_id)
        if notification is not None:
            _deliver(session, clock, senders, notification, result)
    return result.sent == 1


SECRET_REMOVED = "(removed after sending)"


def _deliver(session: Session, clock: Clock, senders: Senders, n: Notification, result: DispatchResult) -> None:
    try:
        if n.channel == Channel.SMS.value:
            accepted = senders.sms.send(n.recipient, n.body, status_callback=senders.status_callback_url)
        else:
            accepted = senders.email.send(n.recipient, n.subject or "", n.body)
    except PermanentError as exc:
        _finish(session, n, status=NotificationStatus.FAILED, last_error=str(exc)[:500])
        result.failed += 1
        result.failed_ids.append(n.id)
        log.warning("notification %s failed permanently: %s", n.id, exc)
        return
    except TransientError as exc:
        if n.attempts >= MAX_ATTEMPTS:
            _finish(session, n, status=NotificationStatus.FAILED, last_error=f"gave up: {exc}"[:500])
            result.failed += 1
            result.failed_ids.append(n.id)
        else:
            _finish(session, n, status=NotificationStatus.PENDING, last_error=str(exc)[:500],
                    due_at=clock.now() + backoff(n.attempts))
            result.retried += 1
        log.info("notification %s: transient failure, attempt %s: %s", n.id, n.attempts, exc)
        return
    _finish(session, n, status=NotificationStatus.SENT, sent_at=clock.now(), provider=accepted.provider,
            provider_ref=accepted.ref, last_error=None)
    result.sent += 1


def _finish(session: Session, n: Notification, *, status: NotificationStatus, **values) -> None:
    """Record the outcome, but only while we still hold the claim (status 'sending')."""
    if n.secret and status != NotificationStatus.PENDING:
        values["body"] = SECRET_REMOVED
    session.execute(
        update(Notification)
        .where(Notification.id == n.id, Notification.status == NotificationStatus.SENDING.value)
        .values(status=status.value, lease_until=None, **values)
    )
    session.commit()


# Twilio's final delivery states (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).
UNDELIVERED = {"undelivered", "failed"}


def record_delivery_status(session: Session, provider_ref: str, status: str, error_code: str | None) -> Notification | None:
    """A provider's report on a sent message. 'undelivered'/'failed' turn the row failed, so the
    escalation moves on at once. Unknown references are ignored. Does not commit."""
    notification = session.exec(select(Notification).where(Notification.provider_ref == provider_ref)).first()
    if notification is None:
        return None
    notification.delivery_status = status[:20]
    if status in UNDELIVERED:
        notification.status = NotificationStatus.FAILED.value
        notification.last_error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
    session.add(notification)
    return notification

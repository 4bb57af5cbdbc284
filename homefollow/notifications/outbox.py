"""The outbox: enqueue in the caller's transaction; deliver later.

Delivery claims one row at a time with a compare-and-set update that must touch exactly one
row, so two sender processes never take the same message. A claimed row carries a lease; if
the process dies before recording the result, the lease expires and the row goes back to the
queue with its fate unknown. A row is marked sent only after the provider accepted it.

At most once where the provider lets us look: an SMS that carries a ref token and whose fate
is unknown (a sender died after claiming it, or the provider did not answer in time) is looked
up at the provider first and sent again only if it is not there. Messages without a token, and
e-mail, are delivered at least once. docs/escalation.md ("Delivery guarantees") has the figures.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from ..clock import Clock
from ..db import insert_unless_taken, rows_changed
from ..transactions import commit_now
from ..models import Channel, Notification, NotificationStatus, Priority, SmsOptOut
from .email import EmailSender
from .errors import PermanentError, TransientError
from .sms import SmsSender

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # the default claim; Senders.lease derives it from the send timeout
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
    duty: bool = False,
    priority: Priority = Priority.OTHER,
    with_ref: bool = False,
) -> dict:
    """An outbox row, not yet added (add adds it). `duty`: a page to staff or an
    on-call phone about an alert, which a STOP recorded for the number does not refuse (duty
    pages cannot be switched off by STOP: services.sms_inbox)."""
    now = clock.now()
    row = {"dedup_key": dedup_key, "channel": channel.value, "recipient": recipient, "subject": subject, "body": body,
           "due_at": due_at or now, "created_at": now, "alert_id": alert_id, "patient_id": patient_id,
           "secret": secret, "status": NotificationStatus.PENDING.value, "last_error": None,
           "priority": priority.value, "ref": None, "fate_unknown": False}
    if with_ref and channel == Channel.SMS:
        # A token in the text lets a message of unknown fate be looked up before it is sent
        # again (at most once, where the provider lets us look).
        row["ref"] = new_ref()
        row["body"] = f"{body}\nRef: {row['ref']}"
    if channel == Channel.SMS and not duty and recipient in opted_out_numbers(session):
        # The number replied STOP: the message is refused at once, so escalation moves on to the
        # next channel or step instead of waiting for the provider to refuse it.
        row["status"] = NotificationStatus.FAILED.value
        row["last_error"] = "recipient opted out (STOP)"
    return row


def new_ref() -> str:
    return secrets.token_hex(5).upper()


def enqueue(session: Session, clock: Clock, **fields) -> Notification | None:
    """Add one message (fields as for message()) to the outbox unless one with the same key
    exists (None then). Does not commit."""
    added = add(session, [message(session, clock, **fields)])
    return added[0] if added else None


def add(session: Session, rows: list[dict]) -> list[Notification]:
    """The one way into the outbox: message() rows in one INSERT, skipping any whose key is
    taken (ON CONFLICT DO NOTHING — also by a concurrent transaction, which it waits for), and
    the rows added back, in no particular order. Does not commit.

    Rows in, objects back: building SQLModel objects field by field cost a sweep that opens
    hundreds of alerts a tenth of its time (benchmarks/sweep_bench.py)."""
    if not rows:
        return []
    return list(session.scalars(
        insert_unless_taken(session, Notification, index=("dedup_key",)).returning(Notification), rows))


@dataclass
class Senders:
    sms: SmsSender
    email: EmailSender
    status_callback_url: str | None = None  # Twilio delivery callbacks
    concurrency: int = 4  # messages in flight at once, per channel
    pass_seconds: float = 7.0  # a pass takes no new message after this; the next tick goes on
    timeout: float = 5.0  # the senders' own per-message timeout (bounds the lease)
    stop: threading.Event = field(default_factory=threading.Event)  # set on shutdown: start no new send

    @property
    def lease(self) -> timedelta:
        """How long a claim holds: long enough for one send and its bookkeeping, short enough
        that a message whose sender died goes out again soon."""
        return timedelta(seconds=max(10.0, 3 * self.timeout + 5))


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0  # claimed by another process first
    released: int = 0  # expired leases returned to the queue
    reconciled: int = 0  # found at the provider, so not sent again
    deferred: int = 0  # left for the next pass (this pass ran out of time)
    failed_ids: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def failed_for_good(self, notification_id: int) -> None:
        with self.lock:
            self.failed += 1
            self.failed_ids.append(notification_id)


def release_expired_leases(session: Session, clock: Clock) -> int:
    """Claims whose sender died or stalled go back to the queue. The sender may have reached the
    provider before it stopped, so the message's fate is unknown: it is looked up before it is
    sent again."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.status) == NotificationStatus.SENDING.value, col(Notification.lease_until) < clock.now())
        .values(status=NotificationStatus.PENDING.value, lease_until=None, claimed_by=None, fate_unknown=True)
    )
    commit_now(session, "outbox_step")
    return rows_changed(result)


def claim(session: Session, clock: Clock, notification_id: int, lease: timedelta = LEASE) -> Notification | None:
    """Take one due message for sending; None unless this process's update hit the row.

    The transaction ends before the caller talks to the provider, so no database lock is
    held during a slow network call."""
    now = clock.now()
    owner = uuid.uuid4().hex[:16]
    result = session.execute(
        update(Notification)
        .where(
            col(Notification.id) == notification_id,
            col(Notification.status) == NotificationStatus.PENDING.value,
            col(Notification.due_at) <= now,
        )
        .values(status=NotificationStatus.SENDING.value, lease_until=now + lease,
                attempts=Notification.attempts + 1, claimed_by=owner)
    )
    claimed = session.get(Notification, notification_id, populate_existing=True) if rows_changed(result) == 1 else None
    commit_now(session, "outbox_step")
    return claimed


def _still_mine(session: Session, clock: Clock, n: Notification, lease: timedelta) -> bool:
    """Just before talking to the provider: renew the claim, or learn that it was lost (this
    process stalled past its lease and another sender took the message over)."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.id) == n.id, col(Notification.status) == NotificationStatus.SENDING.value,
               col(Notification.claimed_by) == n.claimed_by)
        .values(lease_until=clock.now() + lease)
    )
    commit_now(session, "outbox_step")
    return rows_changed(result) == 1


def due_messages(session: Session, clock: Clock, limit: int = BATCH,
                 max_priority: Priority = Priority.OTHER) -> list[tuple[int, str]]:
    """(id, channel) of due messages: red pages first, then yellow, then the rest; oldest first.
    `max_priority`: only messages at least this urgent (Priority.RED: red pages only)."""
    return [tuple(row) for row in session.execute(
        select(Notification.id, Notification.channel)
        .where(Notification.status == NotificationStatus.PENDING.value, Notification.due_at <= clock.now(),
               Notification.priority <= max_priority.value)
        .order_by(col(Notification.priority), col(Notification.due_at), col(Notification.id))
        .limit(limit)
    ).all()]


def dispatch_due(engine: Engine, clock: Clock, senders: Senders, *, limit: int = BATCH,
                 max_priority: Priority = Priority.OTHER) -> DispatchResult:
    """One sending pass. Each channel has its own lane of `senders.concurrency` threads, so a
    hanging SMS provider never holds back e-mail and the reverse; within a lane messages start in
    priority order. A message not started before `senders.pass_seconds` waits for the next pass,
    so a pass ends within pass_seconds plus one send timeout whatever the providers do."""
    result = DispatchResult()
    with Session(engine, expire_on_commit=False) as session:
        result.released = release_expired_leases(session, clock)
        due = due_messages(session, clock, limit, max_priority)
        commit_now(session, "outbox_step")  # end the read transaction before the first network call
    if not due:
        return result
    deadline = time.monotonic() + senders.pass_seconds
    lanes: dict[str, list[int]] = {}
    for notification_id, channel in due:
        lanes.setdefault(channel, []).append(notification_id)
    pools = [ThreadPoolExecutor(max_workers=max(1, min(senders.concurrency, len(ids))),
                                thread_name_prefix=f"send-{channel}") for channel, ids in lanes.items()]
    try:
        futures = [pool.submit(_send_one, engine, clock, senders, notification_id, deadline, result)
                   for pool, ids in zip(pools, lanes.values(), strict=True) for notification_id in ids]
        for future in futures:
            future.result()
    finally:
        for pool in pools:
            pool.shutdown(wait=True)
    return result


def _send_one(engine: Engine, clock: Clock, senders: Senders, notification_id: int, deadline: float,
              result: DispatchResult) -> None:
    if time.monotonic() > deadline or senders.stop.is_set():
        result.add(deferred=1)
        return
    try:
        with Session(engine, expire_on_commit=False) as session:
            notification = claim(session, clock, notification_id, senders.lease)
            if notification is None:
                result.add(skipped=1)
                return
            _deliver(session, clock, senders, notification, result)
    except Exception:  # a database hiccup for one message: its lease returns it to the queue
        log.exception("sending notification %s failed", notification_id)


def deliver_now(engine: Engine, clock: Clock, senders: Senders, notification_id: int) -> bool:
    """Send one message at once (a sign-in code the user is waiting for) instead of at the next
    sweep. If it cannot be sent now it stays in the outbox and the sweep retries it. Returns
    whether the provider accepted it."""
    result = DispatchResult()
    with Session(engine, expire_on_commit=False) as session:
        notification = claim(session, clock, notification_id, senders.lease)
        if notification is not None:
            _deliver(session, clock, senders, notification, result)
    return result.sent == 1


SECRET_REMOVED = "(removed after sending)"


def _deliver(session: Session, clock: Clock, senders: Senders, n: Notification, result: DispatchResult) -> None:
    sms = n.channel == Channel.SMS.value
    try:
        if n.fate_unknown and sms and n.ref:
            # An earlier attempt may have reached the provider: look before sending again.
            found = senders.sms.find(n.recipient, n.ref, n.created_at - timedelta(minutes=5))
            if found is not None:
                _finish(session, n, status=NotificationStatus.SENT, sent_at=clock.now(), provider=found.provider,
                        provider_ref=found.ref, last_error=None, fate_unknown=False)
                result.add(sent=1, reconciled=1)
                log.info("notification %s: an earlier attempt was accepted (%s); not sent again", n.id, found.ref)
                return
        if not _still_mine(session, clock, n, senders.lease):
            result.add(skipped=1)
            return
        if sms:
            accepted = senders.sms.send(n.recipient, n.body, status_callback=senders.status_callback_url)
        else:
            accepted = senders.email.send(n.recipient, n.subject or "", n.body)
    except PermanentError as exc:
        _finish(session, n, status=NotificationStatus.FAILED, last_error=str(exc)[:500])
        result.failed_for_good(n.id)
        log.warning("notification %s failed permanently: %s", n.id, exc)
        return
    except TransientError as exc:
        unknown = n.fate_unknown or exc.maybe_sent
        if n.attempts >= MAX_ATTEMPTS:
            _finish(session, n, status=NotificationStatus.FAILED, last_error=f"gave up: {exc}"[:500])
            result.failed_for_good(n.id)
        else:
            wait = max(backoff(n.attempts), timedelta(seconds=exc.retry_after or 0))
            _finish(session, n, status=NotificationStatus.PENDING, last_error=str(exc)[:500],
                    due_at=clock.now() + wait, fate_unknown=unknown)
            result.add(retried=1)
        log.info("notification %s: transient failure, attempt %s: %s", n.id, n.attempts, exc)
        return
    _finish(session, n, status=NotificationStatus.SENT, sent_at=clock.now(), provider=accepted.provider,
            provider_ref=accepted.ref, last_error=None, fate_unknown=False)
    result.add(sent=1)


def _finish(session: Session, n: Notification, *, status: NotificationStatus, **values) -> None:
    """Record the outcome, but only while we still hold the claim (status 'sending', ours)."""
    if n.secret and status != NotificationStatus.PENDING:
        values["body"] = SECRET_REMOVED
    session.execute(
        update(Notification)
        .where(col(Notification.id) == n.id, col(Notification.status) == NotificationStatus.SENDING.value,
               col(Notification.claimed_by) == n.claimed_by)
        .values(status=status.value, lease_until=None, claimed_by=None, **values)
    )
    commit_now(session, "outbox_step")


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

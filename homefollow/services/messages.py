"""Messages between the patient (or a relative) and the care team. Not for emergencies: the
pages that show them say whom to call instead. Every read and write is audited."""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ..clock import Clock
from ..models import Account, Channel, Message, Patient
from ..notifications import outbox
from ..notifications.sms_commands import message_text
from . import audit

MAX_LENGTH = 2000


def thread(session: Session, patient_id: int, limit: int = 200) -> list[Message]:
    rows = session.exec(select(Message).where(Message.patient_id == patient_id)
                        .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def author_names(session: Session, messages: list[Message]) -> dict[int, str]:
    ids = {m.author_account_id for m in messages if m.author_account_id}
    if not ids:
        return {}
    return {a.id: a.name for a in session.exec(select(Account).where(Account.id.in_(ids)))}


def send_from_patient_side(session: Session, clock: Clock, *, patient: Patient, author_account_id: int,
                           actor_kind: str, body: str, idempotency_key: str | None = None) -> Message:
    """A message from the patient or a relative to the team. Sending again with the same
    idempotency key (a double tap, a resent form) returns the first message. Commits."""
    if idempotency_key:
        existing = _by_key(session, patient.id, idempotency_key)
        if existing is not None:
            return existing
    message = Message(patient_id=patient.id, author_account_id=author_account_id, from_team=False,
                      body=body.strip()[:MAX_LENGTH], created_at=clock.now(), idempotency_key=idempotency_key)
    session.add(message)
    try:
        session.flush()
    except IntegrityError:  # the same send arrived on another worker a moment ago
        session.rollback()
        return _by_key(session, patient.id, idempotency_key)
    audit.record(session, clock, actor_account_id=author_account_id, actor_kind=actor_kind, action="message.create",
                 patient_id=patient.id, object_type="message", object_id=message.id)
    session.commit()
    return message


def send_from_team(session: Session, clock: Clock, *, patient: Patient, author_account_id: int, body: str) -> Message:
    """A message from staff to the patient; the patient gets an SMS that there is one (not what
    it says), unless follow-up has not started or has stopped. Commits."""
    message = Message(patient_id=patient.id, author_account_id=author_account_id, from_team=True,
                      body=body.strip()[:MAX_LENGTH], created_at=clock.now(), read_by_team_at=clock.now())
    session.add(message)
    session.flush()
    if patient.phone and patient.in_follow_up:
        account = session.get(Account, patient.account_id) if patient.account_id else None
        outbox.enqueue(session, clock, dedup_key=f"message:{message.id}:sms", channel=Channel.SMS,
                       recipient=patient.phone, body=message_text("new_message", account.locale if account else "nb"),
                       patient_id=patient.id)
    audit.record(session, clock, actor_account_id=author_account_id, actor_kind="staff", action="message.create",
                 patient_id=patient.id, object_type="message", object_id=message.id)
    session.commit()
    return message


def mark_read_by_patient(session: Session, clock: Clock, patient_id: int) -> None:
    session.execute(update(Message).where(Message.patient_id == patient_id, Message.from_team.is_(True),
                                          Message.read_by_patient_at.is_(None))
                    .values(read_by_patient_at=clock.now()))
    session.commit()


def mark_read_by_team(session: Session, clock: Clock, patient_id: int) -> None:
    session.execute(update(Message).where(Message.patient_id == patient_id, Message.from_team.is_(False),
                                          Message.read_by_team_at.is_(None))
                    .values(read_by_team_at=clock.now()))
    session.commit()


def unread_for_patient(session: Session, patient_id: int) -> int:
    return session.exec(select(func.count()).select_from(Message).where(
        Message.patient_id == patient_id, Message.from_team.is_(True), Message.read_by_patient_at.is_(None))).one()


def unread_for_team(session: Session, patient_ids) -> dict[int, int]:
    """Unread messages from patients, by patient (one query)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    rows = session.exec(select(Message.patient_id, func.count()).where(
        Message.patient_id.in_(ids), Message.from_team.is_(False), Message.read_by_team_at.is_(None))
        .group_by(Message.patient_id)).all()
    return dict(rows)


def _by_key(session: Session, patient_id: int, idempotency_key: str) -> Message | None:
    return session.exec(select(Message).where(Message.patient_id == patient_id,
                                              Message.idempotency_key == idempotency_key)).first()

"""Messages between the patient (or a relative) and the care team. Not for emergencies: the
pages that show them say whom to call instead. Every read and write is audited.

A message from the patient's side is also an item in the team's triage queue, so that it ends
with a named person told: one yellow alert per patient under the key ALERT_KEY, opened through
the same path as a rule's finding (alerts.raise_finding), so the team's escalation policy is
frozen onto it and pages it like any yellow alert (in opening hours, by the standard policy). A
second message while it is unresolved updates the same item. When someone in the team reads the
thread (the clinician patient page) or answers it, the item is resolved by itself, with that
person and the reason in the alert's log. Pages never carry what the message says; the queue
row and the alert page show its first words to the team's own staff only.
"""

from __future__ import annotations

import re

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select, col

from rules.text import Text, both, moment
from rules.zones import Zone

from ..clock import Clock
from ..i18n import t
from ..models import Account, AccountKind, AlertStatus, Channel, Message, Outcome, Patient
from ..notifications import outbox
from ..notifications.texts import message_text
from . import alerts, audit, reminders
from .audit import Actor

MAX_LENGTH = 2000
ALERT_KEY = "message.unread"  # the queue item for unread messages from the patient's side
PREVIEW_LENGTH = 80  # characters of the newest message shown in the queue
# Control characters have no place in a message (PostgreSQL cannot even store a NUL); line
# breaks and tabs stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(body: str | None) -> str:
    """The text without control characters, trimmed (forms use it as their filter; the
    service also cuts what it stores to MAX_LENGTH)."""
    return _CONTROL.sub("", body or "").strip()


def preview(body: str, limit: int = PREVIEW_LENGTH) -> str:
    """The first words of a message, on one line, cut at a word with '…'."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,.;:") + "…"


def thread(session: Session, patient_id: int, limit: int = 200) -> list[Message]:
    rows = session.exec(select(Message).where(Message.patient_id == patient_id)
                        .order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit)).all()
    return list(reversed(rows))


def author_names(session: Session, messages: list[Message]) -> dict[int, str]:
    ids = {m.author_account_id for m in messages if m.author_account_id}
    if not ids:
        return {}
    return {a.id: a.name for a in session.exec(select(Account).where(col(Account.id).in_(ids)))}


def send_from_patient_side(session: Session, clock: Clock, *, patient: Patient, actor: Actor, body: str,
                           idempotency_key: str | None = None) -> Message:
    """A message from the patient or a relative (the actor, in the portal or by SMS) to the team,
    put in the team's triage queue; the audit record names the actor's channel. Sending again with
    the same idempotency key (a double tap, a resent form, a redelivered SMS webhook) returns the
    first message and changes nothing.

    Raises ValueError when nothing is left of the text once cleaned (callers check first)."""
    text = clean(body)[:MAX_LENGTH]
    if not text:
        raise ValueError("empty message")
    if idempotency_key:
        existing = _by_key(session, patient.id, idempotency_key)
        if existing is not None:
            return existing
    message = Message(patient_id=patient.id, author_account_id=actor.account_id, from_team=False,
                      body=text, created_at=clock.now(), idempotency_key=idempotency_key)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same send arrived on another worker a moment ago
        existing = _by_key(session, patient.id, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing
    audit.record(session, clock, actor=actor, action="message.create", patient_id=patient.id,
                 object_type="message", object_id=message.id, channel=actor.channel)
    _queue_for_team(session, clock, patient, message, actor)
    return message


def _queue_for_team(session: Session, clock: Clock, patient: Patient, message: Message, actor: Actor) -> None:
    """Open the patient's 'unread message' item (paged by the team's policy), or update it."""
    unread = unread_for_team(session, [patient.id]).get(patient.id, 1)
    author = session.get(Account, message.author_account_id) if message.author_account_id else None
    relative = AccountKind.RELATIVE.value in (actor.kind, author.kind if author is not None else None)
    words = preview(message.body)

    def who(loc: str) -> str:
        if relative:
            return t(loc, "%(name)s (relative)", name=author.name if author else "?")
        return t(loc, "The patient")

    alerts.raise_finding(session, clock, patient, alerts.RaisedFinding(
        alert_key=ALERT_KEY, rule_key=ALERT_KEY, rule_version=1, rule_version_id=None,
        title=both(lambda loc: t(loc, "Unread message")),
        severity=Zone.YELLOW,
        value_text=both(lambda loc: t(loc, "1 unread message") if unread == 1
                        else t(loc, "%(n)s unread messages", n=unread)),
        threshold_text=Text(nb="", en=""),
        explanation=both(lambda loc: t(loc, "%(who)s wrote on %(when)s: “%(words)s” Read and answer it on the "
                                            "patient page.", who=who(loc),
                                       when=moment(message.created_at, patient.time_zone, loc), words=words)),
    ))


def send_from_team(session: Session, clock: Clock, *, patient: Patient, actor: Actor, body: str) -> Message:
    """A message from staff (the actor) to the patient; the patient gets an SMS that there is one
    (not what it says), unless follow-up has not started or has stopped. The SMS keeps the patient's quiet
    hours: written at night, it is held in the outbox until they end, never dropped. An answer settles the patient's
    'unread message' item when nothing the patient's side wrote is left unread."""
    message = Message(patient_id=patient.id, author_account_id=actor.account_id, from_team=True,
                      body=clean(body)[:MAX_LENGTH], created_at=clock.now(), read_by_team_at=clock.now())
    session.add(message)
    session.flush()
    if patient.phone and patient.in_follow_up:
        account = session.get(Account, patient.account_id) if patient.account_id else None
        outbox.enqueue(session, clock, dedup_key=f"message:{message.id}:sms", channel=Channel.SMS,
                       recipient=patient.phone, body=message_text("new_message", account.locale if account else "nb"),
                       patient_id=patient.id, due_at=reminders.send_after(patient, clock.now()))
    audit.record(session, clock, actor=actor, action="message.create", patient_id=patient.id, object_type="message",
                 object_id=message.id)
    item = alerts.open_alert_for(session, patient.id, ALERT_KEY, for_update=True)
    if item is not None and not unread_for_team(session, [patient.id]):
        alerts.resolve(session, clock, item.id, actor.account_id, Outcome.ADVICE_GIVEN, "",
                       reason="message_answered")
    return message


def mark_read_by_patient(session: Session, clock: Clock, patient_id: int) -> None:
    session.execute(update(Message).where(col(Message.patient_id) == patient_id, col(Message.from_team).is_(True),
                                          col(Message.read_by_patient_at).is_(None))
                    .values(read_by_patient_at=clock.now()))


def mark_read_by_team(session: Session, clock: Clock, patient_id: int, actor: Actor) -> list[int]:
    """The team has the thread in front of it: the patient's side's messages are read, and the
    'unread message' item is resolved, in the log by this person (the actor). Returns the ids of
    the messages that were unread until now (the page marks them as new).

    The item is locked first, so a message arriving meanwhile either is read here or, if it
    was not committed yet, opens a new item once this one is resolved: none is resolved unseen."""
    item = alerts.open_alert_for(session, patient_id, ALERT_KEY, for_update=True)
    ids = list(session.exec(select(col(Message.id)).where(col(Message.patient_id) == patient_id, col(Message.from_team).is_(False),
                                                     col(Message.read_by_team_at).is_(None))).all())
    if ids:
        session.execute(update(Message).where(col(Message.id).in_(ids)).values(read_by_team_at=clock.now()))
        audit.record(session, clock, actor=actor, action="message.read", patient_id=patient_id,
                     object_type="message", object_id=ids[-1], messages=len(ids))
    if item is not None and item.status != AlertStatus.RESOLVED.value:
        alerts.resolve(session, clock, item.id, actor.account_id, Outcome.OTHER, "", reason="message_read")
    return ids


def unread_for_patient(session: Session, patient_id: int) -> int:
    return session.exec(select(func.count()).select_from(Message).where(
        col(Message.patient_id) == patient_id, col(Message.from_team).is_(True), col(Message.read_by_patient_at).is_(None))).one()


def unread_for_team(session: Session, patient_ids) -> dict[int, int]:
    """Unread messages from patients, by patient (one query)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    rows = session.exec(select(Message.patient_id, func.count()).where(
        col(Message.patient_id).in_(ids), col(Message.from_team).is_(False), col(Message.read_by_team_at).is_(None))
        .group_by(col(Message.patient_id))).all()
    return dict(rows)


def _by_key(session: Session, patient_id: int, idempotency_key: str) -> Message | None:
    return session.exec(select(Message).where(Message.patient_id == patient_id,
                                              Message.idempotency_key == idempotency_key)).first()

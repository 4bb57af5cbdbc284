"""Messages that arrive by SMS: a nurse acknowledging a page, a patient reporting a value,
STOP / START / HELP. Each gets a reply. The sender is known only by phone number, so what a
number may do is decided here: acknowledging is for members of the alert's team, reporting for
the patient (or a relative the patient let report)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, select

from rules.measurements import ImplausibleValue
from rules.zones import Zone

from ..clock import Clock
from ..escalation import parse_policy
from ..models import Account, AccountKind, Alert, AlertStatus, Patient, ReportSource, SmsOptOut, TeamMembership
from ..notifications.sms_commands import (Acknowledge, AckOutcome, Help, Report, ReportOutcome, Start, Stop, Unknown,
                                          parse_sms, reply_text)
from ..notifications import outbox
from . import access, alerts, audit, reporting
from .accounts import normalise_phone


@dataclass(frozen=True)
class Sender:
    phone: str
    staff: Account | None = None
    patient: Patient | None = None
    reporter_account_id: int | None = None  # the patient's or the relative's account
    actor_kind: str = "anonymous"


def identify(session: Session, clock: Clock, phone: str) -> Sender:
    staff = session.exec(select(Account).where(Account.phone == phone, Account.kind == AccountKind.STAFF.value,
                                               Account.is_active.is_(True))).first()
    patient = session.exec(select(Patient).where(Patient.phone == phone)).first()
    if patient is not None:
        return Sender(phone, staff, patient, patient.account_id, "patient")
    relative = session.exec(select(Account).where(Account.phone == phone, Account.kind == AccountKind.RELATIVE.value,
                                                  Account.is_active.is_(True))).first()
    if relative is not None:
        reportable = [p for p, grant in access.patients_of_relative(session, clock, relative.id) if grant.can_report]
        if len(reportable) == 1:  # with several patients, an SMS could not say for whom
            return Sender(phone, staff, reportable[0], relative.id, "relative")
    return Sender(phone, staff, actor_kind="staff" if staff else "anonymous")


def handle(session: Session, clock: Clock, *, from_number: str, body: str, message_id: str) -> str:
    """Carry out one inbound SMS and return the reply. Commits."""
    phone = normalise_phone(from_number) or from_number
    command = parse_sms(body)
    sender = identify(session, clock, phone)
    locale = _locale(session, sender)
    if isinstance(command, Stop):
        if session.get(SmsOptOut, phone) is None:
            session.add(SmsOptOut(phone=phone, opted_out_at=clock.now()))
        outbox.forget_opt_outs(session)
        _audit(session, clock, sender, "sms.stop")
        session.commit()
        return reply_text(command, locale)
    if isinstance(command, Start):
        session.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))
        outbox.forget_opt_outs(session)
        _audit(session, clock, sender, "sms.start")
        session.commit()
        return reply_text(command, locale)
    if isinstance(command, (Help, Unknown)):
        return reply_text(command, locale)
    if isinstance(command, Acknowledge):
        return reply_text(_acknowledge(session, clock, sender, command.short_code), locale)
    if isinstance(command, Report):
        if sender.patient is None:
            return reply_text("unknown_sender", locale)
        return reply_text(_report(session, clock, sender, command, message_id), locale)
    raise TypeError(command)  # pragma: no cover - parse_sms returns only the kinds above


def _acknowledge(session: Session, clock: Clock, sender: Sender, code: str) -> AckOutcome:
    alert = session.exec(select(Alert).where(Alert.short_code == code.upper())).first()
    if alert is None:
        return AckOutcome(code.upper(), "unknown_code")
    member = sender.staff is not None and session.exec(
        select(TeamMembership.id).where(TeamMembership.team_id == alert.team_id,
                                        TeamMembership.account_id == sender.staff.id)).first() is not None
    if not member:
        return AckOutcome(alert.short_code, "not_allowed")
    if alert.status == AlertStatus.RESOLVED.value:
        return AckOutcome(alert.short_code, "already_resolved")
    try:
        alerts.acknowledge(session, clock, alert.id, sender.staff.id)
    except alerts.AlertStateError:
        return AckOutcome(alert.short_code, "already_acknowledged")
    audit.record(session, clock, actor_account_id=sender.staff.id, actor_kind="staff", action="alert.acknowledge",
                 patient_id=alert.patient_id, object_type="alert", object_id=alert.id, channel="sms")
    session.commit()
    minutes = int(parse_policy(alert.escalation_policy).ack_timeout.minutes(alert.severity).total_seconds() // 60) \
        if alert.escalation_policy else 0
    return AckOutcome(alert.short_code, "acknowledged", ack_timeout_minutes=minutes)


def _report(session: Session, clock: Clock, sender: Sender, command: Report, message_id: str) -> ReportOutcome | Unknown:
    outcomes = []
    for item_key, values in command.values.items():
        try:
            outcomes.append(reporting.report_measurement(
                session, clock, patient=sender.patient, item_key=item_key, values=values,
                idempotency_key=f"sms:{message_id}:{item_key}", reported_by_account_id=sender.reporter_account_id,
                actor_kind=sender.actor_kind, source=ReportSource.SMS))
        except ImplausibleValue as exc:  # parse_sms checks plausibility; this is the service's own check
            return Unknown("implausible", detail=item_key, item=item_key, code=exc.code, reason=exc.reason)
    zone = Zone.worst(o.zone for o in outcomes) or Zone.GREEN
    worst = next((o for o in outcomes if o.zone == zone), outcomes[0])
    return ReportOutcome(tuple(command.values), zone.value, worst.instruction or None)


def _locale(session: Session, sender: Sender) -> str:
    account_id = sender.staff.id if sender.staff else sender.reporter_account_id
    account = session.get(Account, account_id) if account_id else None
    return account.locale if account else "nb"


def _audit(session: Session, clock: Clock, sender: Sender, action: str) -> None:
    audit.record(session, clock, actor_account_id=sender.staff.id if sender.staff else sender.reporter_account_id,
                 actor_kind=sender.actor_kind, action=action,
                 patient_id=sender.patient.id if sender.patient else None)

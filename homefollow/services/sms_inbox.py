"""Messages that arrive by SMS: a nurse acknowledging a page, a patient reporting a value,
STOP / START / HELP, and anything else a patient or relative writes, which becomes a message
to the team (services.messages). Each gets a reply. The sender is known only by phone number,
so what a number may do is decided here: acknowledging is for members of the alert's team,
reporting and writing for the patient (or a relative the patient let report).

STOP from a patient or a relative is honoured (notifications.outbox refuses SMS to the number);
STOP from staff or a number a team pages on duty is not: duty pages go on, the sender is told
so, and the team's admins are told (_duty_stop)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

from sqlalchemy import delete
from sqlmodel import Session, col, select

from rules.measurements import ImplausibleValue
from rules.zones import Zone

from ..clock import Clock
from ..escalation import parse_policy
from ..escalation.policy import Severity
from ..links import public_url
from ..models import (Account, AccountKind, Alert, AlertStatus, Patient, ReportSource, SmsOptOut, Team,
                      TeamMembership)
from ..notifications.sms_commands import (Acknowledge, FreeText, Help, Report, Start, Stop, Unknown, free_text,
                                          parse_sms)
from ..notifications.texts import AckOutcome, MessageOutcome, ReportOutcome, message_text, reply_text
from ..notifications import outbox
from . import access, admin_notices, alerts, audit, messages, reporting, teams
from .accounts import display_phone, normalise_phone
from ..notifications.sms_commands import AskUnit
from . import unit_check
from .audit import Actor


@dataclass(frozen=True)
class Sender:
    phone: str
    staff: Account | None = None
    patient: Patient | None = None
    reporter_account_id: int | None = None  # the patient's or the relative's account
    actor_kind: str = "anonymous"

    @property
    def actor(self) -> Actor:
        """The patient side writing by SMS: the patient, a relative, or someone unknown."""
        return Actor(self.reporter_account_id, self.actor_kind, "sms")


def identify(session: Session, clock: Clock, phone: str) -> Sender:
    staff = session.exec(select(Account).where(Account.phone == phone, Account.kind == AccountKind.STAFF.value,
                                               col(Account.is_active).is_(True))).first()
    patient = session.exec(select(Patient).where(Patient.phone == phone)).first()
    if patient is not None:
        return Sender(phone, staff, patient, patient.account_id, "patient")
    relative = session.exec(select(Account).where(Account.phone == phone, Account.kind == AccountKind.RELATIVE.value,
                                                  col(Account.is_active).is_(True))).first()
    if relative is not None:
        reportable = [p for p, grant in access.patients_of_relative(session, clock, relative.id) if grant.can_report]
        if len(reportable) == 1:  # with several patients, an SMS could not say for whom
            return Sender(phone, staff, reportable[0], relative.id, "relative")
    return Sender(phone, staff, actor_kind="staff" if staff else "anonymous")


def handle(session: Session, clock: Clock, *, from_number: str, body: str, message_id: str) -> str:
    """Carry out one inbound SMS and return the reply; the edge (the webhook's request) commits."""
    phone = normalise_phone(from_number) or from_number
    command = parse_sms(body)
    sender = identify(session, clock, phone)
    locale = _locale(session, sender)
    if isinstance(command, Stop):
        duty = teams.duty_teams(session, phone)  # an active staff member's teams among them
        if duty:
            return _duty_stop(session, clock, sender, phone, duty, message_id, locale)
        if session.get(SmsOptOut, phone) is None:
            session.add(SmsOptOut(phone=phone, opted_out_at=clock.now()))
        outbox.forget_opt_outs(session)
        _audit(session, clock, sender, "sms.stop")
        return reply_text(command, locale)
    if isinstance(command, Start):
        session.execute(delete(SmsOptOut).where(col(SmsOptOut.phone) == phone))
        outbox.forget_opt_outs(session)
        _audit(session, clock, sender, "sms.start")
        return reply_text(command, locale)
    if isinstance(command, Unknown) and command.error_key == "missing_code" and sender.staff is None:
        command = free_text(body) or command  # "Ok, jeg har det bra": only staff acknowledge alerts
    if isinstance(command, FreeText):
        return reply_text(_message(session, clock, sender, command, message_id, locale), locale)
    if isinstance(command, (Help, Unknown)):
        return reply_text(command, locale)
    if isinstance(command, Acknowledge):
        return reply_text(_acknowledge(session, clock, sender, command.short_code), locale)
    if isinstance(command, Report) and sender.patient is not None:
        # A value typed without a unit that fits another unit better for this patient ("VEKT 165"
        # from a patient around 74 kg): ask, store nothing.
        command = unit_check.sms_question(session, clock, sender.patient.id, command) or command
    if isinstance(command, AskUnit):
        if sender.patient is None:
            return reply_text("unknown_sender", locale)
        unit_check.ask_by_sms(session, clock, sender.patient, command, body=body, message_id=message_id,
                              actor=sender.actor)
        return reply_text(command, locale)
    if isinstance(command, Report):
        if sender.patient is None:
            return reply_text("unknown_sender", locale)
        outcome = _report(session, clock, sender, command, message_id)
        return reply_text(_when_team_closed(session, clock, sender, outcome, locale), locale)
    raise TypeError(command)  # pragma: no cover - parse_sms returns only the kinds above


def _duty_stop(session: Session, clock: Clock, sender: Sender, phone: str, duty: list[Team], message_id: str,
               locale: str) -> str:
    """STOP from staff or from a number a team pages on duty: no opt-out is recorded, so the
    pages go on (also to a number that opted out before: outbox.message(duty=True)); each team's
    admins are told, once per team and inbound message; the reply says what to do instead. A
    number that is also a patient's or a relative's has its opt-out recorded as for them: it
    stops the SMS to the patient side, never a duty page."""
    if _patient_side(session, phone) and session.get(SmsOptOut, phone) is None:
        session.add(SmsOptOut(phone=phone, opted_out_at=clock.now()))
        outbox.forget_opt_outs(session)
    name = sender.staff.name if sender.staff is not None else message_text("admin.on_call_phone", "nb")
    key = f"duty-stop:{message_id or clock.now().isoformat()}"
    number = display_phone(phone).replace("\u00a0", " ")  # plain spaces keep the SMS in GSM-7
    for team in duty:
        text = message_text("admin.duty_stop", "nb", name=name, phone=number, team=team.name,
                            url=public_url(f"/clinic/teams/{team.id}/phones"))
        admin_notices.tell_team_admins(session, clock, team, key=key, text=text)
    actor = Actor(sender.staff.id, "staff", "sms") if sender.staff else sender.actor
    audit.record(session, clock, actor=actor, action="sms.stop.duty",
                 patient_id=sender.patient.id if sender.patient else None, object_type="team",
                 object_id=duty[0].id, teams=[team.id for team in duty])
    return reply_text("stop.duty", locale, team=", ".join(team.name for team in duty))


def _patient_side(session: Session, phone: str) -> bool:
    """Whether the number is a patient's or a relative's (whose STOP is always honoured)."""
    if session.exec(select(Patient.id).where(Patient.phone == phone)).first() is not None:
        return True
    return session.exec(select(Account.id).where(
        Account.phone == phone, col(Account.kind).in_((AccountKind.PATIENT.value, AccountKind.RELATIVE.value)),
        col(Account.is_active).is_(True))).first() is not None


def _acknowledge(session: Session, clock: Clock, sender: Sender, code: str) -> AckOutcome:
    alert = session.exec(select(Alert).where(Alert.short_code == code.upper())).first()
    if alert is None:
        return AckOutcome(code.upper(), "unknown_code")
    member = sender.staff is not None and session.exec(
        select(TeamMembership.id).where(TeamMembership.team_id == alert.team_id,
                                        TeamMembership.account_id == sender.staff.id)).first() is not None
    if not member:
        return AckOutcome(alert.short_code, "not_allowed")
    assert sender.staff is not None, "only staff are members"
    if alert.status == AlertStatus.RESOLVED.value:
        return AckOutcome(alert.short_code, "already_resolved")
    try:
        alerts.acknowledge(session, clock, alert.id, sender.staff.id)
    except alerts.AlertStateError:
        return AckOutcome(alert.short_code, "already_acknowledged")
    audit.record(session, clock, actor=Actor(sender.staff.id, "staff", "sms"), action="alert.acknowledge",
                 patient_id=alert.patient_id, object_type="alert", object_id=alert.id, channel="sms")
    severity = cast(Severity, alert.severity)  # an alert is yellow or red
    minutes = int(parse_policy(alert.escalation_policy).ack_timeout.minutes(severity).total_seconds() // 60) \
        if alert.escalation_policy else 0
    return AckOutcome(alert.short_code, "acknowledged", ack_timeout_minutes=minutes)


def _report(session: Session, clock: Clock, sender: Sender, command: Report, message_id: str) -> ReportOutcome | Unknown:
    assert sender.patient is not None, "handle reports only for a known patient"
    outcomes = []
    for item_key, values in command.values.items():
        try:
            outcomes.append(reporting.report_measurement(
                session, clock, patient=sender.patient, item_key=item_key, values=values,
                idempotency_key=f"sms:{message_id}:{item_key}", reported_by_account_id=sender.reporter_account_id,
                actor_kind=sender.actor_kind, source=ReportSource.SMS))
        except ImplausibleValue as exc:  # parse_sms checks plausibility; this is the service's own check
            return Unknown("implausible", detail=item_key, item=item_key, code=exc.code, reason=exc.reason)
        if not outcomes[-1].replayed:
            unit_check.record_units(session, clock, outcomes[-1].report,
                                    [r for code, r in command.with_unit.items() if code in values], asked=False,
                                    actor=sender.actor, channel="sms")
    zone = Zone.worst(o.zone for o in outcomes)
    worst = next((o for o in outcomes if o.zone == zone), outcomes[0])
    # A single yellow reading that must be confirmed: the patient is asked for a new one.
    waits = [o.report.remeasure_by for o in outcomes if o.report.remeasure_by is not None]
    remeasure = int((min(waits) - clock.now()).total_seconds() // 60) if zone == Zone.YELLOW and waits \
        and not any(o.report.team_alerted for o in outcomes) else None
    # No zone: nothing judges these values (no limits in the plan, none in the safety net) — the
    # reply says so rather than "carry on as usual".
    return ReportOutcome(tuple(command.values), zone.value if zone else "none", worst.instruction or None,
                         converted=tuple(r for r in command.with_unit.values() if r.converted),
                         remeasure_minutes=remeasure)


def _message(session: Session, clock: Clock, sender: Sender, command: FreeText, message_id: str,
             locale: str) -> MessageOutcome | Unknown | str:
    """Words from a patient or a relative who may report: a message to the team, in its
    queue like one written in the portal (once per Twilio message id, so a redelivered webhook
    stores it once). The reply says it was sent and whom to call now."""
    if sender.patient is None:
        if sender.staff is not None:  # a nurse answering a page in words
            return Unknown("missing_code", detail=messages.preview(command.text, 24))
        return "unknown_sender"
    patient = sender.patient
    if not patient.in_follow_up:  # nobody reads it: say so, and whom to call
        return MessageOutcome(None)
    messages.send_from_patient_side(session, clock, patient=patient, actor=sender.actor, body=command.text,
                                    idempotency_key=f"sms:{message_id}"[:100] if message_id else None)
    team = session.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    call = teams.whom_to_call(team, clock.now())
    return MessageOutcome(teams.call_advice(call, locale, sms=True))


def _when_team_closed(session: Session, clock: Clock, sender: Sender, outcome, locale: str):
    """A yellow or red reading while the team cannot be called (closed, or no phone for
    patients): the reply also says whom to call (teams.whom_to_call)."""
    if isinstance(outcome, ReportOutcome) and outcome.zone in ("yellow", "red"):
        assert sender.patient is not None, "a reading is the patient's"
        team = session.get(Team, sender.patient.team_id)
        assert team is not None, "a patient's team exists (foreign key)"
        call = teams.whom_to_call(team, clock.now())
        if call.kind != teams.CALL_TEAM:
            return replace(outcome, advice=teams.call_advice(call, locale, sms=True))
    return outcome


def _locale(session: Session, sender: Sender) -> str:
    account_id = sender.staff.id if sender.staff else sender.reporter_account_id
    account = session.get(Account, account_id) if account_id else None
    return account.locale if account else "nb"


def _audit(session: Session, clock: Clock, sender: Sender, action: str) -> None:
    # A staff member's number names the staff account, with the kind the number was identified as.
    actor = Actor(sender.staff.id if sender.staff else sender.reporter_account_id, sender.actor_kind, "sms")
    audit.record(session, clock, actor=actor, action=action, patient_id=sender.patient.id if sender.patient else None)

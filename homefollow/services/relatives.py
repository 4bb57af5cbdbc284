"""Who may help a patient, and the patient's own settings. Every change is audited."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select, col

from ..clock import Clock
from ..links import public_url
from ..models import Account, AccountKind, AuditEvent, Channel, Patient, RelativeAccess, Team
from ..notifications import outbox
from ..notifications.texts import message_text
from . import audit, reminders, teams
from .audit import Actor


def grants_of(session: Session, patient_id: int) -> list[tuple[RelativeAccess, Account]]:
    """The patient's relatives, current and earlier, newest first."""
    return list(session.exec(
        select(RelativeAccess, Account).join(Account, col(Account.id) == col(RelativeAccess.relative_account_id))
        .where(col(RelativeAccess.patient_id) == patient_id).order_by(col(RelativeAccess.created_at).desc())
    ).all())


def invite(session: Session, clock: Clock, *, patient: Patient, name: str, phone: str, relation: str,
           can_view: bool, can_report: bool, receives_alerts: bool, valid_until: datetime | None,
           actor: Actor) -> tuple[RelativeAccess, bool]:
    """The patient (the actor) gives a relative access. Their account is made if they have none
    (they sign in with a code sent to their phone); an earlier grant for the same person is
    replaced. Returns the grant and whether it replaced one (the page then says that what they
    may do has changed).

    A number that already belongs to an account that is not a relative's (another patient) is
    invited exactly like any other: the grant row is made and the SMS is sent, so the inviter
    cannot tell (issue 19: this was a 500, an oracle for who is followed up). Nothing is merged:
    the access policy gives a patient account its own record only, so such a grant lets the
    invitee see and do nothing until the accounts are linked deliberately (docs/security.md)."""
    now = clock.now()
    account = session.exec(select(Account).where(Account.login == phone)).first()
    if account is None:
        account = Account(kind=AccountKind.RELATIVE.value, login=phone, phone=phone, name=name, created_at=now)
        session.add(account)
        session.flush()
    replaced = False
    for old in session.exec(select(RelativeAccess).where(RelativeAccess.patient_id == patient.id,
                                                         RelativeAccess.relative_account_id == account.id,
                                                         col(RelativeAccess.revoked_at).is_(None))):
        old.revoked_at = now
        session.add(old)
        replaced = True
    grant = RelativeAccess(patient_id=patient.id, relative_account_id=account.id, relation=relation,
                           can_view=can_view, can_report=can_report, receives_alerts=receives_alerts,
                           valid_until=valid_until, created_at=now)
    session.add(grant)
    session.flush()
    outbox.enqueue(session, clock, dedup_key=f"invitation:{grant.id}", channel=Channel.SMS, recipient=phone,
                   body=message_text("invitation", account.locale, name=first_name(patient),
                                     url=public_url("/login/code")),
                   patient_id=patient.id, due_at=reminders.relative_send_after(patient, now))  # not at night
    audit.record(session, clock, actor=actor, action="relative.grant", patient_id=patient.id,
                 object_type="relative_access", object_id=grant.id, relative=account.id, can_view=can_view,
                 can_report=can_report, receives_alerts=receives_alerts, name=name,
                 linked=account.kind == AccountKind.RELATIVE.value)
    return grant, replaced


def invited_names(session: Session, grant_ids: list[int]) -> dict[int, str]:
    """The name each grant's inviter typed (kept in the grant's audit record): the inviter's
    list shows that, never the name an existing account has on file, which would tell whose
    number it is."""
    if not grant_ids:
        return {}
    rows = session.exec(select(AuditEvent).where(AuditEvent.action == "relative.grant",
                                                 AuditEvent.object_type == "relative_access",
                                                 col(AuditEvent.object_id).in_(grant_ids))).all()
    return {row.object_id: str((row.detail or {}).get("name") or "") for row in rows
            if row.object_id is not None and (row.detail or {}).get("name")}


def first_name(patient: Patient) -> str:
    """How an SMS names the patient: the first name only, enough for a relative to know who."""
    return patient.name.split()[0] if patient.name else ""


def revoke(session: Session, clock: Clock, grant: RelativeAccess, *, actor: Actor) -> None:
    """The patient (the actor) ends the grant at once: access is checked on every request."""
    if grant.revoked_at is None:
        grant.revoked_at = clock.now()
        session.add(grant)
        audit.record(session, clock, actor=actor, action="relative.revoke", patient_id=grant.patient_id,
                     object_type="relative_access", object_id=grant.id)


def relative_alert_text(session: Session, patient: Patient, now: datetime, locale: str) -> str:
    """The relative's red-alert SMS, true at this moment. In opening hours: the care team has
    been told. When the team is closed it says so, who has been told instead (the team's
    out-of-hours route: its on-call phone or response centre, docs/escalation.md), or that
    nobody sees it before the team opens when the team has no such route; and what to do:
    113 if it is serious, else legevakt 116117 (or the team's out-of-hours phone)."""
    name = first_name(patient)
    team = session.get(Team, patient.team_id) if patient.team_id else None
    if team is None:
        return " ".join((message_text("relative_alert.closed.unrouted", locale, name=name),
                         message_text("relative_alert.call", locale)))
    call = teams.whom_to_call(team, now)
    if call.open:
        return message_text("relative_alert", locale, name=name)
    routed = not teams.out_of_hours_route_problems(session, team)
    head = message_text("relative_alert.closed" if routed else "relative_alert.closed.unrouted", locale, name=name)
    if call.kind == teams.CALL_OUT_OF_HOURS:
        tail = message_text("relative_alert.call.phone", locale, number=call.number_text(sms=True))
    else:
        tail = message_text("relative_alert.call", locale)
    return f"{head} {tail}"


def notify_of_red_alert(session: Session, clock: Clock, patient: Patient, alert_id: int) -> int:
    """An SMS to each relative the patient lets receive alerts, when a red finding opens (or an
    alert is raised to red). It says that, not what was measured, and who has been told now
    (relative_alert_text). Red: sent at once, also in quiet hours. None once follow-up has
    stopped. Returns how many."""
    if not patient.in_follow_up:
        return 0
    now = clock.now()
    rows = session.exec(
        select(RelativeAccess, Account).join(Account, col(Account.id) == col(RelativeAccess.relative_account_id))
        .where(col(RelativeAccess.patient_id) == patient.id, col(RelativeAccess.receives_alerts).is_(True),
               col(RelativeAccess.revoked_at).is_(None), col(Account.is_active).is_(True),
               # A grant to another patient's account gives nothing until the accounts are
               # linked deliberately: no alerts either (issue 19).
               Account.kind == AccountKind.RELATIVE.value)
    ).all()
    sent = 0
    for grant, account in rows:
        if not grant.is_valid(now) or not account.phone:
            continue
        if outbox.enqueue(session, clock, dedup_key=f"relative-alert:{alert_id}:{grant.id}", channel=Channel.SMS,
                          recipient=account.phone,
                          body=relative_alert_text(session, patient, now, account.locale),
                          alert_id=alert_id, patient_id=patient.id):
            sent += 1
    return sent


def change_reminders(session: Session, clock: Clock, patient: Patient, settings: reminders.Settings, *,
                     actor: Actor) -> None:
    patient.reminders = settings.model_dump(mode="json")
    reminders.schedule_next(session, clock, patient)
    audit.record(session, clock, actor=actor, action="settings.reminders", patient_id=patient.id, **patient.reminders)

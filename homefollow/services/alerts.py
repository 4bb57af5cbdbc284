"""Alerts: raise from findings, acknowledge, resolve. Every step is an event in the log.

There is never more than one unresolved alert per patient and rule (a partial unique index
guarantees it); a repeated finding updates that alert, a more severe one raises it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from rules.text import Text
from rules.zones import Zone

from ..clock import Clock
from ..i18n import t
from ..models import Alert, AlertEvent, AlertStatus, Channel, Outcome, Patient, Team
from ..notifications import outbox

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: short codes are read off a phone and typed back.
_CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY34679"


class AlertStateError(Exception):
    """The alert is not in a state that allows this step (e.g. already resolved)."""


@dataclass(frozen=True)
class RaisedFinding:
    """What the rule engine found, as the alert service needs it."""

    alert_key: str  # one open alert per patient and alert key (the rule's group or key)
    rule_key: str
    rule_version: int
    rule_version_id: int | None
    title: Text
    severity: Zone
    value_text: Text
    threshold_text: Text
    explanation: Text
    report_id: int | None = None


def _new_short_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(5))
        if session.exec(select(Alert.id).where(Alert.short_code == code)).first() is None:
            return code


def open_alert_for(session: Session, patient_id: int, rule_key: str, *, for_update: bool = False) -> Alert | None:
    """The unresolved alert for this patient and rule. With for_update, the row stays locked
    until commit (PostgreSQL), so concurrent findings update it one after the other."""
    query = select(Alert).where(
        Alert.patient_id == patient_id,
        Alert.rule_key == rule_key,
        Alert.status != AlertStatus.RESOLVED.value,
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def latest_alert_for(session: Session, patient_id: int, rule_key: str) -> Alert | None:
    """The most recent alert for this patient and key, resolved or not."""
    return session.exec(
        select(Alert).where(Alert.patient_id == patient_id, Alert.rule_key == rule_key)
        .order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(1)
    ).first()


def add_event(session: Session, clock: Clock, alert: Alert, kind: str, actor_account_id: int | None = None,
              **data) -> AlertEvent:
    event = AlertEvent(alert_id=alert.id, at=clock.now(), actor_account_id=actor_account_id, kind=kind, data=data)
    session.add(event)
    return event


def raise_finding(session: Session, clock: Clock, patient: Patient, finding: RaisedFinding) -> Alert:
    """Open an alert for a yellow or red finding, or update the open one. Does not commit."""
    if finding.severity == Zone.GREEN:
        raise ValueError("green findings do not raise alerts")
    alert = open_alert_for(session, patient.id, finding.alert_key, for_update=True)
    if alert is None:
        alert = _try_open(session, clock, patient, finding)
        if alert is not None:
            return alert
        # Another transaction opened it a moment ago: update that one instead.
        alert = open_alert_for(session, patient.id, finding.alert_key, for_update=True)
    _update(session, clock, patient, alert, finding)
    return alert


def _try_open(session: Session, clock: Clock, patient: Patient, finding: RaisedFinding) -> Alert | None:
    now = clock.now()
    alert = Alert(
        patient_id=patient.id,
        team_id=patient.team_id,
        rule_key=finding.alert_key,
        rule_version=finding.rule_version,
        rule_version_id=finding.rule_version_id,
        title=finding.title.as_dict(),
        severity=finding.severity.value,
        short_code=_new_short_code(session),
        opened_at=now,
        severity_since=now,
        last_seen_at=now,
        value_text=finding.value_text.as_dict(),
        threshold_text=finding.threshold_text.as_dict(),
        explanation=finding.explanation.as_dict(),
        last_report_id=finding.report_id,
    )
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    add_event(session, clock, alert, "opened", severity=alert.severity, rule_key=finding.rule_key,
              rule_version=finding.rule_version, report_id=finding.report_id, explanation=alert.explanation)
    notify_team(session, clock, alert, patient, reason="opened")
    return alert


def _update(session: Session, clock: Clock, patient: Patient, alert: Alert, finding: RaisedFinding) -> None:
    raised = finding.severity.rank > Zone(alert.severity).rank
    alert.occurrences += 1
    alert.last_seen_at = clock.now()
    if finding.severity.rank < Zone(alert.severity).rank:
        # A yellow reading after a red one: the alert keeps showing why it is red; the event
        # log and the patient's readings show the newer, milder value.
        add_event(session, clock, alert, "repeated", occurrences=alert.occurrences, rule_key=finding.rule_key,
                  rule_version=finding.rule_version, report_id=finding.report_id,
                  severity=finding.severity.value, explanation=finding.explanation.as_dict())
        session.add(alert)
        return
    alert.value_text = finding.value_text.as_dict()
    alert.threshold_text = finding.threshold_text.as_dict()
    alert.explanation = finding.explanation.as_dict()
    alert.rule_version = finding.rule_version
    alert.rule_version_id = finding.rule_version_id
    alert.title = finding.title.as_dict()
    if finding.report_id is not None:
        alert.last_report_id = finding.report_id
    if raised:
        previous = alert.severity
        alert.severity = finding.severity.value
        alert.severity_since = clock.now()
        # A more severe finding is new for whoever answers: back to the queue, page again.
        alert.status = AlertStatus.OPEN.value
        alert.acknowledged_at = None
        alert.acknowledged_by_account_id = None
        add_event(session, clock, alert, "severity_raised", previous=previous, severity=alert.severity,
                  rule_key=finding.rule_key, rule_version=finding.rule_version, report_id=finding.report_id,
                  explanation=alert.explanation)
        notify_team(session, clock, alert, patient, reason="raised")
    else:
        add_event(session, clock, alert, "repeated", occurrences=alert.occurrences, rule_key=finding.rule_key,
                  rule_version=finding.rule_version, report_id=finding.report_id, explanation=alert.explanation)
    session.add(alert)


def notify_team(session: Session, clock: Clock, alert: Alert, patient: Patient, *, reason: str) -> None:
    """Write the page to the team's on-call phone into the outbox (same transaction).

    The SMS names no patient and no values: whoever holds the phone learns only that there
    is an alert and its code; the details are behind the clinician portal's sign-in."""
    team = session.get(Team, patient.team_id)
    if team is None or not team.on_call_phone:
        return
    severity_word = t("nb", "RED") if alert.severity == Zone.RED.value else t("nb", "YELLOW")
    if reason == "raised":
        body = t("nb", "HomeFollow: alert %(code)s in %(team)s is now %(severity)s. Reply OK %(code)s to acknowledge.",
                 severity=severity_word, team=team.name, code=alert.short_code)
    else:
        body = t("nb", "HomeFollow: new %(severity)s alert in %(team)s. Code %(code)s. Reply OK %(code)s to acknowledge.",
                 severity=severity_word, team=team.name, code=alert.short_code)
    queued = outbox.enqueue(
        session, clock,
        dedup_key=f"alert:{alert.id}:{reason}:{alert.severity}:sms:{team.on_call_phone}",
        channel=Channel.SMS, recipient=team.on_call_phone, body=body, alert_id=alert.id,
    )
    if queued is not None:
        session.flush()
        add_event(session, clock, alert, "notification_queued", channel="sms", notification_id=queued.id)


def acknowledge(session: Session, clock: Clock, alert_id: int, actor_account_id: int) -> Alert:
    """Open → acknowledged. Commits. Raises AlertStateError if someone else got there first."""
    now = clock.now()
    result = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status == AlertStatus.OPEN.value)
        .values(status=AlertStatus.ACKNOWLEDGED.value, acknowledged_at=now, acknowledged_by_account_id=actor_account_id)
    )
    if result.rowcount != 1:
        session.rollback()
        raise AlertStateError("not_open")
    alert = session.get(Alert, alert_id, populate_existing=True)
    add_event(session, clock, alert, "acknowledged", actor_account_id)
    session.commit()
    return alert


def resolve(session: Session, clock: Clock, alert_id: int, actor_account_id: int, outcome: Outcome,
            note: str) -> Alert:
    """Open or acknowledged → resolved with an outcome. Commits."""
    now = clock.now()
    result = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status != AlertStatus.RESOLVED.value)
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now, resolved_by_account_id=actor_account_id,
                outcome=outcome.value, resolution_note=note)
    )
    if result.rowcount != 1:
        session.rollback()
        raise AlertStateError("already_resolved")
    alert = session.get(Alert, alert_id, populate_existing=True)
    add_event(session, clock, alert, "resolved", actor_account_id, outcome=outcome.value, note=note)
    session.commit()
    return alert


def triage_queue(session: Session, team_ids: frozenset[int], limit: int = 500) -> list[tuple[Alert, Patient]]:
    """Unresolved alerts of these teams: red before yellow, not yet acknowledged before
    acknowledged, then the longest waiting first."""
    if not team_ids:
        return []
    severity_order = case((Alert.severity == Zone.RED.value, 0), else_=1)
    unacknowledged_first = case((Alert.status == AlertStatus.OPEN.value, 0), else_=1)
    return list(session.exec(
        select(Alert, Patient)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Alert.team_id.in_(team_ids), Alert.status != AlertStatus.RESOLVED.value)
        .order_by(severity_order, unacknowledged_first, Alert.severity_since, Alert.id)
        .limit(limit)
    ).all())


def events_of(session: Session, alert_id: int) -> list[AlertEvent]:
    return list(session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.at, AlertEvent.id)))

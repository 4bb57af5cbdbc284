"""Alerts: raise from findings, acknowledge, resolve. Every step is an event in the log.

There is never more than one unresolved alert per patient and rule (a partial unique index
guarantees it); a repeated finding updates that alert, a more severe one raises it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import case, func, text, update
from sqlmodel import Session, col, select

from rules.text import Text
from rules.zones import Zone

from .. import transactions
from ..clock import Clock
from ..db import insert_unless_taken, rows_changed
from ..escalation import parse_policy, snooze_problems
from ..escalation.policy import Severity
from ..models import Alert, AlertEvent, AlertStatus, Outcome, Patient, Team
from . import escalation, relatives
from .alert_log import add_event, add_events, events_of  # noqa: F401  (events_of: part of this service's API)

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
    # The readings the finding rests on (the rule engine's observation refs, "m:<id>"): the
    # alert counts an occurrence only when one of them is new to it, so evaluating the same
    # readings again (a scheduler tick, a changed explanation) does not count twice.
    refs: tuple[str, ...] = ()


def _occurrence_refs(finding: RaisedFinding) -> set[str]:
    """What identifies this finding's occurrence: its readings, else its report, else nothing
    (a finding without readings, such as a missed check-in, is raised only when it says
    something new, and then counts)."""
    if finding.refs:
        return set(finding.refs)
    return {f"report:{finding.report_id}"} if finding.report_id is not None else set()


_COUNTED_KINDS = ("opened", "repeated", "severity_raised")


def _is_new_occurrence(session: Session, alert: Alert, finding: RaisedFinding) -> bool:
    """Whether the finding rests on a reading (or report) the alert has not counted yet."""
    refs = _occurrence_refs(finding)
    if not refs:
        return True
    seen: set[str] = set()
    for data in session.exec(select(AlertEvent.data).where(AlertEvent.alert_id == alert.id,
                                                           col(AlertEvent.kind).in_(_COUNTED_KINDS))):
        seen.update((data or {}).get("refs") or ())
        if (data or {}).get("report_id") is not None:
            seen.add(f"report:{data['report_id']}")
    if alert.last_report_id is not None:
        seen.add(f"report:{alert.last_report_id}")
    return bool(refs - seen)


def _new_short_codes(session: Session, count: int) -> list[str]:
    """Codes no alert has yet, checked against the database in one query per round."""
    codes: list[str] = []
    while len(codes) < count:
        candidates = {"".join(secrets.choice(_CODE_ALPHABET) for _ in range(5)) for _ in range(count - len(codes))}
        taken = set(session.exec(select(Alert.short_code).where(col(Alert.short_code).in_(candidates))).all())
        codes += sorted(candidates - taken - set(codes))
    return codes[:count]


def _new_short_code(session: Session) -> str:
    return _new_short_codes(session, 1)[0]


def open_alert_for(session: Session, patient_id: int, rule_key: str, *, for_update: bool = False) -> Alert | None:
    """The unresolved alert for this patient and rule. With for_update, the row stays locked
    until commit (PostgreSQL), so concurrent findings update it one after the other."""
    query = select(Alert).where(
        Alert.patient_id == patient_id,
        Alert.rule_key == rule_key,
        Alert.status != AlertStatus.RESOLVED.value,
    )
    if for_update:  # as the last writer committed it (the lock order: homefollow.transactions)
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def latest_alerts_for(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Alert]:
    """The most recent alert of each (patient id, alert key) pair, resolved or not, in two
    queries: the unresolved alerts (locked until commit on PostgreSQL, in id order, and reloaded
    as the last writer committed them, so concurrent findings and the escalation sweep update
    them one after the other; see homefollow.transactions), then the newest resolved alert of
    each other pair. An unresolved alert is always the most recent one: there is never more
    than one."""
    if not keys:
        return {}
    found = lock_open_alerts(session, keys)
    rest = keys - found.keys()
    if rest:
        newest = (select(Alert.id, func.row_number().over(
            partition_by=(col(Alert.patient_id), col(Alert.rule_key)),
            order_by=(col(Alert.opened_at).desc(), col(Alert.id).desc())).label("n"))
            .where(col(Alert.patient_id).in_({p for p, _k in rest}), col(Alert.rule_key).in_({k for _p, k in rest}))
            .subquery())
        for alert in session.exec(select(Alert).join(newest, newest.c.id == Alert.id).where(newest.c.n == 1)):
            if (alert.patient_id, alert.rule_key) in rest:
                found[(alert.patient_id, alert.rule_key)] = alert
    return found


def raise_finding(session: Session, clock: Clock, patient: Patient, finding: RaisedFinding) -> Alert:
    """raise_findings for one finding."""
    return raise_findings(session, clock, [(patient, finding)])[0]


def raise_findings(session: Session, clock: Clock, findings: list[tuple[Patient, RaisedFinding]],
                   latest: dict[tuple[int, str], Alert] | None = None) -> list[Alert]:
    """Open an alert for each yellow or red finding, or update (and, when it is more severe,
    raise) the one open for its patient and alert key; then page by each alert's policy, all
    pages in one INSERT. The one path for a report's findings and a sweep batch's alike. Returns
    the alerts in the findings' order. Does not commit.

    `latest`: the caller's latest_alerts_for these keys, to save the query that locks the open
    alerts. A new alert goes in with INSERT … ON CONFLICT DO NOTHING on the index that allows
    one open alert per patient and key; when that inserts nothing, another transaction opened
    it a moment ago, and that alert is updated instead."""
    if any(finding.severity == Zone.GREEN for _p, finding in findings):
        raise ValueError("green findings do not raise alerts")
    keys = {(patient.id, finding.alert_key) for patient, finding in findings}
    if latest is None:
        latest = lock_open_alerts(session, keys)
    open_ = {key: alert for key, alert in latest.items() if alert.status != AlertStatus.RESOLVED.value}
    to_open: dict[tuple[int, str], tuple[Patient, RaisedFinding]] = {}
    for patient, finding in findings:
        if (patient.id, finding.alert_key) not in open_:
            to_open.setdefault((patient.id, finding.alert_key), (patient, finding))
    opened = _open(session, clock, list(to_open.values()))
    meanwhile = to_open.keys() - opened.keys()
    if meanwhile:
        open_ |= lock_open_alerts(session, meanwhile)
    fresh = set(opened)  # opened by the first finding of its key; any other one updates it
    raised: list[Alert] = []
    for patient, finding in findings:
        key = (patient.id, finding.alert_key)
        if key in fresh:
            fresh.discard(key)
            raised.append(opened[key])
            continue
        alert = opened.get(key) or open_.get(key)
        if alert is None:
            # PostgreSQL only (SQLite lets one writer in at a time): the alert that kept ours out
            # was opened and resolved by others between our two statements. The transaction
            # fails (nothing of it is stored) rather than drop the finding.
            raise AlertStateError("resolved_while_opening")
        _update(session, clock, patient, alert, finding)
        raised.append(alert)
    escalation.escalate(session, clock, *{alert.id: alert for alert in raised}.values())
    return raised


def lock_open_alerts(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Alert]:
    """The unresolved alert of each (patient id, alert key) pair that has one, locked until
    commit in id order and reloaded as the last writer committed it (homefollow.transactions)."""
    if not keys:
        return {}
    return {(a.patient_id, a.rule_key): a for a in session.exec(
        select(Alert).where(col(Alert.patient_id).in_({p for p, _k in keys}),
                            col(Alert.rule_key).in_({k for _p, k in keys}), Alert.status != AlertStatus.RESOLVED.value)
        .order_by(col(Alert.id)).with_for_update().execution_options(populate_existing=True))
        if (a.patient_id, a.rule_key) in keys}


def add_to_queue(session: Session, clock: Clock, patient: Patient, *, key: str, title: Text, value_text: Text,
                 threshold_text: Text, explanation: Text, **event_data) -> Alert:
    """Put an item for the team to follow up in the triage queue, without paging anyone (the
    caller tells the team as it sees fit): a yellow alert with no escalation policy. If one with
    this key is still unresolved, it is updated and seen again instead. Does not commit."""
    alert = open_alert_for(session, patient.id, key, for_update=True)
    now = clock.now()
    if alert is None:
        row = _alert_row(patient, key=key, title=title, severity=Zone.YELLOW, value_text=value_text,
                         threshold_text=threshold_text, explanation=explanation, now=now,
                         short_code=_new_short_code(session))
        inserted = _insert_unless_open(session, [row])
        if inserted:
            [alert] = inserted
            add_event(session, clock, alert, "opened", severity=alert.severity, rule_key=key,
                      explanation=alert.explanation, **event_data)
            return alert
        alert = open_alert_for(session, patient.id, key, for_update=True)  # opened meanwhile by another
        if alert is None:  # and resolved as well, in the instant between: fail, to be run again
            raise AlertStateError("opened_and_resolved_meanwhile")
    alert.occurrences += 1
    alert.last_seen_at = now
    alert.title, alert.value_text = title.as_dict(), value_text.as_dict()
    alert.threshold_text, alert.explanation = threshold_text.as_dict(), explanation.as_dict()
    session.add(alert)
    add_event(session, clock, alert, "repeated", occurrences=alert.occurrences, rule_key=key,
              explanation=alert.explanation, **event_data)
    return alert


def _alert_row(patient: Patient, *, key: str, title: Text, severity: Zone, value_text: Text, threshold_text: Text,
               explanation: Text, now, short_code: str, **columns) -> dict:
    return {"patient_id": patient.id, "team_id": patient.team_id, "rule_key": key, "title": title.as_dict(),
            "severity": severity.value, "short_code": short_code, "opened_at": now, "severity_since": now,
            "last_seen_at": now, "value_text": value_text.as_dict(), "threshold_text": threshold_text.as_dict(),
            "explanation": explanation.as_dict(), **columns}


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:  # a patient's team is a foreign key
        raise LookupError(f"no team {team_id}")
    return team


def _reloaded(session: Session, alert_id: int) -> Alert:
    """The alert as the compare-and-set update that matched it left it."""
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None:  # the update matched this row in this transaction
        raise LookupError(f"no alert {alert_id}")
    return alert


def _insert_unless_open(session: Session, rows: list[dict]) -> list[Alert]:
    """Insert these alerts in one statement, except those whose patient and key have an open
    alert already (the partial unique index uq_alert_open_per_rule); the inserted ones back.

    Rows in, objects back (RETURNING loads them): building a SQLModel object sets its ~30
    fields one instrumented attribute at a time, which made up a tenth of a sweep that opens
    hundreds of alerts (benchmarks/sweep_bench.py)."""
    if not rows:
        return []
    # The index's own predicate, as text: SQLite matches a partial index by its words.
    statement = insert_unless_taken(session, Alert, index=("patient_id", "rule_key"),
                                    where=text("status <> 'resolved'"))
    return list(session.scalars(statement.returning(Alert), rows))


def _open(session: Session, clock: Clock, findings: list[tuple[Patient, RaisedFinding]]
          ) -> dict[tuple[int, str], Alert]:
    """Open a new alert for each finding whose patient and key have none open, with the team's
    policy frozen onto it, and tell the relatives of a red one; by (patient id, key). Those
    opened by another transaction a moment ago are left out, for the caller to update."""
    if not findings:
        return {}
    now = clock.now()
    codes = _new_short_codes(session, len(findings))
    policies = {team_id: escalation.frozen_policy(escalation.team_policy(_team(session, team_id)))
                for team_id in {patient.team_id for patient, _f in findings}}
    opened = {(alert.patient_id, alert.rule_key): alert for alert in _insert_unless_open(session, [
        _alert_row(patient, key=finding.alert_key, title=finding.title, severity=finding.severity,
                   value_text=finding.value_text, threshold_text=finding.threshold_text,
                   explanation=finding.explanation, now=now, short_code=code,
                   rule_version=finding.rule_version, rule_version_id=finding.rule_version_id,
                   last_report_id=finding.report_id,
                   # Frozen in the INSERT, not set by an UPDATE after it.
                   escalation_policy=policies[patient.team_id])
        for (patient, finding), code in zip(findings, codes, strict=True)])}
    news = [(opened[(patient.id, finding.alert_key)], patient, finding) for patient, finding in findings
            if (patient.id, finding.alert_key) in opened]
    add_events(session, clock, [(alert, "opened", {
        "severity": alert.severity, "rule_key": finding.rule_key, "rule_version": finding.rule_version,
        "report_id": finding.report_id, "refs": sorted(_occurrence_refs(finding)),
        "explanation": alert.explanation}) for alert, _patient, finding in news])
    for alert, patient, finding in news:
        if finding.severity == Zone.RED:
            relatives.notify_of_red_alert(session, clock, patient, alert.id)
    return opened


def _update(session: Session, clock: Clock, patient: Patient, alert: Alert, finding: RaisedFinding) -> None:
    raised = finding.severity.rank > Zone(alert.severity).rank
    # An honest count: distinct readings (or occurrences) behind the alert, not evaluations.
    # Only the count and the "repeated" event depend on it; paging (raise_findings escalates) does not.
    new_occurrence = _is_new_occurrence(session, alert, finding)
    if new_occurrence:
        alert.occurrences += 1
    alert.last_seen_at = clock.now()
    refs = sorted(_occurrence_refs(finding))
    if finding.severity.rank < Zone(alert.severity).rank:
        # A yellow reading after a red one: the alert keeps showing why it is red; the event
        # log and the patient's readings show the newer, milder value.
        if new_occurrence:
            add_event(session, clock, alert, "repeated", occurrences=alert.occurrences, rule_key=finding.rule_key,
                      rule_version=finding.rule_version, report_id=finding.report_id, refs=refs,
                      severity=finding.severity.value, explanation=finding.explanation.as_dict())
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
        alert.snoozed_at = alert.snoozed_until = alert.snooze_reason = None  # a raise is new: no snooze holds it
        add_event(session, clock, alert, "severity_raised", previous=previous, severity=alert.severity,
                  rule_key=finding.rule_key, rule_version=finding.rule_version, report_id=finding.report_id,
                  refs=refs, explanation=alert.explanation)
        if alert.severity == Zone.RED.value:
            relatives.notify_of_red_alert(session, clock, patient, alert.id)
    elif new_occurrence:
        add_event(session, clock, alert, "repeated", occurrences=alert.occurrences, rule_key=finding.rule_key,
                  rule_version=finding.rule_version, report_id=finding.report_id, refs=refs,
                  explanation=alert.explanation)
    session.add(alert)


def acknowledge(session: Session, clock: Clock, alert_id: int, actor_account_id: int) -> Alert:
    """Open → acknowledged; the edge commits. Raises AlertStateError (nothing changed) if someone
    else got there first."""
    now = clock.now()
    # The compare-and-set update is also the alert's row lock, taken before anything else (the
    # lock order: homefollow.transactions).
    result = session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.OPEN.value)
        .values(status=AlertStatus.ACKNOWLEDGED.value, acknowledged_at=now, acknowledged_by_account_id=actor_account_id)
    )
    if rows_changed(result) != 1:
        raise AlertStateError("not_open")
    alert = _reloaded(session, alert_id)
    add_event(session, clock, alert, "acknowledged", actor_account_id)
    escalation.escalate(session, clock, alert)  # stops paging; starts the acknowledgement timeout
    session.flush()
    return alert


def resolve(session: Session, clock: Clock, alert_id: int, actor_account_id: int | None, outcome: Outcome,
            note: str, **event_data) -> Alert:
    """Open or acknowledged → resolved with an outcome; the edge commits. `event_data` goes into
    the log's event (e.g. reason="message_read" when reading the messages resolved it). Raises
    AlertStateError (nothing changed) when it already was."""
    now = clock.now()
    result = session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.status) != AlertStatus.RESOLVED.value)
        .values(status=AlertStatus.RESOLVED.value, resolved_at=now, resolved_by_account_id=actor_account_id,
                outcome=outcome.value, resolution_note=note)
    )
    if rows_changed(result) != 1:
        raise AlertStateError("already_resolved")
    alert = _reloaded(session, alert_id)
    add_event(session, clock, alert, "resolved", actor_account_id, outcome=outcome.value, note=note, **event_data)
    alert.escalation_due_at = None
    session.add(alert)
    session.flush()
    return alert


class SnoozeRefused(ValueError):
    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{field}: {why}" for field, why in problems))
        self.problems = problems


def snooze(session: Session, clock: Clock, alert_id: int, actor_account_id: int, until, reason: str) -> Alert:
    """Pause paging until `until`, for a reason. The alert stays in the queue; the edge commits.

    Raises SnoozeRefused (nothing changed) when the reason is missing, the end is not in the
    future, or the snooze is longer than the policy allows."""
    alert = transactions.lock_alert(session, alert_id)  # plan from the committed state, not a stale one
    if alert is None or alert.status == AlertStatus.RESOLVED.value:
        raise AlertStateError("already_resolved")
    severity = cast(Severity, alert.severity)  # an alert is yellow or red
    problems = snooze_problems(parse_policy(alert.escalation_policy), severity, clock.now(), until, reason) \
        if alert.escalation_policy else ([("reason", "required")] if not (reason or "").strip() else [])
    if problems:
        raise SnoozeRefused(problems)
    alert.snoozed_at, alert.snoozed_until, alert.snooze_reason = clock.now(), until, reason.strip()
    add_event(session, clock, alert, "snoozed", actor_account_id, until=until.isoformat(), reason=alert.snooze_reason)
    escalation.escalate(session, clock, alert)
    session.flush()
    return alert


def triage_queue(session: Session, team_ids: frozenset[int], limit: int = 500) -> list[tuple[Alert, Patient]]:
    """Unresolved alerts of these teams: red before yellow, not yet acknowledged before
    acknowledged, then the longest waiting first."""
    if not team_ids:
        return []
    severity_order = case((col(Alert.severity) == Zone.RED.value, 0), else_=1)
    unacknowledged_first = case((col(Alert.status) == AlertStatus.OPEN.value, 0), else_=1)
    return list(session.exec(
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(col(Alert.team_id).in_(team_ids), Alert.status != AlertStatus.RESOLVED.value)
        .order_by(severity_order, unacknowledged_first, col(Alert.severity_since), col(Alert.id))
        .limit(limit)
    ).all())

"""Paging: from an open alert to a person who answers, by the team's escalation policy.

The planner in homefollow.escalation is pure; here we give it the alert's facts and the team as
it is now, put the pages it asks for into the outbox (same transaction), and keep its state and
next due time on the alert. The policy is frozen onto the alert when it fires, so editing a
team's policy never changes an escalation in flight.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import orjson
from sqlalchemy import update
from sqlmodel import Session, col, select

from .. import transactions
from ..clock import Clock
from ..db import rows_changed
from ..escalation import (RED_REPEAT_MINUTES, AlertFacts, Contact, EscalationPolicy, EscalationState, OnCallSchedule,
                          OpeningHours, PageIntent, PolicyError, TeamContext, parse_policy, plan)
from ..escalation.policy import Severity
from ..i18n import N_, t
from ..links import public_url
from ..models import (Account, Alert, AlertStatus, Channel, Notification, NotificationStatus, Patient, Priority, Team,
                      TeamMembership)
from ..notifications import outbox
from ..notifications.texts import message_text, page_text
from .admin_notices import tell_team_admins
from .alert_log import add_event, add_events

log = logging.getLogger(__name__)

SWEEP_LEASE_SECONDS = 120
# A page refused at once (an opted-out number) makes the planner move on at once; this bounds it.
MAX_REPLANS = 5

# To the team's admins (Norwegian, like every page), when a red alert's chain ended with nobody
# acknowledging: the fallback now repeats, and somebody should look at the rota and the numbers.
RED_UNANSWERED = N_("HomeFollow: RED alert %(code)s in %(team)s has gone through every step with nobody "
                    "acknowledging. The fallback number is paged every %(minutes)s minutes until someone "
                    "answers. Check the on-call rota and the phone numbers.")


def default_policy(team: Team) -> EscalationPolicy | None:
    """A team without a policy of its own: the nurse on call (or the nurses) in opening hours,
    then the coordinators; red alerts outside opening hours to the team's on-call phone; that
    phone as the fallback. None when the team has no on-call phone: then alerts only wait in
    the triage queue, which admins are warned about."""
    if not team.on_call_phone:
        return None
    first = {"kind": "on_call", "role": "nurse"} if team.on_call_schedule else {"kind": "role", "role": "nurse"}
    return parse_policy({
        "name": t("nb", "Standard"),
        "steps": [
            {"target": first, "channels": ["sms", "email"], "when": "in_opening_hours",
             "wait": {"yellow": 60, "red": 15}},
            {"target": {"kind": "role", "role": "coordinator"}, "channels": ["sms", "email"],
             "when": "in_opening_hours", "wait": {"yellow": 120, "red": 15}},
            {"target": {"kind": "phone", "number": team.on_call_phone, "label": t("nb", "On-call phone")},
             "channels": ["sms"], "severities": ["red"], "when": "outside_opening_hours", "wait": {"red": 15}},
        ],
        "repeat": 1,
        "fallback": [{"kind": "phone", "number": team.on_call_phone, "label": t("nb", "On-call phone")}],
        "ack_timeout": {"yellow": 240, "red": 30},
        "snooze_max": {"yellow": 1440, "red": 60},
    })


def team_policy(team: Team) -> EscalationPolicy | None:
    if team.escalation_policy:
        try:
            return parse_policy(team.escalation_policy)
        except PolicyError:  # stored before a validation rule tightened: never leave alerts unpaged
            log.exception("team %s: stored escalation policy is invalid; using the default", team.id)
    return default_policy(team)


def team_context(session: Session, team: Team) -> TeamContext:
    """The team as the planner sees it now: active members by role, their contact details.
    Kept for the life of the session (a request, or one sweep), which may page many alerts."""
    cache = session.info.setdefault("team_contexts", {})
    if team.id not in cache:
        cache[team.id] = _team_context(session, team)
    return cache[team.id]


def _team_context(session: Session, team: Team) -> TeamContext:
    rows = session.exec(
        select(TeamMembership.role, Account)
        .join(Account, col(Account.id) == col(TeamMembership.account_id))
        .where(TeamMembership.team_id == team.id, col(Account.is_active).is_(True))
    ).all()
    members: dict[str, list[int]] = {}
    contacts: dict[int, Contact] = {}
    for role, account in rows:
        members.setdefault(role, []).append(account.id)
        contacts[account.id] = Contact(phone=account.phone, email=account.email)
    return TeamContext(
        time_zone=team.time_zone,
        opening_hours=OpeningHours.model_validate(team.opening_hours or {}),
        members=members,
        contacts=contacts,
        on_call=OnCallSchedule.model_validate(team.on_call_schedule) if team.on_call_schedule else None,
    )


def is_opted_out(session: Session, phone: str | None) -> bool:
    return phone is None or phone in outbox.opted_out_numbers(session)


def facts_of(session: Session, alert: Alert, patient: Patient) -> AlertFacts:
    snoozed = alert.snoozed_until is not None
    return AlertFacts(
        alert_id=alert.id,
        severity=cast(Severity, alert.severity),  # an alert is yellow or red
        opened_at=alert.opened_at,
        rule_key=alert.rule_key,
        raised_at=alert.severity_since if alert.severity_since != alert.opened_at else None,
        last_seen_at=alert.last_seen_at,
        acknowledged_at=alert.acknowledged_at if alert.status == AlertStatus.ACKNOWLEDGED.value else None,
        resolved_at=alert.resolved_at,
        snoozed_at=alert.snoozed_at if snoozed else None,
        snoozed_until=alert.snoozed_until if snoozed else None,
        patient_sms=not is_opted_out(session, patient.phone),
    )


def frozen_policy(policy: EscalationPolicy | None) -> dict | None:
    """The team's policy (team_policy) as a new alert keeps it."""
    return policy.model_dump(mode="json") if policy else None


def escalate(session: Session, clock: Clock, *alerts: Alert) -> None:
    """Run the planner for these alerts now and carry out what it says; their pages go into
    the outbox in one INSERT. Does not commit.

    Called whenever something changes (opened, raised, repeated, acknowledged, resolved,
    snoozed, a page failed) and by the sweep when an alert's escalation is due."""
    paged = [alert for alert in alerts if alert.escalation_policy is not None]
    for alert in alerts:
        if alert.escalation_policy is None:  # a queue item nobody is paged for
            alert.escalation_due_at = None
    if not paged:
        return
    # The pages each alert has already; an alert never planned (just opened) has none.
    queued_keys: dict[int, set[str]] = {}
    failed: dict[int, set[str]] = {}
    planned_before = [alert.id for alert in paged if alert.escalation_state is not None]
    if planned_before:
        for alert_id, key, status in session.exec(
                select(Notification.alert_id, Notification.dedup_key, Notification.status)
                .where(col(Notification.alert_id).in_(planned_before))):
            assert alert_id is not None  # one of planned_before
            queued_keys.setdefault(alert_id, set()).add(key)
            if status == NotificationStatus.FAILED.value:
                failed.setdefault(alert_id, set()).add(key)
    pages: list[QueuedPage] = []
    for alert in paged:
        pages += _plan_and_page(session, clock, alert, queued_keys.get(alert.id, set()), failed.get(alert.id, set()))
    record_pages(session, clock, pages)


def _plan_and_page(session: Session, clock: Clock, alert: Alert, queued_keys: set[str],
                   failed: set[str]) -> list[QueuedPage]:
    """One alert's planning: its new state and due time on the alert, its pages to queue."""
    assert alert.escalation_policy is not None, "escalate plans only alerts with a policy"
    policy = _parsed_policy(session, alert.escalation_policy)
    team = session.get(Team, alert.team_id)
    patient = session.get(Patient, alert.patient_id)
    assert team is not None and patient is not None, "an alert's team and patient exist (foreign keys)"
    context = team_context(session, team)
    state = EscalationState.model_validate(alert.escalation_state) if alert.escalation_state else None
    now = clock.now()
    queued: list[QueuedPage] = []
    for _attempt in range(MAX_REPLANS):
        result = plan(policy, facts_of(session, alert, patient), context, state, now, frozenset(failed))
        state = result.state
        refused = set()
        for intent in result.intents:
            if intent.dedup_key in queued_keys or any(page.intent.dedup_key == intent.dedup_key for page in queued):
                continue  # queued before, or planned again after a refusal: queued once
            page = _page(session, clock, alert, patient, team, intent)
            queued.append(page)
            if page.message["status"] == NotificationStatus.FAILED.value:
                refused.add(intent.dedup_key)
        if result.returned_to_queue:
            alert.status = AlertStatus.OPEN.value
            alert.acknowledged_at = None
            alert.acknowledged_by_account_id = None
            add_event(session, clock, alert, "ack_expired")
        if result.tell_admins:
            told = tell_team_admins(session, clock, team, key=f"red-unanswered:{alert.id}:e{state.episode}",
                                    text=t("nb", RED_UNANSWERED, code=alert.short_code, team=team.name,
                                           minutes=RED_REPEAT_MINUTES), alert_id=alert.id)
            add_event(session, clock, alert, "red_repeating", admins_told=told)
        if not refused:
            break
        failed = failed | refused
    alert.escalation_state = result.state.model_dump(mode="json")
    alert.escalation_due_at = result.next_due_at
    session.add(alert)
    return queued


def _parsed_policy(session: Session, frozen: dict) -> EscalationPolicy:
    """An alert's frozen policy, parsed once per session: the alerts a sweep opens for one team
    carry the same policy, and parsing it is most of planning a new alert."""
    cache = session.info.setdefault("parsed_policies", {})
    key = orjson.dumps(frozen, option=orjson.OPT_SORT_KEYS)
    if key not in cache:
        cache[key] = parse_policy(frozen)
    return cache[key]


@dataclass
class QueuedPage:
    alert: Alert
    intent: PageIntent
    message: dict  # its outbox row (outbox.message)


def record_pages(session: Session, clock: Clock, pages: list[QueuedPage]) -> None:
    """Add the pages to the outbox (one INSERT for all), then a page_queued event on each
    page's alert, naming its outbox row. A page whose key a concurrent transaction took a
    moment ago is that transaction's to record."""
    if not pages:
        return
    added = {n.dedup_key: n for n in outbox.add(session, [page.message for page in pages])}
    events = []
    for page in pages:
        n = added.get(page.message["dedup_key"])
        if n is None:
            continue
        events.append((page.alert, "page_queued", {
            "notification_id": n.id, "page_kind": page.intent.kind, "channel": page.intent.channel,
            "recipient": page.intent.recipient, "step": page.intent.step_index, "round": page.intent.repeat_round,
            "status": n.status}))
        if n.status == NotificationStatus.FAILED.value:  # refused at once (a number that sent STOP)
            events.append((page.alert, "page_failed", {"notification_id": n.id, "channel": n.channel,
                                                       "recipient": n.recipient, "error": n.last_error or ""}))
    add_events(session, clock, events)


def _page(session: Session, clock: Clock, alert: Alert, patient: Patient, team: Team, intent: PageIntent) -> QueuedPage:
    """The outbox row for this intent, for record_pages to add."""
    if intent.kind == "remeasure":
        address = patient.phone
        locale = _patient_locale(session, patient)
        body = message_text("remeasure", locale)
        subject = None
    else:
        address = intent.address
        body = page_text(alert.severity, team.name, alert.short_code, "nb")
        subject = body.split(".")[0]
    duty = intent.kind != "remeasure"
    row = outbox.message(
        session, clock, dedup_key=intent.dedup_key, channel=Channel(intent.channel), recipient=address or "",
        body=body if intent.channel == "sms" else _email_body(body, alert), subject=subject,
        alert_id=alert.id, patient_id=None if duty else patient.id,
        # Duty pages: a STOP recorded for a staff or on-call number does not refuse them; red first;
        # a ref token so that a page of unknown fate is looked up before it is sent again.
        duty=duty, priority=Priority.RED if alert.severity == "red" else Priority.YELLOW, with_ref=duty,
    )
    return QueuedPage(alert, intent, row)


def _email_body(text: str, alert: Alert) -> str:
    return f"{text}\n\n{public_url(f'/clinic/alerts/{alert.id}')}\n"


def _patient_locale(session: Session, patient: Patient) -> str:
    account = session.get(Account, patient.account_id) if patient.account_id else None
    return account.locale if account else "nb"


# ---- the scheduler's sweep -----------------------------------------------------------------

@dataclass
class EscalationSweep:
    planned: int = 0
    skipped: int = 0
    failed: int = 0


def claim_alert(session: Session, clock: Clock, alert_id: int) -> bool:
    """The update that moves the due time a lease ahead succeeds for one process only. Commits,
    so other processes see the claim; the step itself runs in a transaction of its own."""
    now = clock.now()
    result = session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.escalation_due_at) <= now,
               col(Alert.status) != AlertStatus.RESOLVED.value)
        .values(escalation_due_at=now + timedelta(seconds=SWEEP_LEASE_SECONDS))
    )
    transactions.commit_now(session, "sweep_item")
    return rows_changed(result) == 1


def sweep_due_escalations(session: Session, clock: Clock, limit: int = 500) -> EscalationSweep:
    """Next steps, ended re-measure waits, acknowledgement timeouts and ended snoozes.

    Each alert's step is claimed (committed), then runs in a transaction of its own that first
    locks the alert and reloads it (the lock order: homefollow.transactions): a report or an
    acknowledgement committed meanwhile is planned from, never overwritten, and the step's pages
    are inserted only while the alert is held. A step that loses a race anyway (a deadlock,
    SQLite busy) is run again; one that keeps failing is left to the lease."""
    result = EscalationSweep()
    due = session.exec(
        select(Alert.id).where(col(Alert.escalation_due_at) <= clock.now(), Alert.status != AlertStatus.RESOLVED.value)
        .order_by(col(Alert.escalation_due_at)).limit(limit)
    ).all()
    transactions.commit_now(session, "sweep_item")

    def step(alert_id: int) -> None:
        alert = transactions.lock_alert(session, alert_id)
        if alert is not None and alert.status != AlertStatus.RESOLVED.value:  # resolved since the claim: done
            escalate(session, clock, alert)

    for alert_id in due:
        if not transactions.run_in_transaction(session, functools.partial(claim_alert, session, clock, alert_id),
                                               what=f"claiming alert {alert_id}"):
            result.skipped += 1
            continue
        try:
            transactions.run_in_transaction(session, functools.partial(step, alert_id), what=f"escalating alert {alert_id}")
            result.planned += 1
        except Exception:  # one alert's failure must not stop the others; the lease retries it
            session.rollback()
            log.exception("escalating alert %s failed", alert_id)
            result.failed += 1
    return result


def record_failures(session: Session, clock: Clock, notifications: list[Notification]) -> None:
    """A page_failed event on each failed page's alert, with the provider's reason: the alert
    page shows it in words (web.failure_reason). Does not commit."""
    for n in notifications:
        alert = session.get(Alert, n.alert_id) if n.alert_id else None
        if alert is not None:
            add_event(session, clock, alert, "page_failed", notification_id=n.id, channel=n.channel,
                      recipient=n.recipient, error=n.last_error or "")


def escalate_after_failures(session: Session, clock: Clock, notification_ids: list[int]) -> None:
    """Pages that failed for good (invalid number, refused): their alerts move on at once, and
    each failure is written in the alert's log."""
    failed = session.exec(select(Notification).where(col(Notification.id).in_(notification_ids),
                                                     col(Notification.alert_id).is_not(None))).all()
    transactions.commit_now(session, "sweep_item")
    for alert_id in sorted({n.alert_id for n in failed if n.alert_id is not None}):
        def step(alert_id: int = alert_id) -> None:
            alert = transactions.lock_alert(session, alert_id)  # the lock order: alert, then outbox rows
            if alert is None:
                return
            record_failures(session, clock, [n for n in failed if n.alert_id == alert_id])
            if alert.status != AlertStatus.RESOLVED.value:
                escalate(session, clock, alert)
        transactions.run_in_transaction(session, step)
        transactions.commit_now(session, "sweep_item")

"""The nurse's triage queue: which open alerts to show, how they are counted, and the queue's
actions (assign, acknowledge a selection). Pure of requests: callers pass the principal's
team ids and the request's actor; access to each alert is checked by the caller through
services.access (which also audits), as on every other route.

Every page of the queue runs a fixed number of queries, however many alerts it shows: the
rows come with their patient and municipality in one join, names of acknowledgers and
assignees in one lookup, and the escalation step is read from the JSON already on the alert.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import case, func
from sqlmodel import Session, select, col

from .. import transactions
from ..clock import Clock
from ..models import Account, Alert, AlertStatus, Organisation, Patient, Team, TeamMembership
from . import alerts, audit
from .alert_log import add_event
from .audit import Actor
from .paging import PageWindow

SEVERITIES = ("red", "yellow")
STATUSES = ("open", "acknowledged", "snoozed", "mine")
PAGE_SIZE = 50  # rows a page; red first, so page 1 always starts with the reds


@dataclass(frozen=True)
class QueueFilters:
    """What the nurse narrowed the queue to; None means all."""

    team_id: int | None = None
    municipality_id: int | None = None
    severity: str | None = None
    status: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.team_id, self.municipality_id, self.severity, self.status))


@dataclass(frozen=True)
class EscalationStep:
    """How far paging has gone, for the queue: kind is one of none (the team has no policy:
    queue only), waiting (nothing paged yet), step, fallback, remeasure, ack_fallback, repeating, done."""

    kind: str
    step: int = 0  # 1-based
    steps: int = 0
    round: int = 1  # 1-based


def escalation_step(alert: Alert) -> EscalationStep:
    """Read the planner state stored on the alert (see docs/escalation.md, 'the planner')."""
    policy, state = alert.escalation_policy, alert.escalation_state
    if not policy:
        return EscalationStep("none")
    steps = len(policy.get("steps") or [])
    if not state or not state.get("started"):
        return EscalationStep("waiting", steps=steps)
    current = state.get("current") or {}
    slot = str(current.get("slot") or "")
    round_ = int(current.get("round") or state.get("round") or 0) + 1
    index = current.get("step_index")
    if state.get("exhausted") or slot == "end":
        return EscalationStep("done", steps=steps, round=round_)
    if slot == "rm":
        return EscalationStep("remeasure", steps=steps)
    if slot.startswith("ack"):
        return EscalationStep("ack_fallback", steps=steps)
    if slot.startswith("rep"):  # red, chain used up: the fallback is paged again and again
        return EscalationStep("repeating", steps=steps)
    if isinstance(index, int):
        return EscalationStep("fallback" if slot.endswith("fb") else "step", step=index + 1, steps=steps,
                              round=round_)
    return EscalationStep("waiting", steps=steps)


@dataclass(frozen=True)
class QueueRow:
    alert: Alert
    patient: Patient
    municipality: str | None
    escalation: EscalationStep
    snoozed: bool


@dataclass
class Queue(PageWindow):
    rows: list[QueueRow]
    counts: dict[str, int]  # per severity, in the team/municipality scope (other filters ignored)
    names: dict[int, str]  # account id -> name, for acknowledgers and assignees
    teams: list[tuple[int, str]]
    municipalities: list[tuple[int, str]]
    filters: QueueFilters
    selected: dict[str, int] = field(default_factory=dict)  # per severity, with every filter applied
    page: int = 1  # 1-based
    pages: int = 1
    page_size: int = PAGE_SIZE

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def elsewhere(self) -> dict[str, int]:
        """Alerts of this selection on other pages, per severity: said on every page, so paging
        never hides that a red alert is waiting."""
        shown = {s: sum(r.alert.severity == s for r in self.rows) for s in SEVERITIES}
        return {s: self.selected.get(s, 0) - shown[s] for s in SEVERITIES}


def teams_of(session: Session, team_ids: Collection[int]) -> list[tuple[int, str]]:
    if not team_ids:
        return []
    return [(t.id, t.name) for t in session.exec(select(Team).where(col(Team.id).in_(team_ids)).order_by(col(Team.name)))]


def municipalities_of(session: Session, team_ids: Collection[int]) -> list[tuple[int, str]]:
    """The municipalities the teams' patients live in (one query, distinct)."""
    if not team_ids:
        return []
    rows = session.exec(
        select(Organisation.id, Organisation.name)
        .where(col(Organisation.id).in_(select(col(Patient.municipality_id)).where(col(Patient.team_id).in_(team_ids))
                                   .distinct().scalar_subquery()))
        .order_by(Organisation.name)
    ).all()
    return [(i, n) for i, n in rows]


def _scope(query, team_ids: Collection[int], filters: QueueFilters):
    query = query.where(col(Alert.team_id).in_([filters.team_id] if filters.team_id else list(team_ids)),
                        Alert.status != AlertStatus.RESOLVED.value)
    if filters.municipality_id is not None:
        query = query.where(Patient.municipality_id == filters.municipality_id)
    return query


def load_queue(session: Session, clock: Clock, *, team_ids: Collection[int], account_id: int,
               filters: QueueFilters, teams: list[tuple[int, str]] | None = None,
               municipalities: list[tuple[int, str]] | None = None, page: int = 1,
               page_size: int = PAGE_SIZE) -> Queue:
    """One page of the open alerts of the teams: red before yellow, then the longest waiting
    first (waiting since the alert got its current severity). A page past the end shows the
    last one."""
    teams = teams_of(session, team_ids) if teams is None else teams
    municipalities = municipalities_of(session, team_ids) if municipalities is None else municipalities
    if not team_ids:
        return Queue([], {s: 0 for s in SEVERITIES}, {}, teams, municipalities, filters)
    now = clock.now()

    counted = session.exec(_scope(select(col(Alert.severity), func.count(col(Alert.id)))
                                  .join(Patient, col(Patient.id) == col(Alert.patient_id)), team_ids, filters)
                           .group_by(Alert.severity)).all()
    counts = {s: 0 for s in SEVERITIES}
    counts.update({severity: n for severity, n in counted})

    selected = {s: 0 for s in SEVERITIES}
    selected.update({severity: n for severity, n in session.exec(
        _narrow(_scope(select(Alert.severity, func.count(col(Alert.id))).join(Patient, col(Patient.id) == Alert.patient_id),
                       team_ids, filters), filters, account_id, now).group_by(Alert.severity)).all()})
    pages = max(1, -(-sum(selected.values()) // page_size))
    page = min(max(page, 1), pages)

    query = _narrow(_scope(select(Alert, Patient, Organisation.name)
                           .join(Patient, col(Patient.id) == Alert.patient_id)
                           .outerjoin(Organisation, col(Organisation.id) == Patient.municipality_id), team_ids, filters),
                    filters, account_id, now)
    red_first = case((col(Alert.severity) == "red", 0), else_=1)
    found = session.exec(query.order_by(red_first, Alert.severity_since, Alert.id)
                         .offset((page - 1) * page_size).limit(page_size)).all()
    rows = [QueueRow(alert, patient, municipality, escalation_step(alert),
                     bool(alert.snoozed_until and alert.snoozed_until > now))
            for alert, patient, municipality in found]
    names = account_names(session, {r.alert.acknowledged_by_account_id for r in rows}
                          | {r.alert.assigned_to_account_id for r in rows})
    return Queue(rows, counts, names, teams, municipalities, filters, selected, page, pages, page_size)


def _narrow(query, filters: QueueFilters, account_id: int, now):
    """The severity and status filters (the counts above the table leave them out)."""
    if filters.severity:
        query = query.where(Alert.severity == filters.severity)
    if filters.status == "open":
        query = query.where(Alert.status == AlertStatus.OPEN.value)
    elif filters.status == "acknowledged":
        query = query.where(Alert.status == AlertStatus.ACKNOWLEDGED.value)
    elif filters.status == "snoozed":
        query = query.where(col(Alert.snoozed_until).is_not(None), col(Alert.snoozed_until) > now)
    elif filters.status == "mine":
        query = query.where(Alert.assigned_to_account_id == account_id)
    return query


def account_names(session: Session, account_ids: Collection[int | None]) -> dict[int, str]:
    ids = [i for i in account_ids if i]
    if not ids:
        return {}
    return {a_id: name for a_id, name in session.exec(select(col(Account.id), col(Account.name)).where(col(Account.id).in_(ids)))}


def team_members(session: Session, team_id: int) -> list[tuple[int, str]]:
    """Who an alert of this team can be assigned to: the team's staff, by name."""
    rows = session.exec(
        select(col(Account.id), col(Account.name)).join(TeamMembership, col(TeamMembership.account_id) == col(Account.id))
        .where(TeamMembership.team_id == team_id, Account.kind == "staff").distinct().order_by(Account.name)
    ).all()
    return [(i, n) for i, n in rows]


class NotATeamMember(ValueError):
    """The chosen person is not in the alert's team."""


def assign(session: Session, clock: Clock, alert: Alert, *, assignee_account_id: int, actor: Actor) -> Alert:
    """Give an unresolved alert to a member of its team (oneself or a colleague). Records an
    alert event and an audit record; the edge commits. Raises NotATeamMember (nothing changed)
    or alerts.AlertStateError when the alert is already resolved."""
    if assignee_account_id not in {i for i, _n in team_members(session, alert.team_id)}:
        raise NotATeamMember(assignee_account_id)
    session.refresh(alert, with_for_update=True)  # the alert's row lock (homefollow.transactions)
    if alert.status == AlertStatus.RESOLVED.value:
        raise alerts.AlertStateError("already_resolved")
    previous = alert.assigned_to_account_id
    alert.assigned_to_account_id = assignee_account_id
    alert.assigned_at = clock.now()
    session.add(alert)
    name = account_names(session, {assignee_account_id}).get(assignee_account_id)
    add_event(session, clock, alert, "assigned", actor.account_id, assignee_account_id=assignee_account_id,
              assignee_name=name, previous_account_id=previous)
    audit.record(session, clock, actor=actor, action="alert.assigned", patient_id=alert.patient_id,
                 object_type="alert", object_id=alert.id, assignee_account_id=assignee_account_id)
    session.flush()
    return alert


@dataclass
class BulkResult:
    acknowledged: list[int] = field(default_factory=list)
    red_refused: list[int] = field(default_factory=list)  # red alerts are acknowledged one at a time
    already: list[int] = field(default_factory=list)  # acknowledged or resolved by someone else meanwhile


def acknowledge_yellow(session: Session, clock: Clock, selected: list[Alert], *, actor: Actor) -> BulkResult:
    """Acknowledge a selection of low-urgency alerts in one step, each through
    alerts.acknowledge (its own event and paging update) with its own audit record. A red alert
    (or one raised to red since the page was drawn) is never acknowledged in bulk: it needs
    someone to look at it on its own."""
    result = BulkResult()
    for alert in selected:
        if alert.severity != "yellow":
            result.red_refused.append(alert.id)
            continue
        try:  # each in its own transaction, run again if it loses a race to the scheduler
            transactions.run_in_transaction(session, functools.partial(
                _acknowledge_one, session, clock, alert, actor=actor), what="acknowledgement")
        except alerts.AlertStateError:
            result.already.append(alert.id)
            continue
        result.acknowledged.append(alert.id)
    return result


def _acknowledge_one(session: Session, clock: Clock, alert: Alert, *, actor: Actor) -> None:
    assert actor.account_id is not None, "alerts are acknowledged by a signed-in member of the team"
    alerts.acknowledge(session, clock, alert.id, actor.account_id)
    audit.record(session, clock, actor=actor, action="alert.acknowledged", patient_id=alert.patient_id,
                 object_type="alert", object_id=alert.id, bulk=True)


def alerts_by_id(session: Session, alert_ids: Collection[int]) -> list[Alert]:
    if not alert_ids:
        return []
    return list(session.exec(select(Alert).where(col(Alert.id).in_(list(alert_ids))).order_by(col(Alert.id))))

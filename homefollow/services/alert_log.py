"""The alert's event log: what happened to an alert, when, by whom. Rows are only ever added."""

from __future__ import annotations

from sqlalchemy import insert
from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Alert, AlertEvent


def add_event(session: Session, clock: Clock, alert: Alert, kind: str, actor_account_id: int | None = None,
              **data) -> AlertEvent:
    event = AlertEvent(alert_id=alert.id, at=clock.now(), actor_account_id=actor_account_id, kind=kind, data=data)
    session.add(event)
    return event


def add_events(session: Session, clock: Clock, events: list[tuple[Alert, str, dict]]) -> None:
    """Many events at once (a sweep's new alerts and their pages): one INSERT, no objects.
    The alerts must have their ids (flushed)."""
    if events:
        at = clock.now()
        session.execute(insert(AlertEvent), [{"alert_id": alert.id, "at": at, "actor_account_id": None, "kind": kind,
                                              "data": data} for alert, kind, data in events])


def events_of(session: Session, alert_id: int) -> list[AlertEvent]:
    return list(session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                             .order_by(col(AlertEvent.at), col(AlertEvent.id))))

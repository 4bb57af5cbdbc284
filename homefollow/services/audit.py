"""The audit log: every read or write of patient data leaves a row (who, what, when)."""

from __future__ import annotations

from sqlmodel import Session

from ..clock import Clock
from ..models import AuditEvent
from ..transactions import commit_now


def record(
    session: Session,
    clock: Clock,
    *,
    actor_account_id: int | None,
    actor_kind: str,
    action: str,
    patient_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    ip: str | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit row to the current transaction (the caller commits)."""
    event = AuditEvent(
        at=clock.now(),
        actor_account_id=actor_account_id,
        actor_kind=actor_kind,
        action=action,
        patient_id=patient_id,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        detail=detail,
    )
    session.add(event)
    return event


def record_refusal(session: Session, clock: Clock, **fields) -> AuditEvent:
    """Record a refused access ("access.denied") and commit that record alone. The refusal is
    raised next, which rolls the request back; what the request wrote before it is dropped
    here already, so that only the record is kept."""
    session.rollback()
    event = record(session, clock, action="access.denied", **fields)
    commit_now(session, "refused_access")
    return event

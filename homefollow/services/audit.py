"""The audit log: every read or write of patient data leaves a row (who, what, when)."""

from __future__ import annotations

from sqlmodel import Session

from ..clock import Clock
from ..models import AuditEvent


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

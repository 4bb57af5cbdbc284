"""The audit log: every read or write of patient data leaves a row (who, what, when)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from ..clock import Clock
from ..models import AuditEvent
from ..transactions import commit_now


@dataclass(frozen=True)
class Actor:
    """Who does something, how and from where: built once by the edge (web.current_actor, the
    scheduler, a command) and handed to services, which record it as it is."""

    account_id: int | None  # None: the system, an API client or someone not signed in
    kind: str  # patient, relative, staff, api, system, anonymous
    channel: str = "web"  # web, api, sms, scheduler, cli
    ip: str | None = None

    @classmethod
    def system(cls, channel: str = "scheduler") -> Actor:
        return cls(None, "system", channel)


def record(
    session: Session,
    clock: Clock,
    *,
    actor: Actor | None = None,
    actor_account_id: int | None = None,
    actor_kind: str | None = None,
    action: str,
    patient_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    ip: str | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit row to the current transaction. The doer is `actor`; modules not converted
    yet pass actor_account_id, actor_kind and ip instead."""
    if actor is not None:
        actor_account_id, actor_kind, ip = actor.account_id, actor.kind, actor.ip
    assert actor_kind is not None, "an audit record names the kind of doer: pass actor or actor_kind"
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


def record_refusal(session: Session, clock: Clock, *, action: str = "access.denied", **fields) -> AuditEvent:
    """Record a refused access ("access.denied", or the refused action's own name) and commit
    that record alone. The refusal is
    raised next, which rolls the request back; what the request wrote before it is dropped
    here already, so that only the record is kept."""
    session.rollback()
    event = record(session, clock, action=action, **fields)
    commit_now(session, "refused_access")
    return event

"""Refuse updates and deletes of append-only rows at the ORM level.

The alert event log and the audit log are evidence; a bug that rewrote them would be
invisible. The database is not the only line of defence, but this catches every code path
that goes through a Session.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from ..models import AlertEvent, AuditEvent

APPEND_ONLY = (AlertEvent, AuditEvent)


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(OrmSession, "before_flush")
def _refuse_changes(session, _flush_context, _instances):
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, APPEND_ONLY) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyViolation(f"{type(obj).__name__} rows are append-only")

"""Is the scheduler alive? Read from its heartbeat rows (used by /healthz and the portal)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from ..clock import Clock
from ..models import Heartbeat

# A scheduler that has not beaten for this long is reported as stale.
HEARTBEAT_STALE_SECONDS = 120


@dataclass(frozen=True)
class SchedulerStatus:
    age_seconds: float | None  # None: no scheduler has ever run against this database

    @property
    def stale(self) -> bool:
        return self.age_seconds is None or self.age_seconds > HEARTBEAT_STALE_SECONDS


def scheduler_status(session_or_conn, clock: Clock) -> SchedulerStatus:
    last = session_or_conn.execute(select(func.max(Heartbeat.beat_at)).where(Heartbeat.role == "scheduler")).scalar()
    return SchedulerStatus(round((clock.now() - last).total_seconds(), 1) if last else None)

"""An injectable clock. Services and sweeps take "now" from here, never from datetime.now(),
so timelines (escalations, missed check-ins, DST changes) are testable without sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC
from typing import Protocol

from flask import current_app


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to. Used by tests and by the demo-data loader."""

    def __init__(self, at: datetime):
        self.set(at)

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def now(self) -> datetime:
        return self._now


def get_clock() -> Clock:
    """The app's clock (create_app puts it in app.extensions), for views and commands."""
    return current_app.extensions["homefollow.clock"]

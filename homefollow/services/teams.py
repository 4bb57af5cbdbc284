"""Teams: opening hours decide whether patients are offered the team's phone number."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from ..models import Team

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(team: Team, at: datetime) -> bool:
    """Whether the team answers its phone at this moment, by its opening hours in its time zone."""
    local = at.astimezone(ZoneInfo(team.time_zone))
    hours = (team.opening_hours or {}).get(WEEKDAY_KEYS[local.weekday()])
    if not hours:
        return False
    opens, closes = (time.fromisoformat(h) for h in hours)
    return opens <= local.time() < closes

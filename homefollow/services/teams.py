"""Teams: opening hours decide whether patients are offered the team's phone number."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from dataclasses import dataclass

from sqlmodel import Session, select

from ..models import Account, Organisation, Team, TeamMembership

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(team: Team, at: datetime) -> bool:
    """Whether the team answers its phone at this moment, by its opening hours in its time zone."""
    local = at.astimezone(ZoneInfo(team.time_zone))
    hours = (team.opening_hours or {}).get(WEEKDAY_KEYS[local.weekday()])
    if not hours:
        return False
    opens, closes = (time.fromisoformat(h) for h in hours)
    return opens <= local.time() < closes


@dataclass(frozen=True)
class Member:
    name: str
    roles: tuple[str, ...]
    organisation: str | None
    phone: str | None


def members(session: Session, team_id: int) -> list[Member]:
    """The team's active members, each once with all their roles (one query)."""
    rows = session.exec(
        select(Account, TeamMembership.role, Organisation.name)
        .join(TeamMembership, TeamMembership.account_id == Account.id)
        .join(Organisation, Organisation.id == Account.organisation_id, isouter=True)
        .where(TeamMembership.team_id == team_id, Account.is_active.is_(True))
        .order_by(Account.name)
    ).all()
    found: dict[int, tuple[Account, list[str], str | None]] = {}
    for account, role, organisation in rows:
        found.setdefault(account.id, (account, [], organisation))[1].append(role)
    return [Member(a.name, tuple(r), org, a.phone) for a, r, org in found.values()]

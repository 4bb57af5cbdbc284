"""Telling a team's admins that its paging is in trouble.

Used when nobody can be reached for a red alert, when an on-call or staff number replied STOP,
and when a team has no reachable out-of-hours route. The notice goes by SMS and e-mail to every
active team admin (the coordinators when the team has no admin), through the outbox, in the
caller's transaction. `key` names the occasion: the same notice is queued once per key.
"""

from __future__ import annotations

from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Account, Channel, Priority, Role, Team, TeamMembership
from ..notifications import outbox


def admins_of(session: Session, team_id: int) -> list[Account]:
    """The team's active admins; its coordinators when it has none."""
    for role in (Role.TEAM_ADMIN, Role.COORDINATOR):
        accounts = session.exec(
            select(Account).join(TeamMembership, col(TeamMembership.account_id) == col(Account.id))
            .where(TeamMembership.team_id == team_id, TeamMembership.role == role.value,
                   col(Account.is_active).is_(True))
            .order_by(col(Account.id))
        ).all()
        if accounts:
            return list({account.id: account for account in accounts}.values())  # table models are unhashable
    return []


def tell_team_admins(session: Session, clock: Clock, team: Team, *, key: str, text: str,
                     alert_id: int | None = None) -> int:
    """Queue `text` (Norwegian, one short paragraph) to the team's admins by SMS and e-mail.
    Returns how many messages were queued now (0 when this key was queued before, or when the
    team has nobody to tell)."""
    queued = 0
    for account in admins_of(session, team.id):
        for channel, address in ((Channel.SMS, account.phone), (Channel.EMAIL, account.email)):
            if not address:
                continue
            row = outbox.enqueue(
                session, clock, dedup_key=f"admin:{team.id}:{key}:acct{account.id}:{channel.value}"[:200],
                channel=channel, recipient=address, body=text, alert_id=alert_id, priority=Priority.RED, duty=True,
                subject=f"HomeFollow: {team.name}" if channel == Channel.EMAIL else None,
            )
            queued += row is not None
    return queued

"""Access tokens for the JSON API: one organisation each, with scopes, an expiry, and revocable.

Only a SHA-256 hash of a token is stored. Tokens are 256-bit random strings, so a fast hash is
enough (unlike passwords, there is nothing to guess), and a token is found by its hash directly.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from ..clock import Clock
from ..models import Account, ApiToken, Organisation, TeamMembership

TOKEN_PREFIX = "hf_"
SCOPES = {
    "encounters:write": "report admissions and discharges",
    "observations:write": "report measurements from devices",
}
DEFAULT_DAYS = 365
MAX_DAYS = 2 * 365


class TokenError(ValueError):
    """A token cannot be made as asked (unknown organisation or scope, bad lifetime)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    row: ApiToken


def create(session: Session, clock: Clock, *, organisation_id: int, name: str, scopes: list[str],
           source: str | None = None, days: int = DEFAULT_DAYS) -> NewToken:
    """Make a token; the caller commits. `source` defaults to the organisation's name."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise TokenError(f"no organisation {organisation_id}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError("scopes must be one or more of " + ", ".join(SCOPES) + (f" (not {', '.join(unknown)})"
                                                                                  if unknown else ""))
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"a token lives 1 to {MAX_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiToken(organisation_id=organisation_id, name=name.strip()[:200] or organisation.name,
                   source=(source or organisation.name).strip()[:100], token_hash=hash_token(token),
                   prefix=token[:10], scopes=sorted(set(scopes)), created_at=now, expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    return NewToken(token, row)


def authenticate(session: Session, clock: Clock, token: str) -> ApiToken | None:
    """The valid (known, unexpired, unrevoked) token, or None. Reads only: its last use is
    noted apart from the call's transaction (note_use)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


# How precisely a token's last use is kept. Writing it on every call made every call of one
# token take the same row lock first and hold it for the whole call, so a device hub's calls
# ran one at a time (issue 22).
LAST_USE_PRECISION = timedelta(minutes=1)


def note_use(engine: Engine, clock: Clock, token_id: int, last_used_at: datetime | None) -> None:
    """Note that the token was used now, unless its last use (as authenticate read it) is less
    than LAST_USE_PRECISION ago: in a transaction of its own (the caller's must be over; on
    SQLite it would hold the write lock), one statement long, which writes only if no other
    call wrote a recent last use meanwhile."""
    now = clock.now()
    if last_used_at is not None and now - LAST_USE_PRECISION < last_used_at <= now:
        return
    with engine.begin() as conn:
        conn.execute(update(ApiToken).where(col(ApiToken.id) == token_id,
                                            or_(col(ApiToken.last_used_at).is_(None),
                                                col(ApiToken.last_used_at) <= now - LAST_USE_PRECISION))
                     .values(last_used_at=now))


def revoke(session: Session, clock: Clock, token_id: int) -> ApiToken:
    """Revoke at once (the next call with it gets 401, once the caller has committed).
    LookupError if unknown."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
        session.flush()
    return row


def tokens(session: Session, organisation_id: int | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(col(ApiToken.organisation_id), col(ApiToken.id))
    if organisation_id is not None:
        query = query.where(ApiToken.organisation_id == organisation_id)
    return list(session.exec(query))


def status(row: ApiToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


def teams_of_organisation(session: Session, organisation_id: int) -> frozenset[int]:
    """The teams an organisation takes part in: those with an active member from it."""
    return frozenset(session.exec(
        select(TeamMembership.team_id).join(Account, col(Account.id) == TeamMembership.account_id)
        .where(Account.organisation_id == organisation_id, col(Account.is_active).is_(True)).distinct()
    ).all())

"""Access tokens for the JSON API: one organisation each, with scopes, an expiry, and revocable.

Only a SHA-256 hash of a token is stored. Tokens are 256-bit random strings, so a fast hash is
enough (unlike passwords, there is nothing to guess), and a token is found by its hash directly.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

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
    """Make a token. Commits. `source` defaults to the organisation's name."""
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
    session.commit()
    return NewToken(token, row)


def authenticate(session: Session, clock: Clock, token: str) -> ApiToken | None:
    """The valid (known, unexpired, unrevoked) token, or None. Notes when it was last used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    row.last_used_at = now
    session.add(row)
    return row


def revoke(session: Session, clock: Clock, token_id: int) -> ApiToken:
    """Revoke at once (the next call with it gets 401). Commits. LookupError if unknown."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
        session.commit()
    return row


def tokens(session: Session, organisation_id: int | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.organisation_id, ApiToken.id)
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
        select(TeamMembership.team_id).join(Account, Account.id == TeamMembership.account_id)
        .where(Account.organisation_id == organisation_id, Account.is_active.is_(True)).distinct()
    ).all())

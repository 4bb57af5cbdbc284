"""Sign-in sessions on the server: every signed-in cookie names a row here, and a row that is
revoked (or missing) signs the cookie out at its next request.

The token is random (256 bits) and travels in the Flask session (signed) and in Flask-Login's
"keep me signed in" cookie (HMAC-signed); the table keeps only its SHA-256, so a copy of the
table opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select, col

from ..clock import Clock
from ..db import rows_changed
from ..models import Account, AccountKind, Patient, SignInSession
from . import audit
from .audit import Actor

# last_seen_at is written at most this often per session (a page view is not a write).
TOUCH_EVERY = timedelta(minutes=1)

REASONS = ("signed_out", "ended_by_user", "ended_all_others", "signed_out_everywhere", "password_changed",
           "totp_reset", "deactivated", "inactivity", "expired")


class NotYourSession(Exception):
    """The session does not exist or belongs to someone else (the caller answers 404)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_of(account: Account) -> str:
    return "staff" if account.kind == AccountKind.STAFF.value else "patient"


def start(session: Session, clock: Clock, account: Account, *, remember: bool, user_agent: str | None,
          ip: str | None) -> tuple[str, SignInSession]:
    """A new session for `account`: returns the token for the cookie and the row (flushed)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    row = SignInSession(id=digest(token), account_id=account.id, portal=portal_of(account), created_at=now,
                        last_seen_at=now, user_agent=summarise_user_agent(user_agent), ip=(ip or None) and ip[:64],
                        remember=bool(remember))
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class SignedIn:
    """A request's sign-in as read from the database: the session row, its account, and a
    patient's own record (None for staff and relatives)."""

    row: SignInSession
    account: Account
    own_patient: Patient | None


def signed_in(session: Session, clock: Clock, account_id: int, token: str, max_age: timedelta) -> SignedIn | None:
    """The sign-in behind `token` while it is the account's, not revoked and not older than
    `max_age` (the longest a "keep me signed in" cookie lives). One query, since every signed-in
    request asks: the session row with its account and the account's patient record."""
    if not token:
        return None
    found = session.exec(select(SignInSession, Account, Patient)
                         .join(Account, col(Account.id) == SignInSession.account_id)
                         .outerjoin(Patient, col(Patient.account_id) == Account.id)
                         .where(SignInSession.id == digest(token))).first()
    if found is None:
        return None
    row, account, own_patient = found
    if row.account_id != account_id or row.revoked_at is not None or clock.now() - row.created_at > max_age:
        return None
    return SignedIn(row, account, own_patient)


def touch(session: Session, clock: Clock, row: SignInSession) -> None:
    """Record that the session was used, at most once per TOUCH_EVERY."""
    now = clock.now()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    session.execute(update(SignInSession).where(col(SignInSession.id) == row.id).values(last_seen_at=now))


def revoke(session: Session, clock: Clock, session_id: str, reason: str) -> bool:
    """Revoke one session by its id (the digest). True when it was active."""
    result = session.execute(update(SignInSession)
                             .where(col(SignInSession.id) == session_id, col(SignInSession.revoked_at).is_(None))
                             .values(revoked_at=clock.now(), revoked_reason=reason))
    return rows_changed(result) == 1


def revoke_token(session: Session, clock: Clock, token: str | None, reason: str) -> bool:
    return bool(token) and token is not None and revoke(session, clock, digest(token), reason)


def revoke_all(session: Session, clock: Clock, account_id: int, reason: str, *, except_id: str | None = None) -> int:
    """Revoke every active session of the account (but `except_id`). Returns how many."""
    query = update(SignInSession).where(col(SignInSession.account_id) == account_id, col(SignInSession.revoked_at).is_(None))
    if except_id is not None:
        query = query.where(col(SignInSession.id) != except_id)
    return rows_changed(session.execute(query.values(revoked_at=clock.now(), revoked_reason=reason)))


def active(session: Session, clock: Clock, account_id: int, max_age: timedelta) -> list[SignInSession]:
    """The account's sessions that still work, most recently used first."""
    since = clock.now() - max_age
    rows = session.exec(select(SignInSession)
                        .where(col(SignInSession.account_id) == account_id, col(SignInSession.revoked_at).is_(None),
                               SignInSession.created_at > since)
                        .order_by(col(SignInSession.last_seen_at).desc(), col(SignInSession.created_at).desc()))
    return list(rows)


def end_one(session: Session, clock: Clock, actor: Actor, session_id: str, *, current_id: str | None) -> None:
    """The signed-in person ends one of their own sessions. Someone else's, or an unknown id,
    raises NotYourSession (the caller answers 404 and audits the refusal)."""
    row = session.get(SignInSession, session_id) if session_id else None
    if row is None or row.account_id != actor.account_id:
        audit.record_refusal(session, clock, actor=actor, object_type="sign_in_session", reason="not_own_session")
        raise NotYourSession()
    if revoke(session, clock, row.id, "ended_by_user"):
        audit.record(session, clock, actor=actor, action="auth.session_ended", object_type="account",
                     object_id=actor.account_id, sign_in_session=row.id[:12],
                     this_device=row.id == current_id)


def end_others(session: Session, clock: Clock, actor: Actor, *, current_id: str | None) -> int:
    """End every session of the actor's account but this one."""
    assert actor.account_id is not None, "only a signed-in account has sessions to end"
    count = revoke_all(session, clock, actor.account_id, "ended_all_others", except_id=current_id)
    audit.record(session, clock, actor=actor, action="auth.sessions_ended_others", object_type="account",
                 object_id=actor.account_id, count=count)
    return count


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser", "Samsung Internet"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("CriOS", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
            ("Mac OS X", "Mac"), ("Macintosh", "Mac"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def summarise_user_agent(user_agent: str | None) -> str | None:
    """'Firefox · Windows' from a User-Agent header: what people recognise, not a fingerprint,
    and no words, so it reads the same in every language."""
    if not user_agent:
        return None
    browser = next((name for needle, name in _BROWSERS if needle in user_agent), None)
    system = next((name for needle, name in _SYSTEMS if needle in user_agent), None)
    if browser and system:
        return f"{browser} · {system}"
    if browser or system:
        return browser or system
    return _PRINTABLE.sub("", user_agent)[:60] or None


def is_recent(row: SignInSession, now: datetime) -> bool:
    return now - row.last_seen_at < TOUCH_EVERY * 2

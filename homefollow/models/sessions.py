"""Sign-in sessions kept on the server, so that signing out really ends a session."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import utc_column


class SignInSession(SQLModel, table=True):
    """One sign-in on one device. The session cookie and the "keep me signed in" cookie carry
    a random token; the row is keyed by the token's SHA-256, so the table alone opens nothing.
    A request whose token has no row, or a revoked one, is not signed in."""

    __tablename__ = "sign_in_session"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the token in the cookie
    account_id: int = Field(foreign_key="account.id", index=True)
    portal: str = Field(max_length=20)  # "staff" (/clinic) or "patient" (patients and relatives)
    created_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()
    user_agent: str | None = Field(default=None, max_length=120)  # a summary: "Firefox · Windows"
    ip: str | None = Field(default=None, max_length=64)
    remember: bool = Field(default=False)
    revoked_at: datetime | None = utc_column(nullable=True)
    # signed_out, ended_by_user, ended_all_others, password_changed, totp_reset, deactivated,
    # inactivity
    revoked_reason: str | None = Field(default=None, max_length=40)

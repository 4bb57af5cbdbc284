"""Sign-in accounts for staff, patients and relatives."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlmodel import Field, SQLModel

from .base import utc_column


class AccountKind(str, Enum):
    STAFF = "staff"
    PATIENT = "patient"
    RELATIVE = "relative"


class Account(SQLModel, table=True):
    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    kind: str = Field(max_length=20)  # AccountKind
    # E-mail (lower case) for staff, the phone number in E.164 form for patients and relatives.
    login: str = Field(max_length=200, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=200)
    locale: str = Field(default="nb", max_length=8)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    is_active: bool = Field(default=True)
    is_demo: bool = Field(default=False)
    # Bumped to sign the account out everywhere (password change, access revoked).
    session_version: int = Field(default=1)
    created_at: datetime = utc_column()
    last_login_at: datetime | None = utc_column(nullable=True)
    # Staff second factor (TOTP, RFC 6238). The secret is set at enrolment and confirmed by a
    # first valid code (totp_enabled_at); the last accepted time step refuses a replayed code.
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = utc_column(nullable=True)
    totp_last_step: int | None = Field(default=None)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_staff(self) -> bool:
        return self.kind == AccountKind.STAFF.value


class LoginCode(SQLModel, table=True):
    """A one-time sign-in code sent by SMS: stored hashed, short-lived, used once, and with a
    limited number of tries."""

    __tablename__ = "login_code"

    id: int = Field(default=None, primary_key=True)  # None until the row is flushed
    account_id: int = Field(foreign_key="account.id", index=True)
    code_hash: str = Field(max_length=255)
    # "login", or "phone:+4791234567" for confirming a new mobile number: a code only works
    # for what it was sent for.
    purpose: str = Field(default="login", max_length=40)
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)
    attempts: int = Field(default=0)

"""The staff second factor: time-based one-time codes (TOTP, RFC 6238) from an authenticator app.

Staff sign in with their password and then a six-digit code. The code is checked against the
injectable clock (never the system time), in 30-second steps, accepting the step before and
after for a phone whose clock is a little off. The last accepted step is stored, and a code for
that step or an earlier one is refused, so a code seen over someone's shoulder cannot be used
again. Enrolment stores a new secret on the account but enables it only when the user has typed
a first valid code from it (totp_enabled_at).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import pyotp
import qrcode
import qrcode.image.svg
from markupsafe import Markup, escape
from sqlalchemy import or_, update
from sqlmodel import Session, col

from ..clock import Clock
from ..db import rows_changed
from ..models import Account
from .accounts import normalise_code

ISSUER = "HomeFollow"
STEP_SECONDS = 30
DRIFT_STEPS = 1  # accept the previous and the next time step too
# How long the half-signed-in state (password right, code not yet typed) lasts.
PENDING_MINUTES = 5


class CodeResult(str, Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    REPLAYED = "replayed"  # right code, but its time step was already used
    MALFORMED = "malformed"


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator app shows at this moment (demo command, tests)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(at)


def has_second_factor(account: Account) -> bool:
    return bool(account.totp_secret and account.totp_enabled_at)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = time_step(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant time each) rather than stopping at the first hit.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def _claim_step(session: Session, account: Account, step: int) -> bool:
    """Record `step` as used, only if it is later than the last one used: a compare-and-set,
    so two requests racing with the same code cannot both succeed."""
    result = session.execute(
        update(Account)
        .where(col(Account.id) == account.id, or_(col(Account.totp_last_step).is_(None), col(Account.totp_last_step) < step))
        .values(totp_last_step=step)
    )
    return rows_changed(result) == 1


def _claim_code(session: Session, clock: Clock, account: Account, text: str, *, enabled: bool) -> CodeResult:
    """Match `text` against the account's secret (enabled or pending, as asked) and claim its
    time step (a compare-and-set: a replay changes nothing)."""
    code = normalise_code(text)
    if code is None:
        return CodeResult.MALFORMED
    if not account.totp_secret or has_second_factor(account) != enabled:
        return CodeResult.WRONG
    step = _matching_step(account.totp_secret, code, clock.now())
    if step is None:
        return CodeResult.WRONG
    if not _claim_step(session, account, step):
        return CodeResult.REPLAYED
    return CodeResult.ACCEPTED


def check_code(session: Session, clock: Clock, account: Account, text: str) -> CodeResult:
    """Check a sign-in code for an account whose second factor is enabled."""
    result = _claim_code(session, clock, account, text, enabled=True)
    if result == CodeResult.ACCEPTED:
        session.refresh(account)
    return result


def start_enrolment(session: Session, account: Account) -> str:
    """The secret to show on the enrolment page: the pending one if there is one (so a page
    reloaded after scanning still matches the phone), else a new one."""
    if has_second_factor(account):
        raise ValueError("the second factor is already enabled")
    if not account.totp_secret:
        account.totp_secret = new_secret()
        account.totp_last_step = None
        session.add(account)
    return account.totp_secret


def confirm_enrolment(session: Session, clock: Clock, account: Account, text: str) -> CodeResult:
    """Enable the pending secret when `text` is a valid code from it."""
    result = _claim_code(session, clock, account, text, enabled=False)
    if result != CodeResult.ACCEPTED:
        return result
    session.refresh(account)
    account.totp_enabled_at = clock.now()
    session.add(account)
    return CodeResult.ACCEPTED


def reset_second_factor(session: Session, account: Account) -> None:
    """Forget the secret (lost phone): the user enrols again at the next sign-in. Existing
    sessions end, as whoever holds the old phone may be signed in."""
    account.totp_secret = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    account.session_version += 1
    session.add(account)


def provisioning_uri(account: Account, secret: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account.email or account.login,
                                                                       issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """'JBSW Y3DP EHPK …': easier to copy by hand into an app."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str, label: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (no images, nothing fetched, nothing inline-styled)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=20, border=4)
    svg = image.to_string(encoding="unicode")
    svg = svg[svg.index("<svg"):]  # drop the XML declaration, if any
    return Markup(svg.replace("<svg ", f'<svg class="qr-code" role="img" aria-label="{escape(label)}" ', 1))


# ---- the half-signed-in state ---------------------------------------------------------------

@dataclass(frozen=True)
class Pending:
    """Password checked, code not yet: kept in the user's session, valid for PENDING_MINUTES."""

    account_id: int
    session_version: int
    started_at: float  # epoch seconds by the injectable clock

    def to_dict(self) -> dict:
        return {"account_id": self.account_id, "session_version": self.session_version, "started_at": self.started_at}

    @classmethod
    def start(cls, account: Account, clock: Clock) -> Pending:
        return cls(account.id, account.session_version, clock.now().timestamp())

    @classmethod
    def from_dict(cls, data) -> Pending | None:
        try:
            return cls(int(data["account_id"]), int(data["session_version"]), float(data["started_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def expired(self, clock: Clock) -> bool:
        age = clock.now().timestamp() - self.started_at
        return age < 0 or age > timedelta(minutes=PENDING_MINUTES).total_seconds()

    def account(self, session: Session) -> Account | None:
        """The account, unless it was deactivated or signed out everywhere in the meantime."""
        account = session.get(Account, self.account_id)
        if account is None or not account.is_active or not account.is_staff \
                or account.session_version != self.session_version:
            return None
        return account

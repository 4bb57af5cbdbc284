"""Accounts: password hashing, sign-in identifiers and authentication."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from .. import values
from ..clock import Clock
from ..models import Account

_hasher = PasswordHasher()
# Verified when the login is unknown, so a wrong login costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def configure_hasher(time_cost: int, memory_cost: int) -> None:
    """Tests use cheaper parameters; production keeps argon2-cffi's recommended defaults."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
    _DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_phone(text: str, region: str = "NO") -> str | None:
    """'912 34 567' or '+47 912 34 567' → '+4791234567'; None if it is not a valid number
    (homefollow.values.parse_phone reads it)."""
    return values.optional_phone(text, region)


# '+4791000001' → '910 00 001' (Norwegian numbers in national form, others international).
display_phone = values.format_phone


def normalise_login(text: str) -> str:
    """Staff sign in with e-mail, patients and relatives with their mobile number."""
    text = (text or "").strip()
    if "@" in text:
        return text.lower()
    return normalise_phone(text) or text.lower()


def authenticate(session: Session, clock: Clock, login: str, password: str,
                 kinds: tuple[str, ...] | None = None) -> Account | None:
    """The account whose login and password these are, or None. `kinds` limits which kinds of
    account this portal accepts: any other account (a staff account on the patient portal),
    like an unknown login, a deactivated account or a wrong password, is simply None. Every
    path verifies exactly one argon2 hash, so the time taken does not tell them apart either."""
    account = session.exec(select(Account).where(Account.login == normalise_login(login))).first()
    if account is None or not account.password_hash:
        _verify(_DUMMY_HASH, password)
        return None
    password_ok = _verify(account.password_hash, password)
    if not password_ok or not account.is_active or (kinds is not None and account.kind not in kinds):
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = clock.now()
    session.add(account)
    return account


def verify_password(password_hash: str, password: str) -> bool:
    return _verify(password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def is_current(account: Account, user_id: str) -> bool:
    """Flask-Login's id carries the account's session version, so bumping it signs out."""
    try:
        account_id, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return False
    return account.id == account_id and account.is_active and account.session_version == version


def normalise_code(text: str | None) -> str | None:
    """A six-digit code as typed ('123 456', '123-456') → '123456'; None unless six digits.
    Used for both the patients' SMS codes and the staff's authenticator codes."""
    digits = "".join(ch for ch in (text or "") if ch not in " -\u00a0\t")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else None

"""One-time codes by SMS: for signing in without a password, and for confirming a new mobile
number. Six digits, valid for ten minutes, used once, five tries, stored hashed, and only good
for what they were sent for. Sending is throttled by the caller."""

from __future__ import annotations

import secrets
from datetime import timedelta
from enum import Enum

from sqlalchemy import update
from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Account, AccountKind, Channel, LoginCode, Notification, Patient
from ..notifications import outbox
from ..notifications.texts import message_text
from . import audit
from .accounts import hash_password, normalise_code, normalise_phone, verify_password

VALID_FOR = timedelta(minutes=10)
MAX_ATTEMPTS = 5
PATIENT_SIDE = (AccountKind.PATIENT.value, AccountKind.RELATIVE.value)
LOGIN = "login"


class PhoneTaken(Exception):
    """The new number already belongs to another account."""


def phone_purpose(phone: str) -> str:
    return f"phone:{phone}"


def patient_side_account(session: Session, phone_text: str) -> Account | None:
    """The active patient or relative account signed in with this mobile number."""
    phone = normalise_phone(phone_text)
    if phone is None:
        return None
    return session.exec(select(Account).where(col(Account.login) == phone, col(Account.is_active).is_(True),
                                              col(Account.kind).in_(PATIENT_SIDE))).first()


def send_code(session: Session, clock: Clock, account: Account, *, purpose: str = LOGIN,
              to_phone: str | None = None) -> Notification | None:
    """Queue a new code for this account (replacing any unused one) and return the SMS, to be
    sent at once by the caller."""
    now = clock.now()
    session.execute(update(LoginCode).where(col(LoginCode.account_id) == account.id, col(LoginCode.used_at).is_(None))
                    .values(used_at=now))
    code = f"{secrets.randbelow(1_000_000):06d}"
    login_code = LoginCode(account_id=account.id, code_hash=hash_password(code), purpose=purpose, created_at=now,
                           expires_at=now + VALID_FOR)
    session.add(login_code)
    session.flush()
    sms = outbox.enqueue(session, clock, dedup_key=f"login-code:{login_code.id}", channel=Channel.SMS,
                         recipient=to_phone or account.phone or account.login,
                         body=message_text("login_code", account.locale, code=code), secret=True)
    audit.record(session, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.code_sent",
                 purpose=purpose.split(":")[0])
    return sms


class CodeCheck(str, Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # a try is used; the code still works
    SPENT = "spent"  # no code to try: too old, already used, or tried too many times
    MALFORMED = "malformed"  # not six digits: not counted as a try


def check_code(session: Session, clock: Clock, account: Account, code: str, *, purpose: str = LOGIN) -> CodeCheck:
    """Check the account's newest unused, unexpired code for this purpose. Each wrong try
    counts; the try that reaches MAX_ATTEMPTS spends the code."""
    cleaned = normalise_code(code)
    if cleaned is None:
        return CodeCheck.MALFORMED
    now = clock.now()
    login_code = session.exec(select(LoginCode).where(col(LoginCode.account_id) == account.id, col(LoginCode.used_at).is_(None),
                                                      LoginCode.purpose == purpose, LoginCode.expires_at > now)
                              .order_by(col(LoginCode.created_at).desc())).first()
    if login_code is None:
        return CodeCheck.SPENT
    if verify_password(login_code.code_hash, cleaned):
        login_code.used_at = now
        session.add(login_code)
        return CodeCheck.ACCEPTED
    login_code.attempts += 1
    if login_code.attempts >= MAX_ATTEMPTS:
        login_code.used_at = now
    session.add(login_code)
    return CodeCheck.SPENT if login_code.used_at else CodeCheck.WRONG


def sign_in_with_code(session: Session, clock: Clock, phone_text: str, code: str
                      ) -> tuple[Account | None, CodeCheck]:
    """The account signed in, or None and why. An unknown number answers SPENT, as a known
    number without a code does: the page must not tell which numbers are registered."""
    account = patient_side_account(session, phone_text)
    if account is None:
        return None, (CodeCheck.MALFORMED if normalise_code(code) is None else CodeCheck.SPENT)
    result = check_code(session, clock, account, code)
    if result != CodeCheck.ACCEPTED:
        return None, result
    account.last_login_at = clock.now()
    session.add(account)
    return account, result


def number_is_free(session: Session, phone: str) -> bool:
    return session.exec(select(Account.id).where(Account.login == phone)).first() is None


def change_phone(session: Session, clock: Clock, account: Account, new_phone: str, code: str) -> CodeCheck:
    """Switch the account (and the patient's record) to a new number once the code sent to that
    number is confirmed."""
    if not number_is_free(session, new_phone):
        raise PhoneTaken(new_phone)
    result = check_code(session, clock, account, code, purpose=phone_purpose(new_phone))
    if result != CodeCheck.ACCEPTED:
        return result
    old = account.phone
    account.login = account.phone = new_phone
    session.add(account)
    for patient in session.exec(select(Patient).where(Patient.account_id == account.id)):
        patient.phone = new_phone
        session.add(patient)
    audit.record(session, clock, actor_account_id=account.id, actor_kind=account.kind, action="account.phone_changed",
                 old=old, new=new_phone)
    return result

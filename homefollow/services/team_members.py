"""Team admins manage their team's members: add (an existing staff account, or a new one),
change roles, remove, reset the second factor, deactivate, and hand out a set-password link.

Only admins of the team may do this; staff of other teams get AccessDenied (404) and members
who are not admins Forbidden (403). Every change is audited. A team always keeps at least one
active admin, and nobody changes their own access here (another admin must), so a stolen
session cannot quietly take over an account.

New accounts get no password from the admin: the admin gets a one-time link (valid for
LINK_HOURS) to pass on, with which the new colleague chooses a password, and then sets up
the authenticator app at the first sign-in. The link is signed with the app's secret key and
tied to the account's current password hash, so it stops working once a password is chosen.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete
from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Account, AccountKind, Organisation, Role, Team, TeamMembership
from . import audit, sign_in_sessions
from .access import AccessDenied, Principal
from .audit import Actor
from .accounts import hash_password, normalise_login, normalise_phone
from .staff_auth import has_second_factor
from .staff_auth import reset_second_factor as _forget_second_factor

ROLES = tuple(r.value for r in Role)
LINK_HOURS = 72
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class Forbidden(Exception):
    """A member of the team who is not its admin (HTTP 403)."""


class MemberError(Exception):
    """A change refused for a reason the admin can fix; `code` picks the message, `field` the input."""

    def __init__(self, code: str, field: str | None = None, **params):
        super().__init__(code)
        self.code, self.field, self.params = code, field, params


@dataclass(frozen=True)
class MemberRow:
    account: Account
    roles: tuple[str, ...]
    organisation: str | None

    @property
    def second_factor(self) -> str:
        """'on', 'pending' (set up at the next sign-in) or 'no_password' (link not used yet)."""
        if not self.account.password_hash:
            return "no_password"
        return "on" if has_second_factor(self.account) else "pending"


def admin_team(session: Session, principal: Principal, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team_id not in principal.team_ids:
        raise AccessDenied(team_id)
    if not principal.has_role(team_id, Role.TEAM_ADMIN.value):
        raise Forbidden()
    return team


def record_denied(session: Session, clock: Clock, actor: Actor, team_id: int, attempted: str) -> None:
    audit.record_refusal(session, clock, actor=actor, object_type="team", object_id=team_id, attempted=attempted)


def members(session: Session, team_id: int) -> list[MemberRow]:
    """Everyone in the team, deactivated accounts included (marked), each once with all roles."""
    rows = session.exec(
        select(Account, TeamMembership.role, Organisation.name)
        .join(TeamMembership, col(TeamMembership.account_id) == col(Account.id))
        .join(Organisation, col(Organisation.id) == col(Account.organisation_id), isouter=True)
        .where(TeamMembership.team_id == team_id)
        .order_by(col(Account.name), col(Account.id))
    ).all()
    found: dict[int, tuple[Account, list[str], str | None]] = {}
    for account, role, organisation in rows:
        found.setdefault(account.id, (account, [], organisation))[1].append(role)
    return [MemberRow(a, tuple(r for r in ROLES if r in roles), org) for a, roles, org in found.values()]


def member(session: Session, team_id: int, account_id: int) -> MemberRow:
    """One member of the team, or AccessDenied (404) for anyone else."""
    row = next((m for m in members(session, team_id) if m.account.id == account_id), None)
    if row is None:
        raise AccessDenied(account_id)
    return row


def organisations(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).order_by(Organisation.name)))


def _check_roles(roles) -> list[str]:
    chosen = [r for r in ROLES if r in set(roles or ())]
    if not chosen or len(chosen) != len(set(roles)):
        raise MemberError("roles_missing", "roles")
    return chosen


def _active_admins(session: Session, team_id: int) -> set[int]:
    return set(session.exec(
        select(col(Account.id)).join(TeamMembership, col(TeamMembership.account_id) == col(Account.id))
        .where(TeamMembership.team_id == team_id, TeamMembership.role == Role.TEAM_ADMIN.value,
               col(Account.is_active).is_(True))
    ))


def _not_self(actor: Actor, account: Account, code: str) -> None:
    if actor.account_id == account.id:
        raise MemberError(code)


def _audit(session: Session, clock: Clock, actor: Actor, action: str, team: Team, account: Account,
           **detail) -> None:
    audit.record(session, clock, actor=actor, action=action, object_type="account", object_id=account.id,
                 team_id=team.id, **detail)


def _add_roles(session: Session, clock: Clock, team: Team, account: Account, roles: list[str]) -> None:
    for role in roles:
        session.add(TeamMembership(team_id=team.id, account_id=account.id, role=role, created_at=clock.now()))


def add_member(session: Session, clock: Clock, team: Team, actor: Actor, *, email: str, roles,
               name: str = "", phone: str = "", organisation_id: int | None = None) -> tuple[Account, bool]:
    """Add the staff account with this e-mail, or create it when there is none (then name and
    organisation are needed). Returns the account and whether it was created."""
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise MemberError("email_invalid", "email")
    chosen = _check_roles(roles)
    account = session.exec(select(Account).where(Account.login == normalise_login(email))).first()
    if account is not None:
        if not account.is_staff:
            raise MemberError("not_staff", "email")
        if not account.is_active:
            raise MemberError("inactive", "email")
        if session.exec(select(TeamMembership.id).where(TeamMembership.team_id == team.id,
                                                        TeamMembership.account_id == account.id)).first():
            raise MemberError("already_member", "email", name=account.name)
        _add_roles(session, clock, team, account, chosen)
        _audit(session, clock, actor, "team.member_added", team, account, roles=chosen)
        return account, False

    name = (name or "").strip()
    if not name:
        raise MemberError("name_missing", "name")
    if len(name) > 200:
        raise MemberError("name_long", "name")
    number = None
    if (phone or "").strip():
        number = normalise_phone(phone)
        if number is None:
            raise MemberError("phone_invalid", "phone", value=phone.strip())
    if organisation_id is None or session.get(Organisation, organisation_id) is None:
        raise MemberError("organisation_missing", "organisation")
    account = Account(kind=AccountKind.STAFF.value, login=normalise_login(email), email=email, name=name,
                      phone=number, organisation_id=organisation_id, password_hash=None, created_at=clock.now())
    session.add(account)
    session.flush()
    _add_roles(session, clock, team, account, chosen)
    _audit(session, clock, actor, "account.created", team, account, roles=chosen)
    _audit(session, clock, actor, "team.member_added", team, account, roles=chosen)
    return account, True


def set_roles(session: Session, clock: Clock, team: Team, actor: Actor, account: Account, roles) -> None:
    chosen = _check_roles(roles)
    _not_self(actor, account, "self_roles")
    before = set(session.exec(select(TeamMembership.role).where(TeamMembership.team_id == team.id,
                                                                TeamMembership.account_id == account.id)))
    if before == set(chosen):
        return
    if Role.TEAM_ADMIN.value in before and Role.TEAM_ADMIN.value not in chosen \
            and _active_admins(session, team.id) <= {account.id}:
        raise MemberError("last_admin", "roles")
    session.execute(delete(TeamMembership).where(col(TeamMembership.team_id) == team.id,
                                                 col(TeamMembership.account_id) == account.id,
                                                 col(TeamMembership.role).not_in(chosen)))
    _add_roles(session, clock, team, account, [r for r in chosen if r not in before])
    _audit(session, clock, actor, "team.member_roles_changed", team, account, before=sorted(before), after=chosen)


def remove(session: Session, clock: Clock, team: Team, actor: Actor, account: Account) -> None:
    _not_self(actor, account, "self_remove")
    if _active_admins(session, team.id) <= {account.id}:
        raise MemberError("last_admin")
    roles = sorted(session.exec(select(TeamMembership.role).where(TeamMembership.team_id == team.id,
                                                                  TeamMembership.account_id == account.id)))
    session.execute(delete(TeamMembership).where(col(TeamMembership.team_id) == team.id,
                                                 col(TeamMembership.account_id) == account.id))
    _audit(session, clock, actor, "team.member_removed", team, account, roles=roles)


def reset_second_factor(session: Session, clock: Clock, team: Team, actor: Actor, account: Account) -> None:
    """Lost or new phone: the member sets up the app again at the next sign-in; signed out now."""
    _not_self(actor, account, "self_reset")
    _forget_second_factor(session, account)
    sign_in_sessions.revoke_all(session, clock, account.id, "totp_reset")
    _audit(session, clock, actor, "account.totp_reset", team, account)


def deactivate(session: Session, clock: Clock, team: Team, principal: Principal, account: Account, *,
               actor: Actor) -> None:
    """The account can no longer sign in anywhere. Only when the admin (the principal: the
    actor's rights) administers every team the account belongs to: another team's member is
    that team's decision."""
    _not_self(actor, account, "self_deactivate")
    if not account.is_active:
        return
    teams = set(session.exec(select(TeamMembership.team_id).where(TeamMembership.account_id == account.id)))
    if not teams <= {t for t in principal.team_ids if principal.has_role(t, Role.TEAM_ADMIN.value)}:
        raise MemberError("other_teams")
    for team_id in teams:
        if _active_admins(session, team_id) <= {account.id}:
            raise MemberError("last_admin")
    account.is_active = False
    account.session_version += 1  # signed out everywhere at once
    session.add(account)
    sign_in_sessions.revoke_all(session, clock, account.id, "deactivated")
    _audit(session, clock, actor, "account.deactivated", team, account)


# ---- the set-password link ------------------------------------------------------------------

def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="homefollow.set-password")


def _fingerprint(account: Account) -> str:
    """Changes when a password is set (or the account is signed out everywhere): one use only."""
    return hashlib.sha256(f"{account.password_hash or ''}:{account.session_version}".encode()).hexdigest()[:20]


def password_link_token(session: Session, clock: Clock, team: Team, actor: Actor, account: Account,
                        secret_key: str) -> str:
    _not_self(actor, account, "self_link")
    if not account.is_active:
        raise MemberError("inactive")
    _audit(session, clock, actor, "account.password_link_made", team, account)
    return _serializer(secret_key).dumps({"a": account.id, "f": _fingerprint(account),
                                          "t": int(clock.now().timestamp())})


def account_for_token(session: Session, clock: Clock, token: str, secret_key: str) -> Account | None:
    """The account the link is for, while it is unused, unexpired and the account active."""
    try:
        data = _serializer(secret_key).loads(token)
        account_id, fingerprint, issued = int(data["a"]), str(data["f"]), int(data["t"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    age = clock.now().timestamp() - issued
    if age < 0 or age > timedelta(hours=LINK_HOURS).total_seconds():
        return None
    account = session.get(Account, account_id)
    if account is None or not account.is_active or not account.is_staff or _fingerprint(account) != fingerprint:
        return None
    return account


def check_new_password(password: str, repeated: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise MemberError("password_short", "password")
    if password != repeated:
        raise MemberError("password_mismatch", "repeat")


def set_password(session: Session, clock: Clock, account: Account, password: str, repeated: str, *,
                 actor: Actor) -> None:
    """The account's holder, with the link, chooses a password. The actor (not signed in) is
    recorded as the account, which the link proves it is, from its channel and address."""
    check_new_password(password, repeated)
    account.password_hash = hash_password(password)
    account.session_version += 1
    session.add(account)
    sign_in_sessions.revoke_all(session, clock, account.id, "password_changed")
    audit.record(session, clock, actor=replace(actor, account_id=account.id, kind=account.kind),
                 action="account.password_set", object_type="account", object_id=account.id)

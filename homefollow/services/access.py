"""The single access policy for patient data.

Patients see only themselves; relatives see what the patient granted them, while the grant
is valid; staff see the patients of their teams. Every route that touches patient data goes
through `require_patient`, which also writes the audit record, granted or denied.
"""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass, field
from enum import Enum

from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Account, AccountKind, Patient, RelativeAccess, TeamMembership
from . import audit
from .audit import Actor


class Need(str, Enum):
    VIEW = "view"
    REPORT = "report"
    ANY = "any"  # either: the menu of a relative who may only report


class AccessDenied(Exception):
    """Shown to the user as 404, so the existence of another patient is not revealed."""


class AccessEnded(AccessDenied):
    """A relative whose grant for this patient was revoked or ran out, on a page of the patient
    they were helping (a session that was open when it ended). Shown as "your access has ended"
    with whom to ask, not as 404: they knew the patient, and the page tells nothing more than
    the first name (web._access_ended)."""

    def __init__(self, patient_id: int, first_name: str, reason: str):
        super().__init__(patient_id)
        self.patient_id = patient_id
        self.first_name = first_name
        self.reason = reason  # "revoked" or "expired"


@dataclass(frozen=True)
class Principal:
    account_id: int
    kind: str
    name: str
    # staff: team id -> roles in that team
    team_roles: dict[int, frozenset[str]] = field(default_factory=dict)
    # A patient's own record as loaded with the principal: held here so that the request's
    # access check finds it in the session (whose identity map holds rows weakly) instead of
    # reading it again on every report.
    own_patient: Patient | None = field(default=None, compare=False, repr=False)

    @property
    def own_patient_id(self) -> int | None:
        return self.own_patient.id if self.own_patient is not None else None

    @property
    def team_ids(self) -> frozenset[int]:
        return frozenset(self.team_roles)

    @property
    def is_staff(self) -> bool:
        return self.kind == AccountKind.STAFF.value

    def has_role(self, team_id: int, role: str) -> bool:
        return role in self.team_roles.get(team_id, frozenset())

    def is_admin_of_any_team(self) -> bool:
        return any("team_admin" in roles for roles in self.team_roles.values())


def principal_for(session: Session, account: Account, *, own_patient: Patient | None = None) -> Principal:
    """Who `account` is to the access rules. `own_patient`: a patient's own record when the
    caller has read it already (with the sign-in); read here otherwise."""
    team_roles: dict[int, set[str]] = {}
    own = None
    if account.kind == AccountKind.STAFF.value:
        for m in session.exec(select(TeamMembership).where(TeamMembership.account_id == account.id)):
            team_roles.setdefault(m.team_id, set()).add(m.role)
    elif account.kind == AccountKind.PATIENT.value:
        own = own_patient if own_patient is not None and own_patient.account_id == account.id else session.exec(
            select(Patient).where(Patient.account_id == account.id)).first()
    return Principal(
        account_id=account.id,
        kind=account.kind,
        name=account.name,
        team_roles={t: frozenset(r) for t, r in team_roles.items()},
        own_patient=own,
    )


@dataclass(frozen=True)
class PatientAccess:
    patient: Patient
    can_view: bool
    can_report: bool
    relation: str | None = None  # set when the principal is a relative

    def allows(self, need: Need) -> bool:
        if need == Need.ANY:
            return self.can_view or self.can_report
        return self.can_report if need == Need.REPORT else self.can_view


def access_to_patient(session: Session, clock: Clock, principal: Principal, patient_id: int) -> PatientAccess | None:
    patient = session.get(Patient, patient_id)
    if patient is None:
        return None
    if principal.kind == AccountKind.PATIENT.value:
        if principal.own_patient_id == patient.id:
            return PatientAccess(patient, can_view=True, can_report=True)
        return None
    if principal.kind == AccountKind.STAFF.value:
        if patient.team_id in principal.team_ids:
            return PatientAccess(patient, can_view=True, can_report=True)
        return None
    if principal.kind == AccountKind.RELATIVE.value:
        grant = valid_grant(session, clock, principal.account_id, patient.id)
        if grant is None:
            return None
        return PatientAccess(patient, can_view=grant.can_view, can_report=grant.can_report, relation=grant.relation)
    return None


def valid_grant(session: Session, clock: Clock, relative_account_id: int, patient_id: int) -> RelativeAccess | None:
    grants = session.exec(
        select(RelativeAccess).where(
            RelativeAccess.relative_account_id == relative_account_id,
            RelativeAccess.patient_id == patient_id,
            col(RelativeAccess.revoked_at).is_(None),
        )
    ).all()
    now = clock.now()
    return next((g for g in grants if g.is_valid(now)), None)


def ended_grant(session: Session, clock: Clock, principal: Principal, patient_id: int) -> RelativeAccess | None:
    """For a relative with no valid grant for this patient: their latest grant for the patient,
    which was revoked or has run out; None when they never had one (a probe for another
    patient stays a plain 404)."""
    if principal.kind != AccountKind.RELATIVE.value:
        return None
    grants = session.exec(
        select(RelativeAccess).where(RelativeAccess.relative_account_id == principal.account_id,
                                     RelativeAccess.patient_id == patient_id)
        .order_by(col(RelativeAccess.created_at).desc(), col(RelativeAccess.id).desc())
    ).all()
    now = clock.now()
    if not grants or any(g.is_valid(now) for g in grants):
        return None
    return grants[0]


def patients_of_relative(session: Session, clock: Clock, relative_account_id: int) -> list[tuple[Patient, RelativeAccess]]:
    rows = session.exec(
        select(Patient, RelativeAccess)
        .join(RelativeAccess, col(RelativeAccess.patient_id) == col(Patient.id))
        .where(col(RelativeAccess.relative_account_id) == relative_account_id, col(RelativeAccess.revoked_at).is_(None))
        .order_by(Patient.name)
    ).all()
    now = clock.now()
    return [(p, g) for p, g in rows if g.is_valid(now)]


def require_patient(
    session: Session,
    clock: Clock,
    principal: Principal,
    patient_id: int,
    *,
    need: Need = Need.VIEW,
    action: str,
    actor: Actor,
) -> PatientAccess:
    """Return the access if allowed, else raise AccessDenied. The principal's rights decide; the
    actor (the same person, with channel and address) is what the audit records, either way. A
    refusal's record alone is kept (audit.record_refusal), as the refusal rolls the request back."""
    access = access_to_patient(session, clock, principal, patient_id)
    allowed = access is not None and access.allows(need)
    ended = ended_grant(session, clock, principal, patient_id) if access is None else None
    if allowed:
        assert access is not None, "only an access allows"
        audit.record(session, clock, actor=actor, action=action, patient_id=patient_id)
        return access
    ended_fields: dict[str, Any] = {"grant_ended": ended.id, "ended": "revoked" if ended.revoked_at else "expired"} if ended else {}
    audit.record_refusal(
        session, clock, actor=actor,
        # A denied attempt is logged against the target only when the target exists.
        patient_id=patient_id if access is not None or session.get(Patient, patient_id) is not None else None,
        attempted=action, need=need.value,
        **ended_fields,  # a relative whose access ended is shown so: which grant, and why
    )
    if ended is not None:
        patient = session.get(Patient, patient_id)
        raise AccessEnded(patient_id, patient.name.split()[0] if patient and patient.name else "",
                          "revoked" if ended.revoked_at else "expired")
    raise AccessDenied(patient_id)

"""Small builders for test data, and a standard 'world' most tests start from.

World: team A (nurse, coordinator and team admin; on-call phone +4790000000, open Mon–Fri
08:00–15:30) with patients A1 (plan: SpO2, weight, blood pressure, daily) and A2 (the same
limits, measured when needed); team B (nurse) with patient B1 (as A2); A1 has a relative who may view and report, one who may
only view, and one whose access was revoked.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import time

from sqlmodel import Session, select

from homefollow.clock import FixedClock
from homefollow.models import Account, AuditEvent, Organisation, Patient, RelativeAccess, Team, TeamMembership
from homefollow.services.plan_changes import change_plan
from homefollow.services.rulebook import sync_defaults
from homefollow.services.accounts import hash_password
from homefollow.services.plans import AssignedRule, PlanContent, PlanMeasurement, ZoneActions
from rules.schedule import Schedule

PASSWORD = "correct horse battery"

WEEKDAYS_OPEN = {d: ["08:00", "15:30"] for d in ("mon", "tue", "wed", "thu", "fri")}


def make_team(session: Session, clock: FixedClock, name: str, on_call_phone: str | None = "+4790000000",
              phone: str | None = "+4777620000") -> Team:
    team = Team(name=name, phone=phone, on_call_phone=on_call_phone, opening_hours=WEEKDAYS_OPEN,
                created_at=clock.now())
    session.add(team)
    session.flush()
    return team


def make_account(session: Session, clock: FixedClock, kind: str, login: str, name: str, **kw) -> Account:
    account = Account(kind=kind, login=login, name=name, password_hash=hash_password(PASSWORD),
                      created_at=clock.now(), **kw)
    session.add(account)
    session.flush()
    return account


def staff_totp_secret(email: str) -> str:
    """A fixed, known TOTP secret per staff e-mail, so tests can compute the codes."""
    return base64.b32encode(hashlib.sha256(f"totp:{email}".encode()).digest()[:20]).decode()


def make_staff(session: Session, clock: FixedClock, email: str, name: str, team: Team, *roles: str,
               phone: str | None = None, totp: bool = True) -> Account:
    """A staff account with an enabled second factor (totp=False: not yet enrolled)."""
    account = make_account(session, clock, "staff", email, name, email=email, phone=phone,
                           totp_secret=staff_totp_secret(email) if totp else None,
                           totp_enabled_at=clock.now() if totp else None)
    for role in roles or ("nurse",):
        session.add(TeamMembership(team_id=team.id, account_id=account.id, role=role, created_at=clock.now()))
    session.flush()
    return account


def standard_plan(**changes) -> PlanContent:
    """SpO2 red < 92 (the safety net's limit) / yellow < 93, weight 2 kg over a dry weight of
    68, systolic blood pressure yellow > 160 / red > 180 — yellow alerts on the first reading
    (1 of 1). Test values: SpO2 86 red, 92 yellow, 95 green.

    It has no missed-measurement rules, so moving the clock in a test raises nothing it did not
    ask for: make_patient saves it without the checks a clinician's plan must pass
    (services.plan_safety has its own tests)."""
    content = PlanContent(
        what_matters="Å gå tur med hunden.",
        goals=["Gå tur hver dag"],
        measurements=[
            PlanMeasurement(item="spo2", schedule=Schedule(times=(time(8, 0), time(18, 0))),
                            patient_actions=ZoneActions(green="Fortsett som før.", yellow="Start beredskapskuren.",
                                                        red="Ring 113 ved alvorlig pustebesvær.")),
            PlanMeasurement(item="weight", schedule=Schedule(times=(time(8, 0),)),
                            patient_actions=ZoneActions(green="Fint.", yellow="Ta en ekstra vanndrivende.",
                                                        red="Ring teamet nå.")),
            PlanMeasurement(item="blood_pressure", schedule=Schedule(times=(time(9, 0),)),
                            patient_actions=ZoneActions(green="Fint.", yellow="Hvil og mål igjen.", red="Ring nå.")),
        ],
        rules=[
            AssignedRule(key="copd.spo2_red", parameters={"red_low": 92}),
            AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 93, "n": 1, "m": 1}),
            AssignedRule(key="hf.weight_above_dry", parameters={"baseline_value": 68.0}),
            AssignedRule(key="general.bp_red", parameters={"red_high": 180}),
            AssignedRule(key="general.bp_yellow", parameters={"yellow_high": 160, "n": 1, "m": 1}),
        ],
    )
    return content.model_copy(update=changes)


def unscheduled_plan() -> PlanContent:
    """The standard plan with every measurement taken when needed: nothing is expected on a
    schedule, so silence is no finding."""
    content = standard_plan()
    return content.model_copy(update={"measurements": [m.model_copy(update={"schedule": None})
                                                       for m in content.measurements]})


def make_patient(session: Session, clock: FixedClock, team: Team, name: str, login: str | None,
                 plan: PlanContent | None = None, author: Account | None = None) -> Patient:
    account = make_account(session, clock, "patient", login, name, phone=login) if login else None
    # SMS reminders are off unless a test is about them, so message counts stay readable.
    patient = Patient(account_id=account.id if account else None, team_id=team.id, name=name, phone=login,
                      created_at=clock.now(), monitoring_since=clock.now(), reminders={"enabled": False})
    session.add(patient)
    session.flush()
    if plan is not None:
        change_plan(session, clock, patient=patient, content=plan, author_account_id=author.id if author else None,
                    reason="test", checked=False)
    return patient


def grant(session: Session, clock: FixedClock, patient: Patient, relative: Account, relation: str, *,
          can_view=True, can_report=False, receives_alerts=False, revoked=False, valid_until=None) -> RelativeAccess:
    access = RelativeAccess(patient_id=patient.id, relative_account_id=relative.id, relation=relation,
                            can_view=can_view, can_report=can_report, receives_alerts=receives_alerts,
                            valid_until=valid_until, created_at=clock.now(),
                            revoked_at=clock.now() if revoked else None)
    session.add(access)
    session.flush()
    return access


@dataclass
class World:
    team_a: Team
    team_b: Team
    nurse_a: Account
    admin_a: Account
    nurse_b: Account
    patient_a1: Patient
    patient_a2: Patient
    patient_b1: Patient
    relative: Account  # of A1: view + report
    viewer: Account  # of A1: view only
    revoked: Account  # of A1: revoked


def build_world(session: Session, clock: FixedClock) -> World:
    sync_defaults(session, clock)
    org = Organisation(name="Tromsø kommune", kind="municipality", created_at=clock.now())
    session.add(org)
    team_a = make_team(session, clock, "Team A", on_call_phone="+4790000000")
    team_b = make_team(session, clock, "Team B", on_call_phone="+4790000009")
    nurse_a = make_staff(session, clock, "nurse.a@example.no", "Nora Nurse", team_a, "nurse", phone="+4790000101")
    admin_a = make_staff(session, clock, "admin.a@example.no", "Ada Admin", team_a, "coordinator", "team_admin",
                         phone="+4790000102")
    nurse_b = make_staff(session, clock, "nurse.b@example.no", "Berit Nurse", team_b, "nurse", phone="+4790000103")
    a1 = make_patient(session, clock, team_a, "Astrid A1", "+4791000001", standard_plan(), nurse_a)
    # A2 and B1 measure when needed, not on a schedule: a test that moves the clock days ahead
    # then finds no silent patient paged (the safety net's inactive-patient rule).
    a2 = make_patient(session, clock, team_a, "Arne A2", "+4791000002", unscheduled_plan(), nurse_a)
    b1 = make_patient(session, clock, team_b, "Bjørn B1", "+4791000003", unscheduled_plan(), nurse_b)
    relative = make_account(session, clock, "relative", "+4791000011", "Marit Datter", phone="+4791000011")
    viewer = make_account(session, clock, "relative", "+4791000012", "Sverre Sønn", phone="+4791000012")
    revoked = make_account(session, clock, "relative", "+4791000013", "Rolf Revoked", phone="+4791000013")
    grant(session, clock, a1, relative, "datter", can_view=True, can_report=True)
    grant(session, clock, a1, viewer, "sønn", can_view=True, can_report=False)
    grant(session, clock, a1, revoked, "nevø", can_view=True, can_report=True, revoked=True)
    session.commit()
    return World(team_a, team_b, nurse_a, admin_a, nurse_b, a1, a2, b1, relative, viewer, revoked)


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    """The audit records of one action, as the database holds them now."""
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))

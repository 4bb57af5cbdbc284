"""The enrolment pathway (pakkeforløp): referral → consent → mapping conversation → plan →
trial period → follow-up with evaluations every few months → ending.

Each step has a deadline from the team's settings (Deadlines). Dates are the patient's local
calendar dates; a step is overdue from the local midnight after its deadline day, in the
patient's time zone. The plan step is done when the first plan version was saved (the plan
editor saves it); everything else is recorded here, each change with an audit row.

Consent decides whether anything is sent: a referred patient has status "referred" until
consent is recorded, and withdrawal of consent or ending stops follow-up (status "ended"):
no reminders, no rule timers, no SMS to the patient or relatives (`Patient.in_follow_up`).

Input comes as plain strings (what a form posted); problems go back as (field, code, params)
like services.team_settings, and the portal words them.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, UTC

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, update
from sqlmodel import Session, select, col

from rules.schedule import local_date_of, local_to_utc

from ..values import BadValue, parse_date
from ..clock import Clock
from ..models import (CarePathway, CarePlan, EndReason, Organisation, Patient, PatientStatus, RuleState,
                      ServicePerson, Team)
from . import audit, evaluation, reminders, teams
from .audit import Actor
from .patient_record import FRAILTY_SCORES

Problem = tuple[str, str, dict]  # (form field name, problem code, parameters of the message)

CONSENT_SCOPES = ("follow_up", "share_gp", "share_municipality", "share_hospital", "relatives")
GIVEN_BY = ("patient", "representative")
TEXT_MAX = 2000
NAME_MAX = 200

# The steps in order. "plan" is done by saving a plan; "follow_up" is the evaluations' step.
STEPS = ("referral", "consent", "mapping", "plan", "trial_start", "trial_end", "follow_up", "ended")


class Deadlines(BaseModel):
    """A team's deadlines, stored as JSON on the team. Days count from the referral, except the
    trial period's (from the plan, and from the trial's start)."""

    model_config = ConfigDict(extra="ignore")

    consent_days: int = 7
    mapping_days: int = 14
    plan_days: int = 21
    trial_start_days: int = 7  # after the plan is made
    trial_min_days: int = 14
    trial_max_days: int = 28
    evaluation_months: int = 3


# (field, smallest, largest): what the team admin may set.
DEADLINE_LIMITS = {
    "consent_days": (1, 90), "mapping_days": (1, 120), "plan_days": (1, 180), "trial_start_days": (0, 60),
    "trial_min_days": (7, 90), "trial_max_days": (7, 120), "evaluation_months": (1, 24),
}


def deadlines_of(team: Team) -> Deadlines:
    return Deadlines.model_validate(team.pathway_deadlines or {})


def check_deadlines(values: Mapping[str, str]) -> tuple[Deadlines | None, list[Problem]]:
    """What a team admin typed → Deadlines, or the problems with it."""
    problems: list[Problem] = []
    numbers: dict[str, int] = {}
    for name, (low, high) in DEADLINE_LIMITS.items():
        text = (values.get(name) or "").strip()
        if not text:
            problems.append((name, "number_missing", {}))
        elif not text.isdigit():
            problems.append((name, "whole_number", {"value": text}))
        elif not low <= int(text) <= high:
            problems.append((name, "number_range", {"low": low, "high": high}))
        else:
            numbers[name] = int(text)
    if problems:
        return None, problems
    if not numbers["consent_days"] <= numbers["mapping_days"] <= numbers["plan_days"]:
        problems.append(("mapping_days", "deadlines_order", {}))
    if numbers["trial_min_days"] > numbers["trial_max_days"]:
        problems.append(("trial_max_days", "trial_max_below_min", {}))
    return (None, problems) if problems else (Deadlines(**numbers), [])


def save_deadlines(session: Session, clock: Clock, team: Team, actor: Actor, deadlines: Deadlines) -> None:
    old = team.pathway_deadlines
    team.pathway_deadlines = deadlines.model_dump()
    audit.record(session, clock, actor=actor, action="team.pathway_deadlines.change", object_type="team",
                 object_id=team.id, old=old,
                 new=team.pathway_deadlines)
    session.add(team)


# ---- where a patient stands -------------------------------------------------------------------

def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, or the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def overdue_from(due_on: date, tz: str) -> datetime:
    """The instant (UTC) a step due on `due_on` becomes overdue: the next local midnight."""
    return local_to_utc(due_on + timedelta(days=1), time(0, 0), tz)


@dataclass(frozen=True)
class Step:
    key: str  # one of STEPS
    done_on: date | None
    due_on: date | None  # None: no deadline (yet)
    overdue: bool = False
    days_overdue: int = 0


@dataclass(frozen=True)
class Standing:
    """A patient's pathway at one moment: every step, the current one and what is overdue."""

    pathway: CarePathway
    steps: list[Step]
    current: str
    next_evaluation_on: date | None = None
    overdue: list[Step] = field(default_factory=list)

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def standing(pathway: CarePathway, deadlines: Deadlines, plan_on: date | None, now: datetime, tz: str) -> Standing:
    """Where the pathway stands at `now` in the patient's time zone `tz`. Pure."""
    p, d = pathway, deadlines
    ended = p.ended_on is not None
    last_evaluation = max((date.fromisoformat(e["on"]) for e in p.evaluations), default=None)
    next_evaluation = add_months(last_evaluation or p.trial_end_on, d.evaluation_months) if p.trial_end_on else None
    raw = [
        ("referral", p.referred_on, None),
        ("consent", p.consent_on, p.referred_on + timedelta(days=d.consent_days)),
        ("mapping", p.mapping_on, p.referred_on + timedelta(days=d.mapping_days)),
        ("plan", plan_on, p.referred_on + timedelta(days=d.plan_days)),
        ("trial_start", p.trial_start_on, plan_on + timedelta(days=d.trial_start_days) if plan_on else None),
        ("trial_end", p.trial_end_on,
         p.trial_start_on + timedelta(days=d.trial_max_days) if p.trial_start_on else None),
        ("follow_up", last_evaluation, next_evaluation),
        ("ended", p.ended_on, None),
    ]
    today = local_date_of(now, tz)
    steps = []
    for key, done_on, due_on in raw:
        # Follow-up is never done: it is due again every few months until the pathway ends.
        open_ = done_on is None or key == "follow_up"
        late = not ended and open_ and due_on is not None and now >= overdue_from(due_on, tz)
        steps.append(Step(key, done_on, due_on, late, (today - due_on).days if late and due_on is not None else 0))
    current = "ended" if ended else next((s.key for s in steps[:6] if s.done_on is None), "follow_up")
    return Standing(p, steps, current, None if ended else next_evaluation, [s for s in steps if s.overdue])


def plan_dates(session: Session, patients: Collection[Patient]) -> dict[int, date]:
    """The local date each patient's first plan version was saved (one query)."""
    if not patients:
        return {}
    zones = {p.id: p.time_zone for p in patients}
    rows = session.exec(select(CarePlan.patient_id, func.min(CarePlan.created_at))
                        .where(col(CarePlan.patient_id).in_(list(zones))).group_by(col(CarePlan.patient_id))).all()
    result = {}
    for patient_id, first in rows:
        if first.tzinfo is None:  # an aggregate bypasses the column type on SQLite
            first = first.replace(tzinfo=UTC)
        result[patient_id] = local_date_of(first, zones[patient_id])
    return result


def pathway_of(session: Session, patient_id: int) -> CarePathway | None:
    return session.exec(select(CarePathway).where(CarePathway.patient_id == patient_id)).first()


def standing_of(session: Session, clock: Clock, patient: Patient) -> Standing | None:
    pathway = pathway_of(session, patient.id)
    if pathway is None:
        return None
    return standing(pathway, deadlines_of(_team(session, patient.team_id)), plan_dates(session, [patient]).get(patient.id), clock.now(),
                    patient.time_zone)


# ---- the dashboard ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OverdueRow:
    patient: Patient
    team: Team
    municipality: str | None
    step: Step


@dataclass
class Dashboard:
    rows: list[OverdueRow]  # the most overdue first
    by_team: list[tuple[Team, dict[str, int]]]  # step → overdue count, for each of the teams shown
    by_municipality: list[tuple[str | None, dict[str, int]]]
    at_step: dict[str, int]  # how many patients are at each step now (not ended)
    patients: int


def dashboard(session: Session, clock: Clock, team_ids: Collection[int], *, team_id: int | None = None,
              municipality_id: int | None = None) -> Dashboard:
    """Overdue steps of the pathways of the given teams' patients (not ended), with counts per
    team and per municipality. A fixed number of queries, whatever the number of patients."""
    ids = [t for t in team_ids if team_id is None or t == team_id]
    teams = {t.id: t for t in session.exec(select(Team).where(col(Team.id).in_(ids)).order_by(col(Team.name)))} if ids else {}
    query = (select(CarePathway, Patient, Organisation.name)
             .join(Patient, col(Patient.id) == col(CarePathway.patient_id))
             .join(Organisation, col(Organisation.id) == col(Patient.municipality_id), isouter=True)
             .where(col(Patient.team_id).in_(list(teams)), col(CarePathway.ended_on).is_(None)))
    if municipality_id is not None:
        query = query.where(Patient.municipality_id == municipality_id)
    found = session.exec(query).all() if teams else []
    plans = plan_dates(session, [p for _w, p, _m in found])
    deadlines = {t.id: deadlines_of(t) for t in teams.values()}
    now = clock.now()
    rows: list[OverdueRow] = []
    at_step = {key: 0 for key in STEPS[1:-1]}
    for pathway, patient, municipality in found:
        s = standing(pathway, deadlines[patient.team_id], plans.get(patient.id), now, patient.time_zone)
        at_step[s.current] = at_step.get(s.current, 0) + 1
        rows += [OverdueRow(patient, teams[patient.team_id], municipality, step) for step in s.overdue]
    rows.sort(key=lambda r: (-r.step.days_overdue, r.patient.name, STEPS.index(r.step.key)))
    by_team = [(team, _count([r for r in rows if r.team.id == team.id])) for team in teams.values()]
    names = sorted({r.municipality for r in rows}, key=lambda n: (n is None, n or ""))
    by_municipality = [(name, _count([r for r in rows if r.municipality == name])) for name in names]
    return Dashboard(rows, by_team, by_municipality, at_step, len(found))


def _count(rows: list[OverdueRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.step.key] = counts.get(r.step.key, 0) + 1
    return counts


# ---- recording the steps ----------------------------------------------------------------------

class PathwayError(Exception):
    """A step that cannot be recorded now (it carries the problem codes)."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems)
        self.problems = problems


def _date(problems: list[Problem], name: str, text: str | None, today: date, *, not_before: date | None = None,
          before_name: str = "") -> date | None:
    text = (text or "").strip()
    if not text:
        problems.append((name, "date_missing", {}))
        return None
    try:
        value = parse_date(text)
    except BadValue as exc:
        problems.append((name, "date_format", {"value": exc.text}))
        return None
    if value > today:
        problems.append((name, "date_in_future", {}))
    elif not_before is not None and value < not_before:
        problems.append((name, before_name, {"date": not_before.isoformat()}))
    else:
        return value
    return None


def _text(problems: list[Problem], name: str, text: str | None, limit: int = TEXT_MAX,
          required: bool = False) -> str:
    text = (text or "").strip()
    if required and not text:
        problems.append((name, f"{name}_missing", {}))
    elif len(text) > limit:
        problems.append((name, "text_too_long", {"limit": limit}))
    return text


def _today(clock: Clock, patient: Patient) -> date:
    return local_date_of(clock.now(), patient.time_zone)


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    assert team is not None, "a patient's or person's team exists (foreign key)"
    return team


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise PathwayError(problems)


def _route(problems: list[Problem], session: Session, team: Team) -> None:
    """A team that cannot be reached about a red alert outside opening hours takes on no
    patients: neither a new one nor the start of anyone's follow-up (teams.out_of_hours_route_problems).
    The problem names the team and what to fix; the portal links to the team's phones page."""
    route = teams.out_of_hours_route_problems(session, team)
    if route:
        problems.append(("", "no_out_of_hours_route", {"team": team.name, "team_id": team.id, "route": route}))


def _open(pathway: CarePathway | None) -> CarePathway:
    """The pathway, if there is one that has not ended."""
    if pathway is None:
        raise PathwayError([("", "no_pathway", {})])
    if pathway.ended_on is not None:
        raise PathwayError([("", "already_ended", {})])
    return pathway


def _save(session: Session, clock: Clock, patient: Patient, pathway: CarePathway, actor: Actor, action: str,
          **detail) -> None:
    pathway.updated_at = clock.now()
    session.add(pathway)
    session.flush()
    audit.record(session, clock, actor=actor, action=f"pathway.{action}", patient_id=patient.id,
                 object_type="care_pathway", object_id=pathway.id, **detail)


def record_referral(session: Session, clock: Clock, patient: Patient, *, referred_on: str, referred_by: str,
                    actor: Actor) -> CarePathway:
    """Start the pathway of a patient who has none (the patient's status is left as it is: one
    followed up already has consented)."""
    problems: list[Problem] = []
    if pathway_of(session, patient.id) is not None:
        raise PathwayError([("", "already_referred", {})])
    on = _date(problems, "referred_on", referred_on, _today(clock, patient))
    by = _text(problems, "referred_by", referred_by, NAME_MAX)
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    now = clock.now()
    pathway = CarePathway(patient_id=patient.id, referred_on=on, referred_by=by, created_at=now, updated_at=now)
    _save(session, clock, patient, pathway, actor, "referral", referred_on=on.isoformat(), referred_by=by)
    return pathway


def refer_candidate(session: Session, clock: Clock, person: ServicePerson, *, municipality_id: int | None,
                    referred_on: str, referred_by: str | None, actor: Actor) -> Patient:
    """A candidate becomes a patient at the referral step, linked to their service-use history.
    Nothing is sent to them until consent is recorded. Refused while the team has no reachable
    out-of-hours route."""
    if person.patient_id is not None:
        raise PathwayError([("", "already_referred", {})])
    team = _team(session, person.team_id)
    problems: list[Problem] = []
    if municipality_id is not None:
        org = session.get(Organisation, municipality_id)
        if org is None or org.kind != "municipality":
            problems.append(("municipality", "choose_municipality", {}))
    on = _date(problems, "referred_on", referred_on, local_date_of(clock.now(), team.time_zone))
    by = _text(problems, "referred_by", referred_by, NAME_MAX)
    _route(problems, session, team)
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    now = clock.now()
    patient = Patient(team_id=team.id, municipality_id=municipality_id, name=person.name or "?",
                      birth_date=person.birth_date, time_zone=team.time_zone, status=PatientStatus.REFERRED.value,
                      created_at=now)
    session.add(patient)
    session.flush()
    person.patient_id = patient.id
    person.updated_at = now
    session.add(person)
    pathway = CarePathway(patient_id=patient.id, referred_on=on, referred_by=by, created_at=now, updated_at=now)
    _save(session, clock, patient, pathway, actor, "referral", referred_on=on.isoformat(), referred_by=by,
          service_person=person.id)
    return patient


def record_consent(session: Session, clock: Clock, patient: Patient, *, consent_on: str, scope: list[str],
                   given_by: str, representative: str, actor: Actor) -> None:
    """What was consented to, by whom and when. Follow-up may start: a referred patient
    becomes active, which is refused while the team has no reachable out-of-hours route.
   """
    pathway = _open(pathway_of(session, patient.id))
    problems: list[Problem] = []
    on = _date(problems, "consent_on", consent_on, _today(clock, patient), not_before=pathway.referred_on,
               before_name="before_referral")
    scope = [s for s in CONSENT_SCOPES if s in (scope or [])]
    if "follow_up" not in scope:
        problems.append(("scope", "scope_follow_up", {}))
    if given_by not in GIVEN_BY:
        problems.append(("given_by", "choose_given_by", {}))
    name = _text(problems, "representative", representative, NAME_MAX, required=given_by == "representative")
    if patient.status == PatientStatus.REFERRED.value:  # this consent starts the follow-up
        _route(problems, session, _team(session, patient.team_id))
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.consent_on, pathway.consent_scope, pathway.consent_given_by = on, scope, given_by
    pathway.consent_representative = name if given_by == "representative" else ""
    pathway.consent_withdrawn_on = None
    if patient.status == PatientStatus.REFERRED.value:
        patient.status = PatientStatus.ACTIVE.value
        patient.monitoring_since = clock.now()
        session.add(patient)
        # Rule timers and reminders start now (a plan may have been made already).
        evaluation.evaluate_patient(session, clock, patient)
        reminders.schedule_next(session, clock, patient)
    _save(session, clock, patient, pathway, actor, "consent", consent_on=on.isoformat(), scope=scope,
          given_by=given_by, representative=pathway.consent_representative)


def withdraw_consent(session: Session, clock: Clock, patient: Patient, *, withdrawn_on: str, note: str,
                     actor: Actor) -> None:
    """The patient (or representative) withdraws consent: the pathway ends (declined) and
    follow-up stops at once."""
    pathway = _open(pathway_of(session, patient.id))
    if pathway.consent_on is None:
        raise PathwayError([("", "no_consent", {})])
    problems: list[Problem] = []
    on = _date(problems, "withdrawn_on", withdrawn_on, _today(clock, patient), not_before=pathway.consent_on,
               before_name="before_consent")
    text = _text(problems, "withdrawal_note", note)
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.consent_withdrawn_on = on
    pathway.ended_on, pathway.end_reason, pathway.end_note = on, EndReason.DECLINED.value, text
    stop_follow_up(session, patient)
    _save(session, clock, patient, pathway, actor, "consent_withdrawn", withdrawn_on=on.isoformat(), note=text)


def record_mapping(session: Session, clock: Clock, patient: Patient, *, mapping_on: str, what_matters: str,
                   goals: str, risks: str, frailty: str, actor: Actor) -> None:
    """The mapping conversation: what matters to the patient, goals, risks and the frailty
    score (kept on the patient, where the rest of the portal reads it)."""
    pathway = _open(pathway_of(session, patient.id))
    problems: list[Problem] = []
    on = _date(problems, "mapping_on", mapping_on, _today(clock, patient), not_before=pathway.referred_on,
               before_name="before_referral")
    matters = _text(problems, "what_matters", what_matters, required=True)
    goal_text = _text(problems, "goals", goals)
    risk_text = _text(problems, "risks", risks)
    score = int(frailty) if (frailty or "").isdigit() and int(frailty) in FRAILTY_SCORES else None
    if (frailty or "") and score is None:
        problems.append(("frailty", "frailty_range", {}))
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.mapping_on, pathway.what_matters, pathway.goals, pathway.risks = on, matters, goal_text, risk_text
    previous = patient.frailty_score
    if score is not None:
        patient.frailty_score = score
        session.add(patient)
    _save(session, clock, patient, pathway, actor, "mapping", mapping_on=on.isoformat(),
          frailty_previous=previous, frailty=patient.frailty_score)


def record_trial_start(session: Session, clock: Clock, patient: Patient, *, trial_start_on: str, actor: Actor) -> None:
    pathway = _open(pathway_of(session, patient.id))
    if pathway.consent_on is None:
        raise PathwayError([("", "no_consent", {})])
    problems: list[Problem] = []
    on = _date(problems, "trial_start_on", trial_start_on, _today(clock, patient), not_before=pathway.consent_on,
               before_name="before_consent")
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.trial_start_on = on
    _save(session, clock, patient, pathway, actor, "trial_start", trial_start_on=on.isoformat())


def record_trial_end(session: Session, clock: Clock, patient: Patient, *, trial_end_on: str, actor: Actor) -> None:
    """The trial period's baseline readings are enough: active follow-up begins. At least the
    team's minimum length, so the personal limits rest on enough readings."""
    pathway = _open(pathway_of(session, patient.id))
    if pathway.trial_start_on is None:
        raise PathwayError([("", "trial_not_started", {})])
    minimum = deadlines_of(_team(session, patient.team_id)).trial_min_days
    problems: list[Problem] = []
    on = _date(problems, "trial_end_on", trial_end_on, _today(clock, patient), not_before=pathway.trial_start_on,
               before_name="before_trial_start")
    if on is not None and (on - pathway.trial_start_on).days < minimum:
        problems.append(("trial_end_on", "trial_too_short", {"days": minimum}))
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.trial_end_on = on
    _save(session, clock, patient, pathway, actor, "trial_end", trial_end_on=on.isoformat())


def record_evaluation(session: Session, clock: Clock, patient: Patient, *, evaluation_on: str, note: str,
                      actor: Actor) -> None:
    pathway = _open(pathway_of(session, patient.id))
    if pathway.trial_end_on is None:
        raise PathwayError([("", "no_follow_up_yet", {})])
    problems: list[Problem] = []
    on = _date(problems, "evaluation_on", evaluation_on, _today(clock, patient), not_before=pathway.trial_end_on,
               before_name="before_trial_end")
    text = _text(problems, "evaluation_note", note, required=True)
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    # A new list, so the JSON column sees the change.
    pathway.evaluations = sorted([*pathway.evaluations, {"on": on.isoformat(), "note": text, "by": actor.account_id}],
                                 key=lambda e: e["on"])
    _save(session, clock, patient, pathway, actor, "evaluation", evaluation_on=on.isoformat())


def end_pathway(session: Session, clock: Clock, patient: Patient, *, ended_on: str, reason: str, note: str,
                actor: Actor) -> None:
    """End the follow-up for a reason; nothing more is sent."""
    pathway = _open(pathway_of(session, patient.id))
    problems: list[Problem] = []
    on = _date(problems, "ended_on", ended_on, _today(clock, patient), not_before=pathway.referred_on,
               before_name="before_referral")
    if reason not in {r.value for r in EndReason}:
        problems.append(("end_reason", "choose_reason", {}))
    text = _text(problems, "end_note", note)
    _raise(problems)
    assert on is not None  # _date gives None only with a problem, and _raise has raised
    pathway.ended_on, pathway.end_reason, pathway.end_note = on, reason, text
    stop_follow_up(session, patient)
    _save(session, clock, patient, pathway, actor, "end", ended_on=on.isoformat(), reason=reason)


def stop_follow_up(session: Session, patient: Patient) -> None:
    """Status "ended", and the timers that would send or expect anything cleared at once
    (the sweeps also skip patients who are not active)."""
    patient.status = PatientStatus.ENDED.value
    patient.reminder_due_at = None
    session.add(patient)
    session.execute(update(RuleState).where(col(RuleState.patient_id) == patient.id).values(next_due_at=None))

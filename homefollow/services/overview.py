"""The clinician's overview of all patients of their teams: a traffic light, the last report,
adherence, today's missed check-ins, open alerts, unread messages from the patient's side,
status and the next plan review per patient.

Built in a fixed number of queries whatever the number of patients (a test pins it): one each
for the patients, their teams, their plans, the reports of the adherence window, the open
alerts, the unread messages and the last report with its values. Adherence and "missed" are
counted by services.checklist from the loaded reports, so they mean exactly what they mean
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from rules.schedule import local_date_of, local_day_bounds

from ..clock import Clock
from ..models import Alert, AlertStatus, Patient, PatientStatus, Report, Team
from . import checklist, messages, plans, reporting

ADHERENCE_DAYS = 14
LIGHTS = ("red", "yellow", "green")
_LIGHT_RANK = {"red": 0, "yellow": 1, "green": 2}
SORTS = ("name", "light", "last_report", "adherence", "missed", "alerts", "status", "review", "team")
# Each column's natural first direction: the most worrying first.
DEFAULT_DESCENDING = {"last_report": True, "missed": True, "alerts": True}


@dataclass(frozen=True)
class PatientRow:
    patient: Patient
    team_name: str
    light: str  # worst unresolved alert: red, yellow, else green
    open_alerts: int
    unread_messages: int  # from the patient or a relative, not yet read by the team
    last_report: Report | None
    last_values: dict[str, float]
    adherence: checklist.Adherence
    missed_today: int
    next_review: date | None
    plan: plans.PlanContent


@dataclass(frozen=True)
class Filters:
    team_id: int | None = None
    status: str | None = None
    light: str | None = None
    query: str = ""


def patient_rows(session: Session, clock: Clock, team_ids, filters: Filters = Filters(), sort: str = "light",
                 descending: bool | None = None) -> list[PatientRow]:
    """The patients of these teams, filtered and sorted. A filter for a team outside
    `team_ids` yields nothing rather than another team's patients."""
    teams = set(team_ids)
    if filters.team_id is not None:
        teams &= {filters.team_id}
    if not teams:
        return []
    statement = select(Patient).where(Patient.team_id.in_(teams))
    if filters.status:
        statement = statement.where(Patient.status == filters.status)
    patients = list(session.exec(statement.order_by(Patient.name, Patient.id)))
    if filters.query.strip():
        # In Python: SQLite's lower() leaves æ, ø and å alone.
        needle = filters.query.strip().casefold()
        patients = [p for p in patients if needle in p.name.casefold()]
    rows = _rows(session, clock, patients)
    if filters.light:
        rows = [r for r in rows if r.light == filters.light]
    return sort_rows(rows, sort, descending)


def sort_rows(rows: list[PatientRow], sort: str, descending: bool | None = None) -> list[PatientRow]:
    """Sort by a column; empty values (no report, no plan review) always come last."""
    if sort not in SORTS:
        sort = "light"
    if descending is None:
        descending = DEFAULT_DESCENDING.get(sort, False)
    keys = {
        "name": lambda r: r.patient.name.casefold(),
        "light": lambda r: _LIGHT_RANK[r.light],
        "last_report": lambda r: r.last_report.measured_at if r.last_report else None,
        "adherence": lambda r: r.adherence.rate,
        "missed": lambda r: r.missed_today,
        "alerts": lambda r: r.open_alerts,
        "status": lambda r: r.patient.status,
        "review": lambda r: r.next_review,
        "team": lambda r: r.team_name.casefold(),
    }
    key = keys[sort]
    by_name = sorted(rows, key=lambda r: (r.patient.name.casefold(), r.patient.id))
    present = [r for r in by_name if key(r) is not None]
    empty = [r for r in by_name if key(r) is None]
    return sorted(present, key=key, reverse=descending) + empty


def _rows(session: Session, clock: Clock, patients: list[Patient]) -> list[PatientRow]:
    if not patients:
        return []
    now = clock.now()
    ids = [p.id for p in patients]
    team_names = {t.id: t.name for t in session.exec(select(Team).where(Team.id.in_({p.team_id for p in patients})))}
    contents = plans.current_contents(session, ids)
    # One window wide enough for every patient's time zone; checklist keeps to each local day.
    start = min(local_day_bounds(local_date_of(now, p.time_zone) - timedelta(days=ADHERENCE_DAYS), p.time_zone)[0]
                for p in patients)
    reported = checklist.reported_of_patients(session, ids, start, now + timedelta(days=1))
    alerts = _open_alerts(session, ids)
    unread = messages.unread_for_team(session, ids)
    last = _last_reports(session, ids)
    rows = []
    for p in patients:
        content = contents[p.id]
        severities = alerts.get(p.id, {})
        light = "red" if severities.get("red") else "yellow" if severities.get("yellow") else "green"
        today = checklist.today_items_of(content, p.time_zone, reported[p.id], now)
        missed = sum(s.status == checklist.SlotStatus.MISSED for item in today for s in item.slots)
        report, values = last.get(p.id, (None, {}))
        rows.append(PatientRow(
            patient=p, team_name=team_names.get(p.team_id, ""), light=light, open_alerts=sum(severities.values()),
            unread_messages=unread.get(p.id, 0),
            last_report=report, last_values=values,
            adherence=checklist.adherence_of(content, p.time_zone, reported[p.id], now, ADHERENCE_DAYS,
                                              since=p.followed_since),
            missed_today=missed if p.status == PatientStatus.ACTIVE.value else 0,
            next_review=content.next_review, plan=content))
    return rows


def _open_alerts(session: Session, patient_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for patient_id, severity, n in session.exec(
            select(Alert.patient_id, Alert.severity, func.count(Alert.id))
            .where(Alert.patient_id.in_(patient_ids), Alert.status != AlertStatus.RESOLVED.value)
            .group_by(Alert.patient_id, Alert.severity)):
        counts.setdefault(patient_id, {})[severity] = n
    return counts


def _last_reports(session: Session, patient_ids: list[int]) -> dict[int, tuple[Report, dict[str, float]]]:
    """Each patient's newest report with its values (two queries)."""
    ranked = (select(Report.id.label("id"), func.row_number().over(
        partition_by=Report.patient_id, order_by=(Report.measured_at.desc(), Report.id.desc())).label("n"))
              .where(Report.patient_id.in_(patient_ids)).subquery())
    reports = session.exec(select(Report).join(ranked, ranked.c.id == Report.id).where(ranked.c.n == 1)).all()
    return {r.patient_id: (r, values) for r, values in reporting._with_values(session, reports)}


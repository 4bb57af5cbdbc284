"""The clinician's overview of all patients of their teams: a traffic light, the last report,
adherence, today's missed check-ins, open alerts, unread messages from the patient's side,
status and the next plan review per patient.

Built in a fixed number of queries whatever the number of patients (a test pins it): one each
for the patients, their teams, their plans, the reports of the adherence window, the open
alerts, the unread messages and the last report with its values. Adherence and "missed" are
counted by services.checklist from the loaded reports, so they mean exactly what they mean
elsewhere.

Paged (`overview_page`): what the sort and filters need is read for every patient of the
teams — names, status, team, open alerts by severity, for the "last report" sort the time of
the newest report (through the index on report (patient_id, measured_at, id)), for the
adherence sort each patient's adherence from the kept days (services.adherence_days, counted
afresh only where they do not hold), for the plan review sort the date out of each newest plan
— and the rest only for the page's patients. Sorting by missed today needs every patient's plan
and today's reports, so that sort computes every row as before (slower for a large team).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from rules.schedule import local_date_of, local_day_bounds

from ..clock import Clock
from ..models import Alert, AlertStatus, Patient, PatientStatus, Report, Team
from . import adherence_days, checklist, messages, plans, reporting
from .paging import PageWindow

ADHERENCE_DAYS = 14
PAGE_SIZE = 50
# Sorts whose key needs the whole row (plan, reports) of every patient, not just the page's.
FULL_SORTS = ("missed",)
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


@dataclass(frozen=True)
class OverviewPage(PageWindow):
    rows: list[PatientRow]
    total: int  # patients matching the filters, on every page
    lights: dict[str, int]  # of those, how many are red, yellow, green
    page: int  # 1-based
    pages: int
    page_size: int


@dataclass(frozen=True)
class _Candidate:
    """What filtering and the cheap sorts need of one patient."""

    id: int
    name: str
    status: str
    team_name: str
    light: str
    open_alerts: int
    last_at: object = None  # measured_at of the newest report, read only for that sort
    adherence: float | None = None  # the rate over ADHERENCE_DAYS, read only for that sort
    review: date | None = None  # the next plan review, read only for that sort


def patient_rows(session: Session, clock: Clock, team_ids, filters: Filters = Filters(), sort: str = "light",
                 descending: bool | None = None) -> list[PatientRow]:
    """Every patient of these teams, filtered and sorted (unpaged). A filter for a team outside
    `team_ids` yields nothing rather than another team's patients."""
    return _overview(session, clock, team_ids, filters, sort, descending, None, None).rows


def overview_page(session: Session, clock: Clock, team_ids, filters: Filters = Filters(), sort: str = "light",
                  descending: bool | None = None, page: int = 1, page_size: int = PAGE_SIZE) -> OverviewPage:
    """One page of `patient_rows`: the same order, full rows only for the page's patients
    (except for FULL_SORTS). A page past the end shows the last one."""
    return _overview(session, clock, team_ids, filters, sort, descending, page, page_size)


def _overview(session: Session, clock: Clock, team_ids, filters: Filters, sort: str, descending: bool | None,
              page: int | None, page_size: int | None) -> OverviewPage:
    if sort not in SORTS:
        sort = "light"
    if descending is None:
        descending = DEFAULT_DESCENDING.get(sort, False)
    teams = set(team_ids)
    if filters.team_id is not None:
        teams &= {filters.team_id}
    candidates = _candidates(session, clock, teams, filters, sort) if teams else []
    lights = {light: sum(c.light == light for c in candidates) for light in LIGHTS}
    paged = page is not None and page_size is not None
    pages = max(1, -(-len(candidates) // page_size)) if paged and page_size is not None else 1
    page = min(max(page or 1, 1), pages)
    if sort in FULL_SORTS or not paged:
        rows = _rows(session, clock, _patients(session, [c.id for c in candidates]))
        rows = sort_rows(rows, sort, descending)
        if paged:
            assert page_size is not None, "paged: a page size was given"
            rows = rows[(page - 1) * page_size:page * page_size]
    else:
        assert page_size is not None, "paged (not FULL_SORTS): a page size was given"
        chosen = _ordered(candidates, _CANDIDATE_KEYS[sort], descending, lambda c: (c.name.casefold(), c.id))
        chosen = chosen[(page - 1) * page_size:page * page_size]
        rows = _rows(session, clock, _patients(session, [c.id for c in chosen]))
    return OverviewPage(rows, len(candidates), lights, page, pages, page_size or max(len(rows), 1))


def _candidates(session: Session, clock: Clock, teams: set[int], filters: Filters, sort: str) -> list[_Candidate]:
    """Every patient of `teams` that passes the filters, with light and open alerts (two queries,
    a few columns each), and what the sort needs beside."""
    statement = (select(Patient.id, Patient.name, Patient.status, Team.name)
                 .join(Team, col(Team.id) == Patient.team_id).where(col(Patient.team_id).in_(teams)))
    if filters.status:
        statement = statement.where(Patient.status == filters.status)
    found = session.exec(statement).all()
    if filters.query.strip():
        # In Python: SQLite's lower() leaves æ, ø and å alone.
        needle = filters.query.strip().casefold()
        found = [f for f in found if needle in f[1].casefold()]
    ids = [f[0] for f in found]
    alerts = _open_alerts(session, ids)
    last = _last_report_times(session, ids) if sort == "last_report" else {}
    rates = {patient_id: adherence.rate if adherence else None for patient_id, adherence in
             adherence_days.adherence_of_each(session, clock.now(), _patients(session, ids), ADHERENCE_DAYS).items()
             } if sort == "adherence" else {}
    reviews = plans.next_reviews(session, ids) if sort == "review" else {}
    candidates = []
    for patient_id, name, status, team_name in found:
        severities = alerts.get(patient_id, {})
        candidates.append(_Candidate(patient_id, name, status, team_name, _light(severities),
                                     sum(severities.values()), last.get(patient_id), rates.get(patient_id),
                                     reviews.get(patient_id)))
    if filters.light:
        candidates = [c for c in candidates if c.light == filters.light]
    return candidates


def _patients(session: Session, ids: list[int]) -> list[Patient]:
    if not ids:
        return []
    by_id = {p.id: p for p in _in_chunks(session, ids, lambda chunk: select(Patient).where(col(Patient.id).in_(chunk)))}
    return [by_id[i] for i in ids]


def _in_chunks(session: Session, ids: list, statement, size: int = 1000) -> list:
    """Run `statement(chunk)` for the ids a thousand at a time: within every database's limit
    on bound parameters, one query for a page or a team of up to a thousand."""
    return [row for start in range(0, len(ids), size) for row in session.exec(statement(ids[start:start + size]))]


def _light(severities: dict[str, int]) -> str:
    return "red" if severities.get("red") else "yellow" if severities.get("yellow") else "green"


_CANDIDATE_KEYS = {
    "name": lambda c: c.name.casefold(),
    "light": lambda c: _LIGHT_RANK[c.light],
    "last_report": lambda c: c.last_at,
    "adherence": lambda c: c.adherence,
    "review": lambda c: c.review,
    "alerts": lambda c: c.open_alerts,
    "status": lambda c: c.status,
    "team": lambda c: c.team_name.casefold(),
}


def _ordered(items: list, key, descending: bool, by_name) -> list:
    """By name first, then stably by `key`; empty values (None) always last."""
    by_name_ = sorted(items, key=by_name)
    present = [i for i in by_name_ if key(i) is not None]
    empty = [i for i in by_name_ if key(i) is None]
    return sorted(present, key=key, reverse=descending) + empty


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
    return _ordered(rows, keys[sort], descending, lambda r: (r.patient.name.casefold(), r.patient.id))


def _rows(session: Session, clock: Clock, patients: list[Patient]) -> list[PatientRow]:
    if not patients:
        return []
    now = clock.now()
    ids = [p.id for p in patients]
    team_names = {t.id: t.name for t in session.exec(select(Team).where(col(Team.id).in_({p.team_id for p in patients})))}
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
        light = _light(severities)
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
    for patient_id, severity, n in _in_chunks(session, patient_ids, lambda chunk: (
            select(Alert.patient_id, Alert.severity, func.count(col(Alert.id)))
            .where(col(Alert.patient_id).in_(chunk), Alert.status != AlertStatus.RESOLVED.value)
            .group_by(col(Alert.patient_id), col(Alert.severity)))):
        counts.setdefault(patient_id, {})[severity] = n
    return counts


def _newest_report_id():
    """The id of the patient's newest report: one probe of the index on report (patient_id,
    measured_at, id) per patient, on SQLite and PostgreSQL alike (a correlated LIMIT 1)."""
    return (select(Report.id).where(Report.patient_id == Patient.id)
            .order_by(Report.measured_at.desc(), Report.id.desc()).limit(1).correlate(Patient).scalar_subquery())


def _last_report_times(session: Session, patient_ids: list[int]) -> dict:
    newest = (select(Report.measured_at).where(Report.patient_id == Patient.id)
              .order_by(col(Report.measured_at).desc(), col(Report.id).desc()).limit(1).correlate(Patient).scalar_subquery())
    return {pid: at for pid, at in _in_chunks(session, patient_ids, lambda chunk: (
        select(Patient.id, newest).where(col(Patient.id).in_(chunk)))) if at is not None}


def _last_reports(session: Session, patient_ids: list[int]) -> dict[int, tuple[Report, dict[str, float]]]:
    """Each patient's newest report with its values (two queries)."""
    reports = session.exec(select(Report).where(
        col(Report.id).in_(select(_newest_report_id()).where(col(Patient.id).in_(patient_ids))))).all()
    return {r.patient_id: (r, values) for r, values in reporting._with_values(session, reports)}


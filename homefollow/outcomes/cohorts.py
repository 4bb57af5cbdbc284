"""Loading patients and their service use for the before/after figures (figures.py is pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlmodel import Session, select, col

from ..db import among_ids
from ..models import Patient, ServicePerson, ServiceUse
from ..services import plans
from .figures import MEASURES, WINDOW_DAYS, Event, Figures, cohort_figures
from .tables import Table, csv_text, fmt


def inclusion_date(patient: Patient) -> date:
    """Monitoring start, else the enrolment (record creation) date, as a local date."""
    at = patient.monitoring_since or patient.created_at
    return at.astimezone(ZoneInfo(patient.time_zone or "Europe/Oslo")).date()


@dataclass(frozen=True)
class CohortResult:
    figures: Figures
    patients: int  # patients in the cohort
    without_history: int  # enrolled but not linked to any service-use history: left out


def figures_for(session: Session, patients: list[Patient], today: date, days: int = WINDOW_DAYS) -> CohortResult:
    ids = [p.id for p in patients]
    links = {pid: person_id for person_id, pid in session.exec(
        select(col(ServicePerson.id), col(ServicePerson.patient_id))
        .where(among_ids(session, col(ServicePerson.patient_id), ids)))
        if pid is not None} if ids else {}
    events: dict[int, list[Event]] = {pid: [] for pid in links}
    person_to_patient = {v: k for k, v in links.items()}
    if links:  # the columns only: a team's thousands of events are not built as ORM objects
        # SQLAlchemy's select and execute (what exec runs for rows): sqlmodel's select is typed for four columns at most
        for person_id, kind, start, end, acute in session.execute(
                sa_select(col(ServiceUse.person_id), col(ServiceUse.kind), col(ServiceUse.start_date),
                          col(ServiceUse.end_date), col(ServiceUse.acute))
                .where(among_ids(session, col(ServiceUse.person_id), person_to_patient))):
            events[person_to_patient[person_id]].append(Event(kind, start, end, acute))
    rows = [(inclusion_date(p), events[p.id]) for p in patients if p.id in links]
    return CohortResult(cohort_figures(rows, today, days), len(patients), len(patients) - len(rows))


def cohort(session: Session, *, team_id: int | None = None, municipality_id: int | None = None,
           patient_id: int | None = None, template_id: int | None = None,
           within_teams: Iterable[int] | None = None) -> list[Patient]:
    """Patients matching every criterion given; `within_teams` limits them to these teams (the
    teams the viewer belongs to)."""
    query = select(Patient)
    if team_id is not None:
        query = query.where(Patient.team_id == team_id)
    if municipality_id is not None:
        query = query.where(Patient.municipality_id == municipality_id)
    if patient_id is not None:
        query = query.where(Patient.id == patient_id)
    if within_teams is not None:
        query = query.where(col(Patient.team_id).in_(list(within_teams)))
    patients = list(session.exec(query.order_by(col(Patient.id))))
    if template_id is not None:
        templates = templates_of(session, [p.id for p in patients])
        patients = [p for p in patients if templates.get(p.id) == template_id]
    return patients


def templates_of(session: Session, patient_ids: list[int]) -> dict[int, int]:
    """The plan template each patient's current plan was last started from (patients whose
    plan never was are left out)."""
    return {pid: tid for pid, tid in plans.current_template_ids(session, patient_ids).items() if tid is not None}


def link_person(session: Session, clock, *, person_id: int, patient_id: int) -> ServicePerson:
    """Tie a person's history to the patient they became (same team); the caller commits."""
    person = session.get(ServicePerson, person_id)
    patient = session.get(Patient, patient_id)
    if person is None or patient is None:
        raise LookupError("no such person or patient")
    if person.team_id != patient.team_id:
        raise LookupError("the person and the patient belong to different teams")
    person.patient_id = patient.id
    person.updated_at = clock.now()
    session.add(person)
    return person


def figure_rows(result: CohortResult) -> list[dict[str, str]]:
    """One row per measure: totals, patients and patient-years behind them, rates, change."""
    f = result.figures
    rows = []
    for measure in MEASURES:
        rows.append({
            "measure": measure,
            "before_total": str(f.before.counts[measure]), "before_patients": str(f.before.patients),
            "before_patient_years": fmt(f.before.patient_years),
            "before_per_patient_year": fmt(f.before.per_patient_year(measure)),
            "after_total": str(f.after.counts[measure]), "after_patients": str(f.after.patients),
            "after_patient_years": fmt(f.after.patient_years),
            "after_per_patient_year": fmt(f.after.per_patient_year(measure)),
            "change": fmt(None if (change := f.change(measure)) is None else 100 * change, 1),
        })
    b, a = f.before.readmissions, f.after.readmissions
    rows.append({
        "measure": "readmission_30d",
        "before_total": f"{b.readmitted}/{b.index_admissions}", "before_patients": str(f.before.patients),
        "before_patient_years": fmt(f.before.patient_years), "before_per_patient_year": "",
        "before_rate": fmt(None if b.rate is None else 100 * b.rate, 1),
        "after_total": f"{a.readmitted}/{a.index_admissions}", "after_patients": str(f.after.patients),
        "after_patient_years": fmt(f.after.patient_years), "after_per_patient_year": "",
        "after_rate": fmt(None if a.rate is None else 100 * a.rate, 1),
        "change": "",
    })
    for row in rows[:-1]:
        row["before_rate"] = row["after_rate"] = ""
    return rows


CSV_COLUMNS = ("measure", "before_total", "before_patients", "before_patient_years", "before_per_patient_year",
               "before_rate", "after_total", "after_patients", "after_patient_years", "after_per_patient_year",
               "after_rate", "change")


def figures_table(result: CohortResult) -> Table:
    return Table("outcomes", CSV_COLUMNS, figure_rows(result))


def figures_csv(result: CohortResult) -> str:
    return csv_text(figures_table(result))

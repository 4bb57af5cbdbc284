"""How the service itself runs for a cohort over a period: alert burden by rule, time to
acknowledge and to resolve, outcomes of resolved alerts, adherence, caseload per nurse.

The period is the `days` whole local days before today. Definitions (docs/outcomes.md):
- Alert burden: alerts opened in the period per rule, per patient-week followed in the period
  (each patient from the later of the period's start and the start of their follow-up).
- Time to acknowledge: opened → acknowledged; an alert resolved without being acknowledged
  counts its time to resolve (the resolution was the first response). Time to resolve: opened →
  resolved. Grouped by the alert's severity (a yellow raised to red counts as red). Median, and
  the 90th percentile by the nearest-rank method; alerts not yet acknowledged/resolved are
  counted beside, not guessed.
- Outcomes: of the alerts opened in the period and resolved.
- Adherence: services.checklist's one definition, summed over the patients.
- Caseload: patients not ended per nurse (members with the nurse role) in each team; the
  benchmark is 80 patients per nurse. No patient has a named responsible nurse, so a team's
  patients are shared by its nurses.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, func, select, col

from rules.schedule import local_date_of, local_day_bounds

from ..clock import Clock
from ..db import among_ids
from ..models import Alert, Patient, PatientStatus, ReportKind, Role, Team, TeamMembership
from ..services import adherence_days, checklist
from .tables import Table, fmt

CASELOAD_BENCHMARK = 80
SEVERITIES = ("red", "yellow")


# --- pure -----------------------------------------------------------------------------------

def nearest_rank(values: list[float], q: float) -> float | None:
    """The q-th percentile (0 < q <= 100) by the nearest-rank method: the smallest value with at
    least q % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1]


def followed_days(starts: list[date], first: date, end: date) -> int:
    """Days in [first, end) each patient was followed (from their start), summed."""
    return sum(max((end - max(first, s)).days, 0) for s in starts)


@dataclass(frozen=True)
class AlertTimes:
    rule_key: str
    severity: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class ResponseTime:
    severity: str
    measure: str  # "acknowledge" or "resolve"
    alerts: int
    waiting: int  # not yet acknowledged / resolved
    median_minutes: float | None
    p90_minutes: float | None


def response_times(alerts: list[AlertTimes]) -> list[ResponseTime]:
    rows = []
    for severity in SEVERITIES:
        of = [a for a in alerts if a.severity == severity]
        for measure in ("acknowledge", "resolve"):
            minutes = []
            for a in of:
                done = (a.acknowledged_at or a.resolved_at) if measure == "acknowledge" else a.resolved_at
                if done is not None:
                    minutes.append((done - a.opened_at).total_seconds() / 60)
            rows.append(ResponseTime(severity, measure, len(of), len(of) - len(minutes),
                                     statistics.median(minutes) if minutes else None, nearest_rank(minutes, 90)))
    return rows


def burden(alerts: list[AlertTimes], patient_days: int) -> list[tuple[str, int, float | None]]:
    """(rule, alerts, alerts per patient-week), most alerts first."""
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a.rule_key] = counts.get(a.rule_key, 0) + 1
    weeks = patient_days / 7
    return [(rule, n, n / weeks if weeks else None) for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def outcomes(alerts: list[AlertTimes]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for a in alerts:
        if a.resolved_at is not None:
            counts[a.outcome or "none"] = counts.get(a.outcome or "none", 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# --- loading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caseload:
    team_id: int
    team: str
    patients: int
    nurses: int

    @property
    def per_nurse(self) -> float | None:
        return self.patients / self.nurses if self.nurses else None


@dataclass(frozen=True)
class ServiceFigures:
    first: date
    end: date  # exclusive
    patients: int
    patient_days: int
    alerts: list[AlertTimes]
    titles: dict[str, dict]  # rule key -> the newest alert's bilingual title
    adherence: checklist.Adherence
    caseloads: list[Caseload]

    @property
    def days(self) -> int:
        return (self.end - self.first).days


def service_figures(session: Session, clock: Clock, patients: list[Patient], days: int,
                    tz: str = "Europe/Oslo") -> ServiceFigures:
    now = clock.now()
    end = local_date_of(now, tz)
    first = end - timedelta(days=days)
    start_at, end_at = local_day_bounds(first, tz)[0], local_day_bounds(end, tz)[0]
    ids = [p.id for p in patients]
    starts = [local_date_of(p.followed_since, p.time_zone) for p in patients]
    alerts, titles = [], {}
    for chunk in range(0, len(ids), 1000):  # the columns only: a team's alerts are not built as ORM objects
        for a in session.execute(select(Alert.rule_key, Alert.severity, Alert.opened_at,  # type: ignore[call-overload]
                                        Alert.acknowledged_at, Alert.resolved_at, Alert.outcome, Alert.title)
                                 .where(among_ids(session, col(Alert.patient_id), ids[chunk:chunk + 1000]),
                                        Alert.opened_at >= start_at, Alert.opened_at < end_at)
                                 .order_by(col(Alert.opened_at), col(Alert.id))):
            alerts.append(AlertTimes(a.rule_key, a.severity, a.opened_at, a.acknowledged_at, a.resolved_at, a.outcome))
            titles[a.rule_key] = a.title
    return ServiceFigures(first, end, len(patients), followed_days(starts, first, end), alerts, titles,
                          adherence_days.adherence_over(session, now, patients, days), _caseloads(session, patients))


def _caseloads(session: Session, patients: list[Patient]) -> list[Caseload]:
    team_ids = sorted({p.team_id for p in patients})
    if not team_ids:
        return []
    names = dict(session.exec(select(col(Team.id), col(Team.name)).where(col(Team.id).in_(team_ids))).all())
    load = dict(session.exec(select(col(Patient.team_id), func.count(col(Patient.id)))
                             .where(col(Patient.team_id).in_(team_ids), col(Patient.status) != PatientStatus.ENDED.value)
                             .group_by(col(Patient.team_id))).all())
    nurses = dict(session.exec(select(TeamMembership.team_id, func.count(func.distinct(TeamMembership.account_id)))
                               .where(col(TeamMembership.team_id).in_(team_ids), col(TeamMembership.role) == Role.NURSE.value)
                               .group_by(col(TeamMembership.team_id))).all())
    return [Caseload(t, names[t], load.get(t, 0), nurses.get(t, 0)) for t in team_ids]


# --- tables -----------------------------------------------------------------------------------

def tables(figures: ServiceFigures) -> list[Table]:
    """The figures as tables (the page shows them, the CSV export writes them)."""
    burden_rows = [{"rule": rule, "alerts": str(n), "patient_weeks": fmt(figures.patient_days / 7, 1),
                    "per_patient_week": fmt(rate, 3)} for rule, n, rate in burden(figures.alerts, figures.patient_days)]
    time_rows = [{"severity": r.severity, "measure": r.measure, "alerts": str(r.alerts), "waiting": str(r.waiting),
                  "median_minutes": fmt(r.median_minutes, 1), "p90_minutes": fmt(r.p90_minutes, 1)}
                 for r in response_times(figures.alerts)]
    resolved = sum(n for _o, n in outcomes(figures.alerts))
    outcome_rows = [{"outcome": o, "alerts": str(n), "share": fmt(100 * n / resolved, 1)}
                    for o, n in outcomes(figures.alerts)]
    a = figures.adherence
    adherence_rows = [{"kind": kind.value, "expected": str(a.expected.get(kind, 0)), "done": str(a.done.get(kind, 0)),
                       "rate": fmt(None if (rate := a.rate_of(kind)) is None else 100 * rate, 1)}
                      for kind in ReportKind if a.expected.get(kind)]
    adherence_rows.append({"kind": "all", "expected": str(a.total_expected), "done": str(sum(a.done.values())),
                           "rate": fmt(None if a.rate is None else 100 * a.rate, 1)})
    caseload_rows = [{"team": c.team, "patients": str(c.patients), "nurses": str(c.nurses),
                      "per_nurse": fmt(c.per_nurse, 1), "benchmark": str(CASELOAD_BENCHMARK)}
                     for c in figures.caseloads]
    return [
        Table("alert_burden", ("rule", "alerts", "patient_weeks", "per_patient_week"), burden_rows),
        Table("response_times", ("severity", "measure", "alerts", "waiting", "median_minutes", "p90_minutes"),
              time_rows),
        Table("alert_outcomes", ("outcome", "alerts", "share"), outcome_rows),
        Table("adherence", ("kind", "expected", "done", "rate"), adherence_rows),
        Table("caseload", ("team", "patients", "nurses", "per_nurse", "benchmark"), caseload_rows),
    ]

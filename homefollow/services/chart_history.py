"""A patient's measurements as charts, one per item: the same for the patient's "My
measurements" and the team's patient page (docs/charts.md).

Each reading keeps the zone it had when it was measured — what the patient was told and the
team acted on — not the zone today's plan would give it: the report stores its zone, and for
blood pressure (whose report stores the worse of its two values) each value is classified by
the limits of the plan version the report remembers. The bands drawn are today's plan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup
from sqlmodel import Session, col, select

from rules.measurements import ITEMS, MeasurementItem
from rules.zones import ZoneLimits, classify

from ..charts import Point, Series, render_chart
from ..i18n import t
from ..models import CarePlan, Patient, Report, ReportKind
from . import evaluation, plans, reporting


@dataclass(frozen=True)
class ItemChart:
    item: MeasurementItem
    chart: Markup
    rows: list[tuple[Report, dict[str, float]]]  # the readings with their values, newest first


@dataclass(frozen=True)
class History:
    charts: list[ItemChart]  # the plan's items first, then any other item reported in the period
    answers: list[tuple[Report, dict[str, float]]]  # check-ins, questionnaires and tasks, newest first
    who: dict[int, str | None]  # report id → who reported it (reporting.reporters)


def history(session: Session, patient: Patient, content: plans.PlanContent, *, end: datetime, days: int,
            locale: str, id_prefix: str = "") -> History:
    start = end - timedelta(days=days)
    # A report made this very second counts (the query's end is exclusive).
    reports = reporting.reports_between(session, patient.id, start, end + timedelta(seconds=1))
    measurements = [(r, v) for r, v in reports if r.kind == ReportKind.MEASUREMENT.value]
    limits = _limits(session, content)
    then = _limits_by_version(session, patient.id, {r.plan_version for r, _v in measurements})
    planned = [m.item for m in content.measurements]
    reported = [key for key in ITEMS if key not in planned and any(r.item_key == key for r, _v in measurements)]
    charts = []
    for item_key in planned + reported:
        item = ITEMS[item_key]
        rows = [(r, v) for r, v in measurements if r.item_key == item_key]
        series = [Series(code, [Point(r.measured_at, v[code], _zone_then(r, code, v[code], then)) for r, v in rows
                                if code in v]) for code in item.codes]
        chart = render_chart(series, start=start, end=end, tz=patient.time_zone, locale=locale, limits=limits,
                             title=t(locale, "%(measurement)s, last %(days)s days", measurement=item.name(locale),
                                     days=days),
                             id_prefix=f"{id_prefix}{item_key}{days}")
        charts.append(ItemChart(item, chart, list(reversed(rows))))
    answers = [(r, v) for r, v in reversed(reports) if r.kind != ReportKind.MEASUREMENT.value]
    return History(charts, answers, reporting.reporters(session, patient, [r for r, _v in reports]))


def _limits(session: Session, content: plans.PlanContent) -> dict[str, ZoneLimits]:
    return evaluation.personal_zone_limits(evaluation.assigned_rules(session, content, strict=False))


def _limits_by_version(session: Session, patient_id: int, versions: set[int | None]) -> dict[int, dict]:
    """The personal limits of each of these plan versions (one query)."""
    versions.discard(None)
    if not versions:
        return {}
    return {plan.version: _limits(session, plans.PlanContent.model_validate(plan.content)) for plan in session.exec(
        select(CarePlan).where(CarePlan.patient_id == patient_id, col(CarePlan.version).in_(versions)))}


def _zone_then(report: Report, code: str, value: float, then: dict[int, dict]) -> str | None:
    """The zone this value had when it was measured."""
    if len(ITEMS[report.item_key].codes) == 1 and report.zone is not None:
        return report.zone
    limits = then.get(report.plan_version, {}) if report.plan_version is not None else {}  # no version: no limits
    found = classify(code, value, limits[code]) if code in limits else None
    return found.zone.value if found else None

"""Reporting a measurement: store it, decide its zone from the plan, raise alerts — in one
transaction. The zone and the plan's instruction are returned at once, so the patient never
waits for a worker to learn what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from rules.measurements import ITEMS, check_item_plausible, round_value
from rules.text import Text, both, value_with_unit
from rules.zones import Zone, ZoneResult, classify_item

from ..clock import Clock
from ..models import Account, CarePlan, Measurement, Patient, RelativeAccess, Report, ReportSource
from . import alerts, audit, plans


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    values: dict[str, float]
    zone: Zone | None  # None: the plan sets no limits for this measurement
    results: list[ZoneResult]
    instruction: str  # the plan's own words for this zone ("" if the plan has none)
    replayed: bool  # True when this was a repeated submission of an earlier report


def zone_rule_key(item_key: str) -> str:
    """The alert key for a plan's zone limits on one measurement."""
    return f"zones.{item_key}"


def report_measurement(
    session: Session,
    clock: Clock,
    *,
    patient: Patient,
    item_key: str,
    values: dict[str, float],
    idempotency_key: str,
    reported_by_account_id: int | None,
    actor_kind: str,
    source: ReportSource = ReportSource.PORTAL,
    measured_at: datetime | None = None,
    ip: str | None = None,
) -> ReportOutcome:
    """Store one report and act on it. Commits.

    Raises rules.measurements.ImplausibleValue for values that cannot be real readings; the
    caller shows the message and keeps the form. A repeated idempotency key returns the
    first report's outcome and stores nothing.
    """
    item = ITEMS[item_key]
    values = {code: round_value(code, values[code]) for code in item.codes}
    check_item_plausible(item_key, values)

    existing = _existing(session, patient.id, idempotency_key)
    if existing is not None:
        return outcome_of(session, existing, replayed=True)

    now = clock.now()
    content, plan_version = plans.current_content(session, patient.id)
    plan_item = content.measurement(item_key)
    results = classify_item(values, plan_item.limits if plan_item else {})
    zone = Zone.worst(r.zone for r in results)

    report = Report(
        patient_id=patient.id,
        item_key=item_key,
        idempotency_key=idempotency_key,
        source=source.value,
        reported_by_account_id=reported_by_account_id,
        reported_at=now,
        measured_at=measured_at or now,
        zone=zone.value if zone else None,
        plan_version=plan_version,
    )
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:
        # The same submission arrived twice at the same moment; the other one won.
        session.rollback()
        return outcome_of(session, _existing(session, patient.id, idempotency_key), replayed=True)
    for code, value in values.items():
        session.add(Measurement(report_id=report.id, patient_id=patient.id, code=code, value=value,
                                measured_at=report.measured_at))

    if zone in (Zone.YELLOW, Zone.RED):
        crossed = [r for r in results if r.zone == zone]
        alerts.raise_finding(session, clock, patient, alerts.RaisedFinding(
            rule_key=zone_rule_key(item_key),
            rule_version=plan_version or 0,
            severity=zone,
            value_text=_values_text(item_key, values),
            threshold_text=_join(r.threshold_text for r in crossed),
            explanation=_join(r.explanation for r in crossed),
            report_id=report.id,
        ))

    audit.record(session, clock, actor_account_id=reported_by_account_id, actor_kind=actor_kind,
                 action="report.create", patient_id=patient.id, object_type="report", object_id=report.id,
                 ip=ip, item=item_key, source=source.value)
    session.commit()
    instruction = plan_item.patient_actions.for_zone(zone) if (plan_item and zone) else ""
    return ReportOutcome(report, values, zone, results, instruction, replayed=False)


def _existing(session: Session, patient_id: int, idempotency_key: str) -> Report | None:
    return session.exec(
        select(Report).where(Report.patient_id == patient_id, Report.idempotency_key == idempotency_key)
    ).first()


def outcome_of(session: Session, report: Report, *, replayed: bool = False) -> ReportOutcome:
    """Rebuild what the patient saw for a stored report (result page, repeated submits).

    The zone is the one decided when the report was made; the instruction is read from the
    plan version that decided it."""
    values = {m.code: m.value for m in session.exec(select(Measurement).where(Measurement.report_id == report.id))}
    zone = Zone(report.zone) if report.zone else None
    instruction = ""
    results: list[ZoneResult] = []
    plan = None
    if report.plan_version is not None:
        plan = session.exec(
            select(CarePlan).where(CarePlan.patient_id == report.patient_id, CarePlan.version == report.plan_version)
        ).first()
    if plan is not None:
        content = plans.PlanContent.model_validate(plan.content)
        plan_item = content.measurement(report.item_key)
        if plan_item is not None:
            results = classify_item(values, plan_item.limits)
            if zone is not None:
                instruction = plan_item.patient_actions.for_zone(zone)
    return ReportOutcome(report, values, zone, results, instruction, replayed=replayed)


def _values_text(item_key: str, values: dict[str, float]) -> Text:
    if item_key == "blood_pressure":
        return both(lambda loc: f"{value_with_unit('bp_systolic', values['bp_systolic'], loc).split()[0]}/"
                                f"{value_with_unit('bp_diastolic', values['bp_diastolic'], loc)}")
    return both(lambda loc: "; ".join(value_with_unit(c, v, loc) for c, v in values.items()))


def _join(texts) -> Text:
    texts = list(texts)
    return Text(nb="; ".join(x.nb for x in texts), en="; ".join(x.en for x in texts))


def reporters(session: Session, patient: Patient, reports: list[Report]) -> dict[int, str | None]:
    """Who reported each report: None for the patient or a device, else the relative's
    relation to the patient ("datter") or, failing that, the reporter's name. Two queries."""
    account_ids = {r.reported_by_account_id for r in reports} - {None, patient.account_id}
    relations: dict[int, str] = {}
    if account_ids:
        for grant in session.exec(select(RelativeAccess).where(RelativeAccess.patient_id == patient.id,
                                                               RelativeAccess.relative_account_id.in_(account_ids))):
            relations[grant.relative_account_id] = grant.relation
        for account in session.exec(select(Account).where(Account.id.in_(account_ids - relations.keys()))):
            relations[account.id] = account.name
    return {r.id: relations.get(r.reported_by_account_id) for r in reports}

"""Reporting a measurement: store it, decide its zone from the plan, raise alerts — in one
transaction. The zone and the plan's instruction are returned at once, so the patient never
waits for a worker to learn what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from rules.measurements import ITEMS, ImplausibleValue, check_item_plausible, round_value
from rules.zones import Zone, classify_item

from ..clock import Clock
from ..models import Account, Measurement, Patient, RelativeAccess, Report, ReportSource
from . import audit, evaluation, plans


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    values: dict[str, float]
    zone: Zone | None  # None: none of the patient's rules watches this measurement
    instructions: list[str]  # what the plan tells the patient to do, in its own words
    replayed: bool  # True when this was a repeated submission of an earlier report

    @property
    def instruction(self) -> str:
        return "\n\n".join(self.instructions)


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
    """Store one report, run the patient's rules on it and tell what the plan says. Commits.

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
    if measured_at is not None and measured_at > now:
        # A device clock a little ahead must not hide a reading from the rules (they ignore the
        # future); a time far ahead is an error, not a reading.
        if measured_at > now + FUTURE_TOLERANCE:
            raise ImplausibleValue(item.codes[0], None, "measured_in_the_future")
        measured_at = now
    content, plan_version = plans.current_content(session, patient.id)
    report = Report(
        patient_id=patient.id,
        item_key=item_key,
        idempotency_key=idempotency_key,
        source=source.value,
        reported_by_account_id=reported_by_account_id,
        reported_at=now,
        measured_at=measured_at or now,
        plan_version=plan_version,
    )
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:
        # The same submission arrived twice at the same moment; the other one won.
        session.rollback()
        return outcome_of(session, _existing(session, patient.id, idempotency_key), replayed=True)
    measurements = [Measurement(report_id=report.id, patient_id=patient.id, code=code, value=value,
                                measured_at=report.measured_at) for code, value in values.items()]
    session.add_all(measurements)
    session.flush()

    new_refs = frozenset(f"m:{m.id}" for m in measurements)
    result = evaluation.evaluate_patient(session, clock, patient, new_refs=new_refs, report_id=report.id)
    zone, instruction_keys = _zone_and_instructions(result, values, new_refs)
    report.zone = zone.value if zone else None
    report.instructions = _instructions(content, item_key, zone, instruction_keys)
    report.team_alerted = result.alerted
    session.add(report)

    audit.record(session, clock, actor_account_id=reported_by_account_id, actor_kind=actor_kind,
                 action="report.create", patient_id=patient.id, object_type="report", object_id=report.id,
                 ip=ip, item=item_key, source=source.value)
    session.commit()
    return ReportOutcome(report, values, zone, report.instructions, replayed=False)


def _zone_and_instructions(result, values: dict[str, float], new_refs: frozenset[str]) -> tuple[Zone | None, list[str]]:
    """The patient's zone for this report: the worst of each value against the personal zone
    limits and of every rule that now fires on these readings (a weight gain over three days).
    Green when the patient's rules watch these values and none objects; None when none does."""
    limits = evaluation.personal_zone_limits(result.assigned)
    zones = [r.zone for r in classify_item(values, limits)]
    keys = []
    for ev in result.results.values():
        if ev.findings and new_refs & set(ev.findings[0].observation_refs):
            zones.append(Zone(ev.findings[0].severity.value))
            keys.append((Zone(ev.findings[0].severity.value), ev.findings[0].instruction_key))
    zone = Zone.worst(zones)
    if zone is None and evaluation.watched_codes(result.assigned) & set(values):
        zone = Zone.GREEN
    # Instructions of rules at the report's zone (a yellow trend beside a red reading would
    # only distract).
    return zone, [key for z, key in keys if z == zone]


def _instructions(content: plans.PlanContent, item_key: str, zone: Zone | None, rule_keys: list[str]) -> list[str]:
    if zone is None:
        return []
    texts = [content.instruction(f"{item_key}.{zone.value}")]
    texts += [content.instruction(key) for key in rule_keys]
    return list(dict.fromkeys(t for t in texts if t))  # in order, without repeats


FUTURE_TOLERANCE = timedelta(minutes=15)

# A report with the very same values this soon after another is more likely a repeat (the
# Back button, a second tap on a new form) than a new measurement: the patient is asked first.
REPEAT_WINDOW = timedelta(minutes=10)


def recent_same_report(session: Session, clock: Clock, *, patient_id: int, item_key: str,
                       values: dict[str, float], idempotency_key: str) -> Report | None:
    """An earlier report of the same measurement with the same values in the last minutes."""
    values = {code: round_value(code, v) for code, v in values.items()}
    candidates = session.exec(
        select(Report).where(Report.patient_id == patient_id, Report.item_key == item_key,
                             Report.reported_at >= clock.now() - REPEAT_WINDOW,
                             Report.idempotency_key != idempotency_key)
        .order_by(Report.reported_at.desc())
    ).all()
    for report in candidates:
        stored = {m.code: m.value for m in session.exec(select(Measurement).where(Measurement.report_id == report.id))}
        if stored == values:
            return report
    return None


def _existing(session: Session, patient_id: int, idempotency_key: str) -> Report | None:
    return session.exec(
        select(Report).where(Report.patient_id == patient_id, Report.idempotency_key == idempotency_key)
    ).first()


def outcome_of(session: Session, report: Report, *, replayed: bool = False) -> ReportOutcome:
    """What the patient was shown for a stored report (the result page, a repeated submit)."""
    values = {m.code: m.value for m in session.exec(select(Measurement).where(Measurement.report_id == report.id))}
    zone = Zone(report.zone) if report.zone else None
    return ReportOutcome(report, values, zone, list(report.instructions or []), replayed=replayed)


def recent_reports(session: Session, patient_id: int, limit: int = 10) -> list[tuple[Report, dict[str, float]]]:
    """The patient's latest reports with their values, newest first (two queries)."""
    reports = session.exec(select(Report).where(Report.patient_id == patient_id)
                           .order_by(Report.measured_at.desc(), Report.id.desc()).limit(limit)).all()
    values: dict[int, dict[str, float]] = {r.id: {} for r in reports}
    if reports:
        for m in session.exec(select(Measurement).where(Measurement.report_id.in_(list(values)))):
            values[m.report_id][m.code] = m.value
    return [(r, values[r.id]) for r in reports]


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

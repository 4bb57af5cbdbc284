"""Reporting a measurement: store it, decide its zone from the plan, raise alerts — in one
transaction. The zone and the plan's instruction are returned at once, so the patient never
waits for a worker to learn what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from babel.numbers import format_decimal

from rules import rule_codes
from rules.measurements import ITEMS, ImplausibleValue, check_item_plausible, round_value
from rules.schedule import local_date_of
from rules.text import both, item_values, moment
from rules.zones import Zone, classify_item

from .. import db, transactions
from ..clock import Clock
from ..i18n import N_, t
from ..models import Account, Measurement, Patient, RelativeAccess, Report, ReportKind, ReportSource
from ..questionnaires import QUESTIONNAIRES
from . import adherence_days, alerts, audit, evaluation, plans


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
    """Store one measurement, run the patient's rules on it and tell what the plan says. The
    edge commits (the request, the API call with what it stores beside the report, a job).

    Raises rules.measurements.ImplausibleValue for values that cannot be real readings; the
    caller shows the message and keeps the form. A repeated idempotency key returns the
    first report's outcome and stores nothing.
    """
    item = ITEMS[item_key]
    values = {code: round_value(code, values[code]) for code in item.codes}
    check_item_plausible(item_key, values)
    return _submit(session, clock, patient=patient, kind=ReportKind.MEASUREMENT, item_key=item_key, values=values,
                   idempotency_key=idempotency_key, reported_by_account_id=reported_by_account_id,
                   actor_kind=actor_kind, source=source, measured_at=measured_at, ip=ip)


def report_measurements(session: Session, clock: Clock, *, patient: Patient, items: dict[str, dict[str, float]],
                        idempotency_key: str, reported_by_account_id: int | None, actor_kind: str,
                        source: ReportSource = ReportSource.PORTAL, ip: str | None = None,
                        after_each=None) -> list[ReportOutcome]:
    """Several measurement items read off one device at once — blood pressure and pulse from one
    cuff, as the SMS "BT 135/85 P 72" sends them — each stored as its own report and judged on
    its own by the plan and the safety net: a red pulse beside a normal blood pressure is red
    and paged. Each is stored once for a repeated submission: the first item under
    `idempotency_key`, the others under `item_idempotency_key`. `after_each(outcome, item_key)`
    runs after each report (recording the units typed). The edge commits them together: a
    submission lands whole or not at all, and its sender sends it again under the same key."""
    outcomes = []
    for n, (item_key, values) in enumerate(items.items()):
        outcome = report_measurement(session, clock, patient=patient, item_key=item_key, values=values,
                                     idempotency_key=item_idempotency_key(idempotency_key, item_key, first=n == 0),
                                     reported_by_account_id=reported_by_account_id, actor_kind=actor_kind,
                                     source=source, ip=ip)
        if after_each is not None:
            after_each(outcome, item_key)
        outcomes.append(outcome)
    return outcomes


def item_idempotency_key(key: str, item_key: str, *, first: bool) -> str:
    """The idempotency key of one item of a submission of several (report_measurements)."""
    return key[:100] if first else f"{key[:100 - len(item_key) - 1]}:{item_key}"


def worst_first(outcomes: list[ReportOutcome]) -> list[ReportOutcome]:
    """The outcomes with the most urgent zone first (red before yellow before green before none),
    else in the order given: the result page leads with what the patient must act on."""
    return sorted(outcomes, key=lambda o: -(o.zone.rank if o.zone is not None else -1))


def report_questionnaire(session: Session, clock: Clock, *, patient: Patient, questionnaire_key: str,
                         answers: dict[str, int], idempotency_key: str, reported_by_account_id: int | None,
                         actor_kind: str, source: ReportSource = ReportSource.PORTAL,
                         ip: str | None = None) -> ReportOutcome:
    """Store a completed questionnaire; its scores are observations the rules read. The edge
    commits."""
    values = QUESTIONNAIRES[questionnaire_key].scores(answers)
    return _submit(session, clock, patient=patient, kind=ReportKind.QUESTIONNAIRE, item_key=questionnaire_key,
                   values=values, idempotency_key=idempotency_key, reported_by_account_id=reported_by_account_id,
                   actor_kind=actor_kind, source=source, ip=ip)


def report_task(session: Session, clock: Clock, *, patient: Patient, task_key: str, done: bool, comment: str | None,
                idempotency_key: str, reported_by_account_id: int | None, actor_kind: str,
                source: ReportSource = ReportSource.PORTAL, ip: str | None = None) -> ReportOutcome:
    """A self-care task done (1) or not (0), with an optional comment. The edge commits."""
    return _submit(session, clock, patient=patient, kind=ReportKind.TASK, item_key=task_key,
                   values={f"task.{task_key}": 1.0 if done else 0.0}, idempotency_key=idempotency_key,
                   reported_by_account_id=reported_by_account_id, actor_kind=actor_kind, source=source, ip=ip,
                   comment=(comment or "").strip()[:1000] or None)


def _submit(session: Session, clock: Clock, *, patient: Patient, kind: ReportKind, item_key: str,
            values: dict[str, float], idempotency_key: str, reported_by_account_id: int | None, actor_kind: str,
            source: ReportSource = ReportSource.PORTAL, measured_at: datetime | None = None, ip: str | None = None,
            comment: str | None = None) -> ReportOutcome:
    # The patient first (homefollow.transactions, the lock order): reports for one patient are
    # judged one after the other, and a repeated submission waits for the first and finds it.
    transactions.lock_patient(session, patient.id)
    now = clock.now()
    if measured_at is not None and measured_at > now:
        # A device clock a little ahead must not hide a reading from the rules (they ignore the
        # future); a time far ahead is an error, not a reading.
        if measured_at > now + FUTURE_TOLERANCE:
            raise ImplausibleValue(next(iter(values)), None, "measured_in_the_future")
        measured_at = now
    content, plan_version = plans.current_content(session, patient.id)
    report = _insert_unless_sent_before(session, Report(
        patient_id=patient.id,
        kind=kind.value,
        item_key=item_key,
        idempotency_key=idempotency_key,
        source=source.value,
        reported_by_account_id=reported_by_account_id,
        reported_at=now,
        measured_at=measured_at or now,
        plan_version=plan_version,
        comment=comment,
    ))
    if report is None:  # a repeated submission: what the first one stored and showed
        existing = _existing(session, patient.id, idempotency_key)
        assert existing is not None, "the key was taken under the patient's lock"
        return outcome_of(session, existing, replayed=True)
    if (day := local_date_of(report.measured_at, patient.time_zone)) < local_date_of(now, patient.time_zone):
        adherence_days.report_came_late(session, patient.id, day)
    measurements = [Measurement(report_id=report.id, patient_id=patient.id, code=code, value=value,
                                measured_at=report.measured_at) for code, value in values.items()]
    session.add_all(measurements)
    session.flush()

    new_refs = frozenset(f"m:{m.id}" for m in measurements)
    result = evaluation.evaluate_patient(session, clock, patient, new_refs=new_refs, report_id=report.id,
                                         content=content)
    zone, instruction_keys = _zone_and_instructions(result, values if kind == ReportKind.MEASUREMENT else {},
                                                    new_refs, set(values))
    report.zone = zone.value if zone else None
    report.instructions = _instructions(session, content, item_key if kind == ReportKind.MEASUREMENT else None,
                                        zone, instruction_keys, reported_by_account_id)
    report.team_alerted = result.alerted or (
        zone == Zone.RED and kind == ReportKind.MEASUREMENT
        and _tell_of_an_earlier_red_reading(session, clock, patient, report, item_key, values))
    if zone == Zone.YELLOW and not result.alerted:
        report.remeasure_by = _remeasure_by(result, set(values))
    session.add(report)

    audit.record(session, clock, actor_account_id=reported_by_account_id, actor_kind=actor_kind,
                 action="report.create", patient_id=patient.id, object_type="report", object_id=report.id,
                 ip=ip, kind=kind.value, item=item_key, source=source.value)
    session.flush()
    return ReportOutcome(report, values, zone, report.instructions, replayed=False)


EARLIER_RED_KEY = "safety.earlier_red"  # one open alert per patient


def _tell_of_an_earlier_red_reading(session: Session, clock: Clock, patient: Patient, report: Report, item_key: str,
                                    values: dict[str, float]) -> bool:
    """A red reading that no rule fired on: it was taken before the patient's newest reading of
    the same measurement (a device hub sending yesterday's readings after today's), and the
    rules judge how the patient is now by the newest. A dangerous value still reaches the team
    (clinical.md: no plan may silence it; HAZ-130): a yellow alert, paged as yellow, saying when
    it was taken and that a newer reading came before it. True when one was raised."""
    newer = session.exec(select(Measurement.id).where(
        Measurement.patient_id == patient.id, col(Measurement.code).in_(list(values)),
        Measurement.measured_at > report.measured_at).limit(1)).first()
    if newer is None:  # the newest reading: a rule that waits (a hold time) speaks for it
        return False

    def explanation(loc: str) -> str:
        return t(loc, "%(item)s %(value)s was measured %(when)s and is in the red zone. It arrived after a newer "
                      "reading, so the plan's rules judged the newer one. Check how the patient is now.",
                 item=ITEMS[item_key].name(loc), value=item_values(item_key, values, loc),
                 when=moment(report.measured_at, patient.time_zone, loc))

    alerts.raise_finding(session, clock, patient, alerts.RaisedFinding(
        alert_key=EARLIER_RED_KEY, rule_key=EARLIER_RED_KEY, rule_version=1, rule_version_id=None,
        title=both(lambda loc: t(loc, "Red reading that arrived late")), severity=Zone.YELLOW,
        value_text=both(lambda loc: item_values(item_key, values, loc)),
        threshold_text=both(lambda loc: t(loc, "red zone")), explanation=both(explanation),
        report_id=report.id))
    return True


def _zone_and_instructions(result, measured: dict[str, float], new_refs: frozenset[str],
                           codes: set[str]) -> tuple[Zone | None, list[str]]:
    """The patient's zone for this report: the worst of each measured value against the personal
    zone limits and of every rule that now fires on these readings or answers (a weight gain over
    three days, breathlessness at rest). Green when the patient's rules watch these codes and
    none objects; None when none does."""
    limits = evaluation.personal_zone_limits(result.assigned)
    zones = [r.zone for r in classify_item(measured, limits)]
    keys = []
    for ev in result.results.values():
        if ev.findings and new_refs & set(ev.findings[0].observation_refs):
            zones.append(Zone(ev.findings[0].severity.value))
            keys.append((Zone(ev.findings[0].severity.value), ev.findings[0].instruction_key))
    zone = Zone.worst(zones)
    if zone is None and evaluation.watches(result.assigned, codes):
        zone = Zone.GREEN
    # Instructions of rules at the report's zone (a yellow trend beside a red reading would
    # only distract).
    return zone, [key for z, key in keys if z == zone]


def _remeasure_by(result, codes: set[str]) -> datetime | None:
    """When a single yellow reading must be confirmed (a rule waits for a re-measurement of one
    of these codes), the time by which the patient is asked to measure again; without a new
    reading by then the team is told (rules: n_of_m confirm_within)."""
    waits = []
    for a in result.assigned:
        detail = result.results[a.definition.key].state.detail
        if detail.get("confirm_by") and codes & set(rule_codes(a.definition.spec)):
            waits.append(datetime.fromisoformat(detail["confirm_by"]))
    return min(waits) if waits else None


# What the patient is told when the safety net raises an alert and the plan has no words of
# its own for it (the plan's instructions, by the rule's instruction key, come first).
SAFETY_INSTRUCTIONS = {
    "safety.red": N_("This value is dangerous. Call the care team now, or the emergency clinic (legevakt) on "
                     "116 117 when the team is closed. Call 113 if you have severe breathing problems or chest "
                     "pain, or feel very unwell."),
    "safety.checkin_red": N_("Call 113 now if you have chest pain, are very breathless at rest, have fainted or "
                             "are confused. Otherwise call the care team now, or the emergency clinic (legevakt) "
                             "on 116 117 when the team is closed."),
    "safety.yellow": N_("This value is outside what is safe. The care team has been told and will contact you. "
                        "If you get worse, call the care team, or the emergency clinic (legevakt) on 116 117 when "
                        "the team is closed."),
    "safety.checkin_worse": N_("You are worse than usual. The care team has been told and will contact you today. "
                               "If you get worse, call the care team, or the emergency clinic (legevakt) on 116 117 "
                               "when the team is closed."),
}


def _instructions(session: Session, content: plans.PlanContent, item_key: str | None, zone: Zone | None,
                  rule_keys: list[str], account_id: int | None) -> list[str]:
    if zone is None:
        return []
    texts = [content.instruction(f"{item_key}.{zone.value}")] if item_key else []
    texts += [content.instruction(key) for key in rule_keys]
    texts = [text for text in texts if text]
    if not texts:  # the plan has no words for this: the safety net's own advice
        safety = [key for key in rule_keys if key in SAFETY_INSTRUCTIONS]
        if safety:
            account = session.get(Account, account_id) if account_id else None
            texts = [t(account.locale if account else "nb", SAFETY_INSTRUCTIONS[key]) for key in safety]
    return list(dict.fromkeys(texts))  # in order, without repeats


FUTURE_TOLERANCE = timedelta(minutes=15)

# A report with the very same values this soon after another is more likely a repeat (the
# Back button, a second tap on a new form) than a new measurement: the patient is asked first.
REPEAT_WINDOW = timedelta(minutes=10)


def recent_same_report(session: Session, clock: Clock, *, patient_id: int, item_key: str,
                       values: dict[str, float], idempotency_key: str) -> Report | None:
    """An earlier report of the same measurement with the same values in the last minutes."""
    values = {code: round_value(code, v) for code, v in values.items()}
    stored: dict[int, dict[str, float]] = {}  # report id -> its values, the newest report first
    for report_id, code, value in session.exec(
            select(Report.id, Measurement.code, Measurement.value).join(Measurement, col(Measurement.report_id) == Report.id)
            .where(Report.patient_id == patient_id, Report.item_key == item_key,
                   Report.reported_at >= clock.now() - REPEAT_WINDOW, Report.idempotency_key != idempotency_key)
            .order_by(col(Report.reported_at).desc(), col(Report.id).desc())):
        stored.setdefault(report_id, {})[code] = value
    same = next((report_id for report_id, found in stored.items() if found == values), None)
    return session.get(Report, same) if same is not None else None


def latest_report(session: Session, patient_id: int, kind: str, item_key: str) -> Report | None:
    return session.exec(select(Report).where(Report.patient_id == patient_id, Report.kind == kind,
                                             Report.item_key == item_key)
                        .order_by(col(Report.reported_at).desc(), col(Report.id).desc()).limit(1)).first()


def _insert_unless_sent_before(session: Session, report: Report) -> Report | None:
    """Store the report, unless its patient has one under the same idempotency key (then None):
    INSERT … ON CONFLICT DO NOTHING RETURNING, one statement where a look first would be two.
    The report joins the session as the row stored, so what is set on it later is an UPDATE."""
    row = report.model_dump(exclude={"id"})
    report_id = session.execute(db.insert_unless_taken(session, Report, index=("patient_id", "idempotency_key"))
                                .values(**row).returning(col(Report.id))).scalar()
    if report_id is None:
        return None
    report.id = report_id
    make_transient_to_detached(report)
    session.add(report)
    return report


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
                           .order_by(col(Report.measured_at).desc(), col(Report.id).desc()).limit(limit)).all()
    return _with_values(session, reports)


def reports_between(session: Session, patient_id: int, start: datetime, end: datetime) -> list[tuple[Report, dict]]:
    """The patient's reports in a period with their values, oldest first (two queries)."""
    reports = session.exec(select(Report).where(Report.patient_id == patient_id, Report.measured_at >= start,
                                                Report.measured_at < end)
                           .order_by(col(Report.measured_at), col(Report.id))).all()
    return _with_values(session, reports)


def _with_values(session: Session, reports) -> list[tuple[Report, dict[str, float]]]:
    values: dict[int, dict[str, float]] = {r.id: {} for r in reports}
    if reports:
        for m in session.exec(select(Measurement).where(col(Measurement.report_id).in_(list(values)))):
            values[m.report_id][m.code] = m.value
    return [(r, values[r.id]) for r in reports]


def reporters(session: Session, patient: Patient, reports: list[Report]) -> dict[int, str | None]:
    """Who reported each report: None for the patient or a device, else the relative's
    relation to the patient ("datter") or, failing that, the reporter's name. Two queries."""
    account_ids = {r.reported_by_account_id for r in reports} - {None, patient.account_id}
    relations: dict[int, str] = {}
    if account_ids:
        for grant in session.exec(select(RelativeAccess).where(RelativeAccess.patient_id == patient.id,
                                                               col(RelativeAccess.relative_account_id).in_(account_ids))):
            relations[grant.relative_account_id] = grant.relation
        for account in session.exec(select(Account).where(col(Account.id).in_(account_ids - relations.keys()))):
            relations[account.id] = account.name
    return {r.id: relations.get(r.reported_by_account_id) if r.reported_by_account_id is not None else None
            for r in reports}


def report_title(kind: str, key: str, content: plans.PlanContent, locale: str) -> str:
    """What a report is called: the measurement, the questionnaire, or the plan's task text."""
    if kind == ReportKind.QUESTIONNAIRE.value:
        return t(locale, QUESTIONNAIRES[key].title) if key in QUESTIONNAIRES else key
    if kind == ReportKind.TASK.value:
        task = content.task(key)
        return task.text if task else key
    return ITEMS[key].name(locale) if key in ITEMS else key


def report_summary(report: Report, values: dict[str, float], locale: str) -> str:
    """The report in words: '142/91 mmHg'; 'Done – felt good'; for a questionnaire its total,
    and the answers that differ from usual ('Breathlessness: More than usual')."""
    if report.kind == ReportKind.TASK.value:
        done = next(iter(values.values()), 1.0) == 1.0
        text = t(locale, "done") if done else t(locale, "not done")
        return f"{text} – {report.comment}" if report.comment else text
    if report.kind == ReportKind.QUESTIONNAIRE.value:
        questionnaire = QUESTIONNAIRES.get(report.item_key)
        if questionnaire is None:
            return ""
        parts = []
        if questionnaire.total_code and questionnaire.total_code in values:
            parts.append(t(locale, "Total %(total)s", total=format_decimal(values[questionnaire.total_code],
                                                                            locale=locale)))
        else:
            for question in questionnaire.questions:
                value = values.get(question.code)
                if value:  # 0 is "as usual"
                    option = next((o for o in question.options if o.value == value), None)
                    parts.append(f"{t(locale, question.short_name)}: {t(locale, option.label) if option else value}")
            if not parts:
                parts.append(t(locale, "As usual in every answer"))
        return "; ".join(parts)
    return item_values(report.item_key, values, locale) if report.item_key in ITEMS else ""

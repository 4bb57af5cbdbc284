"""Running a patient's rules: on every report (same transaction) and from the scheduler.

The plan names the rules and the patient's own parameters; the rule book gives each rule's
active version; the engine in rules/ does the judging. Here we load what the engine needs,
store the states it returns (so a restart never forgets a pending condition) and turn its
findings into alerts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from rules import (EvaluationContext, Observation, ParameterError, Parameters, RuleDefinition, RuleState,
                   evaluate_all, resolve_parameters, rule_codes, zone_limits)
from rules.model import MissedCheckinSpec
from rules.measurements import ITEMS
from rules.zones import Zone, ZoneLimits

from ..clock import Clock
from ..models import Measurement, Patient, PatientStatus, RuleState as RuleStateRow, RuleVersion
from . import alerts, rulebook
from .plans import PlanContent, current_content

log = logging.getLogger(__name__)

# Readings older than this are not passed to the engine: longer than any rule's window, and a
# computed baseline is kept in the rule's state once the trial period is over.
HISTORY = timedelta(days=90)
# A patient's rules claimed by a sweep are not taken by another sweep for this long.
SWEEP_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class AssignedRule:
    version: RuleVersion
    definition: RuleDefinition
    parameters: Parameters


class PlanRulesInvalid(ValueError):
    """The plan names rules that do not exist or gives them parameters they do not accept."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        super().__init__("; ".join(f"{key} {name}: {reason}" for key, name, reason in problems))
        self.problems = problems  # (rule key, parameter name, reason)


def derived_parameters(definition: RuleDefinition, content: PlanContent) -> dict:
    """Parameters the plan gives a rule without naming them again: a missed-check-in rule that
    watches the codes of exactly one planned measurement follows that measurement's schedule."""
    spec = definition.spec
    if not isinstance(spec, MissedCheckinSpec):
        return {}
    matches = [m for m in content.measurements
               if m.schedule is not None and set(spec.codes) <= set(ITEMS[m.item].codes)]
    if len(matches) != 1:
        return {}
    m = matches[0]
    return {"schedule": m.schedule.model_dump(mode="json"), "grace": timedelta(minutes=m.grace_minutes)}


def assigned_rules(session: Session, content: PlanContent, *, strict: bool = True) -> list[AssignedRule]:
    """The plan's rules at their active versions with the patient's parameters.

    Raises PlanRulesInvalid listing every problem, so a plan editor can show them all. With
    strict=False a rule that cannot be used (e.g. retired under a stored plan) is logged and
    left out, so the patient's other rules still run."""
    versions = rulebook.active_versions(session, [r.key for r in content.rules])
    assigned, problems = [], []
    for entry in content.rules:
        version = versions.get(entry.key)
        if version is None:
            problems.append((entry.key, "", "no active version of this rule"))
            continue
        definition = rulebook.definition_of(version)
        overrides = {**derived_parameters(definition, content), **entry.parameters}
        try:
            parameters = resolve_parameters(definition, overrides)
        except ParameterError as exc:
            problems.extend((entry.key, name, reason) for name, reason in exc.problems)
            continue
        assigned.append(AssignedRule(version, definition, parameters))
    if problems and strict:
        raise PlanRulesInvalid(problems)
    if problems:
        log.error("plan rules left out: %s", PlanRulesInvalid(problems))
    return assigned


def personal_zone_limits(assigned: list[AssignedRule]) -> dict[str, ZoneLimits]:
    return zone_limits((a.definition, a.parameters) for a in assigned)


def watched_codes(assigned: list[AssignedRule]) -> set[str]:
    return {code for a in assigned for code in rule_codes(a.definition.spec) if "*" not in code}


def observations(session: Session, patient_id: int, since: datetime) -> list[Observation]:
    rows = session.exec(
        select(Measurement.id, Measurement.code, Measurement.value, Measurement.measured_at)
        .where(Measurement.patient_id == patient_id, Measurement.measured_at >= since)
    ).all()
    return [Observation(code, value, at, f"m:{mid}") for mid, code, value, at in rows]


def context_for(patient: Patient) -> EvaluationContext:
    return EvaluationContext(tz=patient.time_zone, active_since=patient.monitoring_since or patient.created_at)


@dataclass(frozen=True)
class PatientEvaluation:
    assigned: list[AssignedRule]
    results: dict  # rule key -> rules.Evaluation
    alerted: bool  # an alert was opened or updated


def evaluate_patient(session: Session, clock: Clock, patient: Patient, *, new_refs: frozenset[str] = frozenset(),
                     report_id: int | None = None) -> PatientEvaluation:
    """Evaluate all the patient's rules now, store their states and raise alerts. Does not commit.

    A finding updates the patient's alert when the rule starts firing, when it rests on one of
    the readings just reported (`new_refs`), or when what it says has changed (a second missed
    check-in) — not on every sweep while a condition simply persists."""
    now = clock.now()
    content, _version = current_content(session, patient.id)
    assigned = assigned_rules(session, content, strict=False)
    rows = {s.rule_key: s for s in session.exec(select(RuleStateRow).where(RuleStateRow.patient_id == patient.id))}
    states = {key: RuleState.model_validate(row.state) for key, row in rows.items()}
    results = evaluate_all(
        [a.definition for a in assigned],
        {a.definition.key: a.parameters for a in assigned},
        observations(session, patient.id, now - HISTORY),
        states,
        now,
        context_for(patient),
    )
    for a in assigned:
        key = a.definition.key
        result = results[key]
        _store_state(session, rows.get(key), patient.id, a.version, result.state, now)
        if not result.findings and result.stopped_firing:
            open_alert = alerts.open_alert_for(session, patient.id, a.definition.alert_key)
            if open_alert is not None:
                alerts.add_event(session, clock, open_alert, "condition_cleared", rule_key=key,
                                 summary=result.state.summary.as_dict() if result.state.summary else None)
    alerted = False
    for a, result in _most_severe_per_alert(assigned, results):
        alerted |= _raise(session, clock, patient, a, result, new_refs, report_id)
    return PatientEvaluation(assigned, results, alerted)


def _most_severe_per_alert(assigned: list[AssignedRule], results: dict) -> list:
    """One finding per alert key: when a red and a yellow rule of a group both fire on the same
    reading, the alert carries the red one's explanation."""
    best: dict[str, tuple[AssignedRule, object]] = {}
    for a in assigned:
        result = results[a.definition.key]
        if not result.findings:
            continue
        key = a.definition.alert_key
        if key not in best or result.findings[0].severity.rank > best[key][1].findings[0].severity.rank:
            best[key] = (a, result)
    return list(best.values())


def _store_state(session: Session, row: RuleStateRow | None, patient_id: int, version: RuleVersion,
                 state: RuleState, now: datetime) -> None:
    if row is None:
        row = RuleStateRow(patient_id=patient_id, rule_key=state.rule_key, rule_version_id=version.id,
                           status=state.status.value, state={}, updated_at=now)
    row.rule_version_id = version.id
    row.status = state.status.value
    row.state = state.model_dump(mode="json")
    row.next_due_at = state.next_due_at
    row.updated_at = now
    session.add(row)


def _raise(session: Session, clock: Clock, patient: Patient, a: AssignedRule, result, new_refs, report_id) -> bool:
    """Open or update the alert, but only for something new: the rule has just started firing,
    the finding rests on a reading just reported, or it says something else than the last alert
    did (a second missed check-in). A condition that merely persists after a nurse resolved its
    alert does not reopen it; the next reading or the next missed check-in will."""
    finding = result.findings[0]
    last = alerts.latest_alert_for(session, patient.id, a.definition.alert_key)
    news = bool(new_refs & set(finding.observation_refs))
    changed = last is None or last.explanation != finding.explanation.as_dict()
    if not (result.started_firing or news or changed):
        return False
    alerts.raise_finding(session, clock, patient, alerts.RaisedFinding(
        alert_key=a.definition.alert_key,
        rule_key=a.definition.key,
        rule_version=a.definition.version,
        rule_version_id=a.version.id,
        title=a.definition.title.text(),
        severity=Zone(finding.severity.value),
        value_text=finding.value_text,
        threshold_text=finding.threshold_text,
        explanation=finding.explanation,
        report_id=report_id if news else None,
    ))
    return True


# ---- the scheduler's sweep ------------------------------------------------------------------

def due_patients(session: Session, clock: Clock, limit: int) -> list[int]:
    return list(session.exec(
        select(RuleStateRow.patient_id)
        .join(Patient, Patient.id == RuleStateRow.patient_id)
        .where(RuleStateRow.next_due_at <= clock.now(), Patient.status == PatientStatus.ACTIVE.value)
        .group_by(RuleStateRow.patient_id)
        .order_by(RuleStateRow.patient_id)
        .limit(limit)
    ).all())


def claim_patient(session: Session, clock: Clock, patient_id: int) -> bool:
    """Take a patient's due rules for evaluation: the update that moves their due times a
    lease ahead succeeds for one process only. If that process dies, the lease runs out and
    another sweep takes them. Commits."""
    now = clock.now()
    result = session.execute(
        update(RuleStateRow)
        .where(RuleStateRow.patient_id == patient_id, RuleStateRow.next_due_at <= now)
        .values(next_due_at=now + SWEEP_LEASE)
    )
    session.commit()
    return result.rowcount > 0


@dataclass
class SweepResult:
    evaluated: int = 0
    skipped: int = 0
    failed: int = 0


def sweep_due_rules(session: Session, clock: Clock, limit: int = 500) -> SweepResult:
    """Evaluate every patient with a rule whose next_due_at has passed (hold times ending,
    check-ins missed, readings going stale). Safe to run in several processes at once."""
    result = SweepResult()
    for patient_id in due_patients(session, clock, limit):
        if not claim_patient(session, clock, patient_id):
            result.skipped += 1
            continue
        try:
            evaluate_patient(session, clock, session.get(Patient, patient_id))
            session.commit()
            result.evaluated += 1
        except Exception:  # one patient's failure must not stop the others; the lease retries it
            session.rollback()
            log.exception("evaluating patient %s failed", patient_id)
            result.failed += 1
    return result

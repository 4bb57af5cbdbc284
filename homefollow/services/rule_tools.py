"""Tools for tuning a patient's rules: backtests and baseline calibration.

Backtest: "what would this rule version have raised for this patient (or for every patient
whose plan uses it, or every patient on a plan template) over the last N days?" Calibration: personal zone limits proposed from
the trial period, for a nurse to approve into the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from collections.abc import Callable, Iterable

from sqlmodel import Session, select, col

from rules import BacktestAlert, LimitProposal, RuleDefinition, backtest_days, propose_limits, resolve_parameters
from rules.zones import ZoneLimits

from ..clock import Clock
from ..models import Patient, PatientStatus
from . import evaluation, rulebook
from .plans import PlanContent, current_content, current_contents, current_template_ids

# The national model's trial period: 2–4 weeks of daily readings to learn the patient's normal.
TRIAL_PERIOD = timedelta(days=14)


class RuleNotFound(LookupError):
    pass


@dataclass(frozen=True)
class PatientBacktest:
    patient: Patient
    definition: RuleDefinition
    parameters: dict  # the patient's parameters that were used (overrides only)
    alerts: list[BacktestAlert]


def rule_definition(session: Session, key: str, version: int | None = None) -> RuleDefinition:
    found = rulebook.find_version(session, key, version)
    if found is None:
        raise RuleNotFound(f"no {'active version' if version is None else f'version {version}'} of rule {key}")
    return rulebook.definition_of(found)


def backtest_patient(session: Session, clock: Clock, patient: Patient, key: str, *, version: int | None = None,
                     parameters: dict | None = None, days: int = 30) -> PatientBacktest:
    """Replay the last `days` days through a rule version. Without `parameters`, the patient's
    own parameters from the plan are used (and what the plan derives, like check-in times)."""
    content, _version = current_content(session, patient.id)
    return _replay(session, clock, patient, rule_definition(session, key, version), content, parameters, days)


def _replay(session: Session, clock: Clock, patient: Patient, definition: RuleDefinition, content: PlanContent,
            parameters: dict | None, days: int) -> PatientBacktest:
    if parameters is None:
        assigned = next((r for r in content.rules if r.key == definition.key), None)
        parameters = dict(assigned.parameters) if assigned else {}
    overrides = {**evaluation.derived_parameters(definition, content), **parameters}
    resolved = resolve_parameters(definition, overrides)
    now = clock.now()
    history = evaluation.observations(session, patient.id, now - timedelta(days=days) - evaluation.HISTORY)
    alerts = backtest_days(definition, resolved, history, now, days, evaluation.context_for(patient))
    return PatientBacktest(patient, definition, resolved.overrides_json(), alerts)


# Followed patients: an admitted (paused) patient's days before admission count in a backtest.
FOLLOWED = (PatientStatus.ACTIVE.value, PatientStatus.PAUSED.value)


def _followed(session: Session, team_ids: Iterable[int] | None) -> list[Patient]:
    query = select(Patient).where(col(Patient.status).in_(FOLLOWED))
    if team_ids is not None:
        query = query.where(col(Patient.team_id).in_(list(team_ids)))
    return list(session.exec(query.order_by(col(Patient.id))))


def patients_using(session: Session, key: str, *, team_ids: Iterable[int] | None = None) -> list[Patient]:
    """Followed patients (of these teams) whose current plan assigns this rule."""
    patients = _followed(session, team_ids)
    contents = current_contents(session, [p.id for p in patients])
    return [p for p in patients if any(r.key == key for r in contents[p.id].rules)]


def patients_on_template(session: Session, template_id: int, *,
                         team_ids: Iterable[int] | None = None) -> list[Patient]:
    """Followed patients (of these teams) whose current plan was started from this template."""
    patients = _followed(session, team_ids)
    templates = current_template_ids(session, [p.id for p in patients])
    return [p for p in patients if templates.get(p.id) == template_id]


def backtest_cohort(session: Session, clock: Clock, key: str, *, version: int | None = None, days: int = 30,
                    patients: list[Patient] | None = None, parameters: dict | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[PatientBacktest]:
    """backtest_patient for each patient (by default every patient whose plan uses the rule),
    each with their own parameters unless `parameters` are given for all. The rule version and
    the plans are read once; `progress(done, total)` is called after each patient."""
    if patients is None:
        patients = patients_using(session, key)
    definition = rule_definition(session, key, version)
    contents = current_contents(session, [p.id for p in patients])
    results = []
    for patient in patients:
        results.append(_replay(session, clock, patient, definition, contents[patient.id], parameters, days))
        if progress is not None:
            progress(len(results), len(patients))
    return results


def trial_period(patient: Patient, now: datetime) -> tuple[datetime, datetime]:
    start = patient.monitoring_since or patient.created_at
    return start, min(start + TRIAL_PERIOD, now)


def propose_personal_limits(session: Session, clock: Clock, patient: Patient, code: str, *,
                            start: datetime | None = None, end: datetime | None = None) -> LimitProposal:
    """Personal zone limits from the patient's trial period (by default the first 14 days of
    follow-up). Raises rules.NotEnoughReadings when the period has too few readings."""
    default_start, default_end = trial_period(patient, clock.now())
    start, end = start or default_start, end or default_end
    readings = [o for o in evaluation.observations(session, patient.id, start) if o.code == code]
    return propose_limits(code, readings, start=start, end=end, tz=patient.time_zone,
                          safety=safety_limits_of(session, patient).get(code, ZoneLimits()))


def safety_limits_of(session: Session, patient: Patient) -> dict[str, ZoneLimits]:
    """The safety net's limits for this patient: its own, with the plan's recorded decisions."""
    content, _version = current_content(session, patient.id)
    return evaluation.personal_zone_limits([a for a in evaluation.assigned_rules(session, content, strict=False)
                                            if a.safety])

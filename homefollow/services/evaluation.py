"""Running a patient's rules: on every report (same transaction) and from the scheduler.

Two layers: the safety net (rules/defaults/safety.yaml: limits and answers no plan may
silence), evaluated for every patient whatever the plan says, and the plan's own rules with
the patient's parameters. The rule book gives each rule's active version; the engine in
rules/ does the judging. Here we load what the engine needs, store the states it returns (so
a restart never forgets a pending condition) and turn its findings into alerts — a safety
finding only when no plan finding of the same severity already speaks for the same readings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from rules import (Evaluation, EvaluationContext, Observation, ParameterError, Parameters, RuleDefinition, RuleState,
                   evaluate_all, resolve_parameters, rule_codes, zone_limits)
from rules.codes import code_info, format_value, matches
from rules.limits import fixed_baseline_limit, zones_of
from rules.model import MissedCheckinSpec, SilenceSpec
from rules.text import Text, both
from rules.measurements import ITEMS
from rules.zones import Zone, ZoneLimits

from ..clock import Clock
from ..transactions import commit_now
from ..i18n import N_, t
from ..models import Measurement, Patient, PatientStatus, RuleState as RuleStateRow, Team
from ..questionnaires import QUESTIONNAIRES
from . import alert_log, alerts, plans, rulebook
from .plans import PlanContent, SafetyDecision

log = logging.getLogger(__name__)

# Readings older than this are not passed to the engine: longer than any rule's window, and a
# computed baseline is kept in the rule's state once the trial period is over.
HISTORY = timedelta(days=90)
# A patient whose evaluation failed is tried again after this long.
RETRY_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class AssignedRule:
    version: rulebook.InForce
    definition: RuleDefinition
    parameters: Parameters
    # A recorded clinical decision that changed a safety limit this rule's readings are judged
    # by: added to the explanation of every alert the rule raises.
    decision_note: Text | None = None

    @property
    def safety(self) -> bool:
        return self.definition.layer == "safety"


class PlanRulesInvalid(ValueError):
    """The plan names rules that do not exist or gives them parameters they do not accept."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        super().__init__("; ".join(f"{key} {name}: {reason}" for key, name, reason in problems))
        self.problems = problems  # (rule key, parameter name, reason)


def derived_parameters(definition: RuleDefinition, content: PlanContent) -> dict:
    """Parameters the plan gives a rule without naming them again: a missed-check-in rule that
    watches the codes of exactly one planned measurement or questionnaire follows its schedule."""
    spec = definition.spec
    if not isinstance(spec, MissedCheckinSpec):
        return {}
    entries = [(m.schedule, m.grace_minutes, ITEMS[m.item].codes) for m in content.measurements if m.schedule]
    entries += [(q.schedule, q.grace_minutes, QUESTIONNAIRES[q.key].codes) for q in content.questionnaires]
    found = [(schedule, grace) for schedule, grace, codes in entries
             if all(any(matches(p, c) for c in codes) for p in spec.codes)]
    if len(found) != 1:
        return {}
    schedule, grace = found[0]
    return {"schedule": schedule.model_dump(mode="json"), "grace": timedelta(minutes=grace)}


# Resolved parameters by (rule version digest, the patient's overrides). Resolving validates
# with pydantic; a sweep over many patients with the same plan template resolves each once.
_RESOLVED: dict[tuple[str, bytes], Parameters] = {}


def _resolve(version: rulebook.InForce, definition: RuleDefinition, overrides: dict) -> Parameters:
    key = (version.digest, orjson.dumps(overrides, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str))
    if key not in _RESOLVED:
        if len(_RESOLVED) > 50_000:
            _RESOLVED.clear()
        _RESOLVED[key] = resolve_parameters(definition, overrides)
    return _RESOLVED[key]


def assigned_rules(session: Session, content: PlanContent, *, strict: bool = True,
                   versions: dict[str, rulebook.InForce] | None = None, safety: bool = True) -> list[AssignedRule]:
    """The rules that judge this patient at their active versions: the safety net (unless
    safety=False), then the plan's rules with the patient's parameters.

    Raises PlanRulesInvalid listing every problem, so a plan editor can show them all. With
    strict=False a rule that cannot be used (e.g. retired under a stored plan) is logged and
    left out, so the patient's other rules still run; a safety rule whose recorded decision no
    longer fits its active version runs with its defaults rather than not at all."""
    if versions is None:
        versions = rulebook.in_force(session, [r.key for r in content.rules], prefix=SAFETY_PREFIX if safety else None)
    assigned: list[AssignedRule] = []
    problems: list[tuple[str, str, str]] = []  # (rule key, parameter name, reason)
    safety_codes = {key: set(rule_codes(rulebook.definition_of(v).spec)) for key, v in versions.items()
                    if key.startswith(SAFETY_PREFIX)}
    if safety:
        assigned += _safety_rules(content, versions, safety_codes, problems)
    for entry in content.rules:
        version = versions.get(entry.key)
        if version is None:
            problems.append((entry.key, "", "no active version of this rule"))
            continue
        definition = rulebook.definition_of(version)
        if definition.layer == "safety":
            problems.append((entry.key, "", "the safety net applies to every patient; change one of its limits "
                                            "by recording a clinical decision, not by adding its rule to the plan"))
            continue
        overrides = {**derived_parameters(definition, content), **entry.parameters}
        try:
            parameters = _resolve(version, definition, overrides)
        except ParameterError as exc:
            problems.extend((entry.key, name, reason) for name, reason in exc.problems)
            continue
        assigned.append(AssignedRule(version, definition, parameters,
                                     _decision_note(content, definition, safety_codes)))
    if problems and strict:
        raise PlanRulesInvalid(problems)
    if problems:
        log.error("plan rules left out: %s", PlanRulesInvalid(problems))
    return assigned


# ---- the safety net ---------------------------------------------------------------------------

SAFETY_PREFIX = "safety."


def _longest_gap(content: PlanContent) -> int | None:
    """The most days the plan lets pass between two days it asks for something (1 for a daily
    plan, 3 for Monday–Wednesday–Friday, 7 for a weekly CAT alone); None when it asks for nothing
    on a schedule, and silence is then no finding."""
    schedules = [m.schedule for m in content.measurements if m.schedule]
    schedules += [q.schedule for q in content.questionnaires] + [t.schedule for t in content.tasks if t.schedule]
    days = sorted({d for s in schedules for d in s.weekdays})
    if not days:
        return None
    return max((b - a) % 7 or 7 for a, b in zip(days, days[1:] + days[:1], strict=True))


def _silence_parameters(definition: RuleDefinition, gap: int) -> dict:
    """A plan that asks for something only some days is not silent on the others: the
    inactive-patient rules wait as many days longer as the plan's longest gap exceeds a day."""
    return {"after": definition.defaults["after"] + timedelta(days=gap - 1)} if gap > 1 else {}


def _safety_rules(content: PlanContent, versions: dict[str, rulebook.InForce], safety_codes: dict[str, set[str]],
                  problems: list[tuple[str, str, str]]) -> list[AssignedRule]:
    overrides = content.safety_overrides()
    gap = _longest_gap(content)
    out = []
    for key, version in sorted(versions.items()):
        if not key.startswith(SAFETY_PREFIX):
            continue
        definition = rulebook.definition_of(version)
        derived = {}
        if isinstance(definition.spec, SilenceSpec):
            if gap is None:
                continue
            derived = _silence_parameters(definition, gap)
        try:
            parameters = _resolve(version, definition, {**derived, **overrides.get(key, {})})
        except ParameterError as exc:
            problems.extend((key, name, reason) for name, reason in exc.problems)
            parameters = definition.defaults
        out.append(AssignedRule(version, definition, parameters, _decision_note(content, definition, safety_codes)))
    return out


def _decision_note(content: PlanContent, definition: RuleDefinition,
                   safety_codes: dict[str, set[str]]) -> Text | None:
    """The recorded decisions that changed a safety limit on what this rule reads, in words."""
    if not content.safety_decisions:
        return None
    codes = set(rule_codes(definition.spec))
    relevant = [d for d in content.safety_decisions
                if d.rule == definition.key or safety_codes.get(d.rule, set()) & codes]
    if not relevant:
        return None
    return both(lambda loc: " ".join(decision_text(d, loc, safety_codes.get(d.rule, ())) for d in relevant))


def decision_text(decision: SafetyDecision, locale: str, codes) -> str:
    """'The safety net is changed for this patient (oxygen saturation: red_low 84) by a clinical
    decision of Ingrid Berg, physician, on 03.12.2026: «…».' — codes: what the rule reads."""
    measured = [c for c in sorted(codes) if "*" not in c]
    what = ", ".join(code_info(c).name(locale).lower() for c in measured)
    limits = ", ".join(_limit_words(name, value, measured[0] if len(measured) == 1 else None, locale)
                       for name, value in decision.parameters.items())
    return t(locale, N_("The safety net is changed for this patient (%(what)s: %(limits)s) by a clinical decision of "
                        "%(who)s on %(when)s: «%(reason)s»."),
             what=what, limits=limits, who=decision.decided_by, when=decision.decided_on.strftime("%d.%m.%Y"),
             reason=decision.reason)


_LIMIT_WORDS = {"red_low": N_("red below"), "red_high": N_("red above"), "yellow_low": N_("yellow below"),
                "yellow_high": N_("yellow above")}


def _limit_words(name: str, value, code: str | None, locale: str) -> str:
    """'red below 84 %' for a limit; other parameters as 'name value'."""
    if name in _LIMIT_WORDS and isinstance(value, (int, float)) and code is not None:
        return f"{t(locale, _LIMIT_WORDS[name])} {format_value(code, float(value), locale)}"
    return f"{name} {value}"


def personal_zone_limits(assigned: list[AssignedRule]) -> dict[str, ZoneLimits]:
    return zone_limits((a.definition, a.parameters) for a in assigned)


def zone_conditions(assigned: list[AssignedRule]) -> dict[str, dict[str, list[RuleDefinition]]]:
    """measurement item → zone → the rules besides plain limits (a trend, a score) that can put
    a report of that item in that zone, so the plan page can name them beside the limits."""
    found: dict[str, dict[str, list[RuleDefinition]]] = {}
    for a in assigned:
        spec = a.definition.spec
        if (isinstance(spec, (MissedCheckinSpec, SilenceSpec)) or zones_of(a.definition, a.parameters) is not None
                or fixed_baseline_limit(a.definition, a.parameters) is not None):
            continue  # missed check-ins judge no reading; limits are shown as numbers
        codes = set(rule_codes(spec))
        for item in ITEMS.values():
            if codes.intersection(item.codes):
                found.setdefault(item.key, {}).setdefault(a.definition.severity.value, []).append(a.definition)
    return found


def watched_codes(assigned: list[AssignedRule]) -> set[str]:
    return {code for a in assigned for code in rule_codes(a.definition.spec) if "*" not in code}


def watches(assigned: list[AssignedRule], codes: set[str]) -> bool:
    """Whether any of the patient's rules reads any of these codes (patterns like 'checkin.*'
    included) — except missed-check-in and silence rules, which only say whether something
    came in."""
    return any(matches(p, c) for a in assigned if not isinstance(a.definition.spec, (MissedCheckinSpec, SilenceSpec))
               for p in rule_codes(a.definition.spec) for c in codes)


def observations(session: Session, patient_id: int, since: datetime) -> list[Observation]:
    return _observations_of(session, [patient_id], since).get(patient_id, [])


def _observations_of(session: Session, patient_ids: list[int], since: datetime,
                     codes: set[str] | None = None) -> dict[int, list[Observation]]:
    # sqlmodel's select() is typed for at most four columns; this one takes five.
    query = select(Measurement.patient_id, Measurement.id, Measurement.code,  # type: ignore[call-overload]
                   Measurement.value, Measurement.measured_at).where(col(Measurement.patient_id).in_(patient_ids),
                                                                     col(Measurement.measured_at) >= since)
    if codes is not None:
        query = query.where(col(Measurement.code).in_(codes))
    # In time order: the engine accepts any order, but sorts readings it is given in order in
    # one pass instead of n log n (benchmarks/rules_bench.py, "in time order").
    query = query.order_by(Measurement.measured_at, Measurement.id)
    found: dict[int, list[Observation]] = {}
    for patient_id, mid, code, value, at in session.exec(query):
        found.setdefault(patient_id, []).append(Observation(code, value, at, f"m:{mid}"))
    return found


def context_for(patient: Patient, now: datetime | None = None) -> EvaluationContext:
    """While follow-up is paused (a holiday, an admission) nothing is expected of the patient:
    no missed check-in, no silence counts until it resumes (resumed_at). Readings that do come
    are judged as always."""
    active_since = patient.followed_since
    if now is not None and patient.status == PatientStatus.PAUSED.value:
        active_since = max(active_since, now)
    return EvaluationContext(tz=patient.time_zone, active_since=active_since)


@dataclass(frozen=True)
class PatientEvaluation:
    assigned: list[AssignedRule]
    results: dict[str, Evaluation]  # by rule key
    alerted: bool  # an alert was opened or updated


@dataclass
class _Inputs:
    """Everything one patient's evaluation reads, loaded for many patients in a few queries."""

    patient: Patient
    assigned: list[AssignedRule]
    rows: dict[str, tuple[int, dict]]  # rule key -> (rule_state id, stored state)
    observations: list[Observation]


def _load(session: Session, patients: list[Patient], now: datetime,
          contents: dict[int, PlanContent] | None = None) -> list[_Inputs]:
    ids = [p.id for p in patients]
    if contents is None:
        contents = plans.current_contents(session, ids)
    versions = rulebook.in_force(session, {r.key for c in contents.values() for r in c.rules}, prefix=SAFETY_PREFIX)
    assigned = {pid: assigned_rules(session, content, strict=False, versions=versions)
                for pid, content in contents.items()}
    rows: dict[int, dict[str, tuple[int, dict]]] = {pid: {} for pid in ids}
    # Plain rows, not ORM objects: a sweep batch reads hundreds, and only writes them in bulk.
    for row_id, patient_id, key, state in session.execute(
            select(RuleStateRow.id, RuleStateRow.patient_id, RuleStateRow.rule_key, RuleStateRow.state)
            .where(col(RuleStateRow.patient_id).in_(ids))):
        rows[patient_id][key] = (row_id, state)
    codes = {c for rules_ in assigned.values() for c in watched_codes(rules_)}
    patterns = any("*" in c for rules_ in assigned.values() for a in rules_ for c in rule_codes(a.definition.spec))
    history = _observations_of(session, ids, now - HISTORY, None if patterns else codes)
    return [_Inputs(p, assigned.get(p.id, []), rows[p.id], history.get(p.id, [])) for p in patients]


@dataclass
class _StateWrites:
    """New rule states, written in bulk rather than through the loaded rows: a sweep batch would
    otherwise carry hundreds of dirty objects through every flush an alert needs."""

    updates: list[dict] = field(default_factory=list)
    inserts: list[dict] = field(default_factory=list)
    # States of rules no longer on the plan: kept, but time can no longer change them, so their
    # timers stop (a due one would otherwise bring the patient back to every sweep batch).
    unassigned: list[int] = field(default_factory=list)

    def write(self, session: Session) -> None:
        if self.updates:
            # Core, not the ORM's bulk update by primary key: the same statement, without the
            # ORM's bookkeeping per row (a fifth of the time it took to store a sweep batch).
            table = RuleStateRow.__table__  # type: ignore[attr-defined]  # a table model's; not in sqlmodel's types
            session.execute(update(table).where(table.c.id == bindparam("row_id")), self.updates)
        if self.inserts:  # Core too: the ORM sends one INSERT per row whose columns differ (next_due_at)
            session.execute(insert(RuleStateRow.__table__), self.inserts)  # type: ignore[attr-defined]
        if self.unassigned:
            session.execute(update(RuleStateRow).where(col(RuleStateRow.id).in_(self.unassigned),
                                                       col(RuleStateRow.next_due_at).is_not(None))
                            .values(next_due_at=None))
        self.updates, self.inserts, self.unassigned = [], [], []


def evaluate_patient(session: Session, clock: Clock, patient: Patient, *, new_refs: frozenset[str] = frozenset(),
                     report_id: int | None = None, content: PlanContent | None = None) -> PatientEvaluation:
    """Evaluate all the patient's rules now, store their states and raise alerts. Does not commit.
    `content`: the patient's current plan when the caller has read it already.

    A finding updates the patient's alert when the rule starts firing, when it rests on one of
    the readings just reported (`new_refs`), or when what it says has changed (a second missed
    check-in) — not on every sweep while a condition simply persists."""
    [inputs] = _load(session, [patient], clock.now(), None if content is None else {patient.id: content})
    writes = _StateWrites()
    results, findings = _run(session, clock, inputs, writes)
    writes.write(session)
    alerted = _raise(session, clock, findings, new_refs, report_id)
    return PatientEvaluation(inputs.assigned, results, alerted > 0)


@dataclass(frozen=True)
class _Finding:
    """The finding that speaks for one alert key of one patient."""

    patient: Patient
    assigned: AssignedRule
    result: Evaluation


def _run(session: Session, clock: Clock, inputs: _Inputs,
         writes: _StateWrites) -> tuple[dict[str, Evaluation], list[_Finding]]:
    """Evaluate one patient's rules and queue their new states; returns the results by rule key
    and the findings to raise (one per alert key)."""
    now = clock.now()
    patient, assigned, rows = inputs.patient, inputs.assigned, inputs.rows
    results = evaluate_all(
        [a.definition for a in assigned],
        {a.definition.key: a.parameters for a in assigned},
        inputs.observations,
        {key: RuleState.model_validate(state) for key, (_id, state) in rows.items()},
        now,
        context_for(patient, now),
    )
    for a in assigned:
        key = a.definition.key
        result = results[key]
        state = result.state.model_dump(mode="json")
        values = {"rule_version_id": a.version.id, "status": result.state.status.value,
                  "state": state, "next_due_at": result.state.next_due_at, "updated_at": now}
        if key not in rows:
            writes.inserts.append({"patient_id": patient.id, "rule_key": key, **values})
        elif not _same_state(rows[key][1], state):
            writes.updates.append({"row_id": rows[key][0], **values})
        if not result.findings and result.stopped_firing:
            open_alert = alerts.open_alert_for(session, patient.id, a.definition.alert_key)
            if open_alert is not None:
                alert_log.add_event(session, clock, open_alert, "condition_cleared", rule_key=key,
                                    summary=result.state.summary.as_dict() if result.state.summary else None)
    writes.unassigned += [row_id for key, (row_id, _state) in rows.items() if key not in results]
    return results, [_Finding(patient, a, result) for a, result in _most_severe_per_alert(assigned, results)]


def _same_state(stored: dict, new: dict) -> bool:
    """Whether a rule's new state says nothing the stored one does not: only the time of the
    evaluation differs. Such a state is not written again (most rules on most reports, among
    them the safety net's rules on measurements the report is not about), so rule_state's
    updated_at is when the state last changed."""
    return len(stored) == len(new) and all(v == stored.get(k) for k, v in new.items() if k != "evaluated_at")


def _most_severe_per_alert(assigned: list[AssignedRule],
                           results: dict[str, Evaluation]) -> list[tuple[AssignedRule, Evaluation]]:
    """One finding per alert key: when a red and a yellow rule of a group both fire on the same
    reading, the alert carries the red one's explanation. A safety-net finding is left out when
    a finding of the plan, at least as severe, already rests on one of its readings: the team is
    told about that report once, in the plan's words (a check-in's other answers are on the
    alert page with it)."""
    best: dict[str, tuple[AssignedRule, Evaluation]] = {}
    for a in assigned:
        result = results[a.definition.key]
        if not result.findings:
            continue
        key = a.definition.alert_key
        if key not in best or result.findings[0].severity.rank > best[key][1].findings[0].severity.rank:
            best[key] = (a, result)
    plan_refs: dict[int, set[str]] = {1: set(), 2: set()}  # severity rank → readings behind plan findings
    for a, result in best.values():
        if not a.safety:
            finding = result.findings[0]
            for rank in range(1, finding.severity.rank + 1):
                plan_refs[rank].update(finding.observation_refs)
    return [(a, result) for a, result in best.values()
            if not (a.safety and plan_refs[result.findings[0].severity.rank] & set(result.findings[0].observation_refs))]


def _raise(session: Session, clock: Clock, findings: list[_Finding], new_refs: frozenset[str] = frozenset(),
           report_id: int | None = None) -> int:
    """Open or update alerts, but only for something new: the rule has just started firing,
    the finding rests on a reading just reported, or it says something else than the last alert
    did (a second missed check-in). A condition that merely persists after a nurse resolved its
    alert does not reopen it; the next reading or the next missed check-in will.

    The findings of a whole sweep batch are raised together (alerts.raise_findings): the
    latest alerts are read in two queries, and the new ones are opened with their pages in one
    go. Returns how many alerts were opened or updated."""
    latest = alerts.latest_alerts_for(session, {(f.patient.id, f.assigned.definition.alert_key) for f in findings})
    to_raise: list[tuple[Patient, alerts.RaisedFinding]] = []
    for f in findings:
        a, finding = f.assigned, f.result.findings[0]
        last = latest.get((f.patient.id, a.definition.alert_key))
        news = bool(new_refs & set(finding.observation_refs))
        explanation = finding.explanation
        if a.decision_note is not None:
            explanation = Text(f"{explanation.nb} {a.decision_note.nb}", f"{explanation.en} {a.decision_note.en}")
        changed = last is None or last.explanation != explanation.as_dict()
        if not (f.result.started_firing or news or changed):
            continue
        to_raise.append((f.patient, alerts.RaisedFinding(
            alert_key=a.definition.alert_key,
            rule_key=a.definition.key,
            rule_version=a.definition.version,
            rule_version_id=a.version.id,
            title=a.definition.title.text(),
            severity=Zone(finding.severity.value),
            value_text=finding.value_text,
            threshold_text=finding.threshold_text,
            explanation=explanation,
            report_id=report_id if news else None,
            refs=tuple(finding.observation_refs),
        )))
    alerts.raise_findings(session, clock, to_raise, latest=latest)
    return len(to_raise)


# ---- the scheduler's sweep ------------------------------------------------------------------

def claim_due_patients(session: Session, clock: Clock, limit: int) -> list[int]:
    """Take up to `limit` active patients whose rules are due, for the caller's transaction.
    Their due rule states stay locked until it ends: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so
    another process's sweep takes other patients, and once this one commits, the states are no
    longer due; on SQLite the write lock each transaction takes at BEGIN keeps other processes
    out. Nothing is written to claim, and if the process dies, its transaction dies with it and
    the next sweep takes the patients. Does not commit."""
    # The next_due_at index, over the due timers only, longest waiting first.
    due = session.execute(_locked_due(clock, RuleStateRow.patient_id)
                          .order_by(RuleStateRow.next_due_at).limit(limit * 8)).scalars().all()
    ids = list(dict.fromkeys(due))[:limit]
    if not ids:
        return []
    active = set(session.execute(select(Patient.id).where(col(Patient.id).in_(ids),
                                                          Patient.status == PatientStatus.ACTIVE.value)).scalars())
    if len(active) < len(ids):
        # Follow-up is paused or ended: nothing is expected of them until it resumes (which
        # evaluates their rules again), so their timers stop instead of blocking the queue.
        session.execute(update(RuleStateRow).where(col(RuleStateRow.patient_id).in_(set(ids) - active))
                        .values(next_due_at=None))
    return sorted(active)


def _claim_patient(session: Session, clock: Clock, patient_id: int) -> bool:
    """Lock one patient's due rule states, as claim_due_patients does; False if none are due
    (any more) or another process holds them."""
    return session.execute(_locked_due(clock, RuleStateRow.id)
                           .where(RuleStateRow.patient_id == patient_id)).first() is not None


def _locked_due(clock: Clock, column):
    """Due rule states, locked for the transaction; those another transaction holds are skipped."""
    return select(column).where(col(RuleStateRow.next_due_at) <= clock.now()).with_for_update(skip_locked=True)


@dataclass
class SweepResult:
    evaluated: int = 0
    failed: int = 0


BATCH = 500


def sweep_due_rules(session: Session, clock: Clock, limit: int = 5000) -> SweepResult:
    """Evaluate every patient with a rule whose next_due_at has passed (hold times ending,
    check-ins missed, readings going stale), a batch at a time, each batch in one transaction
    from claim to commit. Safe in several processes."""
    result = SweepResult()
    while result.evaluated + result.failed < limit:
        ids = claim_due_patients(session, clock, min(BATCH, limit - result.evaluated - result.failed))
        if not ids:
            commit_now(session, "sweep_item")  # ends the claim (and keeps the stopped timers of paused patients)
            break
        patients = session.exec(select(Patient).where(col(Patient.id).in_(ids)).order_by(col(Patient.id))).all()
        # Held for the batch: the session's identity map keeps objects only while referenced, and
        # every alert opened needs its team (policy, opening hours) — one query, not one per alert.
        _teams = session.exec(select(Team).where(col(Team.id).in_({p.team_id for p in patients}))).all()
        try:
            writes, findings = _StateWrites(), []
            for inputs in _load(session, list(patients), clock.now()):
                findings += _run(session, clock, inputs, writes)[1]
            writes.write(session)
            _raise(session, clock, findings)
            commit_now(session, "sweep_item")
            result.evaluated += len(patients)
        except Exception:  # noqa: BLE001 — deliberate: a bad batch must not stop the sweep: one at a time, to find the culprit
            session.rollback()
            result.evaluated += _one_by_one(session, clock, ids, result)
    return result


def _one_by_one(session: Session, clock: Clock, ids: list[int], result: SweepResult) -> int:
    """Evaluate each patient of a failed batch on its own. One that fails again is put back for
    RETRY_AFTER, so it neither stops the sweep nor makes every sweep fall back to this path."""
    done = 0
    for patient_id in ids:
        try:
            if not _claim_patient(session, clock, patient_id):
                commit_now(session, "sweep_item")
                continue  # taken by another process, or no longer due
            patient = session.get(Patient, patient_id)
            assert patient is not None, "patients are not deleted"
            evaluate_patient(session, clock, patient)
            commit_now(session, "sweep_item")
            done += 1
        except Exception:
            session.rollback()
            log.exception("evaluating patient %s failed; retrying in %s", patient_id, RETRY_AFTER)
            result.failed += 1
            now = clock.now()
            session.execute(update(RuleStateRow).where(col(RuleStateRow.patient_id) == patient_id,
                                                       col(RuleStateRow.next_due_at) <= now)
                            .values(next_due_at=now + RETRY_AFTER))
            commit_now(session, "sweep_item")
    return done

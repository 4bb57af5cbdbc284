"""Adherence counted day by day and kept, so that the figures page sums a team's days instead of
re-reading months of reports for every patient (issue 22).

checklist.adherence_by_day stays the one definition; the scheduler's hourly roll-up (`roll_up`)
keeps its result for whole local days before today in AdherenceDay rows, and in
AdherenceRollup which days hold. The page (`adherence_over`) sums the kept days of the patients
whose days hold and counts the others afresh, writing nothing. A patient's days stop holding:

- when a day has ended, until the roll-up has counted it (within the hour);
- when a report arrives for a day already counted (a late or back-dated reading): `through`
  moves back to that day, in the report's own transaction (`report_came_late`, from
  reporting._submit), and the roll-up counts from there again;
- when the plan changes (adherence is counted by the current plan), or the time zone, or the
  start of follow-up (a pause ended): the roll-up counts every day of the patient again;
- for a longer period than the roll-up has counted (it counts 90 days the first time): counted
  afresh until the days have been counted one by one as they ended.

Days older than KEEP_DAYS are let go as the roll-up moves on (no period of the figures page
reaches further back), so the table holds about a year per patient, not everything since the
first roll-up.

The roll-up takes the patients' row locks first (homefollow.transactions, step 1 of the lock
order): a report, which holds its patient's lock, cannot commit between the reading of the
reports and the writing of the count, so no reading is left out of a count that claims to hold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from rules.schedule import local_date_of, local_day_bounds

from ..db import among_ids, upsert
from ..models import AdherenceDay, AdherenceRollup, Patient, ReportKind
from . import checklist, plans
from .plans import PlanContent

BATCH = 100  # patients a transaction of the roll-up counts (and holds the locks of)
# Whole days kept before today: the figures page's longest period (clinician_portal.figures.PERIODS;
# a test ties them).
KEEP_DAYS = 365
DAYS = AdherenceDay.__table__  # type: ignore[attr-defined]
ROLLUPS = AdherenceRollup.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Marker:
    """An AdherenceRollup row, read."""

    patient_id: int
    plan_version: int
    expects: bool
    time_zone: str
    since_day: date
    first_day: date
    through: date


@dataclass
class _Need:
    patient: Patient
    version: int  # the current plan's
    since_day: date
    first: date  # the first local day the period counts for this patient
    end: date  # today, local: not counted
    content: PlanContent | None = None  # read only to count


def adherence_over(session: Session, now: datetime, patients: list[Patient], days: int) -> checklist.Adherence:
    """checklist.adherence_of over the `days` whole local days before today for each patient by
    their current plan, summed over the patients whose plan expects anything (adherence_of_each)."""
    total = checklist.Adherence(0, {}, {})
    for adherence in adherence_of_each(session, now, patients, days).values():
        if adherence is not None:
            total += adherence
    return total


def adherence_of_each(session: Session, now: datetime, patients: list[Patient], days: int
                      ) -> dict[int, checklist.Adherence | None]:
    """checklist.adherence_of over the `days` whole local days before today for each patient by
    their current plan (None: the plan expects nothing at set times), by patient id: the kept
    days where they hold, the others counted afresh here. Reads only: a page must not hold
    patients' locks, which their reports wait for."""
    needs = _needs(session, now, patients, days)
    markers = _markers(session, [n.patient.id for n in needs])
    found: dict[int, checklist.Adherence | None] = {}
    held = [n for n in needs if _holds(markers.get(n.patient.id), n)]
    stale = [n for n in needs if not _holds(markers.get(n.patient.id), n)]
    by_window: dict[tuple[date, date], list[int]] = defaultdict(list)
    for need in held:
        if markers[need.patient.id].expects:
            by_window[need.first, need.end].append(need.patient.id)
        else:
            found[need.patient.id] = None
    for (first, end), ids in by_window.items():
        expected: dict[int, dict[ReportKind, int]] = defaultdict(dict)
        done: dict[int, dict[ReportKind, int]] = defaultdict(dict)
        for start in range(0, len(ids), 1000):  # keep the IN list within every database's limit
            for patient_id, kind, n_expected, n_done in session.execute(
                    select(AdherenceDay.patient_id, AdherenceDay.kind, func.sum(AdherenceDay.expected),
                           func.sum(AdherenceDay.done))
                    .where(among_ids(session, col(AdherenceDay.patient_id), ids[start:start + 1000]),
                           col(AdherenceDay.day) >= first, col(AdherenceDay.day) < end)
                    .group_by(col(AdherenceDay.patient_id), col(AdherenceDay.kind))):
                expected[patient_id][ReportKind(kind)] = int(n_expected)
                done[patient_id][ReportKind(kind)] = int(n_done)
        for patient_id in ids:
            found[patient_id] = checklist.Adherence((end - first).days, expected[patient_id], done[patient_id])
    for start in range(0, len(stale), 500):
        group = stale[start:start + 500]
        current = plans.current_plans(session, [n.patient.id for n in group])
        earliest = min(local_day_bounds(n.first, n.patient.time_zone)[0] for n in group)
        reported = checklist.reported_of_patients(session, [n.patient.id for n in group], earliest, now)
        for need in group:
            content = current[need.patient.id][0]
            found[need.patient.id] = checklist.adherence_of(
                content, need.patient.time_zone, reported[need.patient.id], now, days,
                since=need.patient.followed_since) if checklist.scheduled(content) else None
    return found


def roll_up(session: Session, now: datetime, patients: list[Patient], days: int) -> int:
    """Count and keep the days of these patients that do not hold (the scheduler's job, a
    batch at a time); returns how many patients were counted. Takes the patients' locks (the
    lock order's first step) so that a late report cannot commit between the reading of the
    reports and the writing of the count; a batch is small, so a report waits briefly."""
    needs = _needs(session, now, patients, days)
    markers = _markers(session, [n.patient.id for n in needs])
    stale = sorted((n for n in needs if not _holds(markers.get(n.patient.id), n)), key=lambda n: n.patient.id)
    if not stale:
        return 0
    ids = [n.patient.id for n in stale]
    list(session.exec(select(Patient.id).where(among_ids(session, col(Patient.id), ids)).order_by(col(Patient.id))
                      .with_for_update(key_share=True)))
    current = plans.current_plans(session, ids)  # the plans and markers as the last writer left them
    for need in stale:
        need.content, need.version = current[need.patient.id]
    _count(session, now, stale, _markers(session, ids))
    return len(stale)


def report_came_late(session: Session, patient_id: int, day: date) -> None:
    """A report for local day `day` arrived after that day may have been counted: the days from
    it on no longer hold. Runs in the report's transaction, which holds the patient's lock."""
    session.execute(update(AdherenceRollup)
                    .where(col(AdherenceRollup.patient_id) == patient_id, col(AdherenceRollup.through) > day,
                           col(AdherenceRollup.first_day) <= day)
                    .values(through=day))


def _needs(session: Session, now: datetime, patients: list[Patient], days: int) -> list[_Need]:
    """What the period asks of each patient (the plans' versions only: no plan is read)."""
    versions = plans.current_versions(session, [p.id for p in patients]) if patients else {}
    needs = []
    for p in patients:
        first, end = checklist.counted_days(p.time_zone, now, days, p.followed_since)
        needs.append(_Need(p, versions[p.id], local_date_of(p.followed_since, p.time_zone), first, end))
    return needs


def _same_basis(marker: Marker, need: _Need) -> bool:
    return (marker.plan_version == need.version and marker.time_zone == need.patient.time_zone
            and marker.since_day == need.since_day)


def _holds(marker: Marker | None, need: _Need) -> bool:
    if marker is None or not _same_basis(marker, need):
        return False
    return not marker.expects or (marker.first_day <= need.first and marker.through >= need.end)


def _markers(session: Session, ids: list[int]) -> dict[int, Marker]:
    """The patients' AdherenceRollup rows as plain rows: a team's thousand ORM objects would
    cost more than the rest of the count."""
    found: dict[int, Marker] = {}
    for start in range(0, len(ids), 1000):
        for row in session.execute(select(*ROLLUPS.columns)
                                   .where(among_ids(session, col(AdherenceRollup.patient_id), ids[start:start + 1000]))):
            found[row.patient_id] = Marker(**row._mapping)
    return found


def _count(session: Session, now: datetime, batch: list[_Need], markers: dict[int, Marker]) -> None:
    spans: dict[int, list[tuple[date, date]]] = {}  # patient -> the days [from, to) to count now
    kept, recount = [], []
    let_go: dict[date, list[int]] = defaultdict(list)  # the first day kept -> patients with days before it
    for need in batch:
        marker = markers.get(need.patient.id)
        assert need.content is not None, "read before counting"
        if _holds(marker, need):
            continue
        if marker is not None and not (_same_basis(marker, need) and marker.expects):
            recount.append(need.patient.id)  # counted by another plan, zone or start: not kept
        if not checklist.scheduled(need.content):  # nothing to count, ever, by this plan
            kept.append(_marker(need, False, need.first))
        elif marker is None or need.patient.id in recount:
            spans[need.patient.id] = [(need.first, need.end)]
            kept.append(_marker(need, True, need.first))
        else:  # what was counted holds between first_day and through: the days before and after
            spans[need.patient.id] = [(a, b) for a, b in ((need.first, marker.first_day), (marker.through, need.end))
                                      if a < b]
            first_kept = need.end - timedelta(days=KEEP_DAYS)
            kept.append(_marker(need, True, max(min(need.first, marker.first_day), first_kept)))
            if marker.first_day < first_kept:
                let_go[first_kept].append(need.patient.id)
    if recount:
        session.execute(delete(AdherenceDay).where(among_ids(session, col(AdherenceDay.patient_id), recount)))
    for first_kept, ids in let_go.items():
        session.execute(delete(AdherenceDay).where(among_ids(session, col(AdherenceDay.patient_id), ids),
                                                   col(AdherenceDay.day) < first_kept))
    rows = []
    if spans:
        by_id = {n.patient.id: n for n in batch}
        earliest = min(local_day_bounds(a, by_id[pid].patient.time_zone)[0] for pid, ranges in spans.items()
                       for a, _b in ranges)
        reported = checklist.reported_of_patients(session, list(spans), earliest, now)
        for pid, ranges in spans.items():
            need = by_id[pid]
            assert need.content is not None
            for first, end in ranges:
                counted = checklist.adherence_by_day(need.content, need.patient.time_zone, reported[pid], now,
                                                     first, end)
                rows += [{"patient_id": pid, "day": day, "kind": kind.value, "expected": n_expected, "done": n_done}
                         for day, counts in counted.items() for kind, (n_expected, n_done) in counts.items()]
    # Core statements on the tables. RETURNING lets SQLAlchemy send the rows as multi-row
    # INSERTs ("insertmanyvalues"): a first count writes a team's hundred thousand days, which
    # one statement a row would take seconds to send.
    if rows:
        session.connection().execute(upsert(session, DAYS, index=("patient_id", "day", "kind"),
                                            update=("expected", "done")).returning(DAYS.c.patient_id), rows)
    if kept:
        session.connection().execute(
            upsert(session, ROLLUPS, index=("patient_id",),
                   update=("plan_version", "expects", "time_zone", "since_day", "first_day", "through"))
            .returning(ROLLUPS.c.patient_id), kept)


def _marker(need: _Need, expects: bool, first_day: date) -> dict:
    return {"patient_id": need.patient.id, "plan_version": need.version, "expects": expects,
            "time_zone": need.patient.time_zone, "since_day": need.since_day, "first_day": first_day,
            "through": need.end}

"""One sweep of the scheduler's rule timers over 100,000 patients, on SQLite and PostgreSQL.

Run by hand:  .venv/bin/python benchmarks/sweep_bench.py [--patients 100000] [--due 0.01] [--no-postgres]

Every patient has a plan with three check-in expectations (three missed-check-in rules, the
timers the sweep looks after); about 1 % of the patients have all three due. Most of them did
report in time (the rule goes back to waiting for tomorrow); a share (--missed, default one in
ten) did not, and get an alert opened and paged. Timed in the same run, on the same database:
- baseline: a bare indexed count of the due timers (SELECT count(*) … WHERE next_due_at <= now),
  the least any sweep must do to find its work;
- sweep: homefollow.services.evaluation.sweep_due_rules — claim, load, evaluate, store, raise,
  in a process settled as the scheduler process settles itself at start (settle_heap).
The tables are analysed after the bulk load, as PostgreSQL's autovacuum does soon after one.
Each is timed three times (putting the same timers back in between); the best run is
reported, with the ratio. Nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time as timer
from datetime import datetime, time, timedelta, UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, insert, select, update  # noqa: E402
from sqlmodel import Session  # noqa: E402

from homefollow.clock import FixedClock  # noqa: E402
from homefollow.db import make_engine  # noqa: E402
from homefollow.migrate import upgrade  # noqa: E402
from homefollow.scheduler import settle_heap  # noqa: E402
from homefollow.models import (Alert, AlertEvent, AuditEvent, CarePlan, Measurement, Notification, Patient,  # noqa: E402
                               Report, RuleState, Team)
from homefollow.services import rulebook  # noqa: E402
from homefollow.services.evaluation import sweep_due_rules  # noqa: E402
from homefollow.services.plans import AssignedRule, PlanContent, PlanMeasurement  # noqa: E402
from rules.schedule import Schedule  # noqa: E402

NOW = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # 11:00 in Oslo: the 08:00 weighing is due
RULES = ("hf.weight_missed", "missed.measurement", "missed.questionnaire")
CHUNK = 5000


def plan_content() -> dict:
    return PlanContent(
        measurements=[PlanMeasurement(item="weight", schedule=Schedule(times=(time(8, 0),)), grace_minutes=180)],
        rules=[AssignedRule(key="hf.weight_missed"),
               AssignedRule(key="missed.measurement", parameters={"schedule": {"times": ["08:00"]}, "grace": "PT3H"}),
               AssignedRule(key="missed.questionnaire", parameters={"schedule": {"times": ["08:00"]}, "grace": "PT3H"})],
    ).model_dump(mode="json")


def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done:,}/{total:,}", end="" if done < total else "\n", flush=True)


def build(engine, patients: int, due_share: float, missed_share: float = 0.1) -> list[int]:
    """Bulk-load the patients; returns the ids of the patients whose timers are due."""
    clock = FixedClock(NOW - timedelta(days=30))
    with Session(engine) as session:
        rulebook.sync_defaults(session, clock)
        team = Team(name="Bench", on_call_phone="+4790000000", opening_hours={"tue": ["08:00", "15:30"]},
                    created_at=clock.now())
        session.add(team)
        session.commit()
        versions = rulebook.active_versions(session, RULES)
        team_id = team.id
    content = plan_content()
    every = max(1, round(1 / due_share)) if due_share else 0
    due_ids = []
    with engine.begin() as conn:
        for start in range(0, patients, CHUNK):
            n = min(CHUNK, patients - start)
            conn.execute(insert(Patient), [
                {"team_id": team_id, "name": f"Pasient {start + i}", "time_zone": "Europe/Oslo", "diagnoses": [],
                 "status": "active", "is_demo": False, "created_at": clock.now(), "monitoring_since": clock.now(),
                 "reminders": {}} for i in range(n)])
            progress("patients", start + n, patients)
        ids = [row[0] for row in conn.execute(select(Patient.id).order_by(Patient.id))]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            conn.execute(insert(CarePlan), [
                {"patient_id": pid, "version": 1, "content": content, "created_at": clock.now(), "change_reason": "bench"}
                for pid in chunk])
            states = []
            for pid in chunk:
                due = every and pid % every == 0
                if due:
                    due_ids.append(pid)
                next_due = NOW - timedelta(minutes=1) if due else NOW + timedelta(hours=20)
                for key in RULES:
                    states.append({"patient_id": pid, "rule_key": key, "rule_version_id": versions[key].id,
                                   "status": "normal", "updated_at": clock.now(), "next_due_at": next_due,
                                   "state": {"rule_key": key, "rule_version": 1, "status": "normal",
                                             "next_due_at": next_due.isoformat()}})
            conn.execute(insert(RuleState), states)
            progress("plans and timers", start + len(chunk), len(ids))
        # Most due patients reported this morning (weight and a check-in answer); the rest missed.
        missed_every = round(1 / missed_share) if missed_share else 0
        readings = [pid for n, pid in enumerate(due_ids) if not (missed_every and n % missed_every == 0)]
        report_rows = [{"patient_id": pid, "item_key": "weight", "idempotency_key": f"b{pid}", "source": "device",
                        "reported_at": NOW - timedelta(hours=2), "measured_at": NOW - timedelta(hours=2),
                        "instructions": [], "team_alerted": False} for pid in readings]
        for start in range(0, len(report_rows), CHUNK):
            conn.execute(insert(Report), report_rows[start:start + CHUNK])
        report_ids = dict(conn.execute(select(Report.patient_id, Report.id)).all())
        conn.execute(insert(Measurement), [
            {"report_id": report_ids[pid], "patient_id": pid, "code": code, "value": value,
             "measured_at": NOW - timedelta(hours=2)}
            for pid in readings for code, value in (("weight", 80.0), ("checkin.general", 0.0))])
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # planner statistics, as autovacuum gathers soon after a bulk load
    return due_ids


def reset(engine, due_ids: list[int]) -> None:
    """Put the same timers back as they were before the sweep, and forget what it raised."""
    due = NOW - timedelta(minutes=1)
    with engine.begin() as conn:
        for model in (AlertEvent, AuditEvent, Notification, Alert):
            conn.execute(delete(model))
        for key in RULES:
            for start in range(0, len(due_ids), CHUNK):
                conn.execute(update(RuleState).where(RuleState.patient_id.in_(due_ids[start:start + CHUNK]),
                                                     RuleState.rule_key == key)
                             .values(next_due_at=due, status="normal",
                                     state={"rule_key": key, "rule_version": 1, "status": "normal",
                                            "next_due_at": due.isoformat()}))


def time_backend(name: str, url: str, patients: int, due_share: float, missed_share: float) -> tuple[float, float, int]:
    print(f"{name}: building {patients:,} patients with {len(RULES)} timers each …")
    engine = make_engine(url)
    upgrade(engine)
    started = timer.perf_counter()
    due_ids = build(engine, patients, due_share, missed_share)
    print(f"  built in {timer.perf_counter() - started:.1f} s; {len(due_ids) * len(RULES):,} timers due")
    clock = FixedClock(NOW)
    settle_heap()
    baseline, sweep, evaluated = [], [], 0
    for attempt in range(3):
        with engine.connect() as conn:
            t0 = timer.perf_counter()
            counted = conn.execute(select(func.count()).select_from(RuleState)
                                   .where(RuleState.next_due_at <= NOW)).scalar()
            baseline.append(timer.perf_counter() - t0)
        with Session(engine, expire_on_commit=False) as session:
            t0 = timer.perf_counter()
            result = sweep_due_rules(session, clock, limit=10 * patients)
            sweep.append(timer.perf_counter() - t0)
        with Session(engine) as session:
            alerts = session.execute(select(func.count()).select_from(Alert)).scalar()
        evaluated = result.evaluated
        print(f"  run {attempt + 1}: count of {counted:,} due timers {baseline[-1] * 1000:.1f} ms; sweep evaluated "
              f"{result.evaluated:,} patients and opened {alerts:,} alerts in {sweep[-1]:.2f} s")
        reset(engine, due_ids)
    engine.dispose()
    return min(baseline), min(sweep), evaluated


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--due", type=float, default=0.01)
    parser.add_argument("--missed", type=float, default=0.1, help="share of the due patients who did not report")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = time_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args.patients, args.due,
                                         args.missed)
    pg = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if not args.no_postgres:
        import psycopg

        with psycopg.connect(pg.replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS hf_sweep_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE hf_sweep_bench")
        results["PostgreSQL"] = time_backend("PostgreSQL", pg.rsplit("/", 1)[0] + "/hf_sweep_bench",
                                             args.patients, args.due, args.missed)
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS hf_sweep_bench WITH (FORCE)")
    summary = "; ".join(f"{name} sweep {s:.2f} s vs count {b * 1000:.1f} ms ({s / b:.0f}×), {n:,} patients evaluated"
                        for name, (b, s, n) in results.items())
    print(f"sweep_bench: {args.patients:,} patients × {len(RULES)} timers, {args.due:.0%} due, "
          f"{args.missed:.0%} of those missed — {summary} "
          f"(aim: sweep well under 2 s)")


if __name__ == "__main__":
    main()

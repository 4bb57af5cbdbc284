"""What the safety net costs: the submit path of a reading, and the engine, with and without it.

Run by hand:  .venv/bin/python benchmarks/safety_net_bench.py [--seconds 12] [--postgres]

The safety net (rules/defaults/safety.yaml) is evaluated beside the plan's rules on every
report. Two pairs are timed in the same run, on the same data, in turns so that a busy machine
slows both alike:
- submit path: homefollow.services.reporting.report_measurement — store the reading, load and
  evaluate the patient's rules over 90 days of history, store the states that changed, raise
  alerts, commit — for a heart-failure patient on the shipped template. Two databases are built
  alike (SQLite files, or PostgreSQL at TEST_DATABASE_URL / 127.0.0.1 with --postgres): one
  with the safety net, one with its rule versions retired, which the evaluation service then
  leaves out. Each report adds a reading, so both grow alike from round to round.
- engine: rules.evaluate_all over the same 90 days of readings, the template's rules alone and
  with the safety net's rules added.
The figure the issue asks for is the submit path's ratio with / without (aim ≤ 1.10). Each
figure is the best of many short rounds (rules_bench.timed). Prints figures only; nothing
here asserts on timing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from datetime import datetime, timedelta, UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, update  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from homefollow.clock import FixedClock  # noqa: E402
from homefollow.db import make_engine  # noqa: E402
from homefollow.migrate import upgrade  # noqa: E402
from homefollow.models import Measurement, Patient, RuleVersion, Team  # noqa: E402
from homefollow.services import plan_templates, reporting, rulebook  # noqa: E402
from homefollow.services.plan_changes import change_plan  # noqa: E402
from rules import EvaluationContext, Observation, evaluate_all, resolve_parameters  # noqa: E402
from rules.ruleset import default_rules  # noqa: E402
from rules_bench import timed  # noqa: E402  (benchmarks/ is on the path when run as a script)

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DAYS = 90


def _database(postgres: bool, name: str) -> str:
    """A fresh PostgreSQL database by this name (TEST_DATABASE_URL or 127.0.0.1, trust)."""
    import psycopg

    admin = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + f"/{name}"


def _history(rnd: random.Random) -> list[tuple[datetime, str, dict[str, float]]]:
    """90 days of a heart-failure patient's morning weight, blood pressure and pulse."""
    out, weight = [], 70.0
    for d in range(DAYS):
        at = NOW - timedelta(days=DAYS - d, hours=3, minutes=rnd.randint(0, 40))
        weight += rnd.uniform(-0.3, 0.32)
        out.append((at, "weight", {"weight": round(weight, 1)}))
        sys_ = rnd.randint(110, 150)
        out.append((at, "blood_pressure", {"bp_systolic": sys_, "bp_diastolic": sys_ - rnd.randint(35, 55)}))
        out.append((at, "pulse", {"pulse": rnd.randint(60, 95)}))
    return out


def _patient_database(url: str, safety_net: bool):
    """A database with one heart-failure patient on the shipped template and 90 days of
    history written through the service; the safety net's rule versions retired when not
    wanted (the switch the evaluation service reads: it loads the active safety versions)."""
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(NOW - timedelta(days=DAYS + 1))
    session = Session(engine, expire_on_commit=False)
    rulebook.sync_defaults(session, clock)
    if not safety_net:
        session.execute(update(RuleVersion).where(RuleVersion.key.startswith("safety.")).values(status="retired"))
        session.commit()
    team = Team(name="Bench", opening_hours={}, created_at=clock.now())
    session.add(team)
    session.flush()
    patient = Patient(team_id=team.id, name="Bench patient", created_at=clock.now(), monitoring_since=clock.now(),
                      reminders={"enabled": False})
    session.add(patient)
    session.commit()
    template = {t.key: t.content for t in plan_templates.shipped_templates()}["heart_failure"]
    change_plan(session, clock, patient=patient, content=template, author_account_id=None, reason="bench",
                checked=safety_net)
    for i, (at, item, values) in enumerate(_history(random.Random(1))):
        clock.set(at)
        reporting.report_measurement(session, clock, patient=patient, item_key=item, values=values,
                                     idempotency_key=f"h{i}", reported_by_account_id=None, actor_kind="patient")
    clock.set(NOW)
    counter = iter(range(10 ** 9))

    def submit():
        n = next(counter)
        clock.advance(seconds=1)
        reporting.report_measurement(session, clock, patient=patient, item_key="pulse", values={"pulse": 70 + n % 20},
                                     idempotency_key=f"b{n}", reported_by_account_id=None, actor_kind="patient")

    return engine, session, submit


def submit_path(args) -> tuple[float, float]:
    """Two databases built alike, one with the safety net and one without, submitted to in
    turns: each report adds a reading, so both grow alike and a later round is no slower for
    one side than for the other."""
    if args.postgres:
        urls = [_database(True, name) for name in ("hf_safety_bench_on", "hf_safety_bench_off")]
    else:
        folder = Path(tempfile.mkdtemp())
        urls = [f"sqlite:///{folder / 'on.sqlite'}", f"sqlite:///{folder / 'off.sqlite'}"]
    print(f"setting up two {urls[0].split('://')[0]} databases and 90 days of history each …")
    on_engine, on_session, submit_on = _patient_database(urls[0], safety_net=True)
    off_engine, off_session, submit_off = _patient_database(urls[1], safety_net=False)
    print("timing the submit path, in turns with and without the safety net …")
    with_net = without = float("inf")
    for _round in range(3):
        without = min(without, timed("submit, without the safety net", submit_off, args.seconds / 3, 10))
        with_net = min(with_net, timed("submit, with the safety net   ", submit_on, args.seconds / 3, 10))
    readings = on_session.exec(select(func.count()).select_from(Measurement)).one()
    for session, engine in ((on_session, on_engine), (off_session, off_engine)):
        session.close()
        engine.dispose()
    print(f"  ({readings} readings in each database at the end)")
    return with_net, without


def engine_only(args) -> tuple[float, float, int, int]:
    rules = default_rules()
    template = {t.key: t.content for t in plan_templates.shipped_templates()}["heart_failure"]
    plan = [rules[r.key] for r in template.rules]
    safety = [r for r in rules.values() if r.layer == "safety"]
    params = {r.key: resolve_parameters(r, next((a.parameters for a in template.rules if a.key == r.key), None) or None)
              for r in plan + safety}
    rnd = random.Random(1)
    readings = sorted((Observation(code, float(v), at, f"m:{i}-{code}") for i, (at, _item, values)
                       in enumerate(_history(rnd)) for code, v in values.items()), key=lambda o: o.at)
    context = EvaluationContext(tz="Europe/Oslo", active_since=NOW - timedelta(days=DAYS))
    states_plan = {k: ev.state for k, ev in evaluate_all(plan, params, readings, {}, NOW, context).items()}
    states_all = {k: ev.state for k, ev in evaluate_all(plan + safety, params, readings, {}, NOW, context).items()}
    print(f"timing the engine: {len(plan)} plan rules, {len(safety)} safety rules, {len(readings)} readings …")
    alone = with_net = float("inf")
    for _round in range(3):
        alone = min(alone, timed("engine, plan rules alone", lambda: evaluate_all(plan, params, readings, states_plan,
                                                                                      NOW, context), args.seconds / 3))
        with_net = min(with_net, timed("engine, plan + safety net", lambda: evaluate_all(plan + safety, params, readings,
                                                                                           states_all, NOW, context),
                                       args.seconds / 3))
    return with_net, alone, len(plan), len(safety)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measured pair of loops")
    parser.add_argument("--postgres", action="store_true", help="the submit path on PostgreSQL instead of SQLite")
    args = parser.parse_args()
    engine_with, engine_alone, n_plan, n_safety = engine_only(args)
    submit_with, submit_without = submit_path(args)
    engine_ratio, submit_ratio = engine_with / engine_alone, submit_with / submit_without
    print(f"engine:      {engine_alone * 1e3:.3f} ms → {engine_with * 1e3:.3f} ms with the safety net "
          f"({engine_ratio:.2f}×)")
    print(f"submit path: {submit_without * 1e3:.2f} ms → {submit_with * 1e3:.2f} ms with the safety net "
          f"({submit_ratio:.2f}×)")
    print(f"safety_net_bench: heart-failure template ({n_plan} rules) + safety net ({n_safety} rules): submit path "
          f"{submit_ratio:.2f}× ({(submit_ratio - 1) * 100:+.0f} %, aim ≤ +10 %: "
          f"{'met' if submit_ratio <= 1.10 else 'not met'}), engine {engine_ratio:.2f}×")


if __name__ == "__main__":
    main()

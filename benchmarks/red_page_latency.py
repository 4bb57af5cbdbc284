"""Red-page latency: from a red alert opening to its page being handed to the provider.

Run by hand:  .venv/bin/python benchmarks/red_page_latency.py [--alerts 15] [--tick 2] [--hanging 50] [--postgres]

One real scheduler process (`flask --app wsgi scheduler run`) runs against a temporary database
(an SQLite file, or a fresh PostgreSQL database at TEST_DATABASE_URL / 127.0.0.1 with
--postgres) and sends SMS through the real `twilio` library to the local fake Twilio
(tests/fakes/twilio.py). Red alerts are opened through the service a patient's reading goes
through (homefollow.services.reporting), one at a time at random moments of the tick, and each
is timed from the alert's opened_at to the moment the fake accepted the first SMS about it.

Two phases in the same run, with the same process:
- healthy: the provider answers at once;
- hanging: --hanging reminders are queued first to numbers where the provider holds every
  request without answering, so every send slot is taken by a request that only the send
  timeout (SEND_TIMEOUT_SECONDS) ends, and new red alerts open meanwhile.
Baseline: the tick itself, as configured (SCHEDULER_TICK_SECONDS) and as measured from the
process's heartbeats during the healthy phase. Each figure is also given as a ratio of the
tick. An alert not paged within --give-up seconds counts as that many seconds (shown with >).
Prints figures only; nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, select  # noqa: E402

from homefollow.clock import SystemClock  # noqa: E402
from homefollow.db import make_engine  # noqa: E402
from homefollow.escalation import parse_policy  # noqa: E402
from homefollow.migrate import upgrade  # noqa: E402
from homefollow.models import Alert, Channel, Heartbeat  # noqa: E402
from homefollow.notifications import outbox  # noqa: E402
from homefollow.services import reporting  # noqa: E402
from homefollow.services.rulebook import sync_defaults  # noqa: E402
from tests.factories import make_patient, make_staff, make_team, unscheduled_plan  # noqa: E402
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, start_fake_twilio  # noqa: E402

NURSE, ON_CALL = "+4790000101", "+4790000900"
# Every step applies at every hour: the figures do not depend on when the benchmark runs.
POLICY = {
    "name": "Benchmark",
    "steps": [{"target": {"kind": "role", "role": "nurse"}, "channels": ["sms"], "when": "always",
               "wait": {"yellow": 60, "red": 15}}],
    "repeat": 0,
    "fallback": [{"kind": "phone", "number": ON_CALL, "label": "Vakttelefon"}],
    "ack_timeout": {"yellow": 240, "red": 30},
    "snooze_max": {"yellow": 1440, "red": 60},
}


def _database(postgres: bool, directory: Path) -> str:
    if not postgres:
        return f"sqlite:///{directory / 'bench.sqlite'}"
    import psycopg

    name = "hf_red_page_bench"
    admin = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + f"/{name}"


def _build(engine, patients: int) -> list:
    clock = SystemClock()
    with Session(engine, expire_on_commit=False) as s:
        sync_defaults(s, clock)
        team = make_team(s, clock, "Team Rød", on_call_phone=ON_CALL)
        team.escalation_policy = parse_policy(POLICY).model_dump(mode="json")
        s.add(team)
        nurse = make_staff(s, clock, "nurse.bench@example.no", "Nina Nurse", team, "nurse", phone=NURSE)
        people = [make_patient(s, clock, team, f"Pasient {i}", f"+479100{i:04d}", unscheduled_plan(), nurse)
                  for i in range(patients)]
        s.commit()
    return people


def _scheduler(url: str, fake, tick: int, send_timeout: int | None, concurrency: int | None, log: Path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "SMTP_", "HOMEFOLLOW_", "SEND_", "SCHEDULER_")) and k != "FLASK_APP"}
    env.update(DATABASE_URL=url, SECRET_KEY="red-page-benchmark-secret-key-0123456789abcdef",
               TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
               TWILIO_API_BASE_URL=fake.base_url, SCHEDULER_TICK_SECONDS=str(tick), PYTHONUNBUFFERED="1",
               PUBLIC_BASE_URL="https://homefollow.example.no")  # the app refuses to start without it
    if send_timeout is not None:
        env["SEND_TIMEOUT_SECONDS"] = str(send_timeout)
    if concurrency is not None:
        env["SEND_CONCURRENCY"] = str(concurrency)
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Beats:
    """The scheduler's heartbeats, sampled: the tick as the process keeps it."""

    def __init__(self, engine, pid: int):
        # Reads only: on SQLite a deferred transaction, which never takes the write lock.
        self.engine, self.pid, self.seen = engine.execution_options(sqlite_begin="DEFERRED"), pid, []

    def sample(self) -> None:
        with Session(self.engine) as s:
            beat = s.exec(select(Heartbeat.beat_at).where(Heartbeat.pid == self.pid)).first()
        if beat is not None and (not self.seen or beat != self.seen[-1]):
            self.seen.append(beat)

    def median_interval(self) -> float | None:
        gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(self.seen))
        return gaps[len(gaps) // 2] if gaps else None


def _phase(label: str, engine, fake, patients: list, rnd: random.Random, tick: int, give_up: float,
           beats: Beats | None) -> list[float]:
    """Open one red alert per patient, each at a random moment (0–2 ticks after the one
    before), without waiting for pages; then wait for them. The latency of each, in seconds
    (inf: not paged within `give_up` seconds of the last opening)."""
    session = Session(engine, expire_on_commit=False)
    clock = SystemClock()
    opened: dict[str, float] = {}  # short code -> opened_at

    def first_pages() -> dict[str, float]:
        out: dict[str, float] = {}
        for m in list(fake.messages):
            for code in opened:
                if code in m.body and (code not in out or m.received_at < out[code]):
                    out[code] = m.received_at
        return out

    def pause(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if beats:
                beats.sample()
            time.sleep(0.05)

    for i, patient in enumerate(patients, 1):
        pause(rnd.uniform(0, 2 * tick))
        reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": 84},
                                     idempotency_key=f"bench-{patient.id}", reported_by_account_id=None,
                                     actor_kind="patient")
        alert = session.exec(select(Alert).where(Alert.patient_id == patient.id)).one()
        session.commit()  # hold no lock while the scheduler works
        opened[alert.short_code] = alert.opened_at.astimezone(UTC).timestamp()
        print(f"\r  {label}: {i}/{len(patients)} opened, {len(first_pages())} paged", end="", flush=True)
    session.close()
    deadline = time.monotonic() + give_up
    while time.monotonic() < deadline and len(first_pages()) < len(opened):
        pause(0.1)
    paged = first_pages()
    print(f"\r  {label}: {len(opened)}/{len(patients)} opened, {len(paged)} paged")
    return [paged[code] - at if code in paged else float("inf") for code, at in opened.items()]


def _figures(latencies: list[float], give_up: float) -> tuple[str, float, float, float]:
    ordered = sorted(latencies)
    median = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    worst = ordered[-1]

    def show(x: float) -> str:
        return f">{give_up:.0f} s" if x == float("inf") else f"{x:.2f} s"

    return f"median {show(median)}, p95 {show(p95)}, max {show(worst)}", median, p95, worst


def _ratio(x: float, tick: float, give_up: float) -> str:
    return f">{give_up / tick:.1f}" if x == float("inf") else f"{x / tick:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=15, help="red alerts per phase")
    parser.add_argument("--tick", type=int, default=2, help="SCHEDULER_TICK_SECONDS for the process (default 2)")
    parser.add_argument("--hanging", type=int, default=50, help="SMS to hanging recipients queued in phase 2")
    parser.add_argument("--send-timeout", type=int, default=None, help="SEND_TIMEOUT_SECONDS (default: the app's)")
    parser.add_argument("--concurrency", type=int, default=None, help="SEND_CONCURRENCY (default: the app's)")
    parser.add_argument("--give-up", type=float, default=60.0, help="seconds to wait for one page")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of an SQLite file")
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    directory = Path(tempfile.mkdtemp(prefix="red_page_bench_"))
    log = directory / "scheduler.log"
    fake = start_fake_twilio()
    process = None
    try:
        url = _database(args.postgres, directory)
        engine = make_engine(url)
        upgrade(engine)
        patients = _build(engine, 2 * args.alerts)
        timeout = f"{args.send_timeout} s" if args.send_timeout is not None else "the app's default"
        print(f"red_page_latency: {engine.dialect.name}, tick {args.tick} s, send timeout {timeout}, "
              f"{args.alerts} red alerts per phase")
        process = _scheduler(url, fake, args.tick, args.send_timeout, args.concurrency, log)
        beats = Beats(engine, process.pid)

        def started():
            if process.poll() is not None:
                return "exited"
            beats.sample()
            return bool(beats.seen)

        if _wait(started, 60) is not True:
            sys.exit(f"the scheduler did not start ticking; see {log}")
        healthy = _phase("healthy provider", engine, fake, patients[:args.alerts], rnd, args.tick, args.give_up, beats)
        measured_tick = beats.median_interval()

        hanging = [f"+479700{i:04d}" for i in range(args.hanging)]
        with Session(engine) as s:
            for number in hanging:
                fake.modes[number] = "hang"
                outbox.enqueue(s, SystemClock(), dedup_key=f"bench-reminder-{number}", channel=Channel.SMS,
                               recipient=number, body="HomeFollow: husk å måle i dag.")
            s.commit()
        _wait(lambda: fake.held, 30)
        time.sleep(args.tick)  # let every send slot fill
        held = fake.held
        print(f"  hanging provider: {args.hanging} reminders queued, {held or 0} requests held")
        stalled = _phase(f"hanging provider ({args.hanging} SMS held)", engine, fake, patients[args.alerts:], rnd,
                         args.tick, args.give_up, None)
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        fake.close()

    tick = float(args.tick)
    baseline = f"tick {tick:.0f} s (measured {measured_tick:.2f} s)" if measured_tick else f"tick {tick:.0f} s"
    text_h, med_h, p95_h, max_h = _figures(healthy, args.give_up)
    text_s, med_s, p95_s, max_s = _figures(stalled, args.give_up)
    print(f"  baseline: {baseline}")
    print(f"  healthy:  {text_h}  = {_ratio(med_h, tick, args.give_up)} / {_ratio(p95_h, tick, args.give_up)} / "
          f"{_ratio(max_h, tick, args.give_up)} ticks")
    print(f"  hanging:  {text_s}  = {_ratio(med_s, tick, args.give_up)} / {_ratio(p95_s, tick, args.give_up)} / "
          f"{_ratio(max_s, tick, args.give_up)} ticks")
    print(f"red_page_latency: {baseline}; red page healthy median {_ratio(med_h, tick, args.give_up)} / "
          f"p95 {_ratio(p95_h, tick, args.give_up)} / max {_ratio(max_h, tick, args.give_up)} ticks, "
          f"provider hanging ({args.hanging} SMS) median {_ratio(med_s, tick, args.give_up)} / "
          f"p95 {_ratio(p95_s, tick, args.give_up)} / max {_ratio(max_s, tick, args.give_up)} ticks")
    if float("inf") in healthy + stalled:
        print(f"  (some alerts were not paged: the scheduler's log is kept in {log})")
    else:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()

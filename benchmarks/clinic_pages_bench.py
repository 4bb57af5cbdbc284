"""How fast the clinician portal's busiest pages render for a team of 100 and a team of 1,000
on the same realistic database (issue 22: a page must not grow with the team).

Run by hand:  .venv/bin/python benchmarks/clinic_pages_bench.py
              [--database-url postgresql://postgres@127.0.0.1:5432/bench_ppage_clinic] [--runs 11]

Builds a database with 10,000 patients: team 1 has 1,000 of them, team 2 has 100, the rest are
spread over further teams (three municipalities); 1,000,000 measurements with their reports over
the last 90 days (bulk inserts, with progress); 5,000 open alerts, one each for patients
1-5,000 (so team 1 has 1,000 and team 2 has 100, a seventh of them red); for the figures page a plan for every patient (weight at
08:00, SpO2 at 08:00 and 18:00), a service person with 8 events around inclusion and 20,000
resolved alerts over the last year. Signs in one nurse of team 1 and one of team 2, then times,
interleaved in the same run, GET of the triage queue (/clinic/), the patient overview
(/clinic/patients, and sorted by adherence), the figures page (/clinic/figures?team=…) for each
team, and /healthz (anonymous) as a trivial page, through the app's WSGI stack (Flask's test client, no network).
Times the figures page once before the scheduler's adherence roll-up has run (every day counted
afresh) and the roll-up's first run, then prints per page the team-100 and team-1000 medians,
their ratio and the HTML sizes, ending with a one-line summary.
SQLite by default (a temporary file); a PostgreSQL URL's database is created, and dropped at
the end (`--keep`: kept for the next run, which empties its kept adherence days). Nothing here
asserts on timing.

`run()` (one nurse, pages against /healthz) is also used by benchmarks/figures_bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time as timer
from datetime import datetime, timedelta, UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from homefollow import create_app  # noqa: E402
from homefollow.clock import FixedClock  # noqa: E402
from homefollow.db import make_engine  # noqa: E402
from homefollow.migrate import upgrade  # noqa: E402
from homefollow.scheduler import roll_up_adherence  # noqa: E402
from homefollow.models import (Account, Alert, Measurement, Organisation, Patient, Report, Team,  # noqa: E402
                               TeamMembership)
from homefollow.services.accounts import configure_hasher, hash_password  # noqa: E402
from tests.factories import staff_totp_secret  # noqa: E402  (the same second factor the tests sign in with)

NOW = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
CHUNK = 20_000
NURSE = "bench.nurse@example.no"
SMALL_NURSE = "bench.nurse.small@example.no"  # a nurse of team 2 (100 patients)
SIZES = (1_000, 100)  # teams 1 and 2
PASSWORD = "bench password 1234"
CODES = (("weight", 74.0), ("spo2", 95.0), ("pulse", 72.0), ("systolic", 135.0))


def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done:,}/{total:,}", end="" if done < total else "\n", flush=True)


def team_layout(patients: int, teams: int, sizes: tuple[int, ...] = ()) -> list[int]:
    """Team id of each patient (index pid - 1): the first teams have `sizes` patients, the
    others share the rest in turn."""
    layout = [t + 1 for t, n in enumerate(sizes) for _ in range(n)][:patients]
    rest = max(1, teams - len(sizes))
    layout += [len(sizes) + i % rest + 1 for i in range(patients - len(layout))]
    return layout


def build(engine, patients: int, measurements: int, open_alerts: int, teams: int, sizes: tuple[int, ...] = ()
          ) -> list[int]:
    then = NOW - timedelta(days=90)
    team_of = team_layout(patients, teams, sizes)
    with engine.begin() as conn:
        conn.execute(insert(Team), [{"id": t + 1, "name": f"Team {t + 1:02d}", "time_zone": "Europe/Oslo",
                                     "opening_hours": {}, "created_at": then} for t in range(teams)])
        conn.execute(insert(Organisation), [{"id": m + 1, "name": f"Kommune {m + 1}", "kind": "municipality",
                                             "created_at": then} for m in range(3)])
        conn.execute(insert(Account), [{"id": 1, "kind": "staff", "login": NURSE, "name": "Bench Nurse", "email": NURSE,
                                        "password_hash": hash_password(PASSWORD), "created_at": then,
                                        "totp_secret": staff_totp_secret(NURSE), "totp_enabled_at": then}])
        conn.execute(insert(TeamMembership), [{"team_id": 1, "account_id": 1, "role": "nurse", "created_at": then}])
        if len(sizes) > 1:
            conn.execute(insert(Account), [{"id": 2, "kind": "staff", "login": SMALL_NURSE, "name": "Bench Nurse Small",
                                            "email": SMALL_NURSE, "password_hash": hash_password(PASSWORD),
                                            "created_at": then, "totp_secret": staff_totp_secret(SMALL_NURSE),
                                            "totp_enabled_at": then}])
            conn.execute(insert(TeamMembership), [{"team_id": 2, "account_id": 2, "role": "nurse",
                                                   "created_at": then}])
        for start in range(0, patients, CHUNK):
            n = min(CHUNK, patients - start)
            conn.execute(insert(Patient), [
                {"id": start + i + 1, "team_id": team_of[start + i], "municipality_id": (start + i) % 3 + 1,
                 "name": f"Pasient {start + i + 1}", "time_zone": "Europe/Oslo", "diagnoses": [], "status": "active",
                 "is_demo": False, "created_at": then, "monitoring_since": then, "reminders": {}} for i in range(n)])
            progress("patients", start + n, patients)
        # One report per measurement, spread evenly over the patients and the last 90 days.
        step = timedelta(days=90) / max(1, measurements // patients)
        for start in range(0, measurements, CHUNK):
            n = min(CHUNK, measurements - start)
            reports, values = [], []
            for i in range(start, start + n):
                pid, k = i % patients + 1, i // patients
                code, value = CODES[i % len(CODES)]
                at = then + step * k
                reports.append({"id": i + 1, "patient_id": pid, "kind": "measurement", "item_key": code,
                                "idempotency_key": f"b{i}", "source": "device", "reported_at": at, "measured_at": at,
                                "zone": "green", "instructions": [], "team_alerted": False})
                values.append({"id": i + 1, "report_id": i + 1, "patient_id": pid, "code": code, "value": value,
                               "measured_at": at})
            conn.execute(insert(Report), reports)
            conn.execute(insert(Measurement), values)
            progress("reports and measurements", start + n, measurements)
        rows = []
        for i in range(open_alerts):
            pid = i % patients + 1
            at = NOW - timedelta(minutes=5 + i % 600)
            severity = "red" if i % 7 == 0 else "yellow"
            text = {"nb": "Vekt 74 kg", "en": "Weight 74 kg"}
            rows.append({"patient_id": pid, "team_id": team_of[pid - 1], "rule_key": f"bench.{i // patients}",
                         "rule_version": 1, "title": {"nb": "Vekt over grensen", "en": "Weight above the limit"},
                         "severity": severity, "status": "acknowledged" if i % 5 == 0 else "open",
                         "acknowledged_by_account_id": 1 if i % 5 == 0 else None,
                         "acknowledged_at": at if i % 5 == 0 else None,
                         "assigned_to_account_id": 1 if i % 9 == 0 else None,
                         "short_code": f"B{i:06d}", "opened_at": at, "severity_since": at, "last_seen_at": at,
                         "occurrences": 1, "value_text": text, "threshold_text": {"nb": "> 70 kg", "en": "> 70 kg"},
                         "explanation": {"nb": "Vekten er over grensen i planen.", "en": "The weight is above the plan's limit."},
                         "last_report_id": pid})
        conn.execute(insert(Alert), rows)
        progress("open alerts", open_alerts, open_alerts)
    return team_of


def sign_in(client, login: str = NURSE) -> None:
    from tests.webclient import WebClient

    WebClient(client).login_staff(login, PASSWORD)
    response = client.get("/clinic/")
    if response.status_code != 200:
        raise SystemExit(f"signing in the nurse failed: /clinic/ answered {response.status_code}")


def time_pages(nurse, anonymous, runs: int, urls: tuple[str, ...] = ("/clinic/", "/clinic/patients")
               ) -> dict[str, list[float]]:
    """/healthz is asked by an anonymous client, as monitoring does: on SQLite, a signed-in
    request already holds the write lock in its own session when healthz opens a second
    connection, and would wait for the busy timeout (see the report of this benchmark)."""
    clients = {"/healthz": anonymous, **{url: nurse for url in urls}}
    pages = {url: [] for url in clients}
    status = {url: clients[url].get(url).status_code for url in pages}  # warm-up, and which pages exist
    for url, code in status.items():
        if code == 404:
            print(f"  {url} answered 404 (not built yet): skipped")
            del pages[url]
        elif code not in (200, 503):
            print(f"  {url} answered {code}")
    for _ in range(runs):
        for url, times in pages.items():
            t0 = timer.perf_counter()
            clients[url].get(url)
            times.append(timer.perf_counter() - t0)
    return pages


def _admin_conninfo(url) -> str:
    return (f"host={url.host or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
            + (f" password={url.password}" if url.password else ""))


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", help="default: SQLite in a temporary file")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--keep", action="store_true",
                        help="PostgreSQL: keep the database afterwards, and reuse one a --keep run left")
    return parser


def _database(url: str | None, keep: bool = False):
    """(url, backend, cleanup, built): a temporary SQLite file by default; a PostgreSQL database
    is created afresh and dropped by cleanup() — with `keep`, one a kept run left is reused
    (built) and nothing is dropped."""
    tmp = None
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench.sqlite"
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    built = False
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(_admin_conninfo(parsed), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
            if keep and exists:
                built = True
            else:
                conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{parsed.database}"')

    def cleanup() -> None:
        if backend == "postgresql" and not keep:
            import psycopg

            with psycopg.connect(_admin_conninfo(parsed), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if tmp is not None:
            tmp.cleanup()
    return url, backend, cleanup, built


def _app(url: str, engine):
    return create_app({"TESTING": True, "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                       "DATABASE_URL": url, "ENGINE": engine, "CLOCK": FixedClock(NOW),
                       "SESSION_COOKIE_SECURE": False, "RATELIMIT_STORAGE_URI": "memory://",
                       "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "DEMO": False})


PAGES = (("queue", "/clinic/"), ("overview", "/clinic/patients"), ("by adherence", "/clinic/patients?sort=adherence"),
         ("figures", "/clinic/figures?team={team}"))


def compare_teams(args) -> None:
    """Team 2 (100 patients) against team 1 (1,000) on the same database, interleaved."""
    from benchmarks.figures_bench import add_figures_data

    configure_hasher(time_cost=1, memory_cost=8)
    url, backend, cleanup, built = _database(args.database_url, args.keep)
    try:
        engine = make_engine(url)
        upgrade(engine)
        print(f"clinic_pages_bench on {backend}: {args.patients:,} patients (teams of {SIZES[1]:,} and {SIZES[0]:,}, "
              f"the rest in {args.teams - len(SIZES)} more teams), {args.measurements:,} measurements, "
              f"{args.alerts:,} open alerts")
        started = timer.perf_counter()
        if built:
            print("  reusing the database a --keep run left (its kept adherence days emptied)")
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM adherence_day")
                conn.exec_driver_sql("DELETE FROM adherence_rollup")
        else:
            team_of = build(engine, args.patients, args.measurements, args.alerts, args.teams, SIZES)
            add_figures_data(engine, args, team_of)
        if backend == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        print(f"  built in {timer.perf_counter() - started:.1f} s")
        app = _app(url, engine)
        nurses = {1: app.test_client(), 2: app.test_client()}
        sign_in(nurses[1], NURSE)
        sign_in(nurses[2], SMALL_NURSE)
        anonymous = app.test_client()
        requests = [("healthz", 0, anonymous, "/healthz")]
        requests += [(page, team, nurses[team], url.format(team=team)) for page, url in PAGES for team in (2, 1)]
        times = {(page, team): [] for page, team, _c, _u in requests}
        first = {}  # the figures page before the scheduler has counted any adherence day
        for team in (2, 1):
            t0 = timer.perf_counter()
            nurses[team].get(f"/clinic/figures?team={team}")
            first[team] = timer.perf_counter() - t0
        t0 = timer.perf_counter()
        counted = roll_up_adherence(engine, FixedClock(NOW))
        print(f"  the scheduler's adherence roll-up, first run: {counted:,} patients in {timer.perf_counter() - t0:.1f} s")
        size = {}
        for page, team, client, address in requests:  # warm-up, and the HTML size
            response = client.get(address)
            if response.status_code != 200:
                print(f"  {address} for team {team} answered {response.status_code}")
            size[page, team] = len(response.get_data())
        for run_ in range(args.runs):
            for page, team, client, address in requests:
                t0 = timer.perf_counter()
                client.get(address)
                times[page, team].append(timer.perf_counter() - t0)
            progress("runs", run_ + 1, args.runs)
        median = {key: statistics.median(values) for key, values in times.items()}
        print(f"  /healthz median {median['healthz', 0] * 1000:.1f} ms ({args.runs} runs, medians below)")
        print(f"  {'page':<12} {'team 100':>10} {'team 1000':>10} {'ratio':>6} {'HTML 100':>9} {'HTML 1000':>10}")
        summary = []
        for page, _url in PAGES:
            small, big = median[page, 2], median[page, 1]
            print(f"  {page:<12} {small * 1000:8.1f} ms {big * 1000:7.1f} ms {big / small:5.2f}× "
                  f"{size[page, 2] / 1000:6.0f} kB {size[page, 1] / 1000:7.0f} kB")
            summary.append(f"{page} {small * 1000:.0f}/{big * 1000:.0f} ms ×{big / small:.2f}")
        t0 = timer.perf_counter()
        counted = roll_up_adherence(engine, FixedClock(NOW + timedelta(days=1)))
        print(f"  the roll-up a day later (the day that ended): {counted:,} patients in {timer.perf_counter() - t0:.1f} s")
        print(f"  figures before the roll-up (every adherence day counted afresh): team 100 {first[2] * 1000:.0f} ms, "
              f"team 1000 {first[1] * 1000:.0f} ms")
        print(f"clinic_pages_bench {backend} {args.measurements:,} reports: team 100/1000: " + "; ".join(summary))
        engine.dispose()
    finally:
        cleanup()


def run(name: str, args, urls: tuple[str, ...], extra=None) -> None:
    """Build the database (and `extra(engine, args)` on top), sign the nurse in, time `urls`
    against /healthz, print the medians and ratios."""
    configure_hasher(time_cost=1, memory_cost=8)

    tmp = None
    url = args.database_url
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench.sqlite"
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        import psycopg

        with psycopg.connect(_admin_conninfo(parsed), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    backend = parsed.get_backend_name()
    try:
        engine = make_engine(url)
        upgrade(engine)
        print(f"{name} on {backend}: {args.patients:,} patients, {args.measurements:,} measurements, "
              f"{args.alerts:,} open alerts in {args.teams} teams")
        started = timer.perf_counter()
        build(engine, args.patients, args.measurements, args.alerts, args.teams)
        if extra is not None:
            extra(engine, args)
        if backend == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        print(f"  built in {timer.perf_counter() - started:.1f} s")
        app = create_app({"TESTING": True, "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                          "DATABASE_URL": url, "ENGINE": engine, "CLOCK": FixedClock(NOW),
                          "SESSION_COOKIE_SECURE": False, "RATELIMIT_STORAGE_URI": "memory://",
                          "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "DEMO": False})
        client = app.test_client()
        sign_in(client)
        pages = time_pages(client, app.test_client(), args.runs, urls)
        base = statistics.median(pages["/healthz"])
        summary = []
        width = max(len(page) for page in pages)
        for page, times in pages.items():
            median = statistics.median(times)
            ratio = median / base if base else float("nan")
            print(f"  {page:<{width}} median {median * 1000:8.1f} ms   ×{ratio:6.1f} the trivial page ({len(times)} runs)")
            if page != "/healthz":
                summary.append(f"{page} {median * 1000:.0f} ms (×{ratio:.0f})")
        print(f"{name} {backend}: /healthz {base * 1000:.1f} ms; " + "; ".join(summary))
        engine.dispose()
    finally:
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(_admin_conninfo(parsed), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    parser = arguments()
    parser.set_defaults(runs=11, teams=11)
    compare_teams(parser.parse_args())


if __name__ == "__main__":
    main()

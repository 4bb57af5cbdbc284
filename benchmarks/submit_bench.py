"""The submit path over HTTP: the patient's web form and the device API, against a bare Flask app.

Run by hand (PostgreSQL 15 on 127.0.0.1:5432, Debian's wrk; see docs/performance.md):
  .venv/bin/python benchmarks/submit_bench.py [--backend postgresql|sqlite] [--patients 10000]
        [--reports 1000000] [--concurrency 8,32,64] [--seconds 15] [--workers 2] [--pgbouncer]
        [--tree DIR]   (run HomeFollow from another checkout too, e.g. main, interleaved)
  .venv/bin/python benchmarks/submit_bench.py --healthz   (/healthz against a constant endpoint)

Builds a database (bulk inserts, with progress): --patients patients of one team on the
standard plan (SpO2, weight over a dry weight of 68 kg, blood pressure) with a password
account each, known to a hospital's token by a local id, and --reports reports of history
over 90 days (weight and SpO2). Starts gunicorn (sync workers) with HomeFollow and with a bare
Flask app whose one endpoint answers a constant, signs in --users patients over HTTP (their
session cookie and CSRF token), and drives with wrk, interleaved at each concurrency: bare,
web form POST /report/weight, API POST /api/observations, bare again. One reading in ten is out
of range (weight 72–76 kg; SpO2 86 %) and must alert. Afterwards it checks in the database that
every accepted reading (302 / 201) was stored once and every out-of-range one alerted.

Per run: req/s, p50/p95/p99, the ratio to the bare app, CPU ms per request of the gunicorn
workers (/proc/<pid>/stat utime+stime) and of the PostgreSQL backends of the database, and
transactions per request (pg_stat_database). SQL statements per submit are counted in-process
for one submit of each (SQLAlchemy events). Rate limits are off in the app under test (one
address sends everything; the limiter's memory storage is not what is measured).
Nothing here asserts on timing; the machine's load is printed with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time as timer
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
PASSWORD = "bench password 1234"
SOURCE = "BENCH"
DB_NAME = "bench_psub_submit"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 20_000
TICKS = os.sysconf("SC_CLK_TCK")


# ---- the apps gunicorn runs ------------------------------------------------------------------

def homefollow_app():
    """HomeFollow as production runs it, from DATABASE_URL, with rate limits off and a constant
    endpoint beside it (for --healthz)."""
    from homefollow import create_app

    app = create_app({"RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": "http://127.0.0.1"})
    app.add_url_rule("/bench/constant", "bench_constant", lambda: {"status": "ok"})
    return app


def bare_app():
    from flask import Flask

    app = Flask("bare")
    app.add_url_rule("/", "constant", lambda: "ok", methods=["GET", "POST"])
    return app


# ---- the database ----------------------------------------------------------------------------

def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done:,}/{total:,}", end="" if done < total else "\n", flush=True)


def phone(n: int) -> str:
    return f"+479{n:07d}"


def build(url: str, patients: int, reports: int) -> str:
    """The database; returns the API token."""
    from sqlalchemy import insert, select

    from homefollow.clock import SystemClock
    from homefollow.db import make_engine
    from homefollow.migrate import upgrade
    from homefollow.models import (Account, CarePlan, Organisation, Patient, ServicePerson, Team,
                                   TeamMembership)
    from homefollow.services import api_tokens, rulebook
    from homefollow.services.accounts import configure_hasher, hash_password
    from homefollow.transactions import unit_of_work
    from tests.factories import standard_plan

    engine = make_engine(url)
    upgrade(engine)
    clock = SystemClock()
    now = clock.now()
    then = now - timedelta(days=91)
    configure_hasher(1, 8)  # cheap to verify: the sign-ins are set-up, not what is measured
    password_hash = hash_password(PASSWORD)
    with unit_of_work(engine) as session:  # services leave the commit to their caller
        rulebook.sync_defaults(session, clock)
    content = standard_plan().model_dump(mode="json")
    with engine.begin() as conn:
        org_id = conn.execute(insert(Organisation).values(name="Bench sykehus", kind="hospital", created_at=then)
                              .returning(Organisation.id)).scalar()
        team_id = conn.execute(insert(Team).values(
            name="Bench team", phone="+4777000000", on_call_phone="+4790000001", out_of_hours_phone="+4790000002",
            time_zone="Europe/Oslo", opening_hours={d: ["00:00", "23:59"] for d in
                                                    ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            created_at=then).returning(Team.id)).scalar()
        nurse = conn.execute(insert(Account).values(kind="staff", login="bench.nurse@example.no", name="Bench Nurse",
                                                    email="bench.nurse@example.no", organisation_id=org_id,
                                                    created_at=then).returning(Account.id)).scalar()
        conn.execute(insert(TeamMembership).values(team_id=team_id, account_id=nurse, role="nurse", created_at=then))
        for start in range(0, patients, CHUNK):
            n = min(CHUNK, patients - start)
            conn.execute(insert(Account), [{"kind": "patient", "login": phone(start + i), "phone": phone(start + i),
                                            "name": f"Pasient {start + i}", "password_hash": password_hash,
                                            "created_at": then} for i in range(n)])
            progress("accounts", start + n, patients)
        accounts = conn.execute(select(Account.id, Account.login).where(Account.kind == "patient")
                                .order_by(Account.id)).all()
        for start in range(0, patients, CHUNK):
            conn.execute(insert(Patient), [
                {"account_id": aid, "team_id": team_id, "name": f"Pasient {i}", "phone": login,
                 "time_zone": "Europe/Oslo", "diagnoses": [], "status": "active", "created_at": then,
                 "monitoring_since": then, "reminders": {"enabled": False}}
                for i, (aid, login) in enumerate(accounts[start:start + CHUNK], start)])
            progress("patients", min(start + CHUNK, patients), patients)
        ids = [r[0] for r in conn.execute(select(Patient.id).order_by(Patient.id))]
        for start in range(0, patients, CHUNK):
            chunk = ids[start:start + CHUNK]
            conn.execute(insert(CarePlan), [{"patient_id": pid, "version": 1, "content": content, "created_at": then,
                                             "change_reason": "bench"} for pid in chunk])
            conn.execute(insert(ServicePerson), [
                {"team_id": team_id, "person_key": f"local:{SOURCE}:L{i}", "name": f"Pasient {i}", "patient_id": pid,
                 "created_at": then, "updated_at": then} for i, pid in enumerate(chunk, start)])
            progress("plans and identifiers", start + len(chunk), patients)
        _history(conn, ids, reports, now)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    with unit_of_work(engine) as session:
        token = api_tokens.create(session, clock, organisation_id=org_id, name="Bench hub", source=SOURCE,
                                  scopes=["observations:write"]).token
    engine.dispose()
    return token


def _history(conn, ids: list[int], reports: int, now: datetime) -> None:
    """`reports` reports spread over the patients' last 90 days, each with its measurement:
    weight and SpO2 in turn, all in the green."""
    if not reports:
        return
    per = max(1, reports // len(ids))
    step = timedelta(days=90) / per
    if conn.dialect.name == "postgresql":
        # In the database: a million rows in a few statements instead of a million parameters.
        for start in range(0, len(ids), 500):
            lo, hi = ids[start], ids[min(start + 500, len(ids)) - 1]
            conn.exec_driver_sql(f"""
                INSERT INTO report (patient_id, kind, item_key, idempotency_key, source, reported_at, measured_at,
                                    zone, instructions, team_alerted)
                SELECT p.id, 'measurement', CASE WHEN n % 2 = 0 THEN 'weight' ELSE 'spo2' END, 'h' || n, 'device',
                       m, m, 'green', '[]', false
                FROM patient p, generate_series(1, {per}) n,
                     LATERAL (SELECT TIMESTAMPTZ '{(now - timedelta(days=90)).isoformat()}'
                                     + n * INTERVAL '{step.total_seconds()} seconds' AS m) t
                WHERE p.id BETWEEN {lo} AND {hi}""")
            conn.exec_driver_sql(f"""
                INSERT INTO measurement (report_id, patient_id, code, value, measured_at)
                SELECT r.id, r.patient_id, r.item_key,
                       CASE WHEN r.item_key = 'weight' THEN 66 + (r.id % 30) / 10.0 ELSE 94 + r.id % 5 END,
                       r.measured_at
                FROM report r WHERE r.patient_id BETWEEN {lo} AND {hi}""")
            progress("history reports", min(start + 500, len(ids)) * per, len(ids) * per)
        return
    from sqlalchemy import insert, select

    from homefollow.models import Measurement, Report

    total = len(ids) * per
    done = 0
    for start in range(0, len(ids), max(1, CHUNK // per)):
        chunk = ids[start:start + max(1, CHUNK // per)]
        rows = [{"patient_id": pid, "kind": "measurement", "item_key": "weight" if n % 2 == 0 else "spo2",
                 "idempotency_key": f"h{n}", "source": "device", "reported_at": now - timedelta(days=90) + n * step,
                 "measured_at": now - timedelta(days=90) + n * step, "zone": "green", "instructions": [],
                 "team_alerted": False} for pid in chunk for n in range(1, per + 1)]
        conn.execute(insert(Report), rows)
        got = conn.execute(select(Report.id, Report.patient_id, Report.item_key, Report.measured_at)
                           .where(Report.patient_id.in_(chunk))).all()
        conn.execute(insert(Measurement), [
            {"report_id": rid, "patient_id": pid, "code": item,
             "value": 66 + (rid % 30) / 10 if item == "weight" else 94 + rid % 5, "measured_at": at}
            for rid, pid, item, at in got])
        done += len(rows)
        progress("history reports", done, total)


# ---- processes and measurements ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(target: str, workers: int, env: dict, tree: Path = ROOT) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(f"/tmp/psub_gunicorn_{port}.log", "w") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(workers), "--worker-class", "sync",
             "--bind", f"127.0.0.1:{port}", "--chdir", str(tree), "--pythonpath", f"{tree},{ROOT / 'benchmarks'}",
             "--log-level", "warning", "--timeout", "120", target],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)
    # Ready when every worker has answered (each imports and builds the app; slow on a busy machine).
    deadline, answered = timer.time() + 300, 0
    while answered < workers * 3 and timer.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/__ready__", timeout=120)
        except urllib.error.HTTPError:
            answered += 1
        except OSError:
            timer.sleep(0.2)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / TICKS


class Postgres:
    """The CPU of the backends serving the database, and its transaction count."""

    def __init__(self, admin_url: str, database: str):
        import psycopg

        self.conn = psycopg.connect(admin_url, autocommit=True)
        self.database = database

    def backends(self) -> list[int]:
        return [r[0] for r in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.database,))]

    def xacts(self) -> int:
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        return self.conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                                 (self.database,)).fetchone()[0]


# ---- wrk ---------------------------------------------------------------------------------------

LUA_COMMON = r"""
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0)) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for s, n in pairs(c) do all[s] = (all[s] or 0) + n end
  end
  local parts = {}
  for s, n in pairs(all) do table.insert(parts, string.format('"%d": %d', s, n)) end
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "errors": %d, "p50": %f, "p95": %f, "p99": %f, '
    .. '"statuses": {%s}}\n', summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ", ")))
end
local function hex(n) local s = "" for i = 1, n do s = s .. string.format("%x", math.random(0, 15)) end return s end
"""

LUA_WEB = LUA_COMMON + r"""
local users = {}
for line in io.lines("{users}") do
  local cookie, csrf = line:match("([^\t]+)\t([^\t]+)")
  table.insert(users, {cookie = cookie, csrf = csrf})
end
function request()
  local u = users[math.random(#users)]
  local kg
  if math.random(10) == 1 then kg = 72 + math.random(0, 39) / 10 else kg = 64 + math.random(0, 59) / 10 end
  local body = "csrf_token=" .. u.csrf .. "&idempotency_key=" .. hex(32) .. "&weight=" .. string.format("%.1f", kg)
    .. "&confirm_repeat=&unit=&unit_for="
  return wrk.format("POST", "/report/weight", {["Cookie"] = u.cookie,
    ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""

LUA_API = LUA_COMMON + r"""
local patients = {patients}
function request()
  local spo2
  if math.random(10) == 1 then spo2 = 86 else spo2 = 94 + math.random(0, 5) end
  local body = string.format('{"id": "b-%s", "patient": {"local_id": "L%d"}, "measured_at": "%s", '
    .. '"item": "spo2", "values": {"spo2": %d}}', hex(24), math.random(0, patients - 1),
    os.date("!%Y-%m-%dT%H:%M:%SZ"), spo2)
  return wrk.format("POST", "/api/observations", {["Authorization"] = "Bearer {token}",
    ["Content-Type"] = "application/json"}, body)
end
"""

LUA_GET = LUA_COMMON + r"""
function request() return wrk.format("{method}", "{path}") end
"""


def wrk(port: int, script: str, connections: int, seconds: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    threads = min(2, connections)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                          "-s", f.name, f"http://127.0.0.1:{port}"], capture_output=True, text=True)
    os.unlink(f.name)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(out.stdout + out.stderr)
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / result["seconds"]
    return result


# ---- signing in ------------------------------------------------------------------------------

def sign_in(port: int, login: str) -> tuple[str, str]:
    """A patient's session cookie and the CSRF token of the weight form."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(method, path, cookie=None, body=None):
        headers = {"Cookie": cookie} if cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=urllib.parse.urlencode(body) if body else None, headers=headers)
        response = conn.getresponse()
        page = response.read().decode()
        set_cookie = response.getheader("Set-Cookie") or ""
        return response.status, page, set_cookie.split(";", 1)[0] or cookie

    status, page, cookie = call("GET", "/login")
    csrf = csrf_of(page)
    status, page, cookie = call("POST", "/login", cookie, {"csrf_token": csrf, "login": login, "password": PASSWORD})
    assert status == 302, (status, page[:500])
    status, page, cookie = call("GET", "/report/weight", cookie)
    assert status == 200, status
    conn.close()
    return cookie, urllib.parse.quote(csrf_of(page), safe="")


def csrf_of(page: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page).group(0)
    return re.search(r'value="([^"]+)"', tag).group(1)


# ---- statements per submit, in-process ---------------------------------------------------------

def statements_per_submit(url: str, token: str, patient: int) -> dict:
    """SQL statements and transactions of one web-form submit and one API call (after one
    warm-up each), counted by SQLAlchemy events on the app's engine. pool_pre_ping adds one
    round trip per request beside these."""
    from sqlalchemy import event

    from homefollow import create_app
    from homefollow.db import make_engine

    engine = make_engine(url)
    app = create_app({"RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False, "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": "http://127.0.0.1",
                      "DATABASE_URL": url, "ENGINE": engine})
    counts = {"statements": 0, "commits": 0}
    event.listen(engine, "before_cursor_execute", lambda *a: counts.__setitem__("statements", counts["statements"] + 1))
    event.listen(engine, "commit", lambda *a: counts.__setitem__("commits", counts["commits"] + 1))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = csrf_of(page)
    assert client.post("/login", data={"csrf_token": csrf, "login": phone(patient), "password": PASSWORD}).status_code == 302
    page = client.get("/report/weight").get_data(as_text=True)
    csrf = csrf_of(page)
    found = {}
    for label, send in (
            ("web form", lambda n: client.post("/report/weight", data={
                "csrf_token": csrf, "idempotency_key": f"count-{n}-{timer.time()}", "weight": f"6{n}.{n}"})),
            ("API", lambda n: client.post("/api/observations", headers={"Authorization": f"Bearer {token}"}, json={
                "id": f"count-{n}-{timer.time()}", "patient": {"local_id": f"L{patient}"},
                "measured_at": datetime.now(UTC).isoformat(), "item": "spo2", "values": {"spo2": 95 + n}}))):
        send(1)  # warm: caches, the rule states' first insert
        counts.update(statements=0, commits=0)
        response = send(2)
        assert response.status_code in (201, 302), response.get_data(as_text=True)[:500]
        found[label] = dict(counts)
    engine.dispose()
    return found


def cpu_per_submit(url: str, token: str, first: int, n: int) -> dict:
    """CPU ms per submit of this process (app and Flask's test client, no HTTP, no gunicorn), n
    web-form submits and n API calls after 10 warm-up calls each, patients `first`… in turn
    (each once). The same code for any checkout: run by --cpu in a child process per tree."""
    import logging

    from homefollow import create_app
    from homefollow.db import make_engine

    logging.disable(logging.WARNING)
    engine = make_engine(url)
    app = create_app({"RATELIMIT_ENABLED": False, "SESSION_COOKIE_SECURE": False, "SECRET_KEY": SECRET,
                      "PUBLIC_BASE_URL": "http://127.0.0.1", "DATABASE_URL": url, "ENGINE": engine})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"csrf_token": csrf_of(page), "login": phone(first),
                                       "password": PASSWORD}).status_code == 302
    csrf = csrf_of(client.get("/report/weight").get_data(as_text=True))
    stamp = f"{timer.time():.0f}"

    def web(i):
        response = client.post("/report/weight", data={"csrf_token": csrf, "idempotency_key": f"cpu-{stamp}-{i}",
                                                       "weight": f"{64 + i % 60 / 10:.1f}"})
        assert response.status_code in (200, 302), response.status_code

    def api(i):
        response = client.post("/api/observations", headers={"Authorization": f"Bearer {token}"}, json={
            "id": f"cpu-{stamp}-{i}", "patient": {"local_id": f"L{first + i}"},
            "measured_at": datetime.now(UTC).isoformat(), "item": "spo2", "values": {"spo2": 94 + i % 5}})
        assert response.status_code == 201, response.get_data(as_text=True)[:300]

    found = {}
    for label, send in (("web", web), ("api", api)):
        for i in range(10):
            send(n + i)
        t0 = timer.process_time()
        for i in range(n):
            send(i)
        found[label] = (timer.process_time() - t0) * 1000 / n
    engine.dispose()
    return found


# ---- checking what was stored ------------------------------------------------------------------

def check_stored(url: str, since: datetime, accepted: dict[str, int]) -> list[str]:
    """Every accepted reading stored once; every out-of-range one in the red or yellow zone,
    alerted, and its patient with an open alert."""
    from sqlalchemy import text

    from homefollow.db import make_engine

    engine = make_engine(url)
    problems = []
    with engine.connect() as conn:
        for source, item, accepted_n, out_of_range in (("portal", "weight", accepted["web"], "m.value >= 72"),
                                                       ("device", "spo2", accepted["api"], "m.value < 88")):
            stored = conn.execute(text(
                "SELECT count(*) FROM report WHERE reported_at >= :since AND source = :source AND item_key = :item"),
                {"since": since, "source": source, "item": item}).scalar()
            # More stored than accepted: calls wrk gave up on (its timeout) or cut off at the end
            # were still carried out; fewer would be a lost reading.
            if stored < accepted_n:
                problems.append(f"{source}: {accepted_n} accepted but {stored} stored")
            bad = conn.execute(text(f"""
                SELECT count(*) FROM report r JOIN measurement m ON m.report_id = r.id
                WHERE r.reported_at >= :since AND r.source = :source AND {out_of_range}
                  AND (r.zone NOT IN ('yellow', 'red') OR NOT r.team_alerted
                       OR NOT EXISTS (SELECT 1 FROM alert a WHERE a.patient_id = r.patient_id
                                      AND a.status <> 'resolved'))"""),
                {"since": since, "source": source}).scalar()
            alerting = conn.execute(text(f"""
                SELECT count(*) FROM report r JOIN measurement m ON m.report_id = r.id
                WHERE r.reported_at >= :since AND r.source = :source AND {out_of_range}"""),
                {"since": since, "source": source}).scalar()
            print(f"    {source}: {accepted_n:,} accepted, {stored:,} stored (the rest: answered after wrk gave up), "
                  f"{alerting:,} out of range, "
                  f"{bad} of those not alerted")
            if bad:
                problems.append(f"{source}: {bad} out-of-range readings not alerted")
    engine.dispose()
    return problems


# ---- the runs ------------------------------------------------------------------------------------

def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"


def measured(name, port, script, c, seconds, workers_of, pg) -> dict:
    pids = workers_of()
    backends = pg.backends() if pg else []
    app0, db0, x0 = cpu_seconds(pids), cpu_seconds(backends), pg.xacts() if pg else 0
    result = wrk(port, script, c, seconds)
    backends_after = set(pg.backends()) if pg else set()
    result["app_ms"] = (cpu_seconds(pids) - app0) * 1000 / max(1, result["requests"])
    # Backends that started during the run count from zero.
    new = backends_after - set(backends)
    result["db_ms"] = ((cpu_seconds(backends) - db0 + cpu_seconds(new)) * 1000 / max(1, result["requests"])
                       if pg else 0.0)
    result["xacts"] = (pg.xacts() - x0) / max(1, result["requests"]) if pg else 0.0
    return result


def row(name: str, c: int, r: dict, bare: float | None) -> str:
    ok = sum(n for s, n in r["statuses"].items() if s in ("201", "302", "200"))
    ratio = f"{r['rps'] / bare:6.4f}× bare" if bare else ""
    return (f"  {name:<16} c={c:<3} {r['rps']:8.1f} req/s  p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  "
            f"p99 {r['p99']:6.1f} ms  {ratio}  app {r['app_ms']:5.1f} ms  db {r['db_ms']:5.1f} ms"
            f"  {r['xacts']:.2f} xact/req  statuses {r['statuses']}{'' if ok == r['requests'] else '  (!)'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgresql", choices=("postgresql", "sqlite"))
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=None, help="history (default 1,000,000; 100,000 on SQLite)")
    parser.add_argument("--concurrency", default="8,32,64")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=200, help="signed-in patients the web form rotates over")
    parser.add_argument("--pgbouncer", action="store_true", help="HomeFollow reaches PostgreSQL through PgBouncer")
    parser.add_argument("--tree", type=Path, help="another checkout (e.g. main) to run interleaved as 'before'")
    parser.add_argument("--healthz", action="store_true", help="/healthz against a constant endpoint")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run (PostgreSQL)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--cpu", type=int, metavar="N", help="CPU ms per submit in-process, N submits, this tree "
                        "and --tree interleaved (3 rounds)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # not when gunicorn imports the apps: --tree names the code to run
    reports = args.reports if args.reports is not None else (1_000_000 if args.backend == "postgresql" else 100_000)
    tmp = Path(tempfile.mkdtemp(prefix="psub_"))
    pg = None
    if args.backend == "postgresql":
        import psycopg

        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + DB_NAME
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
            if not (args.reuse and exists):
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {DB_NAME}")
    else:
        url = f"sqlite:///{tmp / 'bench.sqlite'}"
    token_file = tmp.parent / f"{DB_NAME}.token"
    print(f"submit_bench: {args.backend}, {args.patients:,} patients, {reports:,} history reports; {load()}")
    started = timer.perf_counter()
    if args.reuse and args.backend == "postgresql" and token_file.exists() and exists:
        token = token_file.read_text()
    else:
        token = build(url, args.patients, reports)
        token_file.write_text(token)
    print(f"  database ready in {timer.perf_counter() - started:.0f} s")
    if args.build_only:
        return
    if args.cpu:
        trees = [("after", ROOT)] + ([("before", args.tree.resolve())] if args.tree else [])
        figures = {label: [] for label, _ in trees}
        for round_ in range(3):
            for label, tree in trees:
                first = random.randrange(args.users, args.patients - args.cpu - 10)
                out = subprocess.run([sys.executable, "-c", (
                    f"import sys; sys.path[:0] = [{str(tree)!r}, {str(ROOT / 'benchmarks')!r}]; import submit_bench; "
                    f"print(submit_bench.cpu_per_submit({url!r}, {token!r}, {first}, {args.cpu}))")],
                    cwd=tree, capture_output=True, text=True)
                if out.returncode:
                    raise RuntimeError(out.stderr[-2000:])
                figures[label].append(eval(out.stdout.strip().splitlines()[-1]))
                print(f"  round {round_ + 1} {label}: {figures[label][-1]} ({load()})", flush=True)
        best = {label: {k: min(f[k] for f in runs) for k in ("web", "api")} for label, runs in figures.items()}
        print("submit_bench --cpu: CPU ms per submit in-process (best of 3): " + "; ".join(
            f"{label} web {b['web']:.1f} ms, API {b['api']:.1f} ms" for label, b in best.items()) + f" ({load()})")
        return
    app_url = url
    bouncer = None
    if args.pgbouncer:
        bouncer, app_url = start_pgbouncer(tmp, args.workers)
    if args.backend == "postgresql":
        pg = Postgres(PG_ADMIN, DB_NAME)
    env = {"DATABASE_URL": app_url, "SECRET_KEY": SECRET, "PYTHONDONTWRITEBYTECODE": "1"}
    concurrency = [int(c) for c in args.concurrency.split(",")]
    procs = []
    try:
        if args.healthz:
            run_healthz(env, args, concurrency, pg)
            return
        # A patient the load does not sign in, a different one each run (no "is this a repeat?").
        counted = statements_per_submit(url, token, random.randrange(args.users, args.patients))
        for label, n in counted.items():
            print(f"  SQL per submit, {label}: {n['statements']} statements, {n['commits']} commit(s) "
                  f"(+1 pre-ping and BEGIN round trips)")
        hf, hf_port = start_gunicorn("submit_bench:homefollow_app()", args.workers, env)
        bare, bare_port = start_gunicorn("submit_bench:bare_app()", args.workers, env)
        procs += [hf, bare]
        before = None
        if args.tree:
            before = start_gunicorn("submit_bench:homefollow_app()", args.workers, env, args.tree.resolve())
            procs.append(before[0])
        print(f"  signing in {args.users} patients …")
        users = tmp / "users.tsv"
        users.write_text("".join("\t".join(sign_in(hf_port, phone(i))) + "\n" for i in range(args.users)))
        web = LUA_WEB.replace("{users}", str(users))
        api = LUA_API.replace("{patients}", str(args.patients)).replace("{token}", token)
        post = LUA_GET.replace("{method}", "POST").replace("{path}", "/")
        since = datetime.now(UTC)
        accepted = {"web": 0, "api": 0}
        for c in concurrency:
            print(f"  concurrency {c} ({load()}) …", flush=True)
            b1 = measured("bare", bare_port, post, c, args.seconds, lambda: children(bare.pid), None)
            w = measured("web form", hf_port, web, c, args.seconds, lambda: children(hf.pid), pg)
            a = measured("API", hf_port, api, c, args.seconds, lambda: children(hf.pid), pg)
            b2 = measured("bare", bare_port, post, c, args.seconds, lambda: children(bare.pid), None)
            base = (b1["rps"] + b2["rps"]) / 2
            accepted["web"] += w["statuses"].get("302", 0)
            accepted["api"] += a["statuses"].get("201", 0)
            runs = [row("bare", c, b1, base), row("web form", c, w, base), row("API", c, a, base)]
            if before is not None:
                bw = measured("web form before", before[1], web, c, args.seconds, lambda: children(before[0].pid), pg)
                ba = measured("API before", before[1], api, c, args.seconds, lambda: children(before[0].pid), pg)
                accepted["web"] += bw["statuses"].get("302", 0)
                accepted["api"] += ba["statuses"].get("201", 0)
                runs += [row("web form before", c, bw, base), row("API before", c, ba, base)]
            runs.append(row("bare", c, b2, base))
            print("\n".join(runs), flush=True)
            summary_line(c, base, w, a)
        print("  checking the database …")
        problems = check_stored(url, since, accepted)
        print("  " + ("every accepted reading stored, every out-of-range one alerted" if not problems else
                      "PROBLEMS: " + "; ".join(problems)))
        print("submit_bench: " + "; ".join(SUMMARY) + f" ({args.backend}, {args.workers} workers, {load()})")
    finally:
        for p in procs:
            stop(p)
        if bouncer is not None:
            stop(bouncer)
        shutil.rmtree(tmp, ignore_errors=True)


SUMMARY: list[str] = []


def summary_line(c, base, w, a) -> None:
    SUMMARY.append(f"c={c}: web {w['rps']:.0f} req/s p95 {w['p95']:.0f} ms ({w['rps'] / base:.3f}× bare), "
                   f"API {a['rps']:.0f} req/s p95 {a['p95']:.0f} ms ({a['rps'] / base:.3f}× bare)")


def run_healthz(env, args, concurrency, pg) -> None:
    hf, port = start_gunicorn("submit_bench:homefollow_app()", args.workers, env)
    before = start_gunicorn("submit_bench:homefollow_app()", args.workers, env, args.tree.resolve()) if args.tree else None
    try:
        health = LUA_GET.replace("{method}", "GET").replace("{path}", "/healthz")
        constant = LUA_GET.replace("{method}", "GET").replace("{path}", "/bench/constant")
        for c in concurrency:
            k1 = measured("constant", port, constant, c, args.seconds, lambda: children(hf.pid), pg)
            h = measured("/healthz", port, health, c, args.seconds, lambda: children(hf.pid), pg)
            runs = [row("constant", c, k1, None), row("/healthz", c, h, None)]
            if before is not None:
                hb = measured("/healthz before", before[1], health, c, args.seconds, lambda: children(before[0].pid), pg)
                runs.append(row("/healthz before", c, hb, None))
                SUMMARY.append(f"c={c}: /healthz before {hb['rps']:.0f} req/s")
            k2 = measured("constant", port, constant, c, args.seconds, lambda: children(hf.pid), pg)
            base = (k1["rps"] + k2["rps"]) / 2
            print("\n".join(r.replace("BASE", "") for r in runs + [row("constant", c, k2, None)]))
            SUMMARY.append(f"c={c}: /healthz {h['rps']:.0f} req/s = {base / h['rps']:.1f}× slower than a constant "
                           f"endpoint of the same app ({base:.0f} req/s)")
        print("healthz_bench: " + "; ".join(SUMMARY) + f" ({load()})")
    finally:
        stop(hf)
        if before is not None:
            stop(before[0])


def start_pgbouncer(tmp: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """PgBouncer in transaction mode in front of the benchmark database: every worker's pool
    shares a few server connections."""
    port = free_port()
    (tmp / "users.txt").write_text('"postgres" ""\n')
    (tmp / "pgbouncer.ini").write_text(f"""[databases]
{DB_NAME} = host=127.0.0.1 port=5432 dbname={DB_NAME}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
auth_type = trust
auth_file = {tmp / 'users.txt'}
pool_mode = transaction
default_pool_size = {max(4, workers * 2)}
max_client_conn = 1000
unix_socket_dir =
logfile = {tmp / 'pgbouncer.log'}
""")
    command = ["/usr/sbin/pgbouncer", str(tmp / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        for path in (tmp, tmp / "users.txt", tmp / "pgbouncer.ini"):
            path.chmod(0o777 if path.is_dir() else 0o644)
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timer.sleep(1)
    if proc.poll() is not None:
        raise SystemExit(f"PgBouncer did not start (apt-get install pgbouncer); see {tmp / 'pgbouncer.log'}")
    # Transaction pooling before PgBouncer 1.21 (Debian 12's 1.18): no server-side prepared
    # statements (docs/operations.md).
    return proc, f"postgresql://postgres@127.0.0.1:{port}/{DB_NAME}?prepared_statements=off"


if __name__ == "__main__":
    main()

"""The database stopped for 30 seconds, with the real scheduler process running.

The test starts a PostgreSQL 15 cluster of its own, on its own port, and stops it with
`pg_ctl stop` for 30 s (the length the issue found an outage to last), while

  - the web app (Flask's test client over a real engine on the cluster) takes a patient's
    reading: she gets the translated 503 page with what she typed kept;
  - the real scheduler process (`flask --app wsgi scheduler run`, one tick a second, SMS
    through the real `twilio` library to tests/fakes/twilio.py) keeps ticking, failing;
  - a message queued before the outage comes due.

When the cluster is back, nothing is restarted, and: the web answers; one press sends the
kept reading, stored once; the scheduler's heartbeat resumes; the queued message and the
red reading's pages reach the provider, each exactly once. The row of the fault table:
intents (outbox rows due) / received / duplicates / lost.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, UTC
from pathlib import Path

import psycopg
import pytest
from sqlmodel import Session, select

from homefollow import create_app
from homefollow.clock import SystemClock
from homefollow.db import make_engine
from homefollow.migrate import upgrade
from homefollow.models import Channel, Heartbeat, Measurement, Notification, Report
from homefollow.notifications import outbox
from homefollow.services.rulebook import sync_defaults
from tests.conftest import app_config
from tests.factories import make_patient, make_staff, make_team, unscheduled_plan
from tests.processes import app_env, free_port, start_flask, stop, wait_for
from tests.test_outage import assert_outage_page, outage_form
from tests.webclient import WebClient

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("red_path_faults")]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OUTAGE_SECONDS = 30
PATIENT = "+4791000001"


class Cluster:
    """A throw-away PostgreSQL cluster: trust authentication, no fsync, its own port."""

    def __init__(self):
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL 15 server binaries are not installed ({PG_BIN})")
        self.as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as `postgres`
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user to run initdb as")
            if shutil.which("runuser") is None:
                pytest.skip("running as root and `runuser` is missing to run initdb as `postgres`")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.dir = Path(tempfile.mkdtemp(prefix="hf-pg-"))  # not under pytest's root-only tmp
        if owner:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.port = free_port()
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(PG_BIN / tool), *args], capture_output=True, text=True)
        if done.returncode:
            raise AssertionError(f"{tool} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()


def test_the_database_stopped_for_30_seconds(cluster, fake_twilio, tmp_path, request, capsys):
    url = cluster.create_database("homefollow")
    engine = make_engine(url)
    upgrade(engine)
    clock = SystemClock()
    with Session(engine) as s:
        sync_defaults(s, clock)
        team = make_team(s, clock, "Team Nord", on_call_phone="+4790000900")
        # Open around the clock: the same nurse is paged whenever the suite runs.
        team.opening_hours = {day: ["00:00", "23:59"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        nurse = make_staff(s, clock, "nurse.nord@example.no", "Nina Nurse", team, "nurse", phone="+4790000101")
        make_patient(s, clock, team, "Astrid Nord", PATIENT, unscheduled_plan(), nurse)
        s.commit()

    web = create_app(app_config(engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False))
    patient = WebClient(web.test_client())
    patient.login_patient(PATIENT)
    fields = {**patient.form_fields("/report/spo2"), "spo2": "86"}

    log = tmp_path / "scheduler.log"
    scheduler = start_flask(["scheduler", "run"], app_env(url, fake_twilio.base_url, PYTHONUNBUFFERED="1"), log)
    try:
        first_beat = wait_for(lambda: beat_of(engine, scheduler.pid), 30, "the scheduler's first heartbeat")
        with Session(engine) as s:  # due while the database is away: it can only go out afterwards
            outbox.enqueue(s, clock, dedup_key="before-the-outage", channel=Channel.SMS, recipient="+4790000777",
                           body="Sendt før databasen stoppet", due_at=datetime.now(UTC) + timedelta(seconds=3))
            s.commit()

        cluster.stop()
        stopped = time.monotonic()
        response = patient.client.post("/report/spo2", data=fields)
        assert_outage_page(response, kept=True)
        form = outage_form(response)
        assert form["fields"]["spo2"] == "86"
        assert web.test_client().get("/healthz").status_code == 503
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage itself
        assert scheduler.poll() is None, "the scheduler died during the outage"
        assert "scheduler tick failed" in log.read_text()  # it kept ticking, and failing
        cluster.start()
        back = datetime.now(UTC)

        # The same web app, not restarted, answers and takes the kept reading with one press.
        assert patient.get("/today").status_code == 200
        assert patient.client.post(form["action"], data=form["fields"]).status_code == 302
        assert patient.client.post(form["action"], data=form["fields"]).status_code == 302  # pressed twice
        with Session(engine) as s:
            [report] = s.exec(select(Report)).all()
            [measurement] = s.exec(select(Measurement).where(Measurement.report_id == report.id)).all()
            assert measurement.value == 86

        # The scheduler beats again and delivers what is due, without a restart.
        wait_for(lambda: (beat_of(engine, scheduler.pid) or first_beat) > back, 15, "the heartbeat after the outage")
        wait_for(lambda: settled(engine), 30, "every due message handed to the provider")
        time.sleep(2)  # two more ticks: a message sent twice would show now
        assert stop(scheduler) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.send_signal(signal.SIGKILL)
            scheduler.wait()
        engine.dispose()

    with Session(make_engine(url)) as s:
        rows = [r for r in s.exec(select(Notification).where(Notification.channel == Channel.SMS.value))
                if r.due_at <= datetime.now(UTC)]
    received = Counter((m.to, m.body) for m in fake_twilio.messages)
    intents = Counter((r.recipient, r.body) for r in rows)
    duplicates = sum(max(received[key] - n, 0) for key, n in intents.items()) + \
        sum(n for key, n in received.items() if key not in intents)
    lost = sum(max(n - received[key], 0) for key, n in intents.items())
    row = {"case": f"database stopped {OUTAGE_SECONDS} s", "backend": "postgresql", "intents": len(rows),
           "received": sum(received.values()), "duplicates": duplicates, "lost": lost, "red_latency": None}
    request.node.user_properties.append(("red_path_row", row))  # the fault table at the end of the run
    with capsys.disabled():
        print(f"\n{row['case']:<28} intents {row['intents']:>3}  received {row['received']:>3}  "
              f"duplicates {duplicates}  lost {lost}")
    assert ("+4790000777", "Sendt før databasen stoppet") in received
    assert any(to == "+4790000101" for to, _body in received)  # the red reading's page to the nurse
    assert first_beat < back
    assert (duplicates, lost) == (0, 0), (rows, fake_twilio.messages)


def beat_of(engine, pid: int) -> datetime | None:
    try:
        with Session(engine) as s:
            row = s.exec(select(Heartbeat).where(Heartbeat.pid == pid)).first()
    except Exception:  # the database may still be starting
        return None
    return row.beat_at if row else None


def settled(engine) -> bool:
    """Every message due now has been handed over (or refused for good): none waits or is being sent."""
    now = datetime.now(UTC)
    with Session(engine) as s:
        rows = s.exec(select(Notification)).all()
    return bool(rows) and all(r.status in ("sent", "failed") for r in rows if r.due_at <= now)

"""HomeFollow through PgBouncer in transaction mode (Debian's package, 1.18 on Debian 12), as
a deployment with many processes reaches one PostgreSQL: the pool hands each transaction
whichever server connection is free, so a statement psycopg prepared on one is unknown on the
next. With `?prepared_statements=off` on DATABASE_URL every reading is stored (docs/operations.md)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from homefollow.db import make_engine
from homefollow.models import Patient
from homefollow.services import reporting
from homefollow.transactions import unit_of_work
from tests.processes import free_port

PGBOUNCER = "/usr/sbin/pgbouncer"


@pytest.fixture
def bouncer(db_url):
    """PgBouncer in front of this worker's PostgreSQL test database, two server connections
    shared by every client; its URL."""
    # Not pytest's tmp_path: as root, PgBouncer runs as `postgres`, who cannot enter root's folders.
    with tempfile.TemporaryDirectory(prefix="hf-pgbouncer-") as folder:
        yield from _bouncer(db_url, Path(folder))


def _bouncer(db_url: str, tmp_path: Path):
    if not os.path.exists(PGBOUNCER):
        pytest.fail(f"{PGBOUNCER} is missing: install Debian's pgbouncer (apt-get install pgbouncer) or run .ci/setup")
    target = make_url(db_url)
    port = free_port()
    tmp_path.chmod(0o777)  # PgBouncer refuses to run as root: then it runs as `postgres` and writes its log here
    (tmp_path / "users.txt").write_text(f'"{target.username}" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(f"""[databases]
{target.database} = host={target.host} port={target.port or 5432} dbname={target.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {tmp_path / 'users.txt'}
pool_mode = transaction
default_pool_size = 2
logfile = {tmp_path / 'pgbouncer.log'}
""")
    for name in ("users.txt", "pgbouncer.ini"):
        (tmp_path / name).chmod(0o644)
    command = [PGBOUNCER, str(tmp_path / "pgbouncer.ini")]
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.fail("running as root and `runuser` is missing to run PgBouncer as `postgres`")
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, f"PgBouncer did not start: {process.communicate()[1]}"
                time.sleep(0.05)
        yield f"postgresql://{target.username}@127.0.0.1:{port}/{target.database}"
    finally:
        process.terminate()
        process.wait(10)


def _in_threads(work, threads: int = 6) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(n):
        try:
            work(n)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(60)
    return errors


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_through_pgbouncer_readings_are_stored_once_prepared_statements_are_off(bouncer, engine, world, session,
                                                                                 clock):
    # Why the option exists: with psycopg's server-side prepared statements, the same statement
    # run a few times per connection soon meets a server connection that never saw it.
    prepared = make_engine(bouncer)

    def same_statement(_n):
        for i in range(30):
            with prepared.begin() as conn:
                conn.execute(text("SELECT count(*) FROM patient WHERE id = :id"), {"id": i}).scalar()

    failures = _in_threads(same_statement)
    prepared.dispose()
    assert failures and "prepared statement" in str(failures[0])

    through = make_engine(bouncer + "?prepared_statements=off")
    patients = [world.patient_a1.id, world.patient_a2.id, world.patient_b1.id]

    def report(n):
        for i in range(8):
            with unit_of_work(through) as s:
                patient = s.get(Patient, patients[n % len(patients)])
                reporting.report_measurement(s, clock, patient=patient, item_key="spo2", values={"spo2": 95 + i % 3},
                                             idempotency_key=f"bouncer-{n}-{i}", reported_by_account_id=None,
                                             actor_kind="api", source=reporting.ReportSource.DEVICE)

    assert _in_threads(report) == []
    through.dispose()
    stored = session.exec(text("SELECT idempotency_key FROM report WHERE idempotency_key LIKE 'bouncer-%'")).all()
    assert len(stored) == 6 * 8 == len(set(stored))

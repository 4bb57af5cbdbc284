"""Test set-up: real databases on the migrated schema, a fixed clock, small helpers.

Database tests run on SQLite. Tests marked `both_backends` (locking, claims, concurrency,
dialect SQL, migrations…) run once on SQLite and once on PostgreSQL when a server is reachable
(TEST_DATABASE_URL, or 127.0.0.1:5432).

Each xdist worker migrates its own database per backend once, and keeps two snapshots of it:
"empty" (migrated, no rows) and "world" (the rule book synced and tests.factories.build_world
at T0). Every test that uses `engine` starts from one of them, restored in a few milliseconds:
"world" when the test asks for the `world` fixture, "empty" otherwise. The app commits in many
places, so a rollback per test would not undo its work; restoring does.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
import socket
import sqlite3
from contextlib import contextmanager
from datetime import datetime, UTC
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from homefollow import create_app
from homefollow.clock import FixedClock
from homefollow.db import make_engine
from homefollow.migrate import upgrade
from homefollow.services.accounts import configure_hasher

# Cheap password hashing in tests; production keeps argon2-cffi's defaults.
configure_hasher(time_cost=1, memory_cost=8)

# A Tuesday morning in Tromsø, well away from DST changes unless a test moves the clock.
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return "postgresql://postgres@127.0.0.1:5432/postgres"
    except OSError:
        return None


POSTGRES_ADMIN_URL = _postgres_admin_url()
BACKENDS = ["sqlite", "postgresql"]

# Thorough in CI (.ci/run exports HYPOTHESIS_PROFILE=ci), quick on a developer's machine.
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")


def _register_hypothesis_profiles() -> None:
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, print_blob=True)
    settings.register_profile("quick", deadline=None)
    settings.load_profile(HYPOTHESIS_PROFILE)


_register_hypothesis_profiles()


def examples(thorough: int) -> int:
    """How many examples a property test tries: `thorough` in the ci profile; in the quick
    one a quarter of them, but never fewer than 25 (or `thorough`, when that is smaller).
    Write @settings(max_examples=examples(300))."""
    return thorough if HYPOTHESIS_PROFILE == "ci" else max(min(thorough, 25), thorough // 4)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _create_postgres_database(name: str) -> str:
    import psycopg

    admin = make_url(POSTGRES_ADMIN_URL)
    conninfo = f"host={admin.host or '127.0.0.1'} port={admin.port or 5432} user={admin.username or 'postgres'} dbname={admin.database or 'postgres'}"
    if admin.password:
        conninfo += f" password={admin.password}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False)


class WorkerDatabase(ABC):
    """One worker's migrated database on one backend, and its snapshots by name."""

    def __init__(self, url: str, engine: Engine):
        self.url = url
        self.engine = engine
        self.snapshots: dict[str, object] = {}
        self.world_ids: dict[str, tuple[type, int]] = {}
        self.state: str | None = None  # the snapshot restored for the running test

    @abstractmethod
    def take(self, name: str) -> None:
        """Keep the database's present contents as the snapshot `name`."""

    @abstractmethod
    def restore(self, name: str) -> None:
        """Put the snapshot `name` back, whatever the last test wrote."""


class SqliteDatabase(WorkerDatabase):
    """Snapshots are in-memory copies made and restored with SQLite's backup API, which goes
    through SQLite's own locking, so the engine's idle pooled connections simply see the
    restored pages (WAL included)."""

    def take(self, name: str) -> None:
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        source = sqlite3.connect(make_url(self.url).database, timeout=30)
        try:
            source.backup(copy)
        finally:
            source.close()
        self.snapshots[name] = copy

    def restore(self, name: str) -> None:
        self.copy_to(name, make_url(self.url).database)
        self.state = name

    def copy_to(self, name: str, path) -> None:
        """Write a snapshot to a database file (this worker's, or a test's private copy)."""
        target = sqlite3.connect(path, timeout=30)
        try:
            target.execute("PRAGMA synchronous=OFF")  # a test database need not survive a power cut
            self.snapshots[name].backup(target)
        finally:
            target.close()


class PostgresDatabase(WorkerDatabase):
    """A snapshot is the rows of its non-empty tables and every sequence's position. Restoring
    deletes the rows of every table that has any (found in one query; rows written by another
    process count too), puts the snapshot's rows back and resets the sequences. DELETE is used
    because TRUNCATE, on small tables, costs far more (new files for each table and index)."""

    def __init__(self, url: str, engine: Engine):
        super().__init__(url, engine)
        self.tables = list(SQLModel.metadata.sorted_tables)  # parents before children
        self.non_empty = text(" UNION ALL ".join(
            f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in self.tables))

    def take(self, name: str) -> None:
        with self.engine.connect() as conn:
            rows = {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in self.tables}
            sequences = conn.execute(text(
                "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
                "WHERE schemaname = current_schema()")).all()
        self.snapshots[name] = ({k: v for k, v in rows.items() if v}, sequences)

    def restore(self, name: str) -> None:
        rows, sequences = self.snapshots[name]
        with self.engine.begin() as conn:
            present = {r[0] for r in conn.execute(self.non_empty)}
            for table in reversed(self.tables):
                if table.name in present:
                    conn.execute(table.delete())
            for table in self.tables:
                if table.name in rows:
                    conn.execute(table.insert(), rows[table.name])
            # setval(…, 1, false): the next value is 1, as after RESTART IDENTITY.
            conn.execute(text("SELECT " + ", ".join(
                f"setval('{seq}', {last if last is not None else 1}, {'true' if last is not None else 'false'})"
                for seq, last in sequences)))
        self.state = name


def _build_world_snapshot(db: WorkerDatabase) -> None:
    from tests.factories import World, build_world

    with Session(db.engine) as session:
        world = build_world(session, FixedClock(T0))
        db.world_ids = {name: (type(getattr(world, name)), getattr(world, name).id)
                        for name in World.__dataclass_fields__}
    db.take("world")


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory):
    """One migrated database per backend and worker, with its snapshots, created on first use."""
    made: dict[str, WorkerDatabase] = {}

    def get(backend: str) -> WorkerDatabase:
        if backend not in made:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
                kind = SqliteDatabase
            else:
                if POSTGRES_ADMIN_URL is None:
                    pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL)")
                url = _create_postgres_database(f"{os.environ.get('HF_TEST_DB_PREFIX', 'hf_test')}_{_worker()}")
                kind = PostgresDatabase
            engine = make_engine(url)
            upgrade(engine)
            db = kind(url, engine)
            db.take("empty")
            _build_world_snapshot(db)
            made[backend] = db
        return made[backend]

    yield get
    for db in made.values():
        db.engine.dispose()


def pytest_generate_tests(metafunc):
    # Database tests run on SQLite; those marked both_backends on PostgreSQL as well.
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_url(backend, _migrated) -> str:
    return _migrated(backend).url


@pytest.fixture
def engine(request, backend, _migrated) -> Engine:
    db = _migrated(backend)
    db.restore("world" if "world" in request.fixturenames else "empty")
    return db.engine


@pytest.fixture
def count_queries(engine):
    """`with count_queries() as statements:` lists the SQL statements the engine ran in the
    block (the app's and the test's alike), to pin how many queries a page needs."""

    @contextmanager
    def counting():
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", count)

    return counting


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def session(engine):
    """The test's own view of the database, for set-up and assertions.

    On SQLite its transactions begin DEFERRED, so its reads never hold the write lock the
    app or a sweep needs. It ends its transaction (commit, which also expires what it
    loaded) whenever the app starts handling a request, so what the test reads afterwards
    is what the request left behind."""
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        yield s


def _end_test_transaction(session: Session):
    def handler(_sender, **_extra):
        if session.in_transaction():
            session.commit()

    return handler


def app_config(engine: Engine, clock: FixedClock, **overrides) -> dict:
    config = {
        "TESTING": True,
        "DEMO": False,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": str(engine.url),
        "ENGINE": engine,
        "CLOCK": clock,
        "SESSION_COOKIE_SECURE": False,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PROPAGATE_UNEXPECTED_ERRORS": True,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return config


def observed_by(app, session):
    """Let the test's session end its transaction whenever this app starts a request."""
    from flask import request_started

    handler = _end_test_transaction(session)
    request_started.connect(handler, app)
    app.extensions["test.request_started_handler"] = handler  # keep a strong reference
    return app


@pytest.fixture
def app(engine, clock, session):
    return observed_by(create_app(app_config(engine, clock)), session)


@pytest.fixture
def world(request, backend, _migrated, session, clock):
    """The standard world (tests/factories.py), restored with the database by `engine` and
    loaded into the test's session. A test that asks for it only while running gets it built."""
    from tests.factories import World, build_world

    db = _migrated(backend)
    if db.state != "world":
        return build_world(session, clock)
    world = World(**{name: session.get(model, id_) for name, (model, id_) in db.world_ids.items()})
    session.commit()  # as build_world leaves it: objects expired, no transaction open
    return world


@pytest.fixture
def fake_twilio():
    from tests.fakes.twilio import start_fake_twilio

    fake = start_fake_twilio()
    yield fake
    fake.server.shutdown()


WEBHOOK_SECRET = "test-webhook-secret-0123456789"


@pytest.fixture
def senders(fake_twilio):
    """Twilio senders to the fake, e-mail to the log."""
    from homefollow.notifications.email import LogEmailSender
    from homefollow.notifications.outbox import Senders
    from homefollow.notifications.sms import TwilioSmsSender
    from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

    return Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                   email=LogEmailSender())


@pytest.fixture
def hook_app(engine, clock, session):
    """The app with Twilio's webhooks configured (signed with AUTH_TOKEN, under WEBHOOK_SECRET)."""
    from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN

    return observed_by(create_app(app_config(engine, clock, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                             TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_WEBHOOK_SECRET=WEBHOOK_SECRET)),
                       session)


@pytest.fixture
def fake_smtp():
    from tests.fakes.smtp import FakeSmtp

    server = FakeSmtp()
    yield server
    server.stop()


# ---- the fault-injection table (tests/test_red_path_faults.py) ----------------------------------
# Each case leaves a row in its report's user_properties, which reach this process also from
# xdist workers; the table is printed at the end of the run, whatever the output options.

_fault_rows: list[dict] = []
_fault_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report):
    if report.when == "call":
        _fault_outcomes[report.nodeid] = report.outcome
    elif report.when == "teardown":
        for name, row in report.user_properties:
            if name == "red_path_row":
                _fault_rows.append({**row, "outcome": _fault_outcomes.get(report.nodeid, "error")})


def pytest_terminal_summary(terminalreporter):
    if not _fault_rows:
        return
    terminalreporter.write_sep("=", "red path: fault injection (intents / received / duplicates / lost)")
    terminalreporter.write_line(f"{'case':<40} {'db':<10} {'intents':>7} {'received':>8} {'dupl.':>5} {'lost':>4} "
                                f"{'red page s':>10}  result")
    for r in _fault_rows:
        latency = "-" if r["red_latency"] is None else f"{r['red_latency']:.2f}"
        terminalreporter.write_line(f"{r['case']:<40} {r['backend']:<10} {r['intents']:>7} {r['received']:>8} "
                                    f"{r['duplicates']:>5} {r['lost']:>4} {latency:>10}  {r['outcome']}")

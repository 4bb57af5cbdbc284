"""Test set-up: real databases on the migrated schema, a fixed clock, small helpers.

Tests that use the `db_url` fixture (directly or through `app`/`engine`) run once on SQLite
and once on PostgreSQL when a server is reachable (TEST_DATABASE_URL, or 127.0.0.1:5432).
Each xdist worker migrates its own databases once, and tables are emptied between tests.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
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
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)

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


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory):
    """One migrated database per backend and worker, created on first use."""
    made: dict[str, tuple[str, Engine]] = {}

    def get(backend: str) -> tuple[str, Engine]:
        if backend not in made:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
            else:
                if POSTGRES_ADMIN_URL is None:
                    pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL)")
                url = _create_postgres_database(f"{os.environ.get('HF_TEST_DB_PREFIX', 'hf_test')}_{_worker()}")
            engine = make_engine(url)
            upgrade(engine)
            made[backend] = (url, engine)
        return made[backend]

    yield get
    for _url, engine in made.values():
        engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, _migrated) -> str:
    return _migrated(backend)[0]


@pytest.fixture
def engine(backend, _migrated) -> Engine:
    url, engine = _migrated(backend)
    _empty_all_tables(engine)
    return engine


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
def world(session, clock):
    from tests.factories import build_world

    return build_world(session, clock)


@pytest.fixture
def fake_twilio():
    from tests.fakes.twilio import start_fake_twilio

    fake = start_fake_twilio()
    yield fake
    fake.server.shutdown()


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

"""A transaction that loses a race is run again, a bounded number of times (homefollow.transactions):
with a real deadlock on PostgreSQL and a real busy database on SQLite, and through the patient's
report form, where the reading is stored once or the patient gets the 503 page with the typed
value kept — never a 500."""

from __future__ import annotations

import logging
import sqlite3
import threading

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from homefollow import transactions
from homefollow.db import make_engine
from homefollow.models import AuditEvent, Report
from homefollow.services import evaluation
from homefollow.transactions import conflict_kind, run_in_transaction
from tests.webclient import WebClient, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def _audit(session: Session, clock, action: str) -> None:
    session.add(AuditEvent(at=clock.now(), actor_account_id=None, actor_kind="system", action=action, detail={}))


def _count(engine, action: str) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)).one()


def _deadlock() -> OperationalError:
    """The error SQLAlchemy raises when PostgreSQL chose this transaction as a deadlock's victim."""
    return OperationalError("SELECT … FOR UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


@pytest.fixture
def retried(caplog):
    caplog.set_level(logging.WARNING, logger="homefollow.transactions")
    return lambda: sum("retrying" in r.getMessage() for r in caplog.records if r.name == "homefollow.transactions")


def test_the_victim_of_a_real_deadlock_is_run_again_and_both_commit_once(engine, backend, clock, world, retried):
    if backend != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: two transactions cannot deadlock there")
    first, second = world.patient_a1.id, world.patient_a2.id
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def transaction(name: str, order: tuple[int, int]):
        attempts = []
        with Session(engine, expire_on_commit=False) as session:
            _audit(session, clock, f"before.{name}")  # the caller's own work: committed first, kept

            def fn():
                attempts.append(1)
                transactions.lock_patient(session, order[0])
                if len(attempts) == 1:
                    barrier.wait()  # both hold their first lock: each now waits for the other's
                transactions.lock_patient(session, order[1])
                _audit(session, clock, f"done.{name}")

            try:
                run_in_transaction(session, fn, sleep=lambda _s: None, what=name)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=transaction, args=("a", (first, second))),
               threading.Thread(target=transaction, args=("b", (second, first)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert retried() == 1  # one was the victim, and ran again once the other had committed
    assert [_count(engine, a) for a in ("before.a", "before.b", "done.a", "done.b")] == [1, 1, 1, 1]


def test_a_busy_sqlite_database_is_retried_once_the_lock_is_free(engine, backend, clock, retried):
    if backend != "sqlite":
        pytest.skip("SQLite's busy lock; PostgreSQL has row locks (the deadlock test)")
    impatient = make_engine(str(engine.url))

    @event.listens_for(impatient, "connect")
    def _no_wait(dbapi_connection, _record):  # after make_engine's own settings: fail at once when busy
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    holder = sqlite3.connect(make_url(str(engine.url)).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        holder.execute("COMMIT")  # ... and is done by the time we try again

    with Session(impatient) as session:
        run_in_transaction(session, lambda: _audit(session, clock, "busy"), sleep=pause)
    impatient.dispose()
    holder.close()

    assert retried() == 1 and len(pauses) == 1 and 0 <= pauses[0] <= transactions.BACKOFF_SECONDS
    assert _count(engine, "busy") == 1


def test_a_conflict_on_every_attempt_propagates_after_the_last_one(engine, clock):
    calls, pauses = [], []

    def fn():
        calls.append(1)
        _audit(session, clock, "never")
        raise _deadlock()

    with Session(engine) as session, pytest.raises(OperationalError) as raised:
        run_in_transaction(session, fn, sleep=pauses.append)
    assert conflict_kind(raised.value) == "deadlock"
    assert len(calls) == transactions.ATTEMPTS == 3
    # A short, growing, random pause between attempts.
    assert len(pauses) == 2 and pauses[0] <= 0.05 and pauses[1] <= 0.1
    assert _count(engine, "never") == 0


def test_other_errors_are_not_run_again(engine, clock):
    for error in (OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused")),
                  ValueError("not a database error")):
        calls = []

        def fn(calls=calls, error=error):
            calls.append(1)
            raise error

        with Session(engine) as session, pytest.raises(type(error)):
            run_in_transaction(session, fn, sleep=lambda _s: pytest.fail("no retry"))
        assert len(calls) == 1
        assert conflict_kind(error) is None


# ---- through the patient's form -------------------------------------------------------------

def _losing(monkeypatch, times: int):
    """The report's transaction loses a race `times` times, after the reading and the rule
    states were written and before the alert is raised: all of it must be rolled back."""
    real, calls = evaluation.evaluate_patient, []

    def evaluate_patient(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) <= times:
            raise _deadlock()
        return result

    monkeypatch.setattr(evaluation, "evaluate_patient", evaluate_patient)
    monkeypatch.setattr(transactions, "BACKOFF_SECONDS", 0)
    return calls


def test_a_report_that_loses_a_race_is_stored_once_and_the_patient_sees_the_result(
        app, session, world, monkeypatch, retried):
    calls = _losing(monkeypatch, times=1)
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.submit("/report/spo2", {"spo2": "86"})

    assert response.status_code == 302 and "/report/result/" in response.location
    assert len(calls) == 2 and retried() == 1
    reports = session.exec(select(Report).where(Report.patient_id == world.patient_a1.id)).all()
    assert [r.zone for r in reports] == ["red"]
    assert "Rød sone" in text_of(client.get(response.location))


def test_when_every_attempt_loses_the_patient_gets_the_503_page_with_the_value_kept(
        app, session, world, monkeypatch):
    # (the test app raises any unexpected error instead of showing the 500 page)
    calls = _losing(monkeypatch, times=99)
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.submit("/report/spo2", {"spo2": "86"})

    assert response.status_code == 503 and response.headers["Retry-After"]
    page = response.get_data(as_text=True)
    assert 'value="86"' in page  # one press sends it again
    assert len(calls) == transactions.ATTEMPTS
    assert session.exec(select(func.count()).select_from(Report)).one() == 0

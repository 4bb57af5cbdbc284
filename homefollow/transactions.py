"""Transactions at the edge: who commits, the one lock order, and running a transaction again
when it lost a race.

Who commits
-----------
The edge owns the transaction; services only add and flush. A web request is one transaction,
committed by the framework when the view has answered (homefollow.db) and rolled back when
anything raised. A job or a command runs its work in `unit_of_work(engine)`. A commit in the
middle of an edge's work is one of OWN_COMMITS below, named by `commit_now(session, reason)`.

The lock order
--------------
Every transaction that writes an alert takes its row locks in this order, and never the other
way round. On PostgreSQL the locks are `SELECT … FOR UPDATE` (patients: `FOR NO KEY UPDATE`,
which inserts that merely reference the patient do not wait for); SQLAlchemy leaves them out on
SQLite, where `BEGIN IMMEDIATE` lets one writer in at a time anyway.

1. **the patient** (`lock_patient`) — only transactions that judge the patient's readings: a
   report through any channel (reporting._submit). Two reports for one patient go one after
   the other, so each sees the other's readings and rule states. Counting adherence days
   (services.adherence_days) takes the locks of the patients it counts, in id order, so that
   a late report cannot commit between its reading of the reports and its writing of the count.
2. **the patient's rule states** — written by the evaluation (services.evaluation).
3. **the alert** (`lock_alert`; several alerts in id order, alerts.latest_alerts_for) — and
   always before anything that references it is inserted: an outbox row or an alert event
   takes a `KEY SHARE` lock on the alert, which waits for a `FOR UPDATE`.
4. **outbox rows and alert events**: only inserted while the alert is held.

The escalation sweep's per-alert step, acknowledging, resolving, snoozing and assigning start at
3: they lock the alert (a locking read, or their compare-and-set `UPDATE`) before they read its
escalation state, so they plan from what the last writer committed and never page from a stale
state.

Why: the scheduler's escalation step inserted the next step's page (holding its new unique
`dedup_key`) and then waited for the alert, which a concurrent report held `FOR UPDATE`; the
report then inserted the same page key and waited for the sweep — a deadlock, and the report
was rolled back (issue 18).

Retries
-------
A transaction that still loses a race — PostgreSQL's deadlock detector or a serialization
failure picks it as the victim, or SQLite stayed busy past its timeout — is rolled back and run
again (`run_in_transaction`), at most ATTEMPTS times with a short random pause. Only the edge
that owns the transaction (a view, an API call, a webhook, the sweep's step for one alert)
retries, and what it runs must be safe to run again: reports carry an idempotency key, and
pages a dedup key. When every attempt fails, the last `OperationalError` propagates: the web
answers with its own 503 page, the typed values kept.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from .models import Alert, Patient

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 3
# The pause before attempt n+1 is up to BACKOFF_SECONDS * 2**(n-1), at random: two transactions
# that collided do not collide again in lockstep.
BACKOFF_SECONDS = 0.05

# SQLSTATEs of a transaction PostgreSQL rolled back because it lost a race.
_CONFLICT_SQLSTATES = {"40001": "serialization failure", "40P01": "deadlock"}


# The only commits made before an edge's work is done, and why. Each commits what the session
# holds at that moment (on SQLite a second connection would wait for this one's write lock).
OWN_COMMITS = {
    # Other processes must see a claim at once, and it must survive what fails after it.
    "outbox_step": "each step of sending a message — leases released, the due rows read, a row claimed, its "
                   "lease extended, its result — is committed at once: other senders must see it, and no "
                   "transaction stays open while the provider is called",
    "sweep_item": "a sweep claims and finishes each patient in a transaction of its own, so one "
                  "patient's failure does not undo the others and other processes skip what is claimed",
    # Records that must survive the rollback of the request that made them.
    "refused_access": "the audit record of a refused access: the refusal is raised, which rolls back",
    "sign_in_throttled": "the audit record of a throttled sign-in: the limit's 429 is raised, which rolls back",
    "retry": "run_in_transaction: the work before a retried transaction is kept when it is run again",
}
# Not here: a wrong password or one-time code. Its page is an answer, not an error, so the
# request commits the try counted against the code and the failed sign-in's audit record. Nor
# api_tokens.note_use: it writes a token's last use after the API call's transaction is over,
# in a one-statement transaction of its own (engine.begin), at most once a minute.


def commit_now(session: Session, reason: str) -> None:
    """Commit before the edge's work is done; `reason` must be one of OWN_COMMITS."""
    if reason not in OWN_COMMITS:
        raise ValueError(f"not a named early commit: {reason}")
    session.commit()


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction for a job or a command: committed when the block ends, rolled back
    when it raises.

        with unit_of_work(engine) as session:
            pauses.pause(session, clock, ...)
    """
    with Session(engine, expire_on_commit=False) as session:
        yield session
        session.commit()


def conflict_kind(exc: BaseException) -> str | None:
    """'deadlock', 'serialization failure' or 'database is locked' when `exc` means that the
    transaction lost a race and running it again may succeed; None for anything else (the
    database is down, a bad statement)."""
    if not isinstance(exc, OperationalError):
        return None
    orig = exc.orig
    kind = _CONFLICT_SQLSTATES.get(getattr(orig, "sqlstate", None) or "")
    if kind:
        return kind
    if isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig):
        return "database is locked"
    return None


def run_in_transaction(session: Session, fn: Callable[[], T], *, attempts: int = ATTEMPTS,
                       sleep: Callable[[float], None] = time.sleep, what: str = "transaction") -> T:
    """Run fn() in a transaction of its own and commit; when it loses a race (conflict_kind),
    roll back and run it again, up to `attempts` times in all. fn must be safe to run again from
    the start (objects loaded before a rollback are reloaded on use).

    What the session holds before (a view's access check and its audit record) is committed
    first, so a retry never loses it. Any other exception propagates at once, as does the last
    conflict: an OperationalError the caller's error handling turns into a 503."""
    if session.in_transaction():
        commit_now(session, "retry")
    for attempt in range(1, attempts + 1):
        try:
            result = fn()
            commit_now(session, "retry")
            return result
        except OperationalError as exc:
            kind = conflict_kind(exc)
            if kind is None:
                raise
            session.rollback()
            if attempt == attempts:
                log.error("%s: %s on attempt %d of %d; giving up", what, kind, attempt, attempts)
                raise
            log.warning("%s: %s on attempt %d of %d; retrying", what, kind, attempt, attempts)
            sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


def lock_patient(session: Session, patient_id: int) -> Patient | None:
    """Lock the patient's row for this transaction (step 1 of the lock order) and load it as
    it is now."""
    return session.exec(select(Patient).where(Patient.id == patient_id).with_for_update(key_share=True)
                        .execution_options(populate_existing=True)).first()


def lock_alert(session: Session, alert_id: int) -> Alert | None:
    """Lock the alert's row for this transaction (step 3 of the lock order) and load it as the
    last writer committed it."""
    return session.exec(select(Alert).where(Alert.id == alert_id).with_for_update()
                        .execution_options(populate_existing=True)).first()

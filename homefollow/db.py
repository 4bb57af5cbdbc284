"""Database engine and the per-request session.

One engine per app; one Session per request, kept on `flask.g`. The request is one
transaction owned here, not by views or services (they add and flush):

- committed after the view answered (`after_request`), before the answer is sent, so a commit
  that fails becomes the error page (503 when the database is unavailable) instead of a
  success page whose data was lost;
- rolled back when anything raised on the way (`App.handle_user_exception`, `handle_exception`),
  even when an error handler turned it into a page;
- closed on teardown, which rolls back anything left.

The few commits made earlier are named in homefollow.transactions.OWN_COMMITS.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from typing import Any, cast

import orjson
import psycopg
from flask import Flask, current_app, g, has_app_context
from sqlalchemy import CursorResult, Engine, Integer, Result, any_, bindparam, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

# The database cannot serve us now: the server is stopped or unreachable, the connection was
# lost, the pool has no free connection, or a deadlock's bounded retries ran out. SQLAlchemy
# wraps the drivers' errors in its own; the drivers' own are listed for code that talks to a
# driver directly. The web answers 503 (homefollow.web), the scheduler tries again next tick.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout,
                        psycopg.OperationalError, psycopg.InterfaceError,
                        sqlite3.OperationalError, sqlite3.InterfaceError)


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, means the database cannot serve us."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DATABASE_UNAVAILABLE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def short_error(error: BaseException) -> str:
    """The first line of a database error, for a log line without the SQL and the traceback."""
    text_ = str(getattr(error, "orig", None) or error).strip()
    return f"{type(error).__name__}: {text_.splitlines()[0] if text_ else ''}"


# `?prepared_statements=off` on DATABASE_URL: psycopg prepares a statement on the server once a
# connection has run it five times, and a pool in transaction mode (PgBouncer before 1.21, such
# as Debian 12's 1.18) hands the next transaction another server connection, which does not
# know it ("prepared statement _pg3_0 does not exist"). docs/operations.md, PgBouncer.
PREPARED_STATEMENTS = "prepared_statements"


def _prepares(value: Any) -> bool:
    value = value[-1] if isinstance(value, tuple) else value
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"DATABASE_URL: {PREPARED_STATEMENTS}={value} is neither on nor off")


def normalise_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _json_dumps(value) -> str:
    # orjson: JSON columns (rule states, alerts, their events) are written and read on every
    # evaluation, and the standard library's encoder was the largest single cost of a sweep
    # in Python. Non-string keys become strings, as with json.dumps.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# Seconds to wait for a new PostgreSQL connection. A request or a tick that cannot reach the
# database fails after this long (the web answers 503, the scheduler tries again next tick)
# instead of hanging on an unreachable host.
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, **kwargs) -> Engine:
    """The engine for `url`. Connections are tested when taken from the pool (pool_pre_ping),
    so after the database was stopped or restarted, the web and the scheduler simply connect
    again: the first request or tick after it has returned succeeds, with no restart."""
    url = normalise_url(url)
    kwargs = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, "pool_pre_ping": True, **kwargs}
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {"cursor_factory": psycopg.RawCursor}
    parsed = make_url(url)
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if PREPARED_STATEMENTS in parsed.query:
        # HomeFollow's own option, not libpq's: taken off the URL before connecting.
        if not _prepares(parsed.query[PREPARED_STATEMENTS]):
            connect_args["prepare_threshold"] = None
        url = parsed.difference_update_query([PREPARED_STATEMENTS]).render_as_string(hide_password=False)
    # PostgreSQL's own $1 placeholders, passed through as they are (psycopg's RawCursor). With
    # psycopg's default %(name)s style, every statement is rewritten on the client by a regex
    # pass; a sweep's multi-row INSERTs (thousands of parameters, never cached) spent about a
    # tenth of the sweep there (benchmarks/sweep_bench.py).
    return create_engine(url, paramstyle="numeric_dollar", connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Take the write lock at the start of every transaction. A deferred transaction
        # that reads and then writes fails at once with SQLITE_BUSY when another process
        # wrote in between; IMMEDIATE waits for the lock instead (busy_timeout).
        # Read-only observers (tests) may ask for DEFERRED so they never block writers.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (a compare-and-set claim checks that it is one).
    Session.execute is typed as returning a Result; for such a statement it is a CursorResult."""
    return cast(CursorResult[Any], result).rowcount


def is_postgresql(engine_or_session) -> bool:
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    return bind.dialect.name == "postgresql"


def among_ids(session: Session, column, ids) -> Any:
    """`column IN ids` for a list of row ids, as each database takes it best. PostgreSQL gets
    the ids as one array parameter (`= ANY(%(ids)s)`): a team's thousand ids are one value to
    send, not a thousand parameters rendered into the statement on every request (most of the
    time a cohort's page spent in SQLAlchemy). SQLite gets `IN (…)`."""
    ids = list(ids)
    if is_postgresql(session):
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer)))
    return column.in_(ids)


def insert_unless_taken(session: Session, model, *, index: tuple, where=None):
    """INSERT … ON CONFLICT (index) [WHERE …] DO NOTHING, for the session's database (SQLite
    3.35+ or PostgreSQL): a row that would break that unique index is skipped, and RETURNING
    returns only the rows inserted. `where` names a partial index by its predicate."""
    return _insert(session, model).on_conflict_do_nothing(index_elements=list(index), index_where=where)


def upsert(session: Session, model, *, index: tuple, update: tuple):
    """INSERT … ON CONFLICT (index) DO UPDATE SET each column of `update` to the new row's
    value, for the session's database (SQLite 3.24+ or PostgreSQL)."""
    statement = _insert(session, model)
    return statement.on_conflict_do_update(index_elements=list(index),
                                           set_={column: statement.excluded[column] for column in update})


def _insert(session: Session, model):
    """The session's database's own INSERT, which knows ON CONFLICT."""
    return (postgresql if is_postgresql(session) else sqlite).insert(model)


class App(Flask):
    """Flask that rolls the request's transaction back when anything raised, handled or not."""

    def handle_user_exception(self, e):
        request_failed()
        return super().handle_user_exception(e)

    def handle_exception(self, e):
        request_failed()
        return super().handle_exception(e)

    def finalize_request(self, rv, from_error_handler=False):
        try:
            return super().finalize_request(rv, from_error_handler)
        except Exception as e:  # the commit failed (the last after_request hook)
            if from_error_handler:
                raise
            # Answered as an error in the view would be: the outage page with what was typed
            # when the database is unavailable, never the success page of what was not saved.
            return super().finalize_request(self.handle_user_exception(e), from_error_handler=True)


def init_app(app: Flask) -> None:
    engine = app.config.get("ENGINE") or make_engine(app.config["DATABASE_URL"])
    app.extensions["homefollow.engine"] = engine
    # Registered before the other after_request hooks, so it runs after them (Flask runs them
    # in reverse): the commit is the last thing before the answer goes out.
    app.after_request(_end_transaction)
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    return current_app.extensions["homefollow.engine"]


def get_session() -> Session:
    """The request's session (created on first use)."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def request_failed() -> None:
    """Roll this request's transaction back instead of committing it."""
    if has_app_context():
        g.db_failed = True


def after_commit(fn) -> None:
    """Call fn() once this request's transaction has committed (an SMS the user waits for goes
    out at once, from a row that is really there); never when it is rolled back."""
    g.setdefault("db_after_commit", []).append(fn)


def _end_transaction(response):
    session = g.get("db_session")
    if session is None:
        return response
    if g.get("db_failed"):
        g.pop("db_after_commit", None)
        with contextlib.suppress(DATABASE_UNAVAILABLE):  # nothing to keep; teardown closes the session
            session.rollback()
        return response
    # A commit that raises is handled as an error, and the error page comes back through here:
    # it must roll back, not commit again.
    g.db_failed = True
    session.commit()
    g.db_failed = False
    for fn in g.pop("db_after_commit", []):
        fn()
    return response


def _close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back anything uncommitted


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))

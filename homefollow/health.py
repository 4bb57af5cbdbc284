"""GET /healthz: is the database reachable, is the schema current, is the scheduler alive."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import get_clock
from .db import get_engine
from .migrate import current_revision, head_revision
from .services.system import scheduler_status

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        # Read-only, on its own connection: on SQLite a DEFERRED transaction, so it never waits
        # for the write lock that the request's own session may already hold (a signed-in user).
        with get_engine().connect().execution_options(sqlite_begin="DEFERRED") as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
            scheduler = scheduler_status(conn, get_clock())
    except SQLAlchemyError as exc:
        return jsonify(status="error", database={"reachable": False, "error": exc.__class__.__name__}), 503
    head = head_revision()
    at_head = current == head
    return jsonify(
        status="ok" if at_head and not scheduler.stale else "degraded",
        database={"reachable": True},
        schema={"current": current, "head": head, "at_head": at_head},
        scheduler={"heartbeat_age_seconds": scheduler.age_seconds, "stale": scheduler.stale},
    )

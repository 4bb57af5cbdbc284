"""GET /healthz: is the database reachable, is the schema current, is the scheduler alive."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from . import get_clock
from .db import get_engine
from .migrate import current_revision, head_revision
from .models import Heartbeat

bp = Blueprint("health", __name__)

# A scheduler that has not beaten for this long is reported as stale.
HEARTBEAT_STALE_SECONDS = 120


@bp.get("/healthz")
def healthz():
    now = get_clock().now()
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
            last_beat = conn.execute(select(func.max(Heartbeat.beat_at)).where(Heartbeat.role == "scheduler")).scalar()
    except SQLAlchemyError as exc:
        return jsonify(status="error", database={"reachable": False, "error": exc.__class__.__name__}), 503
    head = head_revision()
    age = round((now - last_beat).total_seconds(), 1) if last_beat else None
    stale = age is None or age > HEARTBEAT_STALE_SECONDS
    at_head = current == head
    return jsonify(
        status="ok" if at_head and not stale else "degraded",
        database={"reachable": True},
        schema={"current": current, "head": head, "at_head": at_head},
        scheduler={"heartbeat_age_seconds": age, "stale": stale},
    )

"""GET /healthz: is the database reachable, is the schema current, is the scheduler alive, and
which teams nobody would be paged for about a red alert outside opening hours."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from .clock import get_clock
from .db import get_engine
from .migrate import current_revision, head_revision
from .models import Patient, PatientStatus
from .services.system import scheduler_status
from .services.teams import teams_without_route

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
            head = head_revision()
            at_head = current == head
            unreachable = _teams_without_route(conn) if at_head else []
    except SQLAlchemyError as exc:
        return jsonify(status="error", database={"reachable": False, "error": exc.__class__.__name__}), 503
    # A team without a route is always reported; it degrades the whole only when it has patients
    # in follow-up (a new team, with none, cannot take any on until it is fixed).
    at_risk = any(team["patients_in_follow_up"] for team in unreachable)
    return jsonify(
        status="ok" if at_head and not scheduler.stale and not at_risk else "degraded",
        database={"reachable": True},
        schema={"current": current, "head": head, "at_head": at_head},
        scheduler={"heartbeat_age_seconds": scheduler.age_seconds, "stale": scheduler.stale},
        teams_without_out_of_hours_route=unreachable,
    )


def _teams_without_route(conn) -> list[dict]:
    """Team ids (no names: this page is public), what is wrong, and how many patients the team
    follows up (services.teams.out_of_hours_route_problems)."""
    with Session(bind=conn) as session:
        found = teams_without_route(session)
        if not found:
            return []
        counts = dict(session.exec(
            select(Patient.team_id, func.count()).where(
                col(Patient.team_id).in_([team.id for team, _problems in found]),
                col(Patient.status).in_((PatientStatus.ACTIVE.value, PatientStatus.PAUSED.value)))
            .group_by(col(Patient.team_id))).all())
        return [{"id": team.id, "problems": [p.code for p in problems], "patients_in_follow_up": counts.get(team.id, 0)}
                for team, problems in found]

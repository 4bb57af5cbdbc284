"""Who commits (homefollow.db, homefollow.transactions): a request is one transaction that the
framework commits after the view answered and rolls back when anything raised; a job or a
command is one transaction (`unit_of_work`); the few earlier commits are named.

The failures are real: a service's rows really flushed before the view failed, the database
connection really terminated at the commit (PostgreSQL), a deferred foreign key really violated
at the commit (SQLite)."""

from __future__ import annotations

from datetime import date

import pytest
from flask import g, has_request_context, request
from sqlalchemy import event
from sqlmodel import Session, select

from homefollow import create_app
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Patient, PatientNote
from homefollow.services import patient_record, pauses
from homefollow.services.audit import Actor
from homefollow.services.access import Need, require_patient
from homefollow.transactions import commit_now, unit_of_work
from homefollow.web import current_actor, current_principal
from tests.conftest import app_config, observed_by
from tests.factories import audit_events
from tests.test_outage import _admin, assert_outage_page, outage_form
from tests.webclient import WebClient, staff_client

# Transactions behave differently per database (commit failures, locks): both.
pytestmark = pytest.mark.both_backends


def _app(engine, clock, session):
    """The app as in production: an unexpected error is the 500 page, not raised to the test."""
    return observed_by(create_app(app_config(engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False)), session)


def _with_note_then(app, error: Exception):
    """A route whose service writes a note (flushed, with its audit record) and which then fails."""

    @app.post("/test/note-then-fail/<int:patient_id>")
    def note_then_fail(patient_id: int):
        db = get_session()
        access = require_patient(db, get_clock(), current_principal(), patient_id, need=Need.REPORT,
                                 action="note.submit", actor=current_actor())
        patient_record.add_note(db, get_clock(), patient=access.patient, actor=current_actor(),
                                body="Ringte pasienten")
        raise error

    return app


def _notes(session) -> list[PatientNote]:
    return session.exec(select(PatientNote)).all()


def test_a_view_that_fails_after_its_service_flushed_leaves_nothing_behind(engine, clock, session, world):
    app = _with_note_then(_app(engine, clock, session), RuntimeError("a bug after the write"))
    app.config["WTF_CSRF_ENABLED"] = False
    nurse = staff_client(app, "nurse.a@example.no")
    response = nurse.client.post(f"/test/note-then-fail/{world.patient_a1.id}")
    assert response.status_code == 500 and "<h1" in response.get_data(as_text=True)  # the app's own page
    session.commit()
    assert _notes(session) == []
    assert audit_events(session, "note.create") == [] and audit_events(session, "note.submit") == []


def test_a_refusal_after_a_write_rolls_the_write_back_and_keeps_only_the_refusals_record(engine, clock, session,
                                                                                           world):
    """An error handled as a page (here the 404 of a refusal) still rolls back what was written;
    the refused access's own record is one of the named early commits."""
    app = _app(engine, clock, session)
    app.config["WTF_CSRF_ENABLED"] = False

    @app.post("/test/note-then-refused/<int:patient_id>/<int:other_id>")
    def note_then_refused(patient_id: int, other_id: int):
        db, clock_ = get_session(), get_clock()
        access = require_patient(db, clock_, current_principal(), patient_id, need=Need.REPORT, action="note.submit",
                                 actor=current_actor())
        patient_record.add_note(db, clock_, patient=access.patient, actor=current_actor(),
                                body="Ringte pasienten")
        require_patient(db, clock_, current_principal(), other_id, action="view.patient",  # another team's
                        actor=current_actor())
        raise AssertionError("unreachable")

    nurse = staff_client(app, "nurse.a@example.no")
    response = nurse.client.post(f"/test/note-then-refused/{world.patient_a1.id}/{world.patient_b1.id}")
    assert response.status_code == 404
    session.commit()
    [refused] = audit_events(session, "access.denied")
    assert refused.patient_id == world.patient_b1.id and refused.detail["attempted"] == "view.patient"
    assert _notes(session) == [] and audit_events(session, "note.create") == []
    assert audit_events(session, "note.submit") == []  # the granted check of a request that failed


def _away(app) -> tuple[WebClient, dict]:
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    _response, parsed = patient.page("/away")
    fields = dict(next(f for f in parsed.forms if f["action"] == "/away")["fields"])
    fields.update(last_day="2026-03-20")
    return patient, fields


def _on_the_away_commit(do):
    """Call do(session) just before the /away request's own transaction commits."""

    def before_commit(s):
        if has_request_context() and request.path == "/away" and g.get("db_session") is s:
            do(s)

    event.listen(Session, "before_commit", before_commit)
    return lambda: event.remove(Session, "before_commit", before_commit)


def test_a_commit_the_database_cannot_take_is_the_outage_page_with_the_values_kept_not_a_success(
        app, engine, backend, session, world):
    if backend != "postgresql":
        pytest.skip("a live SQLite file cannot be taken away under an open connection; see the next test")
    patient, fields = _away(app)

    def terminate(s):  # the database goes away between the view and its commit
        pid = s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with _admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    stop = _on_the_away_commit(terminate)
    try:
        response = patient.client.post("/away", data=fields)
    finally:
        stop()
    assert_outage_page(response, kept=True)  # not the redirect to "Follow-up is paused"
    assert outage_form(response)["fields"]["last_day"] == "2026-03-20"
    session.commit()
    assert session.get(Patient, world.patient_a1.id).status == "active"
    assert audit_events(session, "patient.pause") == []

    # The database answers again: one press of "Send igjen" pauses follow-up.
    form = outage_form(response)
    assert patient.client.post(form["action"], data=form["fields"]).status_code == 302
    session.commit()
    assert session.get(Patient, world.patient_a1.id, populate_existing=True).status == "paused"


def test_a_constraint_violated_at_the_commit_is_an_error_page_not_a_success(engine, backend, clock, session, world):
    if backend != "sqlite":
        pytest.skip("PostgreSQL checks these foreign keys at the statement; see the test before")
    app = _app(engine, clock, session)
    patient, fields = _away(app)

    def dangling_note(s):  # checked only at COMMIT
        s.connection().exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        s.connection().exec_driver_sql(
            "INSERT INTO patient_note (patient_id, author_account_id, body, created_at) "
            "VALUES (999999, 999999, 'x', '2026-03-10 10:00:00.000000')")

    stop = _on_the_away_commit(dangling_note)
    try:
        response = patient.client.post("/away", data=fields)
    finally:
        stop()
    assert response.status_code == 500  # not the redirect to "Follow-up is paused"
    session.commit()
    assert session.get(Patient, world.patient_a1.id).status == "active"
    assert audit_events(session, "patient.pause") == [] and _notes(session) == []


def test_a_jobs_work_is_one_transaction(engine, clock, session, world):
    """What a job or a command does through the services is stored whole or not at all."""
    until = pauses.end_of(date(2026, 3, 20), world.patient_a1)
    session.commit()
    with pytest.raises(RuntimeError), unit_of_work(engine) as job:
        patient = job.get(Patient, world.patient_a1.id)
        pauses.pause(job, clock, patient, reason=pauses.HOLIDAY, until=until, actor=Actor(None, "system"))
        patient_record.add_note(job, clock, patient=patient, actor=Actor(world.nurse_a.id, "staff"), body="Ferie")
        raise RuntimeError("the job fails after both writes")
    assert session.get(Patient, world.patient_a1.id, populate_existing=True).status == "active"
    assert _notes(session) == [] and audit_events(session, "patient.pause") == []

    with unit_of_work(engine) as job:
        patient = job.get(Patient, world.patient_a1.id)
        pauses.pause(job, clock, patient, reason=pauses.HOLIDAY, until=until, actor=Actor(None, "system"))
        patient_record.add_note(job, clock, patient=patient, actor=Actor(world.nurse_a.id, "staff"), body="Ferie")
    session.commit()
    assert session.get(Patient, world.patient_a1.id, populate_existing=True).status == "paused"
    assert [n.body for n in _notes(session)] == ["Ferie"]


def test_an_early_commit_must_be_one_of_the_named_ones(engine):
    with Session(engine) as s, pytest.raises(ValueError):
        commit_now(s, "convenient")

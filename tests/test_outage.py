"""The database goes away: people get HomeFollow's own 503 page, in their language, with what
they typed kept so that one press sends it again; the API answers 503 problem+json; and the
same app works again, without a restart, when the database is back.

The outages are real: on PostgreSQL the test database stops accepting connections and its
connections are terminated; on SQLite the folder holding the database file disappears.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from homefollow import create_app
from homefollow.db import make_engine
from homefollow.models import Alert, Measurement, Report
from homefollow.services import api_tokens, reporting
from tests.conftest import POSTGRES_ADMIN_URL, app_config, observed_by
from tests.webclient import WebClient, check_html, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def _admin() -> psycopg.Connection:
    url = make_url(POSTGRES_ADMIN_URL)
    return psycopg.connect(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
                           password=url.password, dbname=url.database or "postgres", autocommit=True)


@contextmanager
def database_down(engine: Engine, session: Session):
    """While inside, the database cannot be reached by anyone; afterwards it is back."""
    session.commit()  # the test's own view holds no transaction on a connection that is about to die
    if engine.dialect.name == "postgresql":
        name = engine.url.database
        with _admin() as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", [name])
            try:
                yield
            finally:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    else:
        folder = Path(engine.url.database).parent
        away = folder.with_name(folder.name + "-away")
        folder.rename(away)  # as if the volume were gone
        engine.dispose()  # connections already open would still reach the moved file
        try:
            yield
        finally:
            away.rename(folder)


def outage_form(response) -> dict:
    """The form on the outage page that sends the kept values again."""
    page = check_html(response.get_data(as_text=True))
    [form] = [f for f in page.forms if f["method"] == "post"]
    return form


def assert_outage_page(response, *, kept: bool):
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    check_html(html)
    page = text_of(response)
    assert "HomeFollow virker ikke akkurat nå" in page
    assert ("Det du skrev er ikke lagret ennå." in page) is kept
    assert 'href="tel:113"' in html and 'href="tel:116117"' in html
    assert "Internal Server Error" not in page


def test_a_reading_sent_while_the_database_is_down_is_kept_and_one_press_sends_it_once(app, engine, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    fields = patient.form_fields("/report/weight")
    fields.update(weight="71,3")

    with database_down(engine, session):
        response = patient.client.post("/report/weight", data=fields)
        assert_outage_page(response, kept=True)
        assert "Vent ett minutt. Trykk så på «Send igjen»." in text_of(response)
        form = outage_form(response)
        assert form["action"] == "/report/weight"
        assert form["fields"]["weight"] == "71,3"
        assert form["fields"]["idempotency_key"] == fields["idempotency_key"]
        assert form["fields"]["csrf_token"]  # a fresh token, made from the session cookie
        assert ">Send igjen</button>" in response.get_data(as_text=True)
        # Pressing it while the database is still down: the same page, the values still kept.
        again = patient.client.post(form["action"], data=form["fields"])
        assert_outage_page(again, kept=True)
        assert outage_form(again)["fields"]["weight"] == "71,3"

    # The database is back; the same app, not restarted, takes the one press.
    response = patient.client.post(form["action"], data=form["fields"])
    assert response.status_code == 302 and "/report/result/" in response.location
    assert patient.client.post(form["action"], data=form["fields"]).status_code == 302  # pressed twice
    reports = session.exec(select(Report).where(Report.patient_id == world.patient_a1.id)).all()
    assert len(reports) == 1
    [measurement] = session.exec(select(Measurement).where(Measurement.report_id == reports[0].id)).all()
    assert measurement.value == pytest.approx(71.3)
    assert patient.get("/today").status_code == 200


def test_a_signed_in_nurse_gets_the_outage_page_and_her_resolve_form_is_kept(app, engine, session, clock, world):
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 86},
                                 idempotency_key="red", reported_by_account_id=None, actor_kind="patient")
    session.commit()
    alert_id = session.exec(select(Alert.id)).one()
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    page = nurse.client.get(f"/clinic/alerts/{alert_id}").get_data(as_text=True)
    token = check_html(page).forms[-1]["fields"]["csrf_token"]
    note = 'Ringte pasienten <b>"ok"</b>, ny måling om 1 time.'

    with database_down(engine, session):
        # Her session cookie makes the staff sign-out check look her up in the database first.
        response = nurse.client.get("/clinic/")
        assert_outage_page(response, kept=False)
        assert "Prøv igjen" in text_of(response)
        response = nurse.client.post(f"/clinic/alerts/{alert_id}/resolve",
                                     data={"csrf_token": token, "outcome": "advice_given", "note": note})
        assert_outage_page(response, kept=True)
        assert "<b>" not in response.get_data(as_text=True)  # what she typed is text, not markup
        form = outage_form(response)
        assert form["action"] == f"/clinic/alerts/{alert_id}/resolve"
        assert (form["fields"]["outcome"], form["fields"]["note"]) == ("advice_given", note)

    assert nurse.client.post(form["action"], data=form["fields"]).status_code == 302
    alert = session.get(Alert, alert_id)
    assert (alert.status, alert.outcome, alert.resolution_note) == ("resolved", "advice_given", note)


def test_the_outage_page_never_writes_back_a_password_or_a_code(app, engine, session, world):
    patient = WebClient(app.test_client())
    login = patient.form_fields("/login")
    nurse = WebClient(app.test_client())
    nurse.submit("/clinic/login", {"email": "nurse.a@example.no", "password": "correct horse battery"})
    code_form = nurse.form_fields("/clinic/login/code")

    with database_down(engine, session):
        response = patient.client.post("/login", data={**login, "login": "+4791000001", "password": "hemmelig-1942"})
        assert_outage_page(response, kept=True)
        html = response.get_data(as_text=True)
        assert "hemmelig-1942" not in html and 'name="password"' not in html
        assert "Du må skrive passordet eller koden på nytt." in text_of(response)
        assert 'href="/login"' in html  # back to the form, to type it again
        response = nurse.client.post("/clinic/login/code", data={**code_form, "code": "731942"})
        assert_outage_page(response, kept=True)
        assert "731942" not in response.get_data(as_text=True)


def test_the_outage_page_speaks_the_language_chosen_on_the_phone(app, engine, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    patient.submit("/today", {"locale": "en", "next": "/today"}, action="/locale")
    with database_down(engine, session):
        response = patient.client.get("/today")
    assert response.status_code == 503
    page = text_of(response)
    assert "HomeFollow is not working right now" in page and "If it is urgent" in page
    assert check_html(response.get_data(as_text=True)).lang == "en"


def test_the_api_answers_503_problem_json_with_retry_after(app, engine, session):
    client = app.test_client()
    call = {"json": {"patient": "5551234", "measured_at": "2026-03-10T08:00:00Z", "values": {"spo2": 95}},
            "headers": {"Authorization": f"Bearer {api_tokens.TOKEN_PREFIX}unknown-token"}}
    with database_down(engine, session):
        response = client.post("/api/observations", **call)
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"] == "60"
        body = response.get_json()
        assert body["status"] == 503 and body["title"] == "Service unavailable"
        assert "Retry-After" in body["detail"]
        assert client.get("/healthz").status_code == 503
    assert client.post("/api/observations", **call).status_code == 401  # the database answers again: unknown token
    assert client.get("/healthz").status_code == 200


def test_a_report_whose_lock_wait_runs_out_mid_request_gets_the_outage_page_with_the_values_kept(
        backend, db_url, engine, session, clock, world):
    """The error comes from inside the view, after the user was loaded: as when the bounded
    retries of a deadlock run out. The page is still rendered without the database."""
    if backend != "postgresql":
        pytest.skip("SQLite takes its one write lock when a transaction begins, so a lock conflict "
                    "there fails before the view (the outage tests above cover that)")
    impatient = make_engine(make_url(db_url).update_query_dict({"options": "-c lock_timeout=300"})
                            .render_as_string(hide_password=False))
    app = observed_by(create_app(app_config(impatient, clock)), session)
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    fields = {**patient.form_fields("/report/spo2"), "spo2": "86"}
    session.commit()
    try:
        with psycopg.connect(db_url) as holder:
            holder.execute("LOCK TABLE report IN EXCLUSIVE MODE")  # reads go on, writes wait
            response = patient.client.post("/report/spo2", data=fields)
            holder.rollback()
        assert_outage_page(response, kept=True)
        form = outage_form(response)
        assert form["fields"]["spo2"] == "86"
        assert patient.client.post(form["action"], data=form["fields"]).status_code == 302
        assert len(session.exec(select(Report)).all()) == 1
        assert session.exec(select(Alert)).one().severity == "red"
    finally:
        impatient.dispose()

"""Nothing with personal data is kept by a browser's cache or a proxy, and no page can be framed
(issue 19). Answers are checked where a person would meet them: the patient's own page, the
clinic's patient page, the FHIR export and the CSV download, the API, an error page."""

from __future__ import annotations

import pytest

from homefollow.services import reporting
from tests.webclient import WebClient, staff_client


@pytest.fixture
def reading(session, clock, world):
    return reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight",
                                        values={"weight": 71.5}, idempotency_key="headers",
                                        reported_by_account_id=world.patient_a1.account_id, actor_kind="patient")


def assert_private(response) -> None:
    assert response.status_code == 200, response.status_code
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_patients_own_pages_are_not_stored(app, world, reading):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    for url in ("/today", "/history", "/messages"):
        assert_private(patient.get(url))


def test_clinic_pages_exports_and_downloads_are_not_stored(app, world, reading):
    nurse = staff_client(app, "nurse.a@example.no")
    patient_id = world.patient_a1.id
    for url in (f"/clinic/patients/{patient_id}", f"/clinic/patients/{patient_id}/fhir",
                f"/clinic/patients/{patient_id}/figures.csv"):
        response = nurse.get(url)
        assert_private(response)
    fhir = nurse.get(f"/clinic/patients/{patient_id}/fhir")
    assert "71.5" in fhir.get_data(as_text=True)  # the export does hold the patient's readings


def test_sign_in_and_error_pages_are_not_stored_either(app):
    client = app.test_client()
    assert_private(client.get("/login"))
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(app):
    response = app.test_client().get("/static/homefollow.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"

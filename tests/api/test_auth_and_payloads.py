"""The API's gate (tokens, scopes, limits) and its answers to bad payloads: each a clear 4xx
problem+json with the field and the reason, never a 500, and nothing stored."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homefollow.models import ApiToken, AuditEvent, Report, ServiceUse
from homefollow.services import api_tokens
from tests.api.conftest import A1_LOCAL, B1_LOCAL

ADMISSION = {"id": "ADM-1", "patient": {"local_id": A1_LOCAL}, "admitted_at": "2026-03-10T09:00:00+01:00"}
PULSE = {"id": "dev-1", "patient": {"local_id": A1_LOCAL}, "measured_at": "2026-03-10T08:55:00+01:00",
         "item": "pulse", "values": {"pulse": 72}}


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    return body


def fields(body: dict) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in body.get("errors", [])}


def test_no_token_or_a_bad_one_is_401_with_a_challenge(api, hospital):
    for headers in ({}, {"Authorization": "Bearer hf_not-a-real-token"}, {"Authorization": "Basic dXNlcjpwdw=="},
                    {"Authorization": hospital.headers["Authorization"] + "x"}):
        response = api.post("/api/admissions", json=ADMISSION, headers=headers)
        problem_of(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_and_revoked_tokens_are_refused(api, hospital, session, clock):
    assert api.post("/api/observations", json=PULSE, headers=hospital.headers).status_code == 201
    api_tokens.revoke(session, clock, hospital.token_id)
    problem_of(api.post("/api/observations", json=dict(PULSE, id="dev-2"), headers=hospital.headers), 401)

    fresh = api_tokens.create(session, clock, organisation_id=hospital.organisation.id, name="short", source="UNN",
                              scopes=["observations:write"], days=1)
    headers = {"Authorization": f"Bearer {fresh.token}"}
    assert api.post("/api/observations", json=dict(PULSE, id="dev-3"), headers=headers).status_code == 201
    clock.advance(days=1, seconds=1)
    problem_of(api.post("/api/observations", json=dict(PULSE, id="dev-4"), headers=headers), 401)
    assert len(session.exec(select(Report)).all()) == 2


def test_a_tokens_last_use_is_written_at_most_once_a_minute_outside_the_call(api, hospital, session, clock):
    """The last use is a note, not part of the call: written after it, once a minute at most, so
    a hub's calls do not queue on the token's row (issue 22)."""
    def last_use():
        session.commit()  # a fresh read
        return session.get(ApiToken, hospital.token_id).last_used_at

    assert last_use() is None
    assert api.post("/api/observations", json=PULSE, headers=hospital.headers).status_code == 201
    first = last_use()
    assert first == clock.now()
    clock.advance(seconds=30)
    assert api.post("/api/observations", json=dict(PULSE, id="p-2"), headers=hospital.headers).status_code == 201
    assert last_use() == first
    clock.advance(seconds=31)
    assert api.post("/api/observations", json=dict(PULSE, id="p-3"), headers=hospital.headers).status_code == 201
    assert last_use() == clock.now()
    # A refused call (its transaction left to the teardown) is used too, and noted by the next one.
    clock.advance(minutes=2)
    problem_of(api.post("/api/observations", json=dict(PULSE, values={"pulse": 81}), headers=hospital.headers), 409)
    assert api.post("/api/observations", json=dict(PULSE, id="p-4"), headers=hospital.headers).status_code == 201
    assert last_use() == clock.now()


def test_a_token_without_the_scope_is_403(api, hospital, session, clock):
    only_obs = api_tokens.create(session, clock, organisation_id=hospital.organisation.id, name="hub", source="UNN",
                                 scopes=["observations:write"])
    body = problem_of(api.post("/api/admissions", json=ADMISSION,
                               headers={"Authorization": f"Bearer {only_obs.token}"}), 403)
    assert "encounters:write" in body["detail"]
    assert session.exec(select(ServiceUse)).all() == []


def test_tokens_are_stored_only_as_hashes(hospital, session):
    [row] = session.exec(select(ApiToken)).all()
    assert row.token_hash == api_tokens.hash_token(hospital.token) and hospital.token not in row.token_hash
    assert hospital.token.startswith(row.prefix) and len(hospital.token) > 40


def test_a_session_cookie_is_no_way_in(app, hospital):
    from tests.webclient import WebClient

    client = WebClient(app.test_client())
    client.login_staff("admin.a@example.no")
    response = client.client.post("/api/admissions", json=ADMISSION)
    problem_of(response, 401)
    assert "Set-Cookie" not in response.headers


def test_calls_per_token_are_limited(engine, clock, session, world):
    from homefollow import create_app
    from tests.api.conftest import hospital as make_hospital
    from tests.conftest import app_config, observed_by

    app = observed_by(create_app(app_config(engine, clock, API_RATE_LIMIT="3 per minute")), session)
    h = make_hospital.__wrapped__(app, session, clock, world)
    client = app.test_client()
    statuses = [client.post("/api/observations", json=dict(PULSE, id=f"d{i}"), headers=h.headers).status_code
                for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    problem_of(client.post("/api/observations", json=dict(PULSE, id="d9"), headers=h.headers), 429)


@pytest.mark.parametrize("body, content_type, status, field", [
    (b'{"id": "ADM-1", ', "application/json", 400, "body"),
    (b'["not", "an", "object"]', "application/json", 422, "body"),
    (b'id=ADM-1', "application/x-www-form-urlencoded", 415, None),
])
def test_malformed_bodies(api, hospital, body, content_type, status, field):
    response = api.post("/api/admissions", data=body, content_type=content_type, headers=hospital.headers)
    got = problem_of(response, status)
    if field:
        assert field in fields(got)


@pytest.mark.parametrize("change, field", [
    ({"admitted_at": "2026-03-10T09:00:00"}, "admitted_at"),  # no time zone
    ({"admitted_at": 1773129600}, "admitted_at"),
    ({"acute": "yes"}, "acute"),
    ({"patient": {}}, "patient"),
    ({"patient": {"local_id": "1", "national_id": "12345678901"}}, "patient"),
    ({"patient": {"national_id": "12345678901"}}, "patient"),  # fails the control digits
    ({"id": ""}, "id"),
    ({"id": "x" * 65}, "id"),
    ({"ward": "Sengepost\u0000"}, "ward"),
    ({"colour": "blue"}, "colour"),
])
def test_wrong_fields_of_an_admission_are_named(api, hospital, session, change, field):
    body = problem_of(api.post("/api/admissions", json=dict(ADMISSION, **change), headers=hospital.headers), 422)
    assert any(f == field or f.startswith(field + ".") for f in fields(body)), body
    assert session.exec(select(ServiceUse)).all() == []


@pytest.mark.parametrize("change, field, reason", [
    ({"values": {"pulse": "72"}}, "values.pulse", "number"),
    ({"values": {"pulse": 900}}, "values.pulse", "too high"),
    ({"values": {"pulse": 5}}, "values.pulse", "too low"),
    ({"item": "blood_pressure", "values": {"bp_systolic": 80, "bp_diastolic": 120}}, "values.bp_diastolic",
     "below the systolic"),
    ({"item": "blood_pressure", "values": {"bp_systolic": 120}}, "body", "bp_diastolic"),
    ({"item": "cholesterol"}, "item", ""),
    ({"measured_at": "2026-03-11T08:00:00+01:00"}, "measured_at", "future"),
])
def test_implausible_or_wrong_measurements_are_refused(api, hospital, session, change, field, reason):
    body = problem_of(api.post("/api/observations", json=dict(PULSE, **change), headers=hospital.headers), 422)
    found = fields(body)
    assert any(f.startswith(field) and reason in r for f, r in found.items()), found
    assert session.exec(select(Report)).all() == []


def test_an_unknown_patient_or_one_of_another_organisations_team_is_404_and_audited(api, hospital, session, world):
    for local_id in ("0000000", B1_LOCAL):
        body = problem_of(api.post("/api/observations", json=dict(PULSE, patient={"local_id": local_id}),
                                   headers=hospital.headers), 404)
        assert fields(body) == {"patient": "unknown patient"}
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(d.actor_kind, d.patient_id) for d in denied] == [("api", None), ("api", world.patient_b1.id)]
    assert session.exec(select(Report)).all() == []


def test_unknown_paths_and_methods_answer_in_json(api, hospital):
    problem_of(api.get("/api/nothing-here", headers=hospital.headers), 404)
    response = api.get("/api/admissions", headers=hospital.headers)
    problem_of(response, 405)
    assert "POST" in response.headers["Allow"]


def test_fhir_observation_with_an_unknown_loinc_code_or_unit(api, hospital):
    obs = {"resourceType": "Observation", "id": "o1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]},
           "subject": {"identifier": {"system": "urn:oid:2.16.578.1.12.4.1.2.1", "value": A1_LOCAL}},
           "effectiveDateTime": "2026-03-10T08:00:00+01:00",
           "valueQuantity": {"value": 5.2, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}}
    body = problem_of(api.post("/api/fhir/Observation", json=obs, headers=hospital.headers), 422)
    assert "no supported LOINC code" in fields(body)["code.coding"]
    wrong_unit = dict(obs, code={"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                      valueQuantity={"value": 310.4, "code": "K"})  # [degF] is converted (tests/api/test_units.py)
    body = problem_of(api.post("/api/fhir/Observation", json=wrong_unit, headers=hospital.headers), 422)
    assert "Cel" in fields(body)["valueQuantity.code"] and "[degF]" in fields(body)["valueQuantity.code"]
    not_fhir = dict(obs, status="so-so")
    body = problem_of(api.post("/api/fhir/Observation", json=not_fhir, headers=hospital.headers), 422)
    assert "status" in fields(body)

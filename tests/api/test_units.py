"""Units through the API: plain JSON names a value's UCUM unit in `units`, FHIR in
valueQuantity.code; lb, °F and mg/dL are converted (rules/units.py) and the answer gives the
stored canonical values. Devices state their unit, so nothing is asked about."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homefollow.models import Alert, Measurement
from homefollow.outcomes_cli import person_secret
from homefollow.services.hospital_stays import identify_patient
from tests.api.conftest import A1_LOCAL
from tests.api.test_auth_and_payloads import fields, problem_of
from tests.factories import make_patient
from tests.test_units import diabetes_plan


def plain(ident: str, item: str, values: dict, units: dict | None = None) -> dict:
    body = {"id": ident, "patient": {"local_id": A1_LOCAL}, "measured_at": "2026-03-10T08:02:00+01:00",
            "item": item, "values": values}
    return body if units is None else {**body, "units": units}


def fhir(ident: str, loinc: str, value: float, ucum: str) -> dict:
    return {"resourceType": "Observation", "identifier": [{"value": ident}], "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": f"Patient/{A1_LOCAL}"}, "effectiveDateTime": "2026-03-10T08:50:00+01:00",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": ucum}}


def stored(session) -> list[tuple[str, float]]:
    session.expire_all()
    return [(m.code, m.value) for m in session.exec(select(Measurement).order_by(Measurement.id))]


@pytest.mark.parametrize(("item", "sent", "ucum", "value"), [
    ("weight", 165, "[lb_av]", 74.8),
    ("weight", 74800, "g", 74.8),
    ("weight", 74.8, "kg", 74.8),
    ("temperature", 101.3, "[degF]", 38.5),
    ("glucose", 126, "mg/dL", 7.0),
])
def test_plain_json_values_in_another_unit_are_converted(api, hospital, session, item, sent, ucum, value):
    response = api.post("/api/observations", json=plain("u-1", item, {item: sent}, {item: ucum}),
                        headers=hospital.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    canonical = {"weight": "kg", "temperature": "Cel", "glucose": "mmol/L"}[item]
    assert body["values"] == {item: value} and body["units"] == {item: canonical}
    assert stored(session) == [(item, value)]


def test_without_units_the_canonical_unit_is_meant_and_nothing_is_asked(api, hospital, session):
    response = api.post("/api/observations", json=plain("u-1", "weight", {"weight": 165}), headers=hospital.headers)
    assert response.status_code == 201 and response.get_json()["values"] == {"weight": 165.0}


@pytest.mark.parametrize(("units", "field"), [
    ({"weight": "stone"}, "units.weight"),
    ({"weight": "[degF]"}, "units.weight"),
    ({"weight": "[lb_av]", "pulse": "/min"}, "units.pulse"),
])
def test_an_unknown_unit_is_422_naming_the_field_and_stores_nothing(api, hospital, session, units, field):
    body = problem_of(api.post("/api/observations", json=plain("u-1", "weight", {"weight": 165}, units),
                               headers=hospital.headers), 422)
    assert field in fields(body)
    if field == "units.weight":
        assert "[lb_av]" in fields(body)[field] and "kg" in fields(body)[field]
    assert stored(session) == []


def test_a_converted_value_that_cannot_be_real_is_refused(api, hospital, session):
    sent = plain("u-1", "weight", {"weight": 1000}, {"weight": "[lb_av]"})
    body = problem_of(api.post("/api/observations", json=sent, headers=hospital.headers), 422)
    assert fields(body) == {"values.weight": "too high to be a real reading"}
    assert stored(session) == []


@pytest.mark.parametrize(("loinc", "value", "ucum", "code", "stored_value"), [
    ("29463-7", 165, "[lb_av]", "weight", 74.8),
    ("8310-5", 101.3, "[degF]", "temperature", 38.5),
    ("15074-8", 126, "mg/dL", "glucose", 7.0),
    ("2339-0", 126, "mg/dL", "glucose", 7.0),
    ("41653-7", 126, "mg/dL", "glucose", 7.0),
    ("2339-0", 7.0, "mmol/L", "glucose", 7.0),
    ("14743-9", 7.0, "mmol/L", "glucose", 7.0),
])
def test_fhir_observations_in_other_units_are_converted(api, hospital, session, loinc, value, ucum, code,
                                                        stored_value):
    response = api.post("/api/fhir/Observation", json=fhir("f-1", loinc, value, ucum), headers=hospital.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["values"] == {code: stored_value}
    assert stored(session) == [(code, stored_value)]


def test_fhir_an_unknown_unit_is_422_naming_the_field(api, hospital, session):
    body = problem_of(api.post("/api/fhir/Observation", json=fhir("f-1", "29463-7", 165, "[stone_av]"),
                               headers=hospital.headers), 422)
    assert "[lb_av]" in fields(body)["valueQuantity.code"]
    assert stored(session) == []


def test_glucose_36_mg_dl_from_a_device_is_a_severe_low_and_red(app, api, hospital, session, clock, world):
    dina = make_patient(session, clock, world.team_a, "Dina D", "+4791000020", diabetes_plan(), world.nurse_a)
    with app.app_context():
        secret = person_secret()
    identify_patient(session, clock, patient_id=dina.id, source="UNN", local_id="5550020", national_id=None,
                     secret=secret)
    observation = dict(fhir("f-1", "2339-0", 36, "mg/dL"), subject={"reference": "Patient/5550020"})
    response = api.post("/api/fhir/Observation", json=observation, headers=hospital.headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["values"] == {"glucose": 2.0} and body["zone"] == "red" and body["team_alerted"] is True
    assert any(a.severity == "red" and "is below the plan's red limit (3.1\u00a0mmol/L)" in a.explanation["en"]
               for a in session.exec(select(Alert).where(Alert.patient_id == dina.id)))

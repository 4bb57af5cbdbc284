"""Admissions, discharges and measurements through the API, as plain JSON and as FHIR R4:
what they change for the patient, the team's queue and messages, and idempotency."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homefollow.models import Alert, ApiEvent, Measurement, Notification, Patient, Report, ServiceUse
from homefollow.notifications.outbox import dispatch_due
from homefollow.outcomes_cli import person_secret
from homefollow.outcomes.cohorts import figures_for
from homefollow.services.evaluation import claim_due_patients
from homefollow.services.hospital_stays import identify_patient
from homefollow.services.reminders import send_due
from tests.api.conftest import A1_LOCAL
from tests.api.test_auth_and_payloads import ADMISSION, PULSE, fields, problem_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

DISCHARGE = {"id": "ADM-1", "patient": {"local_id": A1_LOCAL}, "discharged_at": "2026-03-13T11:30:00+01:00"}
ADMIT_WITH_WARD = dict(ADMISSION, ward="Medisinsk sengepost 5", ward_phone="+47 77 62 60 00", diagnoses=["I50.1"])


def encounter(status: str, **period) -> dict:
    return {"resourceType": "Encounter", "id": "enc-9", "status": status,
            "identifier": [{"system": "urn:unn:dips", "value": "ENC-9"}],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"identifier": {"system": "urn:unn:patient", "value": A1_LOCAL}},
            "serviceProvider": {"display": "UNN Tromsø"},
            "location": [{"location": {"display": "Lungeavdelingen"}}],
            "period": {"start": "2026-03-10T09:00:00+01:00", **period}}


def test_an_admission_pauses_follow_up_queues_an_item_and_tells_the_team(
        api, hospital, session, clock, world, engine, fake_twilio, senders):
    response = api.post("/api/admissions", json=ADMIT_WITH_WARD, headers=hospital.headers)
    assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "false"
    body = response.get_json()
    assert body["patient_status"] == "paused" and body["followed_up"] is True
    assert body["team"] == {"name": "Team A", "phone": "+4777620000"}  # whom the hospital calls

    patient = session.get(Patient, world.patient_a1.id)
    assert patient.status == "paused" and patient.reminder_due_at is None
    [stay] = session.exec(select(ServiceUse)).all()
    assert (stay.kind, stay.start_date.isoformat(), stay.end_date, stay.source, stay.source_id, stay.diagnoses) == \
        ("admission", "2026-03-10", None, "UNN", "ADM-1", ["I50.1"])

    [item] = session.exec(select(Alert).where(Alert.patient_id == patient.id)).all()
    assert (item.rule_key, item.severity, item.status, item.team_id) == ("stay.admitted", "yellow", "open",
                                                                         world.team_a.id)
    assert "Medisinsk sengepost 5" in item.value_text["nb"] and item.escalation_policy is None

    dispatch_due(engine, clock, senders)
    [sms] = fake_twilio.to("+4790000000")  # the team's on-call phone (team A has no e-mail)
    assert "Team A" in sms.body and "+47 77 62 60 00" in sms.body and item.short_code in sms.body
    assert "Astrid" not in sms.body and "UNN" in sms.body  # names the team, never the patient

    # A paused patient is skipped by the rules sweep and gets no reminders.
    clock.advance(hours=30)
    assert world.patient_a1.id not in claim_due_patients(session, clock, 100)
    patient.reminders = {"enabled": True}
    assert send_due(session, clock, patient) == 0
    session.rollback()


def test_a_discharge_resumes_follow_up_with_an_item_due_within_24_hours(api, hospital, session, clock, world):
    assert api.post("/api/admissions", json=ADMISSION, headers=hospital.headers).status_code == 201
    clock.advance(days=3, hours=3)
    response = api.post("/api/discharges", json=DISCHARGE, headers=hospital.headers)
    assert response.status_code == 201 and response.get_json()["patient_status"] == "active"
    patient = session.get(Patient, world.patient_a1.id)
    assert patient.status == "active" and patient.resumed_at == clock.now()
    [stay] = session.exec(select(ServiceUse)).all()
    assert (stay.start_date.isoformat(), stay.end_date.isoformat()) == ("2026-03-10", "2026-03-13")
    item = session.exec(select(Alert).where(Alert.rule_key == "stay.discharged")).one()
    assert item.status == "open" and item.team_id == world.team_a.id
    assert len(session.exec(select(Alert.id)).all()) == 2  # the admission's item stays until a nurse resolves it
    assert "14. mars" in item.threshold_text["nb"]  # due 24 hours after the discharge at 11:30 on the 13th
    # Check-ins missed while in hospital are not held against the patient.
    assert not session.exec(select(Alert).where(Alert.rule_key.not_like("stay.%"))).all()
    # The stay counts in the outcome figures as an admission after inclusion.
    result = figures_for(session, [patient], clock.now().date())
    assert (result.figures.after.counts["acute_admissions"], result.figures.after.counts["bed_days"]) == (1, 3)


def test_the_same_id_again_gets_the_same_answer_and_changed_content_is_409(api, hospital, session):
    first = api.post("/api/admissions", json=ADMISSION, headers=hospital.headers)
    again = api.post("/api/admissions", json=dict(reversed(list(ADMISSION.items()))), headers=hospital.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(session.exec(select(ServiceUse)).all()) == 1
    assert len(session.exec(select(Alert)).all()) == 1
    assert len(session.exec(select(Notification)).all()) == 1

    changed = api.post("/api/admissions", json=dict(ADMISSION, admitted_at="2026-03-10T10:00:00+01:00"),
                       headers=hospital.headers)
    assert fields(problem_of(changed, 409)) == {"id": "already used"}

    pulse = api.post("/api/observations", json=PULSE, headers=hospital.headers)
    pulse_again = api.post("/api/observations", json=PULSE, headers=hospital.headers)
    assert (pulse.status_code, pulse_again.status_code) == (201, 200) and pulse.get_json() == pulse_again.get_json()
    problem_of(api.post("/api/observations", json=dict(PULSE, values={"pulse": 80}), headers=hospital.headers), 409)
    assert len(session.exec(select(Report)).all()) == 1
    assert len(session.exec(select(ApiEvent)).all()) == 2


def test_a_discharge_of_an_unknown_stay_needs_the_admission_time(api, hospital, session):
    body = problem_of(api.post("/api/discharges", json=DISCHARGE, headers=hospital.headers), 422)
    assert "id" in fields(body)
    ok = api.post("/api/discharges", json=dict(DISCHARGE, admitted_at="2026-03-09T22:00:00+01:00"),
                  headers=hospital.headers)
    assert ok.status_code == 201
    [stay] = session.exec(select(ServiceUse)).all()
    assert (stay.start_date.isoformat(), stay.end_date.isoformat()) == ("2026-03-09", "2026-03-13")
    backwards = dict(DISCHARGE, id="ADM-2", admitted_at="2026-03-14T08:00:00+01:00")
    assert "discharged_at" in fields(problem_of(api.post("/api/discharges", json=backwards,
                                                         headers=hospital.headers), 422))


def test_fhir_encounters_admit_then_discharge_the_same_stay(api, hospital, session, clock, world):
    response = api.post("/api/fhir/Encounter", json=encounter("in-progress"), headers=hospital.headers,
                        content_type="application/fhir+json")
    assert response.status_code == 201, response.get_json()
    assert session.get(Patient, world.patient_a1.id).status == "paused"
    item = session.exec(select(Alert).where(Alert.rule_key == "stay.admitted")).one()
    assert "UNN Tromsø, Lungeavdelingen" in item.value_text["en"]
    clock.advance(days=2)
    finished = encounter("finished", end="2026-03-12T10:00:00+01:00")
    assert api.post("/api/fhir/Encounter", json=finished, headers=hospital.headers).status_code == 201
    assert api.post("/api/fhir/Encounter", json=finished, headers=hospital.headers).status_code == 200
    [stay] = session.exec(select(ServiceUse)).all()
    assert (stay.source_id, stay.end_date.isoformat()) == ("ENC-9", "2026-03-12")
    assert session.get(Patient, world.patient_a1.id).status == "active"

    bad = encounter("finished")  # no period.end
    bad["identifier"][0]["value"] = "ENC-10"
    assert "period.end" in fields(problem_of(api.post("/api/fhir/Encounter", json=bad, headers=hospital.headers), 422))
    emergency = dict(encounter("in-progress"), **{"class": {"code": "EMER"}})
    assert "class.code" in fields(problem_of(api.post("/api/fhir/Encounter", json=emergency,
                                                      headers=hospital.headers), 422))
    invalid = dict(encounter("in-progress"), status=12)
    problem_of(api.post("/api/fhir/Encounter", json=invalid, headers=hospital.headers), 422)


def test_a_patient_identified_by_national_id_which_is_never_stored(app, api, hospital, session, clock, world):
    from homefollow.outcomes_cli import person_secret
    from homefollow.services.hospital_stays import identify_patient

    number = "01010012356"  # valid control digits
    with app.app_context():
        identify_patient(session, clock, patient_id=world.patient_a2.id, source=None, local_id=None,
                         national_id=number, secret=person_secret())
    body = dict(PULSE, id="n1", patient={"national_id": number})
    assert api.post("/api/observations", json=body, headers=hospital.headers).status_code == 201
    [report] = session.exec(select(Report)).all()
    assert report.patient_id == world.patient_a2.id
    from sqlalchemy import text
    dump = " ".join(str(row) for table in ("api_event", "service_person", "audit_event", "report")
                    for row in session.execute(text(f"SELECT * FROM {table}")))
    assert number not in dump


def test_fhir_observations_with_loinc_codes_are_evaluated_by_the_plan(api, hospital, session, world):
    def observation(ident: str, code: str, **value) -> dict:
        return {"resourceType": "Observation", "identifier": [{"value": ident}], "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": f"Patient/{A1_LOCAL}"}, "effectiveDateTime": "2026-03-10T08:50:00+01:00",
                **value}

    spo2 = observation("o-1", "59408-5", valueQuantity={"value": 86, "unit": "%", "system": "http://unitsofmeasure.org",
                                                         "code": "%"})
    response = api.post("/api/fhir/Observation", json=spo2, headers=hospital.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["zone"] == "red" and response.get_json()["team_alerted"] is True
    assert session.exec(select(Alert).where(Alert.patient_id == world.patient_a1.id,
                                            Alert.severity == "red")).first() is not None

    bp = observation("o-2", "85354-9", component=[
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 142, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 91, "code": "mm[Hg]"}}])
    assert api.post("/api/fhir/Observation", json=bp, headers=hospital.headers).get_json()["values"] == \
        {"bp_systolic": 142.0, "bp_diastolic": 91.0}
    glucose = observation("o-3", "2339-0", valueQuantity={"value": 126, "code": "mg/dL"})
    assert api.post("/api/fhir/Observation", json=glucose, headers=hospital.headers).get_json()["values"] == \
        {"glucose": 7.0}
    stored = {m.code: m.value for m in session.exec(select(Measurement))}
    assert stored == {"spo2": 86.0, "bp_systolic": 142.0, "bp_diastolic": 91.0, "glucose": 7.0}
    assert {r.source for r in session.exec(select(Report))} == {"device"}


def test_an_id_used_for_another_patient_is_409_and_stores_no_reading(api, hospital, session, clock, world, app):
    """The reading and its event commit together: a 409 leaves nothing behind (before issue 22
    the second patient's reading was committed, and then the call was answered 409)."""
    with app.app_context():
        secret = person_secret()
    identify_patient(session, clock, patient_id=world.patient_a2.id, source="UNN", local_id="5552222",
                     national_id=None, secret=secret)
    assert api.post("/api/observations", json=PULSE, headers=hospital.headers).status_code == 201
    other = dict(PULSE, patient={"local_id": "5552222"})
    problem_of(api.post("/api/observations", json=other, headers=hospital.headers), 409)
    assert [r.patient_id for r in session.exec(select(Report)).all()] == [world.patient_a1.id]
    assert not session.exec(select(Measurement).where(Measurement.patient_id == world.patient_a2.id)).all()

"""The FHIR R4 export of one patient's record: valid by fhir.resources, and the values are the data."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlmodel import select

from homefollow.fhir_export import patient_bundle
from homefollow.models import Alert, AuditEvent
from homefollow.services import reporting
from tests.conftest import T0
from tests.webclient import WebClient


def _reports(session, clock, patient):
    def measure(item, values, minutes):
        reporting.report_measurement(session, clock, patient=patient, item_key=item, values=values,
                                     idempotency_key=f"{item}-{minutes}", reported_by_account_id=None,
                                     actor_kind="patient", measured_at=T0 - timedelta(minutes=minutes))
    measure("blood_pressure", {"bp_systolic": 142, "bp_diastolic": 88}, 50)
    measure("pulse", {"pulse": 72}, 45)
    measure("weight", {"weight": 69.4}, 40)  # under dry weight + 2 kg: no alert
    measure("temperature", {"temperature": 37.8}, 35)
    measure("glucose", {"glucose": 6.4}, 30)
    measure("spo2", {"spo2": 92}, 20)  # below the plan's yellow limit of 93: an alert
    reporting.report_questionnaire(session, clock, patient=patient, questionnaire_key="daily_checkin",
                                   answers={"general": 1, "breathless": 0, "swelling": 2, "cough": 0},
                                   idempotency_key="checkin-1", reported_by_account_id=None, actor_kind="patient")


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_the_bundle_is_valid_fhir_and_holds_the_record(session, clock, world):
    patient = world.patient_a1
    _reports(session, clock, patient)
    bundle = patient_bundle(session, clock, patient)
    parsed = Bundle.model_validate(bundle)  # raises on anything that is not valid R4
    assert parsed.type == "collection" and len(parsed.entry) == len(bundle["entry"])
    resources = _by_type(bundle)
    assert {k: len(v) for k, v in resources.items()} == {"Patient": 1, "Observation": 6, "QuestionnaireResponse": 1,
                                                         "CarePlan": 1, "Flag": 2}  # SpO2, and the check-in
    assert resources["Patient"][0]["name"] == [{"text": "Astrid A1"}]
    patient_ref = f"urn:uuid:{resources['Patient'][0]['id']}"
    observations = {o["code"]["coding"][0]["code"]: o for o in resources["Observation"]}
    assert all(o["subject"]["reference"] == patient_ref for o in observations.values())

    bp = observations["85354-9"]
    assert {c["code"]["coding"][0]["code"]: (c["valueQuantity"]["value"], c["valueQuantity"]["code"])
            for c in bp["component"]} == {"8480-6": (142, "mm[Hg]"), "8462-4": (88, "mm[Hg]")}
    assert bp["effectiveDateTime"] == (T0 - timedelta(minutes=50)).isoformat(timespec="seconds")
    values = {code: (o["valueQuantity"]["value"], o["valueQuantity"]["code"]) for code, o in observations.items()
              if code != "85354-9"}
    assert values == {"8867-4": (72, "/min"), "29463-7": (69.4, "kg"), "8310-5": (37.8, "Cel"),
                      "15074-8": (6.4, "mmol/L"), "59408-5": (92, "%")}
    assert observations["15074-8"]["category"][0]["coding"][0]["code"] == "laboratory"
    assert observations["59408-5"]["category"][0]["coding"][0]["code"] == "vital-signs"

    checkin = resources["QuestionnaireResponse"][0]
    assert checkin["questionnaire"].endswith("daily_checkin") and checkin["status"] == "completed"
    answers = {i["linkId"]: (i["answer"][0]["valueCoding"]["code"], i["answer"][0]["valueCoding"]["display"])
               for i in checkin["item"]}
    assert answers == {"general": ("1", "Worse than usual"), "breathless": ("0", "As usual"),
                       "swelling": ("2", "Much more than usual"), "cough": ("0", "As usual")}

    plan = resources["CarePlan"][0]
    assert (plan["status"], plan["intent"]) == ("active", "plan")
    assert plan["description"] == "What matters to the patient: Å gå tur med hunden."
    assert {"text": "Goal: Gå tur hver dag"} in plan["note"]
    assert [a["detail"]["code"]["coding"][0]["code"] for a in plan["activity"]] == ["59408-5", "29463-7", "85354-9"]
    assert plan["activity"][0]["detail"]["description"] == "Measure oxygen saturation at 08:00, 18:00"

    alert = session.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.rule_key == "copd.spo2")).one()
    flag = next(f for f in resources["Flag"] if f["code"]["coding"][0]["code"] == "copd.spo2")
    assert flag["code"]["coding"][0]["code"] == alert.rule_key and flag["status"] == "active"
    assert flag["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "PM"  # yellow
    assert flag["period"]["start"] == alert.opened_at.isoformat(timespec="seconds")


def test_resolved_alerts_are_not_flags_and_an_empty_record_is_valid(session, clock, world):
    bundle = patient_bundle(session, clock, world.patient_b1)
    Bundle.model_validate(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "CarePlan"]


def test_download_from_the_patient_page_is_for_the_team_and_audited(app, session, clock, world):
    _reports(session, clock, world.patient_a1)
    client = WebClient(app.test_client())
    client.login_staff("nurse.a@example.no")
    response = client.get(f"/clinic/patients/{world.patient_a1.id}/fhir")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    assert "attachment" in response.headers["Content-Disposition"]
    Bundle.model_validate(json.loads(response.get_data(as_text=True)))
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "export.fhir")).one()
    assert (event.patient_id, event.actor_account_id) == (world.patient_a1.id, world.nurse_a.id)

    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    assert relative.get(f"/clinic/patients/{world.patient_a1.id}/fhir").status_code in (302, 403, 404)


@pytest.mark.parametrize("to_file", [False, True])
def test_the_cli_exports_a_bundle(app, session, clock, world, tmp_path, to_file):
    runner = app.test_cli_runner()
    out = tmp_path / "a1.json"
    result = runner.invoke(args=["outcomes", "fhir-export", str(world.patient_a1.id)]
                           + (["--out", str(out)] if to_file else []))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8") if to_file else result.output
    bundle = Bundle.model_validate(json.loads(text))
    assert bundle.entry[0].resource.name[0].text == "Astrid A1"
    if to_file:
        assert result.output.strip() == f"Patient {world.patient_a1.id}: 2 resources written to {out}."
    session.commit()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "export.fhir")).one()
    assert (event.actor_kind, event.detail["via"]) == ("system", "cli")
    assert runner.invoke(args=["outcomes", "fhir-export", "999999"]).exit_code != 0

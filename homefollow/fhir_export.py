"""One patient's record as a FHIR R4 Bundle (type collection), for another system or the patient.

No Flask: `patient_bundle` takes a session and a clock and returns the Bundle as plain JSON data.
Contents:
- Patient: name, birth date, phone.
- Observation per measurement report: LOINC codes from the measurement catalogue
  (rules.measurements), UCUM units; blood pressure as the panel 85354-9 with the systolic
  (8480-6) and diastolic (8462-4) pressures as components.
- QuestionnaireResponse per completed questionnaire (check-in, CAT): one item per answered
  question, with the answer's code and words.
- CarePlan: the current plan version (what matters, goals, what is measured and done when).
- Flag per alert not resolved, with its severity as the flag-priority extension.
Texts are the catalogue's English words (msgids); the plan's own texts are as the team wrote them.
Resources refer to each other by urn:uuid, stable for the same record (uuid5 of their ids).
"""

from __future__ import annotations

from typing import Any

import json
import uuid
from datetime import datetime

from sqlmodel import Session, select, col

from rules.measurements import CATALOGUE, ITEMS

from .clock import Clock
from .models import Alert, AlertStatus, Measurement, Patient, PatientStatus, Report, ReportKind
from .questionnaires import QUESTIONNAIRES
from .services import plans

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:homefollow")
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
UCUM_CODES = {"mmHg": "mm[Hg]", "/min": "/min", "%": "%", "kg": "kg", "°C": "Cel", "mmol/L": "mmol/L"}
BLOOD_PRESSURE_PANEL = "85354-9"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_PRIORITY = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODES = "http://hl7.org/fhir/flag-priority-code"
SEVERITY_PRIORITY = {"red": ("PH", "High priority"), "yellow": ("PM", "Medium priority")}
RULE_SYSTEM = "urn:homefollow:alert-rule"
QUESTIONNAIRE_BASE = "urn:homefollow:questionnaire:"
PATIENT_SYSTEM = "urn:homefollow:patient"


def _urn(kind: str, key) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{key}')}"


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _quantity(code: str, value: float) -> dict:
    unit = CATALOGUE[code].unit
    return {"value": round(value, CATALOGUE[code].decimals), "unit": unit, "system": UCUM, "code": UCUM_CODES[unit]}


def _loinc(code: str, display: str) -> dict:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _patient(patient: Patient) -> dict:
    resource = {"resourceType": "Patient", "id": _urn("Patient", patient.id)[9:],
                "identifier": [{"system": PATIENT_SYSTEM, "value": str(patient.id)}],
                "active": patient.status != PatientStatus.ENDED.value, "name": [{"text": patient.name}]}
    if patient.birth_date:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.phone:
        resource["telecom"] = [{"system": "phone", "value": patient.phone, "use": "mobile"}]
    return resource


def _observation(patient_ref: str, report: Report, values: dict[str, float]) -> dict | None:
    item = ITEMS.get(report.item_key)
    if item is None or not values:
        return None
    resource: dict[str, Any] = {"resourceType": "Observation", "id": _urn("Observation", report.id)[9:], "status": "final",
                "subject": {"reference": patient_ref}, "effectiveDateTime": _instant(report.measured_at),
                "issued": _instant(report.reported_at)}
    codes = [c for c in item.codes if c in values]
    category = "laboratory" if item.key == "glucose" else "vital-signs"
    resource["category"] = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}]
    if item.key == "blood_pressure":
        resource["code"] = _loinc(BLOOD_PRESSURE_PANEL, "Blood pressure panel")
        resource["component"] = [{"code": _loinc(CATALOGUE[c].loinc, CATALOGUE[c].name_en),
                                  "valueQuantity": _quantity(c, values[c])} for c in codes]
    else:
        code = codes[0]
        resource["code"] = _loinc(CATALOGUE[code].loinc, CATALOGUE[code].name_en)
        resource["valueQuantity"] = _quantity(code, values[code])
    if report.comment:
        resource["note"] = [{"text": report.comment}]
    return resource


def _questionnaire_response(patient_ref: str, report: Report, values: dict[str, float]) -> dict | None:
    questionnaire = QUESTIONNAIRES.get(report.item_key)
    if questionnaire is None:
        return None
    items = []
    for q in questionnaire.questions:
        if q.code not in values:
            continue
        answer = int(values[q.code])
        words = next((o.label for o in q.options if o.value == answer), str(answer))
        items.append({"linkId": q.key, "text": q.text, "answer": [{"valueCoding": {
            "system": f"{QUESTIONNAIRE_BASE}{questionnaire.key}:{q.key}", "code": str(answer), "display": words}}]})
    resource: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "id": _urn("QuestionnaireResponse", report.id)[9:],
                "questionnaire": QUESTIONNAIRE_BASE + questionnaire.key, "status": "completed",
                "subject": {"reference": patient_ref}, "authored": _instant(report.measured_at)}
    if items:
        resource["item"] = items
    return resource


def _schedule_text(schedule) -> str:
    if schedule is None:
        return "when needed"
    times = ", ".join(t.strftime("%H:%M") for t in schedule.times)
    return f"at {times}" if times else "on schedule"


def _care_plan(session: Session, patient: Patient, patient_ref: str) -> dict | None:
    plan = plans.current_plan(session, patient.id)
    if plan is None:
        return None
    content = plans.PlanContent.model_validate(plan.content)
    activities = []
    for m in content.measurements:
        item = ITEMS[m.item]
        code = BLOOD_PRESSURE_PANEL if m.item == "blood_pressure" else CATALOGUE[item.codes[0]].loinc
        activities.append({"detail": {"kind": "ServiceRequest", "code": _loinc(code, item.name_en),
                                      "status": "in-progress",
                                      "description": f"Measure {item.name_en.lower()} {_schedule_text(m.schedule)}"}})
    for q in content.questionnaires:
        activities.append({"detail": {"status": "in-progress",
                                      "description": f"Answer {QUESTIONNAIRES[q.key].title} {_schedule_text(q.schedule)}"}})
    for t in content.tasks:
        activities.append({"detail": {"status": "in-progress", "description": f"{t.text} {_schedule_text(t.schedule)}"}})
    resource = {"resourceType": "CarePlan", "id": _urn("CarePlan", patient.id)[9:],
                "identifier": [{"system": f"{PATIENT_SYSTEM}:plan-version", "value": f"{patient.id}-{plan.version}"}],
                "status": "active" if patient.status != PatientStatus.ENDED.value else "completed", "intent": "plan",
                "title": "Home follow-up plan", "subject": {"reference": patient_ref},
                "created": _instant(plan.created_at)}
    if content.what_matters.strip():
        resource["description"] = f"What matters to the patient: {content.what_matters.strip()}"
    notes = [{"text": f"Goal: {g}"} for g in content.goals] + \
            [{"text": f"{r.what}: {r.who}"} for r in content.responsibilities]
    if notes:
        resource["note"] = notes
    if activities:
        resource["activity"] = activities
    return resource


def _flag(patient_ref: str, alert: Alert) -> dict:
    title = alert.title.get("en") or alert.title.get("nb") or alert.rule_key
    priority, words = SEVERITY_PRIORITY.get(alert.severity, ("PN", "No alarm"))
    return {"resourceType": "Flag", "id": _urn("Flag", alert.id)[9:], "status": "active",
            "extension": [{"url": FLAG_PRIORITY, "valueCodeableConcept": {
                "coding": [{"system": FLAG_PRIORITY_CODES, "code": priority, "display": words}]}}],
            "code": {"coding": [{"system": RULE_SYSTEM, "code": alert.rule_key, "display": title}], "text": title},
            "subject": {"reference": patient_ref}, "period": {"start": _instant(alert.opened_at)}}


def patient_bundle(session: Session, clock: Clock, patient: Patient) -> dict:
    patient_ref = _urn("Patient", patient.id)
    resources = [_patient(patient)]
    reports = session.exec(select(Report).where(Report.patient_id == patient.id,
                                                col(Report.kind).in_([ReportKind.MEASUREMENT.value,
                                                                 ReportKind.QUESTIONNAIRE.value]))
                           .order_by(col(Report.measured_at), col(Report.id))).all()
    values: dict[int, dict[str, float]] = {}
    for m in session.exec(select(Measurement).where(Measurement.patient_id == patient.id)):
        values.setdefault(m.report_id, {})[m.code] = m.value
    for report in reports:
        build = _observation if report.kind == ReportKind.MEASUREMENT.value else _questionnaire_response
        resource = build(patient_ref, report, values.get(report.id, {}))
        if resource is not None:
            resources.append(resource)
    plan = _care_plan(session, patient, patient_ref)
    if plan is not None:
        resources.append(plan)
    for alert in session.exec(select(Alert).where(Alert.patient_id == patient.id,
                                                  col(Alert.status) != AlertStatus.RESOLVED.value).order_by(col(Alert.opened_at))):
        resources.append(_flag(patient_ref, alert))
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection",
            "timestamp": _instant(clock.now()),
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]}


def bundle_json(bundle: dict) -> str:
    return json.dumps(bundle, ensure_ascii=False, indent=2)

"""Carrying out one call of the JSON API for a token: find the patient, keep it idempotent on
the sender's id, and hand the event to the service that owns it (hospital_stays, reporting).

The same id with the same content gets the first answer again and changes nothing; the same id
with other content is refused (Conflict), so a sender's bug never silently rewrites history.
Only patients of the teams the token's organisation takes part in can be addressed; anyone else
is "unknown" (and the attempt is audited), whether or not such a patient exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from rules import units

from ..api.payloads import Admission, Discharge, Event, Observation, content_hash
from ..clock import Clock
from ..models import ApiEvent, ApiToken, Organisation, Patient, ReportSource, Team
from . import api_tokens, audit, hospital_stays, reporting


class UnknownPatient(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True)
class Answer:
    body: dict
    replayed: bool


KINDS = {Admission: "admission", Discharge: "discharge", Observation: "observation"}


def _find_patient(session: Session, clock: Clock, token: ApiToken, person: str, action: str, ip: str | None) -> Patient:
    patient = hospital_stays.linked_patient(session, person)
    if patient is None or patient.team_id not in api_tokens.teams_of_organisation(session, token.organisation_id):
        audit.record(session, clock, actor_account_id=None, actor_kind="api", action="access.denied",
                     patient_id=patient.id if patient else None, ip=ip, attempted=action,
                     organisation_id=token.organisation_id, token_id=token.id)
        session.commit()
        raise UnknownPatient()
    return patient


def _earlier(session: Session, token: ApiToken, kind: str, sender_id: str) -> ApiEvent | None:
    return session.exec(select(ApiEvent).where(ApiEvent.organisation_id == token.organisation_id,
                                               ApiEvent.kind == kind, ApiEvent.sender_id == sender_id)).first()


def _replay(earlier: ApiEvent, digest: str) -> Answer:
    if earlier.content_hash != digest:
        raise Conflict(f"id {earlier.sender_id} was sent before with other content")
    return Answer(earlier.response, replayed=True)


def accept(session: Session, clock: Clock, *, token: ApiToken, event: Event, secret: bytes,
           ip: str | None = None) -> Answer:
    """Carry out the event. Commits. Raises UnknownPatient, Conflict, hospital_stays.StayError
    or rules.measurements.ImplausibleValue (nothing stored)."""
    kind = KINDS[type(event)]
    person = event.who.key(token.source, secret)
    patient = _find_patient(session, clock, token, person, f"api.{kind}", ip)
    digest = content_hash(event, person)
    earlier = _earlier(session, token, kind, event.id)
    if earlier is not None:
        answer = _replay(earlier, digest)
        session.commit()  # the token's last use
        return answer

    body = _carry_out(session, clock, token, patient, event, ip)
    record = ApiEvent(organisation_id=token.organisation_id, kind=kind, sender_id=event.id, content_hash=digest,
                      patient_id=patient.id, token_id=token.id, response=body, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # the same id arrived at the same moment; the other call won
        session.rollback()
        earlier = _earlier(session, token, kind, event.id)
        assert earlier is not None, "the call that won is stored"
        return _replay(earlier, digest)
    session.commit()
    return Answer(body, replayed=False)


def _hospital(session: Session, token: ApiToken, named: str | None) -> str:
    if named:
        return named
    organisation = session.get(Organisation, token.organisation_id)
    assert organisation is not None, "a token's organisation exists (foreign key)"
    return organisation.name


def _carry_out(session: Session, clock: Clock, token: ApiToken, patient: Patient, event: Event,
               ip: str | None) -> dict:
    detail = {"organisation_id": token.organisation_id, "token_id": token.id, "sender_id": event.id}
    if isinstance(event, Observation):
        outcome = reporting.report_measurement(
            session, clock, patient=patient, item_key=event.item, values=dict(event.values),
            idempotency_key=f"api:{token.organisation_id}:{event.id}", reported_by_account_id=None, actor_kind="api",
            source=ReportSource.DEVICE, measured_at=event.measured_at, ip=ip)
        # The values as stored: converted to the canonical units, rounded; `units` names them (UCUM).
        return {"id": event.id, "report_id": outcome.report.id, "item": event.item, "values": outcome.values,
                "units": {code: units.canonical_unit(code).ucum[0] for code in outcome.values},
                "zone": outcome.zone.value if outcome.zone else None, "team_alerted": outcome.report.team_alerted,
                "remeasure_by": outcome.report.remeasure_by.isoformat() if outcome.report.remeasure_by else None}
    stay: hospital_stays.StayOutcome
    if isinstance(event, Admission):
        stay = hospital_stays.admit(session, clock, patient=patient, source=token.source, source_id=event.id,
                                       admitted_at=event.admitted_at, hospital=_hospital(session, token, event.hospital),
                                       acute=event.acute, diagnoses=event.diagnoses, ward=event.ward,
                                       ward_phone=event.ward_phone)
        action = "api.admission"
    else:
        stay = hospital_stays.discharge(session, clock, patient=patient, source=token.source, source_id=event.id,
                                           discharged_at=event.discharged_at, admitted_at=event.admitted_at,
                                           hospital=_hospital(session, token, event.hospital), acute=event.acute,
                                           diagnoses=event.diagnoses)
        action = "api.discharge"
    audit.record(session, clock, actor_account_id=None, actor_kind="api", action=action, patient_id=patient.id,
                 object_type="service_use", object_id=stay.stay.id, ip=ip, **detail)
    team = session.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    return {"id": event.id, **stay.answer(team)}

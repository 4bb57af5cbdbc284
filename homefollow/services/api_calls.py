"""Carrying out one call of the JSON API for a token: find the patient, keep it idempotent on
the sender's id, and hand the event to the service that owns it (hospital_stays, reporting).

The same id with the same content gets the first answer again and changes nothing; the same id
with other content is refused (Conflict), so a sender's bug never silently rewrites history.
Only patients of the teams the token's organisation takes part in can be addressed; anyone else
is "unknown" (and the attempt is audited), whether or not such a patient exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, select

from rules import units

from ..api.payloads import Admission, Discharge, Event, Observation, content_hash
from ..clock import Clock
from ..models import (Account, ApiEvent, ApiToken, Organisation, Patient, ReportSource, ServicePerson, Team,
                      TeamMembership)
from . import audit, hospital_stays, reporting


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
    patient, addressable = _linked_patient(session, person, token.organisation_id)
    if patient is None or not addressable:
        audit.record_refusal(session, clock, actor_account_id=None, actor_kind="api",
                             patient_id=patient.id if patient else None, ip=ip, attempted=action,
                             organisation_id=token.organisation_id, token_id=token.id)
        raise UnknownPatient()
    return patient


def _linked_patient(session: Session, person: str, organisation_id: int) -> tuple[Patient | None, bool]:
    """hospital_stays.linked_patient, and whether the organisation takes part in the patient's
    team (api_tokens.teams_of_organisation), in one query."""
    takes_part = exists().where(col(TeamMembership.team_id) == Patient.team_id, col(Account.id) == TeamMembership.account_id,
                                col(Account.organisation_id) == organisation_id, col(Account.is_active).is_(True))
    row = session.execute(select(Patient, takes_part).join(ServicePerson, col(ServicePerson.patient_id) == Patient.id)
                          .where(ServicePerson.person_key == person).order_by(col(Patient.id)).limit(1)).first()
    return (row[0], row[1]) if row is not None else (None, False)


def _earlier(session: Session, token: ApiToken, kind: str, sender_id: str) -> ApiEvent | None:
    return session.exec(select(ApiEvent).where(ApiEvent.organisation_id == token.organisation_id,
                                               ApiEvent.kind == kind, ApiEvent.sender_id == sender_id)).first()


def _replay(earlier: ApiEvent, digest: str) -> Answer:
    if earlier.content_hash != digest:
        raise Conflict(f"id {earlier.sender_id} was sent before with other content")
    return Answer(earlier.response, replayed=True)


def accept(session: Session, clock: Clock, *, token: ApiToken, event: Event, secret: bytes,
           ip: str | None = None) -> Answer:
    """Carry out the event. Raises UnknownPatient, Conflict, hospital_stays.StayError
    or rules.measurements.ImplausibleValue (nothing stored)."""
    kind = KINDS[type(event)]
    person = event.who.key(token.source, secret)
    patient = _find_patient(session, clock, token, person, f"api.{kind}", ip)
    digest = content_hash(event, person)
    # An observation sent again is found by its report's idempotency key, in the statement that
    # stores it (reporting): one look less for every reading a hub sends.
    earlier = None if isinstance(event, Observation) else _earlier(session, token, kind, event.id)
    if earlier is not None:
        return _replay(earlier, digest)

    body, replayed = _carry_out(session, clock, token, patient, event, ip)
    if replayed:
        # This id's reading was stored before (by an earlier call, or by one that stored it while
        # this one waited for the patient; the report and its event are committed together):
        # the answer given then, or a conflict when the content differs.
        earlier = _earlier(session, token, kind, event.id)
        if earlier is not None:
            return _replay(earlier, digest)
    stored = session.execute(
        _insert_new(session, ApiEvent).values(organisation_id=token.organisation_id, kind=kind, sender_id=event.id,
                                     content_hash=digest, patient_id=patient.id, token_id=token.id, response=body,
                                     created_at=clock.now())
        .returning(ApiEvent.id)).first()
    if stored is None:
        # The same id was used at the same moment for something else (another patient, or an
        # admission of the same stay): the other call won; a Conflict leaves this uncommitted.
        earlier = _earlier(session, token, kind, event.id)
        assert earlier is not None, "ON CONFLICT DO NOTHING stored nothing: the row it met is there"
        return _replay(earlier, digest)
    return Answer(body, replayed=False)


def _insert_new(session: Session, model):
    """INSERT … ON CONFLICT DO NOTHING, in the session's dialect (PostgreSQL or SQLite): no
    savepoint around an insert that may meet an existing key."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


def _hospital(session: Session, token: ApiToken, named: str | None) -> str:
    if named:
        return named
    organisation = session.get(Organisation, token.organisation_id)
    assert organisation is not None, "a token's organisation exists (foreign key)"
    return organisation.name


def _carry_out(session: Session, clock: Clock, token: ApiToken, patient: Patient, event: Event,
               ip: str | None) -> tuple[dict, bool]:
    """The answer's body, and whether the event had been stored already (an observation)."""
    detail: dict[str, Any] = {"organisation_id": token.organisation_id, "token_id": token.id, "sender_id": event.id}
    if isinstance(event, Observation):
        outcome = reporting.report_measurement(
            session, clock, patient=patient, item_key=event.item, values=dict(event.values),
            idempotency_key=f"api:{token.organisation_id}:{event.id}", reported_by_account_id=None, actor_kind="api",
            source=ReportSource.DEVICE, measured_at=event.measured_at, ip=ip)
        # The values as stored: converted to the canonical units, rounded; `units` names them (UCUM).
        return {"id": event.id, "report_id": outcome.report.id, "item": event.item, "values": outcome.values,
                "units": {code: units.canonical_unit(code).ucum[0] for code in outcome.values},
                "zone": outcome.zone.value if outcome.zone else None, "team_alerted": outcome.report.team_alerted,
                "remeasure_by": outcome.report.remeasure_by.isoformat() if outcome.report.remeasure_by else None
                }, outcome.replayed
    if isinstance(event, Admission):
        stay_outcome = hospital_stays.admit(session, clock, patient=patient, source=token.source, source_id=event.id,
                                       admitted_at=event.admitted_at, hospital=_hospital(session, token, event.hospital),
                                       acute=event.acute, diagnoses=event.diagnoses, ward=event.ward,
                                       ward_phone=event.ward_phone)
        action = "api.admission"
    else:
        stay_outcome = hospital_stays.discharge(session, clock, patient=patient, source=token.source, source_id=event.id,
                                           discharged_at=event.discharged_at, admitted_at=event.admitted_at,
                                           hospital=_hospital(session, token, event.hospital), acute=event.acute,
                                           diagnoses=event.diagnoses)
        action = "api.discharge"
    audit.record(session, clock, actor_account_id=None, actor_kind="api", action=action, patient_id=patient.id,
                 object_type="service_use", object_id=stay_outcome.stay.id, ip=ip, **detail)
    team = session.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    return {"id": event.id, **stay_outcome.answer(team)}, False

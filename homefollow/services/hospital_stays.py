"""Admissions and discharges reported by a hospital's system (the JSON API).

An admission of a followed patient pauses follow-up (no missed-check-in alerts or reminders
while in hospital), records the stay as service use for the outcome figures, puts an item in
the team's triage queue and tells the team whom to call. A discharge resumes follow-up (check-ins
missed while in hospital are not held against the patient) and puts a follow-up item, due within
24 hours, in the queue. Both go through services.pauses; when no discharge comes, the team is
asked after a few days whether the patient is still admitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select, col

from rules.text import Text, both, moment

from ..clock import Clock
from ..i18n import t
from ..models import (Alert, Channel, Patient, PatientStatus, ServiceKind, ServicePerson, ServiceUse, Team)
from ..notifications import outbox
from ..outcomes.cohorts import link_person
from ..outcomes.imports import person_key
from ..notifications.texts import message_text
from . import alerts, pauses
from .audit import Actor

ADMITTED_KEY = "stay.admitted"
DISCHARGED_KEY = "stay.discharged"
FOLLOW_UP_WITHIN = timedelta(hours=24)


class StayError(ValueError):
    """The event does not fit what is known (a discharge of an unknown stay, an end before the
    start, an id used for another person). `field` names the part of the request at fault."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class StayOutcome:
    stay: ServiceUse
    patient: Patient
    followed: bool  # the patient is followed up (not ended): the team was told and has an item
    queue_item: Alert | None

    def answer(self, team: Team) -> dict:
        """What the hospital is told: the stay, and whether a team follows the patient and how
        to reach it."""
        answer = {"stay_id": self.stay.id, "patient_status": self.patient.status, "followed_up": self.followed}
        if self.followed:
            answer["team"] = {"name": team.name, "phone": team.phone}
        return answer


def linked_patient(session: Session, person_key: str) -> Patient | None:
    """The enrolled patient known by this person key (a hospital's local id or the keyed hash
    of the national id), whichever team's catchment the person is in."""
    return session.exec(select(Patient).join(ServicePerson, col(ServicePerson.patient_id) == col(Patient.id))
                        .where(col(ServicePerson.person_key) == person_key).order_by(col(Patient.id))).first()


def identify_patient(session: Session, clock: Clock, *, patient_id: int, source: str | None, local_id: str | None,
                     national_id: str | None, secret: bytes) -> ServicePerson:
    """Record how hospital systems know an enrolled patient: their local id at a source, or
    the keyed hash of the national id. A patient has one such key (the service-use history of
    the outcome figures hangs on it). LookupError when it cannot be done."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise LookupError(f"no patient {patient_id}")
    key = person_key(source=source or "", local_id=local_id, national_id=national_id, secret=secret)
    linked = session.exec(select(ServicePerson).where(ServicePerson.patient_id == patient.id)).first()
    if linked is not None and linked.person_key != key:
        raise LookupError(f"patient {patient_id} is already known by another identifier (person {linked.id})")
    person = linked or session.exec(select(ServicePerson).where(ServicePerson.team_id == patient.team_id,
                                                                ServicePerson.person_key == key)).first()
    now = clock.now()
    if person is None:
        person = ServicePerson(team_id=patient.team_id, person_key=key, name=patient.name,
                               birth_date=patient.birth_date, created_at=now, updated_at=now)
        session.add(person)
        session.flush()
    elif person.patient_id not in (None, patient.id):
        raise LookupError(f"this identifier belongs to patient {person.patient_id}")
    link_person(session, clock, person_id=person.id, patient_id=patient.id)
    return person


def _person_of(session: Session, patient: Patient) -> ServicePerson:
    return session.exec(select(ServicePerson).where(ServicePerson.patient_id == patient.id)).one()


def _local_date(at: datetime, patient: Patient):
    return at.astimezone(ZoneInfo(patient.time_zone)).date()


def _stay(session: Session, source: str, source_id: str, person: ServicePerson) -> ServiceUse | None:
    stay = session.exec(select(ServiceUse).where(ServiceUse.source == source, ServiceUse.source_id == source_id)).first()
    if stay is not None and stay.person_id != person.id:
        raise StayError("id", "this id was sent for another patient")
    return stay


def _where(hospital: str, ward: str | None) -> str:
    return f"{hospital}, {ward}" if ward else hospital


def admit(session: Session, clock: Clock, *, patient: Patient, source: str, source_id: str, admitted_at: datetime,
          hospital: str, acute: bool = True, diagnoses: tuple[str, ...] = (), ward: str | None = None,
          ward_phone: str | None = None) -> StayOutcome:
    person = _person_of(session, patient)
    now = clock.now()
    stay = _stay(session, source, source_id, person)
    if stay is None:
        stay = ServiceUse(person_id=person.id, kind=ServiceKind.ADMISSION.value, source=source, source_id=source_id,
                          start_date=_local_date(admitted_at, patient), acute=acute, diagnoses=list(diagnoses),
                          created_at=now, updated_at=now)
    else:  # known from a data-warehouse import already
        stay.start_date, stay.acute, stay.diagnoses, stay.updated_at = (_local_date(admitted_at, patient), acute,
                                                                        list(diagnoses), now)
    session.add(stay)
    session.flush()
    if patient.status == PatientStatus.ENDED.value:
        return StayOutcome(stay, patient, followed=False, queue_item=None)
    # Paused without an end (a holiday pause becomes this one): the discharge resumes it, and
    # the team is asked after a few days if no discharge comes (services.pauses).
    if patient.in_follow_up:
        pauses.pause(session, clock, patient, reason=pauses.ADMISSION, until=None,
                     actor=Actor(None, "api", "api"))
    where = _where(hospital, ward)
    item = alerts.add_to_queue(
        session, clock, patient, key=ADMITTED_KEY,
        title=both(lambda loc: t(loc, "Admitted to hospital")),
        value_text=Text(nb=where, en=where),
        threshold_text=both(lambda loc: t(loc, "Ward: %(phone)s", phone=ward_phone) if ward_phone else ""),
        explanation=both(lambda loc: t(loc, "Admitted to %(where)s on %(when)s. Follow-up is paused: no alerts for "
                                            "missed check-ins until discharge. Hand over to the ward.",
                                       where=where, when=moment(admitted_at, patient.time_zone, loc))),
        stay_id=stay.id)
    session.flush()
    _tell_team(session, clock, patient, item, where=where, ward_phone=ward_phone, key=f"stay:{stay.id}:admitted")
    return StayOutcome(stay, patient, followed=True, queue_item=item)


def _tell_team(session: Session, clock: Clock, patient: Patient, item: Alert, *, where: str, ward_phone: str | None,
               key: str) -> None:
    """E-mail to the team's address, else SMS to its on-call phone. Like every page it names
    the team and a queue code, never the patient or any measurement."""
    team = session.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    if ward_phone:
        body = message_text("stay.admitted", "nb", team=team.name, where=where, phone=ward_phone, code=item.short_code)
    else:
        body = message_text("stay.admitted.no_phone", "nb", team=team.name, where=where, code=item.short_code)
    if team.email:
        outbox.enqueue(session, clock, dedup_key=key, channel=Channel.EMAIL, recipient=team.email, body=body,
                       subject=body.split(".")[0], alert_id=item.id)
    elif team.on_call_phone:
        outbox.enqueue(session, clock, dedup_key=key, channel=Channel.SMS, recipient=team.on_call_phone, body=body,
                       alert_id=item.id)


def discharge(session: Session, clock: Clock, *, patient: Patient, source: str, source_id: str,
              discharged_at: datetime, hospital: str, admitted_at: datetime | None = None, acute: bool = True,
              diagnoses: tuple[str, ...] = ()) -> StayOutcome:
    person = _person_of(session, patient)
    now = clock.now()
    stay = _stay(session, source, source_id, person)
    if stay is None and admitted_at is None:
        raise StayError("id", "no admission with this id was reported; send the admission first or give the "
                              "admission time")
    end = _local_date(discharged_at, patient)
    if admitted_at is not None:
        start = _local_date(admitted_at, patient)
    else:
        assert stay is not None  # checked above
        start = stay.start_date
    if end < start:
        raise StayError("discharged_at", "the discharge is before the admission")
    if stay is None:
        stay = ServiceUse(person_id=person.id, kind=ServiceKind.ADMISSION.value, source=source, source_id=source_id,
                          start_date=start, acute=acute, diagnoses=list(diagnoses), created_at=now, updated_at=now)
    stay.start_date, stay.end_date, stay.updated_at = start, end, now
    session.add(stay)
    session.flush()
    if patient.status == PatientStatus.ENDED.value:
        return StayOutcome(stay, patient, followed=False, queue_item=None)
    if patient.status == PatientStatus.PAUSED.value:
        pauses.resume(session, clock, patient, actor=Actor(None, "api", "api"))
    due = max(discharged_at, now) + FOLLOW_UP_WITHIN
    item = alerts.add_to_queue(
        session, clock, patient, key=DISCHARGED_KEY,
        title=both(lambda loc: t(loc, "Discharged from hospital: follow up")),
        value_text=Text(nb=hospital, en=hospital),
        threshold_text=both(lambda loc: t(loc, "By %(when)s", when=moment(due, patient.time_zone, loc))),
        explanation=both(lambda loc: t(loc, "Discharged from %(hospital)s on %(when)s. Follow-up has resumed. Contact "
                                            "the patient within 24 hours and check the plan.",
                                       hospital=hospital, when=moment(discharged_at, patient.time_zone, loc))),
        stay_id=stay.id, due_at=due.isoformat())
    return StayOutcome(stay, patient, followed=True, queue_item=item)

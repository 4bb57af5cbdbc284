"""Service use entered by the team: an acute admission, an emergency/legevakt contact or a municipal
short-term stay, for one patient. Imports (imports.py) bring the hospital's history; this is for
what the team learns otherwise ("she was admitted to UNN on Friday").

Entered events go into the same tables as imported ones, under the source ENTRY_SOURCE, so the
figures count both alike. Only entered events can be changed here (an imported one is changed by
re-importing it). Every change is audited; a change or deletion needs a reason, and the audit
record keeps the values before it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Patient, ServiceKind, ServicePerson, ServiceUse
from ..services import audit
from ..services.audit import Actor

ENTRY_SOURCE = "homefollow"
KINDS = (ServiceKind.ADMISSION.value, ServiceKind.EMERGENCY.value, ServiceKind.SHORT_STAY.value)
OLDEST_YEARS = 10  # further back than this is almost certainly a typing slip
REASON_MIN, REASON_MAX = 3, 500


@dataclass(frozen=True)
class Entry:
    kind: str
    start: date
    end: date | None
    acute: bool = True


def problems(session: Session, entry: Entry, today: date, *, person_id: int | None,
             replacing_id: int | None = None) -> list[tuple[str, str]]:
    """(field, problem code) for every rule the entry breaks; empty when it may be saved.

    Codes: unknown_kind, start_future, start_too_old, end_before_start, end_future,
    contact_has_end, overlaps (an admission overlapping another admission of the same person
    would count its bed-days twice)."""
    found = []
    if entry.kind not in KINDS:
        return [("kind", "unknown_kind")]
    if entry.start > today:
        found.append(("start", "start_future"))
    if entry.start < today - timedelta(days=round(365.25 * OLDEST_YEARS)):
        found.append(("start", "start_too_old"))
    if entry.end is not None:
        if entry.kind == ServiceKind.EMERGENCY.value:
            found.append(("end", "contact_has_end"))
        elif entry.end < entry.start:
            found.append(("end", "end_before_start"))
        elif entry.end > today:
            found.append(("end", "end_future"))
    if (not found and entry.kind == ServiceKind.ADMISSION.value and person_id is not None
            and overlapping(session, person_id, entry, today, replacing_id) is not None):
        found.append(("start", "overlaps"))
    return found


def overlapping(session: Session, person_id: int, entry: Entry, today: date,
                replacing_id: int | None = None) -> ServiceUse | None:
    """Another admission of the person whose nights overlap this one's (ongoing: until today)."""
    end = entry.end or today
    for other in session.exec(select(ServiceUse).where(ServiceUse.person_id == person_id,
                                                       ServiceUse.kind == ServiceKind.ADMISSION.value)):
        if other.id == replacing_id:
            continue
        other_end = other.end_date or today
        # Nights [start, end) overlap; same-day transfers (end == start) do not.
        if entry.start < max(other_end, other.start_date + timedelta(days=1)) and \
                other.start_date < max(end, entry.start + timedelta(days=1)):
            return other
    return None


class EntryInvalid(ValueError):
    def __init__(self, found: list[tuple[str, str]]):
        super().__init__(", ".join(f"{f}: {c}" for f, c in found))
        self.problems = found


def person_of(session: Session, patient_id: int) -> ServicePerson | None:
    return session.exec(select(ServicePerson).where(ServicePerson.patient_id == patient_id)).first()


def _person_for(session: Session, clock: Clock, patient: Patient) -> ServicePerson:
    """The patient's service person, made when the patient has none (no history imported)."""
    person = person_of(session, patient.id)
    if person is None:
        now = clock.now()
        person = ServicePerson(team_id=patient.team_id, person_key=f"patient:{patient.id}", name=patient.name,
                               birth_date=patient.birth_date, patient_id=patient.id, created_at=now, updated_at=now)
        session.add(person)
        session.flush()
    return person


def events_of(session: Session, patient_id: int) -> list[ServiceUse]:
    """The patient's service use, newest first."""
    person = person_of(session, patient_id)
    if person is None:
        return []
    return list(session.exec(select(ServiceUse).where(ServiceUse.person_id == person.id)
                             .order_by(col(ServiceUse.start_date).desc(), col(ServiceUse.id).desc())))


def _values(use: ServiceUse) -> dict:
    return {"kind": use.kind, "start": use.start_date.isoformat(),
            "end": use.end_date.isoformat() if use.end_date else None, "acute": use.acute}


def _acute(entry: Entry) -> bool:
    """As imports.py has it: admissions as entered, emergency contacts acute, short stays not."""
    return entry.acute if entry.kind == ServiceKind.ADMISSION.value else entry.kind == ServiceKind.EMERGENCY.value


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise EntryInvalid([("reason", "reason_length")])
    return reason


def add(session: Session, clock: Clock, *, patient: Patient, entry: Entry, today: date,
        actor: Actor) -> ServiceUse:
    """Record an event for the patient. Raises EntryInvalid (nothing saved)."""
    person = person_of(session, patient.id)
    found = problems(session, entry, today, person_id=person.id if person else None)
    if found:
        raise EntryInvalid(found)
    person = _person_for(session, clock, patient)
    now = clock.now()
    use = ServiceUse(person_id=person.id, kind=entry.kind, start_date=entry.start, end_date=entry.end,
                     acute=_acute(entry),
                     diagnoses=[], source=ENTRY_SOURCE, source_id=f"entry:{uuid.uuid4().hex}",
                     created_at=now, updated_at=now)
    session.add(use)
    session.flush()
    audit.record(session, clock, actor=actor, action="service_use.create", patient_id=patient.id,
                 object_type="service_use", object_id=use.id, **_values(use))
    session.flush()
    return use


def entered_event(session: Session, patient_id: int, use_id: int) -> ServiceUse | None:
    """An event entered for this patient (imported events and other patients' are not)."""
    use = session.get(ServiceUse, use_id)
    person = person_of(session, patient_id)
    if use is None or person is None or use.person_id != person.id or use.source != ENTRY_SOURCE:
        return None
    return use


def change(session: Session, clock: Clock, *, patient: Patient, use: ServiceUse, entry: Entry, reason: str,
           today: date, actor: Actor) -> ServiceUse:
    """Correct an entered event. Raises EntryInvalid (nothing saved)."""
    found = problems(session, entry, today, person_id=use.person_id, replacing_id=use.id)
    try:
        reason = _check_reason(reason)
    except EntryInvalid as exc:
        found += exc.problems
    if found:
        raise EntryInvalid(found)
    before = _values(use)
    use.kind, use.start_date, use.end_date = entry.kind, entry.start, entry.end
    use.acute = _acute(entry)
    use.updated_at = clock.now()
    session.add(use)
    audit.record(session, clock, actor=actor, action="service_use.change", patient_id=patient.id,
                 object_type="service_use", object_id=use.id, reason=reason, before=before, **_values(use))
    session.flush()
    return use


def delete(session: Session, clock: Clock, *, patient: Patient, use: ServiceUse, reason: str,
           actor: Actor) -> None:
    """Delete an entered event; the audit record keeps what it was. Raises EntryInvalid."""
    reason = _check_reason(reason)
    audit.record(session, clock, actor=actor, action="service_use.delete", patient_id=patient.id,
                 object_type="service_use", object_id=use.id, reason=reason, before=_values(use))
    session.delete(use)
    session.flush()

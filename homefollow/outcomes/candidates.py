"""The candidate list: people in a team's catchment with many admissions, with their LACE index.

A candidate has at least `min_admissions` admissions (acute or elective) starting in the last
12 months (365 days up to and including today), is not enrolled (no linked Patient), is not
marked palliative and has no palliative-care code (Z51.5) in that year. LACE is computed for
the most recent admission: L its length of stay, A whether it was acute, C the Charlson index
of every diagnosis code of the year, E the emergency/legevakt contacts in the last 6 months
(182 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, select, col

from ..models import ServicePerson, ServiceUse
from .lace import Lace, charlson_conditions, charlson_index, lace, normalise_code

DEFAULT_MIN_ADMISSIONS = 6
PALLIATIVE_CODES = ("Z515",)
SORT_KEYS = ("lace", "admissions", "bed_days", "emergency", "last_admission", "name")


@dataclass(frozen=True)
class Candidate:
    person_id: int
    name: str
    birth_date: date | None
    admissions: int
    acute_admissions: int
    bed_days: int
    emergency_visits: int
    last_admission: date
    conditions: tuple[str, ...]  # Charlson condition keys (lace.CHARLSON)
    lace: Lace


def assess(person: ServicePerson, events: list[ServiceUse], today: date, min_admissions: int) -> Candidate | None:
    """Pure: the candidate a person is, or None."""
    year_ago, half_year_ago = today - timedelta(days=364), today - timedelta(days=181)
    recent = [e for e in events if year_ago <= e.start_date <= today]
    codes = [c for e in recent for c in e.diagnoses]
    if person.palliative or person.patient_id is not None or \
            any(normalise_code(c).startswith(PALLIATIVE_CODES) for c in codes):
        return None
    admissions = sorted((e for e in recent if e.kind == "admission"), key=lambda e: (e.start_date, e.id or 0))
    if len(admissions) < max(min_admissions, 1):
        return None
    index = admissions[-1]
    bed_days = sum(((e.end_date or today) - e.start_date).days for e in admissions)
    emergency = sum(1 for e in events if e.kind == "emergency" and half_year_ago <= e.start_date <= today)
    return Candidate(
        person_id=person.id, name=person.name, birth_date=person.birth_date, admissions=len(admissions),
        acute_admissions=sum(1 for e in admissions if e.acute), bed_days=bed_days, emergency_visits=emergency,
        last_admission=index.start_date, conditions=tuple(charlson_conditions(codes)),
        lace=lace(((index.end_date or today) - index.start_date).days, index.acute, charlson_index(codes), emergency))


def sort_candidates(candidates: list[Candidate], key: str) -> list[Candidate]:
    """Highest first for figures, alphabetical for names; ties broken by LACE, then name."""
    if key == "name":
        return sorted(candidates, key=lambda c: (c.name.lower(), c.person_id))
    value = {
        "lace": lambda c: c.lace.total, "admissions": lambda c: c.admissions, "bed_days": lambda c: c.bed_days,
        "emergency": lambda c: c.emergency_visits, "last_admission": lambda c: c.last_admission.toordinal(),
    }.get(key, lambda c: c.lace.total)
    return sorted(candidates, key=lambda c: (-value(c), -c.lace.total, c.name.lower(), c.person_id))


def team_candidates(session: Session, team_id: int, today: date, *, min_admissions: int = DEFAULT_MIN_ADMISSIONS,
                    sort: str = "lace") -> list[Candidate]:
    people = session.exec(select(ServicePerson).where(ServicePerson.team_id == team_id,
                                                      col(ServicePerson.patient_id).is_(None),
                                                      col(ServicePerson.palliative).is_(False))).all()
    if not people:
        return []
    by_person: dict[int, list[ServiceUse]] = {p.id: [] for p in people}
    since = today - timedelta(days=364)
    for event in session.exec(select(ServiceUse).where(col(ServiceUse.person_id).in_(list(by_person)),
                                                       ServiceUse.start_date >= since)):
        by_person[event.person_id].append(event)
    found = [c for p in people if (c := assess(p, by_person[p.id], today, min_admissions)) is not None]
    return sort_candidates(found, sort)

"""Demo admission history: the demo patients' use of services around inclusion, and a few
people not yet enrolled who show up on the candidate list. Deterministic."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from ..models import Patient, ServicePerson, ServiceUse, Team
from .cohorts import inclusion_date

SOURCE = "UNN DIPS (demo)"
CANDIDATES = [
    # name, birth date, admissions in the last year, typical codes, emergency contacts, palliative
    ("Harald Nilsen", date(1939, 4, 2), 8, ["I50.1", "J44.1", "N18.4"], 3, False),
    ("Solveig Berg", date(1944, 11, 19), 7, ["J44.1", "E11.9"], 1, False),
    ("Kjell Andreassen", date(1936, 8, 8), 6, ["I50.0", "F03"], 2, False),
    ("Turid Larsen", date(1950, 1, 27), 9, ["C34.9", "C78.0", "Z51.5"], 2, False),  # palliative code: hidden
    ("Arvid Hansen", date(1941, 6, 14), 5, ["I25.2"], 0, False),  # below the default threshold of 6
    ("Bjørg Eriksen", date(1938, 3, 3), 7, ["J44.1"], 1, True),  # marked palliative: hidden
]


def _use(person: ServicePerson, key: str, kind: str, start: date, end: date | None, now: datetime,
         codes: list[str], acute: bool = True) -> ServiceUse:
    return ServiceUse(person_id=person.id, kind=kind, start_date=start, end_date=end, acute=acute, diagnoses=codes,
                      source=SOURCE, source_id=key, created_at=now, updated_at=now)


def add_demo_history(session: Session, team: Team, patients: list[Patient], now: datetime) -> str:
    rng = random.Random(7)
    today = now.astimezone(ZoneInfo("Europe/Oslo")).date()
    count = 0
    for patient in patients:
        if patient.team_id != team.id:
            continue
        person = ServicePerson(team_id=team.id, person_key=f"local:{SOURCE}:demo-{patient.id}", name=patient.name,
                               birth_date=patient.birth_date, patient_id=patient.id, created_at=now, updated_at=now)
        session.add(person)
        session.flush()
        start = inclusion_date(patient)
        # The demo diagnoses read "Hjertesvikt (I50.0)": take the code in brackets.
        codes = [m.group(1) for d in (patient.diagnoses or []) if isinstance(d, str)
                 for m in [re.search(r"\(([A-Z]\d{2}(?:\.\d+)?)\)", d)] if m]
        # Frequent acute stays in the 250 days before inclusion, fewer since.
        for i, offset in enumerate(sorted(rng.sample(range(-245, -5), 5))):
            first = start + timedelta(days=offset)
            session.add(_use(person, f"demo-{patient.id}-a{i}", "admission", first,
                             first + timedelta(days=rng.randint(2, 9)), now, codes))
        for i, offset in enumerate(sorted(rng.sample(range(-240, -1), 3))):
            session.add(_use(person, f"demo-{patient.id}-e{i}", "emergency", start + timedelta(days=offset), None,
                             now, codes))
        if rng.random() < 0.5 and (today - start).days > 10:
            first = start + timedelta(days=rng.randint(3, (today - start).days - 5))
            session.add(_use(person, f"demo-{patient.id}-a9", "admission", first, first + timedelta(days=2), now,
                             codes))
        count += 1
    for n, (name, born, admissions, codes, emergencies, palliative) in enumerate(CANDIDATES):
        person = ServicePerson(team_id=team.id, person_key=f"local:{SOURCE}:cand-{n}", name=name, birth_date=born,
                               palliative=palliative, created_at=now, updated_at=now)
        session.add(person)
        session.flush()
        for i, offset in enumerate(sorted(rng.sample(range(5, 360), admissions), reverse=True)):
            first = today - timedelta(days=offset)
            session.add(_use(person, f"cand-{n}-a{i}", "admission", first,
                             min(first + timedelta(days=rng.randint(1, 12)), today), now, codes, acute=i % 4 != 3))
        for i in range(emergencies):
            session.add(_use(person, f"cand-{n}-e{i}", "emergency", today - timedelta(days=rng.randint(3, 170)),
                             None, now, codes))
    session.flush()
    return f"Service-use history: {count} patients and {len(CANDIDATES)} people not enrolled."

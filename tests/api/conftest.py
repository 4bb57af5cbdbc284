"""A hospital (UNN) that takes part in team A through one of its nurses, with a token for both
scopes. Patient A1 is known to UNN by the local id 5551234, B1 (team B) by 5559999."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from homefollow.models import Organisation
from homefollow.outcomes_cli import person_secret
from homefollow.services import api_tokens
from homefollow.services.hospital_stays import identify_patient
from tests.factories import make_staff

A1_LOCAL = "5551234"
B1_LOCAL = "5559999"


@dataclass
class Hospital:
    organisation: Organisation
    token: str
    token_id: int

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def hospital(app, session, clock, world) -> Hospital:
    unn = Organisation(name="UNN", kind="hospital", created_at=clock.now())
    session.add(unn)
    session.flush()
    make_staff(session, clock, "hospital.nurse@unn.no", "Hanna Sykehus", world.team_a, "nurse",
               ).organisation_id = unn.id
    session.commit()
    with app.app_context():
        secret = person_secret()
    identify_patient(session, clock, patient_id=world.patient_a1.id, source="UNN", local_id=A1_LOCAL, national_id=None,
                     secret=secret)
    identify_patient(session, clock, patient_id=world.patient_b1.id, source="UNN", local_id=B1_LOCAL, national_id=None,
                     secret=secret)
    new = api_tokens.create(session, clock, organisation_id=unn.id, name="DIPS", source="UNN",
                            scopes=["encounters:write", "observations:write"])
    return Hospital(unn, new.token, new.row.id)


@pytest.fixture
def api(app):
    return app.test_client()

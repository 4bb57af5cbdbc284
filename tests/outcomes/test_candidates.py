"""The candidate list: who is on it and why, and who may see it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from homefollow.models import AuditEvent, ServicePerson, ServiceUse
from homefollow.outcomes.candidates import team_candidates
from tests.conftest import T0
from tests.webclient import WebClient, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

TODAY = T0.date()  # 10 March 2026; 08:00 UTC is the same date in Norway


def _person(session, clock, team, name, admissions, *, key=None, patient=None, palliative=False, codes=(),
            emergencies=0, los=3):
    person = ServicePerson(team_id=team.id, person_key=key or f"local:UNN:{name}", name=name,
                           birth_date=date(1940, 1, 1), patient_id=patient.id if patient else None,
                           palliative=palliative, created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.flush()
    for i in range(admissions):
        start = TODAY - timedelta(days=300 - 40 * i)
        session.add(ServiceUse(person_id=person.id, kind="admission", start_date=start,
                               end_date=start + timedelta(days=los), acute=True, diagnoses=list(codes),
                               source="UNN", source_id=f"{name}-A{i}", created_at=clock.now(), updated_at=clock.now()))
    for i in range(emergencies):
        session.add(ServiceUse(person_id=person.id, kind="emergency", start_date=TODAY - timedelta(days=10 + i),
                               source="UNN", source_id=f"{name}-E{i}", created_at=clock.now(), updated_at=clock.now()))
    session.flush()
    return person


def _history(session, clock, world):
    _person(session, clock, world.team_a, "Heidi Heavy", 7, codes=["I50.1", "J44.1"], emergencies=2, los=5)
    _person(session, clock, world.team_a, "Sigurd Six", 6)
    _person(session, clock, world.team_a, "Fredrik Five", 5)
    _person(session, clock, world.team_a, "Eva Enrolled", 8, patient=world.patient_a1)
    _person(session, clock, world.team_a, "Paula Palliative", 8, palliative=True)
    _person(session, clock, world.team_a, "Zeno Z515", 8, codes=["Z51.5"])
    _person(session, clock, world.team_b, "Bodil Other", 9)
    session.commit()


def test_candidates_are_the_not_enrolled_with_enough_admissions_sorted_by_lace(session, clock, world):
    _history(session, clock, world)
    found = team_candidates(session, world.team_a.id, TODAY)
    assert [c.name for c in found] == ["Heidi Heavy", "Sigurd Six"]
    heidi = found[0]
    # Last stay 5 days -> L 4; acute -> A 3; heart failure + COPD = Charlson 2 -> C 2; 2 visits -> E 2. 11.
    assert (heidi.lace.l, heidi.lace.a, heidi.lace.c, heidi.lace.e, heidi.lace.total) == (4, 3, 2, 2, 11)
    assert (heidi.admissions, heidi.bed_days, heidi.conditions) == (7, 35, ("heart_failure", "chronic_pulmonary"))
    assert [c.name for c in team_candidates(session, world.team_a.id, TODAY, min_admissions=5, sort="name")] == \
        ["Fredrik Five", "Heidi Heavy", "Sigurd Six"]


def _staff(app, email):
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def test_the_page_shows_the_team_its_candidates_with_the_reasons(app, session, clock, world):
    _history(session, clock, world)
    client = _staff(app, "nurse.a@example.no")
    page = text_of(client.get("/clinic/candidates"))
    assert "Kandidater for hjemmeoppfølging" in page
    assert "Heidi Heavy" in page and "Sigurd Six" in page
    for hidden in ("Fredrik Five", "Eva Enrolled", "Paula Palliative", "Zeno Z515", "Bodil Other"):
        assert hidden not in page
    assert "hjertesvikt" in page and "7 innleggelser på 12 måneder" in page
    assert page.index("Heidi Heavy") < page.index("Sigurd Six")
    by_name = text_of(client.get(f"/clinic/candidates?team={world.team_a.id}&min=5&sort=name"))
    assert by_name.index("Fredrik Five") < by_name.index("Heidi Heavy") < by_name.index("Sigurd Six")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "view.candidates")).all()[-1]
    assert (event.object_id, event.detail["candidates"]) == (world.team_a.id, 3)


def test_another_team_gets_a_404_and_patients_get_nothing(app, session, clock, world):
    _history(session, clock, world)
    other = _staff(app, "nurse.b@example.no")
    response = other.get(f"/clinic/candidates?team={world.team_a.id}")
    assert response.status_code == 404 and "Heidi" not in text_of(response)
    own = text_of(other.get("/clinic/candidates"))
    assert "Bodil Other" in own and "Heidi Heavy" not in own
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(e.object_type, e.object_id) for e in denied] == [("team", world.team_a.id)]

    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    response = patient.get("/clinic/candidates")
    assert response.status_code in (302, 403, 404) and "Heidi" not in text_of(response)
    anonymous = app.test_client().get("/clinic/candidates")
    assert anonymous.status_code == 302 and "Heidi" not in anonymous.get_data(as_text=True)


def test_the_cli_imports_and_prints_figures(app, session, clock, world, tmp_path):
    path = tmp_path / "admissions.csv"
    path.write_text("source_id;patient_id;kind;start;end\nA1;P1;admission;01.02.2026;05.02.2026\n"
                    "A2;P1;admission;30.02.2026;\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outcomes", "import", str(path), "--team", str(world.team_a.id), "--source", "UNN"])
    assert result.exit_code == 1
    assert "row 3: start: '30.02.2026' is not a date in the calendar" in result.output
    assert "2 rows: 0 new, 0 updated, 0 unchanged, 1 rejected; nothing written." in result.output
    assert session.exec(select(ServiceUse)).all() == []

    path.write_text("source_id;patient_id;kind;start;end\nA1;P1;admission;01.02.2026;05.02.2026\n", encoding="utf-8")
    result = runner.invoke(args=["outcomes", "import", str(path), "--team", str(world.team_a.id), "--source", "UNN"])
    assert result.exit_code == 0 and "1 rows: 1 new" in result.output
    session.commit()  # end the test's read transaction to see what the command wrote
    person = session.exec(select(ServicePerson)).one()
    result = runner.invoke(args=["outcomes", "link", str(person.id), str(world.patient_a1.id)])
    assert result.exit_code == 0
    # A1 is included at T0 (10 March 2026): the 4 nights from 1 to 5 February are in "before".
    csv_path = tmp_path / "figures.csv"
    result = runner.invoke(args=["outcomes", "figures", "--team", str(world.team_a.id), "--csv", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert "2 patients, 1 without service-use history" in result.output
    rows = {line.split(",")[0]: line.split(",") for line in csv_path.read_text().splitlines()}
    assert rows["measure"][:3] == ["measure", "before_total", "before_patients"]
    assert rows["acute_admissions"][1:3] == ["1", "1"] and rows["bed_days"][1] == "4"
    # No follow-up yet on the day of inclusion: nobody behind the "after" figures.
    assert rows["bed_days"][6:8] == ["0", "0"]


def test_nonsense_parameters_fall_back_to_the_defaults(app, session, clock, world):
    _history(session, clock, world)
    client = _staff(app, "nurse.a@example.no")
    for query in ("team=abc&min=-3&sort=drop", "team=99999999999999999999&min=7", "min=1000000"):
        response = client.get(f"/clinic/candidates?{query}")
        assert response.status_code == 200, query
        assert "Heidi Heavy" in text_of(response) and "Fredrik Five" not in text_of(response)

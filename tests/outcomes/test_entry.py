"""Service use entered by the team: validation with translated errors, correction and deletion
with a reason, the audit trail, and who may do it."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from homefollow.models import AuditEvent, ServicePerson, ServiceUse
from tests.webclient import WebClient, text_of


def _client(app, email="nurse.a@example.no"):
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def _post(client, patient_id, **data):
    url = f"/clinic/patients/{patient_id}/service-use"
    fields = {"kind": "admission", "start": "", "end": "", "acute": "yes"} | data
    return client.submit(url, fields, action=url)


def test_recording_makes_the_patient_a_service_person_and_is_audited(app, session, world):
    client = _client(app)
    a1 = world.patient_a1
    response = _post(client, a1.id, start="02.03.2026", end="05.03.2026", acute="no")
    assert response.status_code == 302
    person = session.exec(select(ServicePerson).where(ServicePerson.patient_id == a1.id)).one()
    assert (person.team_id, person.person_key, person.name) == (world.team_a.id, f"patient:{a1.id}", "Astrid A1")
    use = session.exec(select(ServiceUse)).one()
    assert (use.kind, use.start_date, use.end_date, use.acute, use.source) == \
        ("admission", date(2026, 3, 2), date(2026, 3, 5), False, "homefollow")
    _post(client, a1.id, kind="emergency", start="2026-03-09")
    assert session.exec(select(ServicePerson)).all() == [person]  # the same person, not a second
    page = text_of(client.get(f"/clinic/patients/{a1.id}/service-use"))
    assert "Sykehusinnleggelse (planlagt)" in page and "Registrert av teamet" in page
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "service_use.create")).all()
    assert [(e.patient_id, e.detail["kind"]) for e in events] == [(a1.id, "admission"), (a1.id, "emergency")]


def test_bad_entries_get_translated_errors_and_keep_what_was_written(app, session, world):
    client = _client(app)
    a1 = world.patient_a1.id
    cases = [
        ({"start": ""}, "Skriv datoen, som dd.mm.åååå."),
        ({"start": "31.02.2026"}, "Skriv datoen som dd.mm.åååå, for eksempel 03.02.2026."),
        ({"start": "11.03.2026"}, "Startdatoen kan ikke være fram i tid."),  # today is 10 March 2026
        ({"start": "01.03.2010"}, "Startdatoen er mer enn 10 år siden. Sjekk årstallet."),
        ({"start": "05.03.2026", "end": "04.03.2026"}, "Sluttdatoen kan ikke være før startdatoen."),
        ({"start": "05.03.2026", "end": "12.03.2026"}, "Sluttdatoen kan ikke være fram i tid."),
        ({"kind": "emergency", "start": "05.03.2026", "end": "06.03.2026"}, "En akuttkontakt har ingen sluttdato."),
        ({"kind": "surgery", "start": "05.03.2026"}, "Velg hva slags tjeneste det var."),
    ]
    for data, message in cases:
        response = _post(client, a1, **data)
        assert response.status_code == 400, data
        page = text_of(response)
        assert message in page, (data, page[:400])
        if data.get("start"):
            assert f'value="{data["start"]}"' in response.get_data(as_text=True)
    assert session.exec(select(ServiceUse)).all() == []
    # An admission overlapping another would count its nights twice.
    assert _post(client, a1, start="01.03.2026", end="05.03.2026").status_code == 302
    response = _post(client, a1, start="04.03.2026", end="08.03.2026")
    assert response.status_code == 400 and "overlapper en annen innleggelse" in text_of(response)
    assert _post(client, a1, start="05.03.2026", end="08.03.2026").status_code == 302  # a transfer the same day


def test_correcting_and_deleting_need_a_reason_and_keep_the_old_values(app, session, world):
    client = _client(app)
    a1 = world.patient_a1.id
    _post(client, a1, start="01.03.2026", end="04.03.2026")
    use = session.exec(select(ServiceUse)).one()
    url = f"/clinic/patients/{a1}/service-use/{use.id}"
    response = client.submit(url, {"kind": "admission", "start": "01.03.2026", "end": "06.03.2026", "acute": "yes",
                                   "reason": ""}, action=url)
    assert response.status_code == 400 and "Oppgi en begrunnelse på 3 til 500 tegn." in text_of(response)
    response = client.submit(url, {"kind": "admission", "start": "01.03.2026", "end": "06.03.2026", "acute": "yes",
                                   "reason": "Utskrevet senere enn meldt"}, action=url)
    assert response.status_code == 302
    session.refresh(use)
    assert use.end_date == date(2026, 3, 6)
    change = session.exec(select(AuditEvent).where(AuditEvent.action == "service_use.change")).one()
    assert (change.detail["reason"], change.detail["before"]["end"], change.detail["end"]) == \
        ("Utskrevet senere enn meldt", "2026-03-04", "2026-03-06")

    delete = f"{url}/delete"
    response = client.submit(url, {"delete-reason": "x"}, action=delete)
    assert response.status_code == 400 and "Oppgi en begrunnelse på 3 til 500 tegn." in text_of(response)
    assert client.submit(url, {"delete-reason": "Registrert på feil pasient"}, action=delete).status_code == 302
    assert session.exec(select(ServiceUse)).all() == []
    deleted = session.exec(select(AuditEvent).where(AuditEvent.action == "service_use.delete")).one()
    assert (deleted.detail["reason"], deleted.detail["before"]["start"]) == ("Registrert på feil pasient", "2026-03-01")


def test_imported_events_and_other_teams_cannot_be_changed(app, session, clock, world):
    person = ServicePerson(team_id=world.team_a.id, person_key="local:UNN:1", name="Astrid A1",
                           patient_id=world.patient_a1.id, created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.flush()
    imported = ServiceUse(person_id=person.id, kind="admission", start_date=date(2026, 1, 1),
                          end_date=date(2026, 1, 3), source="UNN", source_id="A1", created_at=clock.now(),
                          updated_at=clock.now())
    session.add(imported)
    session.commit()
    client = _client(app)
    a1 = world.patient_a1.id
    page = text_of(client.get(f"/clinic/patients/{a1}/service-use"))
    assert "UNN" in page and "Rett eller slett" not in page
    assert client.get(f"/clinic/patients/{a1}/service-use/{imported.id}").status_code == 404
    _post(client, a1, start="01.03.2026", end="02.03.2026")  # the imported history's person is used
    entered = session.exec(select(ServiceUse).where(ServiceUse.source == "homefollow")).one()
    assert entered.person_id == person.id

    other = _client(app, "nurse.b@example.no")
    assert other.get(f"/clinic/patients/{a1}/service-use/{entered.id}").status_code == 404
    response = other.client.post(f"/clinic/patients/{a1}/service-use/{entered.id}/delete",
                                 data={"delete-reason": "Ikke min pasient"})
    assert response.status_code in (400, 404)
    # B's own patient's URL with A1's event: no such event for that patient.
    assert other.get(f"/clinic/patients/{world.patient_b1.id}/service-use/{entered.id}").status_code == 404
    assert len(session.exec(select(ServiceUse)).all()) == 2

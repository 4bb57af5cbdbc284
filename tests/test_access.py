"""The forbidden cases: nobody sees a patient they may not see, and every attempt is audited."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from homefollow.models import Account, Alert, AuditEvent, PlanTemplate, RelativeAccess, ServicePerson, ServiceUse
from homefollow.outcomes import entry
from homefollow.services import reporting
from homefollow.services.audit import Actor
from tests.factories import standard_plan
from tests.webclient import WebClient, text_of


def _red_alert(session, clock, patient) -> Alert:
    reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": 80},
                                 idempotency_key=f"k-{patient.id}", reported_by_account_id=patient.account_id,
                                 actor_kind="patient")
    return session.exec(select(Alert).where(Alert.patient_id == patient.id)).one()


def _signed_in_staff(app, email):
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def test_a_nurse_of_another_team_gets_nothing(app, session, clock, world):
    alert = _red_alert(session, clock, world.patient_a1)
    alert_id, patient_id = alert.id, world.patient_a1.id
    other = _signed_in_staff(app, "nurse.b@example.no")
    queue = text_of(other.get("/clinic/"))
    assert "Astrid A1" not in queue and "Ingen åpne varsler" in queue
    for url in (f"/clinic/alerts/{alert_id}", f"/clinic/patients/{patient_id}"):
        response = other.get(url)
        assert response.status_code == 404
        assert "Astrid" not in response.get_data(as_text=True)
    token = other.csrf_token("/clinic/")
    assert other.client.post(f"/clinic/alerts/{alert_id}/acknowledge", data={"csrf_token": token}).status_code == 404
    assert other.client.post(f"/clinic/alerts/{alert_id}/resolve",
                             data={"csrf_token": token, "outcome": "other", "note": "x"}).status_code == 404
    assert session.get(Alert, alert_id).status == "open"
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.nurse_b.id)).all()
    assert len(denied) == 4 and {d.patient_id for d in denied} == {patient_id}


# URL parameters that name something belonging to team A, and the value each takes in the sweep.
_TEAM_A_OBJECTS = ("patient_id", "alert_id", "team_id", "account_id", "template_id", "person_id", "use_id")


def test_every_clinician_route_about_another_teams_data_gives_nothing(app, session, clock, world):
    """Walks the URL map, so a route added later is covered without anyone remembering to."""
    alert = _red_alert(session, clock, world.patient_a1)
    template = PlanTemplate(team_id=world.team_a.id, key="team-a-only", name="Team A only",
                            content=standard_plan().model_dump(mode="json"), created_at=clock.now(),
                            updated_at=clock.now())
    person = ServicePerson(team_id=world.team_a.id, person_key="local:UNN:a", name="Astrid Candidate",
                           created_at=clock.now(), updated_at=clock.now())
    session.add_all([template, person])
    session.commit()
    use = entry.add(session, clock, patient=world.patient_a1, entry=entry.Entry("admission", date(2026, 3, 1),
                                                                                date(2026, 3, 3)),
                    today=date(2026, 3, 10), actor=Actor(world.nurse_a.id, "staff"))
    values = {"patient_id": world.patient_a1.id, "alert_id": alert.id, "team_id": world.team_a.id,
              "account_id": world.nurse_a.id, "template_id": template.id, "section": "goals",
              "person_id": person.id, "step": "end", "use_id": use.id, "item_key": "spo2"}
    before = (alert.status, template.name, world.nurse_a.is_active)
    other = _signed_in_staff(app, "nurse.b@example.no")
    token = other.csrf_token("/clinic/")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("clinician.") or not set(rule.arguments) & set(_TEAM_A_OBJECTS):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(values[name])).replace(f"<{name}>", str(values[name]))
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                response = other.get(url)
            else:
                response = other.client.post(url, data={"csrf_token": token, "note": "x", "body": "x",
                                                        "outcome": "other", "reason": "x"})
            assert response.status_code in (403, 404), (method, url, response.status_code)
            body = response.get_data(as_text=True)
            assert "Astrid" not in body and "Nora Nurse" not in body and "Team A only" not in body, (method, url)
            checked += 1
    assert checked >= 30  # the sweep really walked the portal
    session.expire_all()
    alert, template = session.get(Alert, alert.id), session.get(PlanTemplate, template.id)
    assert (alert.status, template.name, session.get(Account, world.nurse_a.id).is_active) == before
    assert session.get(ServiceUse, use.id).end_date == date(2026, 3, 3)


def test_staff_of_the_team_see_the_patient_and_it_is_audited(app, session, clock, world):
    alert = _red_alert(session, clock, world.patient_a1)
    alert_id, patient_id = alert.id, world.patient_a1.id
    nurse = _signed_in_staff(app, "nurse.a@example.no")
    assert nurse.get(f"/clinic/alerts/{alert_id}").status_code == 200
    assert nurse.get(f"/clinic/patients/{patient_id}").status_code == 200
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.actor_account_id == world.nurse_a.id,
                                                           AuditEvent.patient_id == patient_id)).all()
    assert "view.alert" in actions and "view.patient" in actions


def test_a_patient_cannot_see_another_patients_result(app, session, clock, world):
    outcome = reporting.report_measurement(session, clock, patient=world.patient_a2, item_key="spo2",
                                           values={"spo2": 97}, idempotency_key="a2", reported_by_account_id=None,
                                           actor_kind="patient")
    report_id = outcome.report.id
    a1 = WebClient(app.test_client())
    a1.login_patient("+4791000001")
    response = a1.get(f"/report/result/{report_id}")
    assert response.status_code == 404
    assert "97" not in text_of(response)


def test_patients_and_relatives_cannot_enter_the_clinician_portal(app, world):
    for login in ("+4791000001", "+4791000011"):
        client = WebClient(app.test_client())
        client.login_patient(login)
        assert client.get("/clinic/").status_code == 403
        assert client.get(f"/clinic/patients/{world.patient_a1.id}").status_code == 403


def test_a_staff_account_is_not_usable_on_the_patient_portal_and_the_page_says_nothing_about_it(app, world):
    """The right staff password gets the same answer as a wrong one (issue 19: it used to say
    "this is a staff account", confirming the password)."""
    client = WebClient(app.test_client())
    response = client.submit("/login", {"login": "nurse.a@example.no", "password": "correct horse battery"})
    assert response.status_code == 200 and "Mobilnummeret eller passordet er feil" in text_of(response)
    assert "konto for ansatte" not in text_of(response)
    assert client.get("/today").status_code == 302


def test_relative_who_may_report_can_report_on_the_patients_behalf(app, session, world):
    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    today = relative.get("/today", follow_redirects=True)
    assert "Du hjelper Astrid A1. Du er registrert som: datter." in text_of(today)
    relative.submit("/report/weight", {"weight": "68,0"})
    report = session.exec(select(reporting.Report)).one()
    assert report.patient_id == world.patient_a1.id and report.reported_by_account_id == world.relative.id
    nurse = _signed_in_staff(app, "nurse.a@example.no")
    assert "datter" in text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))


def test_relative_with_view_only_can_see_but_not_report(app, world):
    viewer = WebClient(app.test_client())
    viewer.login_patient("+4791000012")
    today = viewer.get("/today", follow_redirects=True)
    assert today.status_code == 200 and "Registrer en annen måling" not in text_of(today)
    assert viewer.get("/report/spo2").status_code == 404
    assert viewer.get("/report").status_code == 404


def test_revoked_relative_is_out_at_once(app, session, clock, world):
    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    assert relative.get("/today", follow_redirects=True).status_code == 200
    grant = session.exec(select(RelativeAccess).where(RelativeAccess.relative_account_id == world.relative.id)).one()
    grant.revoked_at = clock.now()
    session.add(grant)
    session.commit()
    response = relative.get("/today")
    # Not a bare 404: "your access has ended", with the first name she knew and nothing more
    # (issue 20; tests/test_error_pages.py).
    assert response.status_code == 403 and "Tilgangen din er avsluttet" in response.get_data(as_text=True)
    assert "Astrid A1" not in text_of(response) and " A1" not in text_of(response)
    assert relative.get("/report/spo2").status_code == 403


def test_a_relative_whose_access_expired_is_out(app, session, clock, world):
    from datetime import timedelta

    grant = session.exec(select(RelativeAccess).where(RelativeAccess.relative_account_id == world.relative.id)).one()
    grant.valid_until = clock.now() + timedelta(hours=1)
    session.add(grant)
    session.commit()
    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    assert relative.get("/today", follow_redirects=True).status_code == 200
    clock.advance(hours=2)
    assert relative.get("/today").status_code == 403  # "your access has ended" (issue 20)


def test_relative_with_revoked_access_sees_no_one(app, world):
    revoked = WebClient(app.test_client())
    revoked.login_patient("+4791000013")
    page = revoked.get("/today", follow_redirects=True)
    assert "Du har ikke tilgang til noens oppfølging nå" in text_of(page)
    assert "Astrid" not in page.get_data(as_text=True)


def test_relative_cannot_pick_a_patient_they_have_no_grant_for(app, world):
    relative = WebClient(app.test_client())
    relative.login_patient("+4791000011")
    token = relative.csrf_token("/today")
    response = relative.client.post("/choose", data={"csrf_token": token, "patient_id": world.patient_b1.id})
    assert response.status_code == 404
    page = text_of(relative.get("/today", follow_redirects=True))
    assert "Bjørn" not in page and "Astrid A1" in page


@pytest.mark.parametrize("url", ["/today", "/report", "/report/spo2", "/clinic/", "/clinic/admin/outbox"])
def test_signed_out_visitors_are_asked_to_sign_in(app, world, url):
    response = app.test_client().get(url)
    assert response.status_code == 302 and "login" in response.headers["Location"]


def test_sent_messages_are_for_team_admins_of_that_team_only(app, session, clock, world):
    _red_alert(session, clock, world.patient_a1)
    _red_alert(session, clock, world.patient_b1)
    admin = _signed_in_staff(app, "admin.a@example.no")
    page = text_of(admin.get("/clinic/admin/outbox"))
    assert "900 00 101" in page and "900 00 103" not in page  # team A's nurse, not team B's
    assert _signed_in_staff(app, "nurse.a@example.no").get("/clinic/admin/outbox").status_code == 403

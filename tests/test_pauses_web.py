"""Pauses in the portals: the clinician's pause and resume on the patient page, the patient's and
a reporting relative's "away until" and "home again", bad input and who may not.

Wording is asserted in English (the accounts' language), so these tests read the same words
before and after the Norwegian catalogue has them."""

from __future__ import annotations

from datetime import date, datetime, UTC

import pytest
from sqlmodel import select

from homefollow.models import Account, Alert, Patient
from homefollow.services import pauses
from homefollow.services.audit import Actor
from tests.factories import audit_events
from tests.webclient import WebClient, check_html, staff_client, text_of


@pytest.fixture
def english(session, world):
    """Everyone in the world reads English."""
    for account in session.exec(select(Account)):
        account.locale = "en"
        session.add(account)
    session.commit()


def reload(session, patient) -> Patient:
    session.expire_all()
    return session.get(Patient, patient.id)


def page_url(world) -> str:
    return f"/clinic/patients/{world.patient_a1.id}"


def patient_client(app, login="+4791000001") -> WebClient:
    client = WebClient(app.test_client())
    client.login_patient(login)
    client.get("/today", follow_redirects=True)  # a relative chooses the patient (here the only one)
    return client


def refused(response, status=400) -> str:
    assert response.status_code == status, response.status_code
    check_html(response.get_data(as_text=True))
    return text_of(response)


# ---- clinician portal --------------------------------------------------------------------------

def test_a_nurse_pauses_for_a_holiday_sees_it_on_the_patient_page_and_resumes(app, session, clock, world, english):
    nurse = staff_client(app, "nurse.a@example.no")
    url = page_url(world)
    response = nurse.submit(url, {"pause_reason": "holiday", "pause_until": "20.03.2026"}, action=f"{url}/pause")
    assert response.status_code == 302 and response.location.endswith(f"{url}#pause-title")
    patient = reload(session, world.patient_a1)
    assert (patient.status, patient.pause_reason) == ("paused", "holiday")
    assert patient.paused_until == pauses.end_of(date(2026, 3, 20), patient)
    assert session.exec(select(Alert)).all() == []  # the team paused: nothing for the queue
    # Who paused and from where (web.current_actor), as the audit log shows it.
    assert [(r.actor_account_id, r.actor_kind, r.ip) for r in audit_events(session, "patient.pause")] == [
        (world.nurse_a.id, "staff", "127.0.0.1")]
    assert audit_events(session, "pause.submit")

    shown = text_of(nurse.get(url))
    assert "Follow-up is paused: Holiday or away" in shown and "Until and including 20 Mar 2026" in shown
    # The form is filled in with the pause in place, so moving its end is one edit.
    _response, parsed = nurse.page(url)
    pause_form = next(f for f in parsed.forms if f["action"] == f"{url}/pause")
    assert pause_form["fields"]["pause_until"] == "20.03.2026"

    response = nurse.submit(url, {}, action=f"{url}/resume")
    assert response.status_code == 302
    patient = reload(session, world.patient_a1)
    assert (patient.status, patient.resumed_at, patient.paused_until) == ("active", clock.now(), None)
    assert [r.actor_kind for r in audit_events(session, "patient.resume")] == ["staff"]


def test_a_nurse_pauses_for_an_admission_without_an_end(app, session, clock, world, english):
    nurse = staff_client(app, "nurse.a@example.no")
    url = page_url(world)
    assert nurse.submit(url, {"pause_reason": "admission", "pause_until": ""},
                        action=f"{url}/pause").status_code == 302
    patient = reload(session, world.patient_a1)
    assert (patient.pause_reason, patient.paused_until) == ("admission", None)
    assert patient.pause_review_at == clock.now() + pauses.REVIEW_AFTER
    assert "No end date: the team is asked on 15 Mar 2026" in text_of(nurse.get(url))


@pytest.mark.parametrize("reason, until, message", [
    ("holiday", "", "A holiday needs a last day."),
    ("holiday", "31.02.2026", "Write the date as dd.mm.yyyy"),
    ("holiday", "20.03.2026\x00", "Write the date as dd.mm.yyyy"),
    ("holiday", "x" * 5000, "Write the date as dd.mm.yyyy"),
    ("holiday", "01.01.0001", "The last day cannot be before today."),
    ("holiday", "09.03.2026", "The last day cannot be before today."),
    ("holiday", "10.05.2026", "A pause can end at most 60 days from today."),
    ("other", "9999-12-31", "A pause can end at most 60 days from today."),
    ("sabbatical", "20.03.2026", "Choose why follow-up is paused."),
    ("holiday\x00", "20.03.2026", "Choose why follow-up is paused."),
    ("", "20.03.2026", "Choose why follow-up is paused."),
])
def test_a_bad_pause_is_a_clear_error_never_a_500(app, session, world, english, reason, until, message):
    nurse = staff_client(app, "nurse.a@example.no")
    url = page_url(world)
    text = refused(nurse.submit(url, {"pause_reason": reason, "pause_until": until}, action=f"{url}/pause"))
    assert message in text
    assert reload(session, world.patient_a1).status == "active"
    assert audit_events(session, "patient.pause") == []


def test_the_last_allowed_day_is_sixty_days_ahead(app, session, world, english):
    nurse = staff_client(app, "nurse.a@example.no")
    url = page_url(world)
    assert nurse.submit(url, {"pause_reason": "holiday", "pause_until": "2026-05-09"},
                        action=f"{url}/pause").status_code == 302
    assert pauses.last_day(reload(session, world.patient_a1)) == date(2026, 5, 9)


def test_a_nurse_of_another_team_gets_404_and_an_audit_row(app, session, world):
    other = staff_client(app, "nurse.b@example.no")
    token = other.csrf_token("/clinic/patients")
    for action in ("pause", "resume"):
        response = other.client.post(f"{page_url(world)}/{action}",
                                     data={"csrf_token": token, "pause_reason": "other", "pause_until": ""})
        assert response.status_code == 404
    denied = audit_events(session, "access.denied")
    assert {(d.patient_id, d.detail["attempted"]) for d in denied} == {(world.patient_a1.id, "pause.submit"),
                                                                        (world.patient_a1.id, "resume.submit")}
    assert reload(session, world.patient_a1).status == "active"


def test_patients_and_relatives_cannot_pause_from_the_clinician_portal(app, session, world):
    for login in ("+4791000001", "+4791000011"):
        client = patient_client(app, login)
        token = client.csrf_token("/menu")
        for action in ("pause", "resume"):
            response = client.client.post(f"{page_url(world)}/{action}",
                                          data={"csrf_token": token, "pause_reason": "other", "pause_until": ""})
            assert response.status_code == 403
    assert reload(session, world.patient_a1).status == "active"


def test_a_pause_without_the_csrf_token_is_refused(app, session, world):
    nurse = staff_client(app, "nurse.a@example.no")
    response = nurse.client.post(f"{page_url(world)}/pause", data={"pause_reason": "other", "pause_until": ""})
    assert response.status_code == 400
    assert reload(session, world.patient_a1).status == "active"


# ---- patient portal ----------------------------------------------------------------------------

def test_the_patient_goes_away_from_the_settings_page_and_comes_home_early(app, session, clock, world, english):
    clock.set(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))  # the morning's measurements are missed
    client = patient_client(app)
    assert "Missed – do it now" in text_of(client.get("/today"))
    _response, parsed = client.page("/settings")
    assert any(f["action"] == "/away" for f in parsed.forms)
    response = client.submit("/settings", {"last_day": "2026-03-20"}, action="/away")
    assert response.status_code == 302 and response.location.endswith("/today")
    patient = reload(session, world.patient_a1)
    assert (patient.status, patient.pause_reason) == ("paused", "holiday")
    assert patient.paused_until == pauses.end_of(date(2026, 3, 20), patient)
    [item] = session.exec(select(Alert).where(Alert.rule_key == pauses.PAUSED_KEY)).all()
    assert item.severity == "yellow" and "Astrid A1" in item.explanation["en"]

    for url in ("/today", "/plan"):
        shown = text_of(client.get(url))
        assert "Your follow-up is paused until and including Friday 20 March 2026." in shown
        assert "I am home again" in shown
    assert "Missed" not in text_of(client.get("/today"))  # nothing is missed while away
    assert client.get("/report/spo2").status_code == 200  # measurements can still be sent

    response = client.submit("/today", {}, action="/away/end")
    assert response.status_code == 302
    patient = reload(session, world.patient_a1)
    assert (patient.status, patient.resumed_at) == ("active", clock.now())
    assert [r.actor_kind for r in audit_events(session, "patient.resume")] == ["patient"]
    assert "I am home again" not in text_of(client.get("/today"))


def test_the_pause_page_says_what_happens_and_whom_to_call(app, world, english):
    client = patient_client(app)
    shown = text_of(client.get("/away"))
    for words in ("you get no reminders", "The care team is not told when a measurement is not done",
                  "They are checked as usual", "116 117", "113"):
        assert words in shown


def test_a_relative_who_may_report_pauses_and_one_who_may_only_look_cannot(app, session, world, english):
    relative = patient_client(app, "+4791000011")
    assert 'href="/away"' in relative.get("/menu").get_data(as_text=True)
    assert relative.submit("/away", {"last_day": "20.03.2026"}, action="/away").status_code == 302
    [item] = session.exec(select(Alert).where(Alert.rule_key == pauses.PAUSED_KEY)).all()
    assert "Marit Datter (datter)" in item.explanation["en"]
    assert "Follow-up of Astrid A1 is paused until and including" in text_of(relative.get("/today"))

    viewer = patient_client(app, "+4791000012")
    assert 'href="/away"' not in viewer.get("/menu").get_data(as_text=True)
    shown = text_of(viewer.get("/today"))
    assert "Follow-up of Astrid A1 is paused" in shown and "I am home again" not in shown
    assert viewer.get("/away").status_code == 404
    token = viewer.csrf_token("/menu")
    assert viewer.client.post("/away", data={"csrf_token": token, "last_day": "2026-03-25"}).status_code == 404
    assert viewer.client.post("/away/end", data={"csrf_token": token}).status_code == 404
    assert {d.detail["attempted"] for d in audit_events(session, "access.denied")} == {"view.away", "away.submit",
                                                                                        "away.end"}
    assert pauses.last_day(reload(session, world.patient_a1)) == date(2026, 3, 20)


@pytest.mark.parametrize("typed, message", [
    ("", "Write the last day you are away."),
    ("31.02.2026", "Write the date like this: 20.12.2026."),
    ("2026-03-20\x00", "Write the date like this: 20.12.2026."),
    ("0001-01-01", "That day has already been."),
    ("2026-03-09", "That day has already been."),
    ("2026-05-10", "You can pause for at most 60 days."),
    ("9999-12-31", "You can pause for at most 60 days."),
])
def test_a_bad_last_day_is_explained_and_nothing_is_paused(app, session, world, english, typed, message):
    client = patient_client(app)
    text = refused(client.submit("/away", {"last_day": typed}, action="/away"))
    assert message in text
    assert reload(session, world.patient_a1).status == "active"
    assert session.exec(select(Alert)).all() == []


def test_an_admission_pause_is_shown_and_only_the_team_changes_it(app, session, clock, world, english):
    pauses.pause(session, clock, world.patient_a1, reason=pauses.ADMISSION, until=None, actor=Actor(None, "api"))
    session.commit()
    client = patient_client(app)
    shown = text_of(client.get("/today"))
    assert "Your follow-up is paused while you are in hospital." in shown and "I am home again" in shown
    _response, parsed = client.page("/away")
    assert not any(f["action"] == "/away" for f in parsed.forms)  # no form to turn it into a holiday
    text = refused(client.client.post("/away", data={"csrf_token": client.csrf_token("/menu"),
                                                     "last_day": "2026-03-20"}))
    assert "The care team has paused your follow-up." in text
    assert reload(session, world.patient_a1).pause_reason == "admission"


def test_changing_the_last_day_starts_from_the_day_in_place(app, session, world, english):
    client = patient_client(app)
    assert client.submit("/away", {"last_day": "2026-03-20"}, action="/away").status_code == 302
    _response, parsed = client.page("/settings")
    [away] = [f for f in parsed.forms if f["action"] == "/away"]
    assert away["fields"]["last_day"] == "2026-03-20"
    assert client.submit("/settings", {"last_day": "2026-03-22"}, action="/away").status_code == 302
    assert pauses.last_day(reload(session, world.patient_a1)) == date(2026, 3, 22)
    [item] = session.exec(select(Alert).where(Alert.rule_key == pauses.PAUSED_KEY)).all()
    assert item.occurrences == 2  # the team's item is brought up to date, not doubled

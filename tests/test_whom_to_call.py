"""Whom to call, always: one answer (services.teams.whom_to_call) for the result page, the
messages page, the stopped page and SMS replies — the team's phone while it is open, else its
out-of-hours phone or legevakt 116 117, and 113 in an emergency."""

from __future__ import annotations

from datetime import datetime, UTC
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from homefollow.models import Patient, PatientStatus, Team
from homefollow.services import teams
from tests.factories import WEEKDAYS_OPEN, audit_events
from tests.webclient import WebClient, staff_client, text_of

OSLO = ZoneInfo("Europe/Oslo")


def oslo(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=OSLO).astimezone(UTC)


def team(out_of_hours_phone=None, phone="+4777620000", hours=WEEKDAYS_OPEN):
    return SimpleNamespace(id=1, time_zone="Europe/Oslo", opening_hours=hours, phone=phone,
                           out_of_hours_phone=out_of_hours_phone)


# ---- the one function ---------------------------------------------------------------------

@pytest.mark.parametrize(("at", "open_", "number", "opens_at", "words"), [
    # Tuesday 09:00: the team answers its own phone.
    (oslo(2026, 3, 10, 9, 0), True, "+4777620000", None,
     "The care team is open now, until 15:30. If it is urgent, call the care team on 77 62 00 00."),
    # Tuesday 15:30, the minute it closes: legevakt, and it opens again tomorrow.
    (oslo(2026, 3, 10, 15, 30), False, "116117", oslo(2026, 3, 11, 8, 0),
     "The care team is closed now and opens again tomorrow at 08:00. If it is urgent, call the emergency clinic "
     "(legevakt) on 116 117."),
    # Monday 07:59: opens today.
    (oslo(2026, 3, 9, 7, 59), False, "116117", oslo(2026, 3, 9, 8, 0),
     "The care team is closed now and opens again today at 08:00. If it is urgent, call the emergency clinic "
     "(legevakt) on 116 117."),
    # Friday evening and Saturday: opens on Monday.
    (oslo(2026, 3, 13, 16, 0), False, "116117", oslo(2026, 3, 16, 8, 0),
     "The care team is closed now and opens again Monday at 08:00. If it is urgent, call the emergency clinic "
     "(legevakt) on 116 117."),
    (oslo(2026, 3, 14, 12, 0), False, "116117", oslo(2026, 3, 16, 8, 0), None),
])
def test_whom_to_call_over_the_week(at, open_, number, opens_at, words):
    call = teams.whom_to_call(team(), at)
    assert (call.open, call.number, call.opens_at) == (open_, number, opens_at)
    if words:
        assert teams.call_advice(call, "en") == words.replace("116 117", "116\u00a0117").replace(
            "77 62 00 00", "77\u00a062\u00a000\u00a000")


@pytest.mark.parametrize(("closed_at", "opens_at", "utc_hour"), [
    (oslo(2026, 3, 27, 16, 0), oslo(2026, 3, 30, 8, 0), 6),  # spring: Monday 08:00 is summer time (UTC+2)
    (oslo(2026, 10, 23, 16, 0), oslo(2026, 10, 26, 8, 0), 7),  # autumn: Monday 08:00 is winter time (UTC+1)
])
def test_over_a_dst_weekend_the_team_still_opens_at_eight_local_time(closed_at, opens_at, utc_hour):
    call = teams.whom_to_call(team(), closed_at)
    assert not call.open and call.opens_at == opens_at and call.opens_at.hour == utc_hour
    assert "mandag kl. 08:00" in teams.call_advice(call, "nb") or "Monday at 08:00" in teams.call_advice(call, "en")
    assert teams.whom_to_call(team(), opens_at).open  # and at that instant it is open


def test_an_out_of_hours_number_replaces_legevakt_only_when_the_team_is_closed():
    with_number = team(out_of_hours_phone="+4777600000")
    closed = teams.whom_to_call(with_number, oslo(2026, 3, 10, 20, 0))
    assert (closed.open, closed.number, closed.kind) == (False, "+4777600000", teams.CALL_OUT_OF_HOURS)
    assert "call the out-of-hours phone on 77\u00a060\u00a000\u00a000" in teams.call_advice(closed, "en")
    opened = teams.whom_to_call(with_number, oslo(2026, 3, 10, 10, 0))
    assert (opened.open, opened.number, opened.kind) == (True, "+4777620000", teams.CALL_TEAM)


def test_a_team_that_gives_patients_no_phone_sends_them_on_even_when_open():
    call = teams.whom_to_call(team(phone=None), oslo(2026, 3, 10, 10, 0))
    assert call.open and call.number == "116117"
    call = teams.whom_to_call(team(phone=None, out_of_hours_phone="+4777600000"), oslo(2026, 3, 10, 10, 0))
    assert call.open and call.number == "+4777600000"


@pytest.mark.parametrize("hours", [{}, None, {"mon": ["15:00", "08:00"]}, {"funday": ["08:00", "09:00"]}])
def test_no_or_broken_opening_hours_mean_closed_and_legevakt(hours):
    call = teams.whom_to_call(team(hours=hours), oslo(2026, 3, 10, 10, 0))
    assert (call.open, call.number, call.opens_at) == (False, "116117", None)
    assert teams.call_advice(call, "en").startswith("The care team is closed now. If it is urgent")


def test_sms_writes_116117_so_a_phone_links_it():
    call = teams.whom_to_call(team(), oslo(2026, 3, 10, 20, 0))
    assert call.number_text(sms=True) == "116117" and call.number_text() == "116\u00a0117"
    assert "116117" in teams.call_advice(call, "nb", sms=True)


def test_is_open_agrees_with_whom_to_call():
    for at in (oslo(2026, 3, 10, 7, 59), oslo(2026, 3, 10, 8, 0), oslo(2026, 3, 14, 10, 0)):
        assert teams.is_open(team(), at) == teams.whom_to_call(team(), at).open


# ---- the result page ------------------------------------------------------------------------

def _set(session, world, **fields) -> None:
    t = session.get(Team, world.team_a.id)
    for k, v in fields.items():
        setattr(t, k, v)
    session.add(t)
    session.commit()


def _result(app, values: dict, item="blood_pressure", login="+4791000001"):
    patient = WebClient(app.test_client())
    patient.login_patient(login)
    response = patient.submit(f"/report/{item}", values)
    assert response.status_code == 302, text_of(response)
    result = patient.get(response.headers["Location"])
    assert result.status_code == 200
    return text_of(result), result.get_data(as_text=True)


YELLOW_BP = {"bp_systolic": "165", "bp_diastolic": "85"}  # the plan: yellow over 160, red over 180
RED_SPO2 = {"spo2": "85"}


def test_a_yellow_result_out_of_hours_says_the_team_is_closed_when_it_opens_and_whom_to_call(app, clock, world):
    clock.set(oslo(2026, 3, 13, 16, 0))  # Friday after closing
    page, html = _result(app, YELLOW_BP)
    assert "Gul sone" in page
    # The yellow alert waits for opening hours: "told" would read as "someone knows now".
    assert "Teamet ser det når det åpner igjen." in page and "Teamet har fått beskjed." not in page
    assert ("Teamet er stengt nå og åpner igjen mandag kl. 08:00. Haster det, ring legevakten på 116 117."
            in page.replace("\u00a0", " "))
    assert 'href="tel:116117"' in html and 'href="tel:+4777620000"' not in html
    assert "Ved akutt fare, ring 113." in page and 'href="tel:113"' in html
    # The whom-to-call block comes with the result, before "measure again" and "back".
    assert html.index("zone-result") < html.index('href="tel:116117"') < html.index("Mål på nytt")


def test_a_yellow_result_in_opening_hours_offers_the_teams_phone(app, clock, world):
    page, html = _result(app, YELLOW_BP)  # Tuesday 09:00
    assert "Teamet har fått beskjed." in page
    assert "Teamet er åpent nå, til kl. 15:30. Haster det, ring teamet på 77 62 00 00." in page.replace("\u00a0", " ")
    assert 'href="tel:+4777620000"' in html and "Ring teamet ditt" in page


def test_a_yellow_result_out_of_hours_names_the_teams_out_of_hours_number(app, session, clock, world):
    _set(session, world, out_of_hours_phone="+4777600000")
    clock.set(oslo(2026, 3, 10, 22, 0))
    page, html = _result(app, YELLOW_BP)
    assert "Haster det, ring vakttelefonen på 77 60 00 00." in page.replace("\u00a0", " ")
    assert 'href="tel:+4777600000"' in html and "Ring vakttelefonen" in page
    assert 'href="tel:+4777620000"' not in html


def test_a_red_result_out_of_hours_has_113_first_then_whom_to_call(app, session, clock, world):
    _set(session, world, out_of_hours_phone="+4777600000")
    clock.set(oslo(2026, 3, 14, 3, 0))  # Saturday night
    page, html = _result(app, RED_SPO2, item="spo2")
    assert "Rød sone" in page
    assert html.index('href="tel:113"') < html.index('href="tel:+4777600000"') < html.index('href="tel:116117"')
    assert html.index('href="tel:116117"') < html.index("Ring 113 ved alvorlig pustebesvær.")  # the plan's words after
    assert 'href="tel:+4777620000"' not in html
    assert "Teamet er stengt nå og åpner igjen mandag kl. 08:00." in page


def test_a_red_result_in_opening_hours_offers_113_the_team_and_legevakt(app, clock, world):
    _page, html = _result(app, RED_SPO2, item="spo2")
    assert html.index('href="tel:113"') < html.index('href="tel:+4777620000"') < html.index('href="tel:116117"')


def _render_result(app, call, zone=None):
    """The result page's template for a measurement with this zone (None: no rule gave it one,
    which the safety net now makes rare), as the patient sees it."""
    from flask import render_template

    outcome = SimpleNamespace(zone=SimpleNamespace(value=zone) if zone else None, values={"pulse": 130.0},
                              instructions=[], report=SimpleNamespace(team_alerted=False))
    report = SimpleNamespace(kind="measurement", item_key="pulse")
    with app.test_request_context("/report/result/1"):
        html = render_template("patient/result.html", access=SimpleNamespace(relation=None), outcome=outcome,
                               report=report, title="Puls", again_url="/report/pulse", team=None, call=call)
    return text_of(SimpleNamespace(get_data=lambda as_text: html)), html


def test_a_measurement_without_limits_out_of_hours_names_legevakt_or_the_out_of_hours_number(app):
    page, html = _render_result(app, teams.whom_to_call(team(), oslo(2026, 3, 10, 21, 0)))
    assert "Planen din har ingen grenser for denne målingen" in page
    assert 'href="tel:116117"' in html and "Teamet er stengt nå og åpner igjen i morgen kl. 08:00." in page
    _page, html = _render_result(app, teams.whom_to_call(team(out_of_hours_phone="+4777600000"),
                                                         oslo(2026, 3, 10, 21, 0)))
    assert 'href="tel:+4777600000"' in html
    page, html = _render_result(app, teams.whom_to_call(team(), oslo(2026, 3, 10, 10, 0)))
    assert 'href="tel:+4777620000"' in html and "Teamet er åpent nå" in page


def test_a_green_result_also_says_whom_to_call(app, clock, world):
    clock.set(oslo(2026, 3, 14, 10, 0))
    page, html = _result(app, {"bp_systolic": "130", "bp_diastolic": "80"})
    assert "Grønn sone" in page and "Hvem du kan ringe" in page and 'href="tel:116117"' in html


def test_the_stopped_page_says_whom_to_call(app, session, clock, world):
    patient = session.get(Patient, world.patient_a1.id)
    patient.status = PatientStatus.ENDED.value
    session.add(patient)
    session.commit()
    _set(session, world, out_of_hours_phone="+4777600000")
    clock.set(oslo(2026, 3, 10, 22, 0))
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.get("/today")
    html = response.get_data(as_text=True)
    assert 'href="tel:113"' in html and 'href="tel:+4777600000"' in html and 'href="tel:116117"' in html
    assert "Teamet er stengt nå" in text_of(response)


def test_the_plan_lists_the_out_of_hours_number(app, session, world):
    _set(session, world, out_of_hours_phone="+4777600000")
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.get("/plan")
    assert "Når teamet er stengt:" in text_of(response) and 'href="tel:+4777600000"' in response.get_data(as_text=True)


# ---- team settings ---------------------------------------------------------------------------

def test_an_admin_sets_the_out_of_hours_phone_and_it_is_audited(app, session, world):
    admin = staff_client(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/phones",
                            {"phone": "77 62 00 00", "on_call_phone": "900 00 000", "out_of_hours_phone": "77 60 00 00"},
                            follow_redirects=True)
    assert "Telefonnumrene er lagret." in text_of(response)
    session.expire_all()
    assert session.get(Team, world.team_a.id).out_of_hours_phone == "+4777600000"
    [event] = audit_events(session, "team.phones.change")
    assert event.detail["old"]["out_of_hours_phone"] is None and event.detail["new"]["out_of_hours_phone"] == "+4777600000"
    assert "77 60 00 00" in text_of(admin.get("/clinic/teams"))
    # Emptied again: patients are sent to legevakt.
    admin.submit(f"/clinic/teams/{world.team_a.id}/phones",
                 {"phone": "77 62 00 00", "on_call_phone": "900 00 000", "out_of_hours_phone": ""})
    session.expire_all()
    assert session.get(Team, world.team_a.id).out_of_hours_phone is None
    assert "legevakten 116 117" in text_of(admin.get("/clinic/teams"))


@pytest.mark.parametrize("typed", ["116117", "12", "+46 8 123 456 78", "\x00", "9" * 40])
def test_a_bad_out_of_hours_phone_is_refused_with_the_reason(app, session, world, typed):
    admin = staff_client(app, "admin.a@example.no")
    response = admin.submit(f"/clinic/teams/{world.team_a.id}/phones",
                            {"phone": "77 62 00 00", "on_call_phone": "900 00 000", "out_of_hours_phone": typed})
    assert response.status_code == 400 and "Skriv et gyldig norsk telefonnummer" in text_of(response)
    assert 'id="out_of_hours_phone-error"' in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Team, world.team_a.id).out_of_hours_phone is None


def test_only_the_admin_of_the_team_sets_it(app, session, world):
    nurse = staff_client(app, "nurse.a@example.no")
    token = nurse.csrf_token("/clinic/")
    response = nurse.client.post(f"/clinic/teams/{world.team_a.id}/phones",
                                 data={"csrf_token": token, "phone": "", "on_call_phone": "90000000",
                                       "out_of_hours_phone": "77600000"})
    assert response.status_code == 403
    other = staff_client(app, "nurse.b@example.no")
    token = other.csrf_token("/clinic/")
    response = other.client.post(f"/clinic/teams/{world.team_a.id}/phones",
                                 data={"csrf_token": token, "out_of_hours_phone": "77600000"})
    assert response.status_code == 404
    session.expire_all()
    assert session.exec(select(Team.out_of_hours_phone).where(Team.id == world.team_a.id)).one() is None

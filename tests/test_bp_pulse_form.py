"""One blood-pressure page that takes the pulse too (issue 20): one cuff gives both, so the
patient types both and presses Send once. Each value is its own report, judged on its own by
the plan and the safety net (a red pulse beside a normal blood pressure is red and paged);
a double submit stores each once; the pulse may be left empty, and has its own page still."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from sqlmodel import select

from homefollow.models import Alert, Measurement, Notification, Report
from tests.webclient import WebClient, check_html, text_of

A1 = "+4791000001"


def signed_in(app, login: str = A1) -> WebClient:
    client = WebClient(app.test_client())
    client.login_patient(login)
    return client


def stored(session) -> list[tuple[str, float]]:
    session.expire_all()
    return [(m.code, m.value) for m in session.exec(select(Measurement).order_by(Measurement.id))]


def result_ids(response) -> tuple[int, list[int]]:
    url = urlparse(response.location)
    return int(url.path.rsplit("/", 1)[1]), [int(v) for v in parse_qs(url.query).get("also", [])]


def test_the_blood_pressure_page_has_a_pulse_field_with_a_number_pad(app, world):
    patient = signed_in(app)
    response, parsed = patient.page("/report/blood_pressure")
    html = response.get_data(as_text=True)
    page = text_of(response)
    assert "Puls (hvis apparatet viser den)" in page
    for name in ("bp_systolic", "bp_diastolic", "pulse"):
        assert f'name="{name}"' in html
    assert html.count('inputmode="numeric"') == 3
    assert "<script" not in html.split("<main", 1)[-1].split("</main>", 1)[0]  # works without JavaScript


def test_blood_pressure_and_pulse_are_stored_by_one_submit_and_shown_together(app, session, world):
    patient = signed_in(app)
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "135", "bp_diastolic": "85", "pulse": "72"})
    assert response.status_code == 302
    first, also = result_ids(response)
    assert len(also) == 1
    assert sorted(stored(session)) == [("bp_diastolic", 85.0), ("bp_systolic", 135.0), ("pulse", 72.0)]
    reports = {r.item_key: r for r in session.exec(select(Report).where(Report.patient_id == world.patient_a1.id))}
    assert set(reports) == {"blood_pressure", "pulse"}
    assert {first, *also} == {reports["blood_pressure"].id, reports["pulse"].id}
    page = text_of(patient.get(response.location))
    assert "135/85" in page and "72" in page
    assert page.count("Grønn sone") >= 2  # each value with its zone


def test_a_red_pulse_with_a_normal_blood_pressure_is_red_paged_and_shown_first(app, session, world):
    patient = signed_in(app)
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "130", "bp_diastolic": "80", "pulse": "135"})
    assert response.status_code == 302
    first, also = result_ids(response)
    session.expire_all()
    pulse = session.get(Report, first)
    assert pulse.item_key == "pulse" and pulse.zone == "red" and pulse.team_alerted
    assert session.get(Report, also[0]).zone == "green"
    alert = session.exec(select(Alert).where(Alert.patient_id == world.patient_a1.id)).one()
    assert alert.severity == "red"
    assert session.exec(select(Notification)).all()  # paged
    page = text_of(patient.get(response.location))
    assert page.index("Rød sone") < page.index("130/80")  # the red one leads, with whom to call


def test_a_double_submit_stores_each_value_once(app, session, world):
    patient = signed_in(app)
    fields = patient.form_fields("/report/blood_pressure")
    data = {**fields, "bp_systolic": "135", "bp_diastolic": "85", "pulse": "72"}
    one = patient.client.post("/report/blood_pressure", data=data)
    two = patient.client.post("/report/blood_pressure", data=data)
    assert one.status_code == two.status_code == 302
    assert result_ids(one) == result_ids(two)
    assert len(stored(session)) == 3


def test_blood_pressure_without_pulse_is_one_report(app, session, world):
    patient = signed_in(app)
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "135/85", "pulse": ""})
    assert response.status_code == 302
    assert result_ids(response)[1] == []
    assert sorted(stored(session)) == [("bp_diastolic", 85.0), ("bp_systolic", 135.0)]


def test_pulse_alone_still_has_its_own_page(app, session, world):
    patient = signed_in(app)
    response = patient.submit("/report/pulse", {"pulse": "72"})
    assert response.status_code == 302
    assert stored(session) == [("pulse", 72.0)]


def test_an_impossible_pulse_is_refused_at_its_field_and_nothing_is_stored(app, session, world):
    patient = signed_in(app)
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "135", "bp_diastolic": "85", "pulse": "900"})
    assert response.status_code == 200
    parsed = check_html(response.get_data(as_text=True))
    page = text_of(response)
    assert "Du skrev 900" in page and "Sjekk dette" in page
    assert 'href="#pulse"' in response.get_data(as_text=True)
    assert stored(session) == []
    assert parsed  # the form comes back with what was typed
    assert 'value="135"' in response.get_data(as_text=True)


def test_the_same_blood_pressure_and_pulse_again_are_asked_about_first(app, session, clock, world):
    patient = signed_in(app)
    patient.submit("/report/blood_pressure", {"bp_systolic": "135", "bp_diastolic": "85", "pulse": "72"})
    clock.advance(minutes=2)
    again = patient.submit("/report/blood_pressure", {"bp_systolic": "135", "bp_diastolic": "85", "pulse": "72"})
    assert again.status_code == 200 and "Er dette en ny måling?" in text_of(again)
    other_pulse = patient.submit("/report/blood_pressure", {"bp_systolic": "135", "bp_diastolic": "85",
                                                            "pulse": "80"})
    assert other_pulse.status_code == 302  # a new pulse: a new reading, stored at once
    assert len(stored(session)) == 6


def test_the_result_page_shows_no_other_patients_report(app, session, world):
    from homefollow.services import reporting

    theirs = reporting.report_measurement(session, session_clock(app), patient=world.patient_a2, item_key="pulse",
                                          values={"pulse": 61}, idempotency_key="other", reported_by_account_id=None,
                                          actor_kind="patient")
    patient = signed_in(app)
    response = patient.submit("/report/pulse", {"pulse": "72"})
    page = text_of(patient.get(f"{response.location}?also={theirs.report.id}"))
    assert "61" not in page


def session_clock(app):
    from homefollow.clock import get_clock

    with app.app_context():
        return get_clock()

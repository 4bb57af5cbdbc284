"""Units at entry in the patient portal and by SMS: a value in pounds, °F or mg/dL is
converted and shown back before it is stored; a number whose unit is unclear is asked about,
never guessed (rules/units.py, homefollow/services/unit_check.py)."""

from __future__ import annotations

import io
import re
from datetime import time, timedelta

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from homefollow.links import public_url
from homefollow.models import Alert, AlertEvent, Measurement, Report
from homefollow.notifications.sms_commands import AskUnit, Report as SmsReport, parse_sms
from homefollow.notifications.texts import ReportOutcome, reply_text, sms_segments
from homefollow.services import reporting, unit_check
from homefollow.services.plans import AssignedRule, PlanMeasurement, ZoneActions
from rules.schedule import Schedule
from tests.factories import audit_events, make_patient, standard_plan
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.webclient import WebClient, check_html, text_of

WEBHOOK_SECRET = "units-webhook-secret-0123456789"
A1 = "+4791000001"  # plan: dry weight 68 kg


def diabetes_plan():
    base = standard_plan()
    glucose = PlanMeasurement(item="glucose", schedule=Schedule(times=(time(8, 0),)),
                              patient_actions=ZoneActions(green="Fint.", yellow="Spis litt og mål igjen.",
                                                          red="Spis sukker nå og ring teamet."))
    return base.model_copy(update={"measurements": [*base.measurements, glucose],
                                   "rules": [*base.rules, AssignedRule(key="diabetes.glucose_red"),
                                             AssignedRule(key="diabetes.glucose_yellow")]})


@pytest.fixture
def diabetic(session, clock, world):
    """Dina: diabetes, her glucose readings of the last days between 5 and 9 mmol/L."""
    patient = make_patient(session, clock, world.team_a, "Dina D", "+4791000020", diabetes_plan(), world.nurse_a)
    for days, value in enumerate((5.2, 6.8, 7.4, 8.9, 6.1)):
        reporting.report_measurement(session, clock, patient=patient, item_key="glucose", values={"glucose": value},
                                     idempotency_key=f"g{days}", reported_by_account_id=None, actor_kind="patient",
                                     measured_at=clock.now() - timedelta(days=days + 1))
    return patient


def signed_in(app, login: str) -> WebClient:
    client = WebClient(app.test_client())
    client.login_patient(login)
    return client


def press(client: WebClient, url: str, page, **button):
    """Press a button of the question page: its form's hidden fields, and the button's name/value."""
    form = next(f for f in check_html(page.get_data(as_text=True)).forms if f["method"] == "post" and not f["action"])
    response = client.client.post(url, data={**form["fields"], **button})
    if response.mimetype == "text/html" and response.status_code < 300:
        check_html(response.get_data(as_text=True))
    return response


def buttons(page) -> list[tuple[str, str, str]]:
    """(name, value, label) of each button that posts."""
    found = re.findall(r'<button type="submit" class="[^"]*" name="([^"]+)" value="([^"]*)">(.*?)</button>',
                       page.get_data(as_text=True), re.S)
    return [(name, value, re.sub(r"\s+", " ", label).strip()) for name, value, label in found]


def stored(session) -> list[tuple[str, float]]:
    session.expire_all()
    return [(m.code, m.value) for m in session.exec(select(Measurement).order_by(Measurement.id))]


# ---- web -------------------------------------------------------------------------------------

def test_a_weight_in_pounds_is_shown_in_kilos_and_stored_in_kilos_once_confirmed(app, session, world):
    patient = signed_in(app, A1)
    asked = patient.submit("/report/weight", {"weight": "165 lb"})
    assert asked.status_code == 200
    assert re.search(r"165 \w+\. \w+ \w+ 74,8 kilo", text_of(asked))  # "Du skrev 165 pund. Det er 74,8 kilo."
    assert stored(session) == []  # nothing before the patient confirms
    [(name, value, label), (no_name, _v, _l)] = buttons(asked)
    assert (name, value) == ("unit", "lb") and "74,8 kg" in label and no_name == "retype"
    done = press(patient, "/report/weight", asked, unit="lb")
    assert done.status_code == 302 and "/report/result/" in done.location
    assert stored(session) == [("weight", 74.8)]
    result = text_of(patient.get(done.location))
    assert "74,8 kg" in result.replace("\u00a0", " ") and "165" not in result
    [record] = audit_events(session, "report.units")
    assert record.detail["typed"] == {"weight": {"number": 165.0, "unit": "lb", "value": 74.8}}


def test_a_bare_number_that_fits_pounds_better_gets_both_choices(app, session, world):
    patient = signed_in(app, A1)  # dry weight 68 kg in the plan, no readings yet
    asked = patient.submit("/report/weight", {"weight": "165"})
    assert asked.status_code == 200 and stored(session) == []
    choices = buttons(asked)
    assert [(n, v) for n, v, _label in choices] == [("unit", "kg"), ("unit", "lb"), ("retype", "yes")]
    assert "165" in choices[0][2] and "165" in choices[1][2] and "74,8" in choices[1][2]
    assert "74,8" in text_of(asked)  # "Mente du 165 kilo, eller 165 pund (74,8 kilo)?"
    assert press(patient, "/report/weight", asked, unit="lb").status_code == 302
    assert stored(session) == [("weight", 74.8)]
    assert audit_events(session, "report.units")[0].detail["asked"] is True
    # The patient may well mean kilos: that choice is stored as typed.
    again = patient.submit("/report/weight", {"weight": "165"})
    assert press(patient, "/report/weight", again, unit="kg").status_code == 302
    assert stored(session)[-1] == ("weight", 165.0)


def test_a_usual_weight_is_stored_without_a_question(app, session, clock, world):
    patient = signed_in(app, A1)
    assert patient.submit("/report/weight", {"weight": "69,5"}).status_code == 302
    assert patient.submit("/report/weight", {"weight": "100"}).status_code == 302  # nearer in kg: a value to check
    assert stored(session) == [("weight", 69.5), ("weight", 100.0)]


def test_the_median_of_recent_readings_is_the_reference_before_the_dry_weight(app, session, clock, world):
    for days, value in enumerate((80.2, 81.0, 80.6)):
        reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight",
                                     values={"weight": value}, idempotency_key=f"w{days}",
                                     reported_by_account_id=None, actor_kind="patient",
                                     measured_at=clock.now() - timedelta(days=days + 1))
    assert unit_check.reference_value(session, clock, world.patient_a1.id, "weight") == 80.6
    assert unit_check.reference_value(session, clock, world.patient_a2.id, "weight") == 68.0  # the dry weight
    assert unit_check.reference_value(session, clock, world.patient_a2.id, "glucose") is None
    clock.advance(days=40)  # readings older than 30 days do not count
    assert unit_check.reference_value(session, clock, world.patient_a1.id, "weight") == 68.0


def test_no_keeps_nothing_and_gives_back_what_was_typed(app, session, world):
    patient = signed_in(app, A1)
    asked = patient.submit("/report/weight", {"weight": "165 lb"})
    back = press(patient, "/report/weight", asked, retype="yes")
    assert back.status_code == 200
    html = back.get_data(as_text=True)
    assert 'name="weight"' in html and 'value="165 lb"' in html and 'type="text"' in html
    assert 'name="unit" type="hidden" value=""' in html  # the answer is forgotten
    assert stored(session) == []


def test_a_double_submit_of_the_confirmation_stores_one_report(app, session, world):
    patient = signed_in(app, A1)
    asked = patient.submit("/report/weight", {"weight": "165 lb"})
    first = press(patient, "/report/weight", asked, unit="lb")
    second = press(patient, "/report/weight", asked, unit="lb")
    assert first.status_code == second.status_code == 302 and first.location == second.location
    assert len(session.exec(select(Report)).all()) == 1 and stored(session) == [("weight", 74.8)]
    assert len(audit_events(session, "report.units")) == 1


def test_an_answer_holds_only_for_the_value_it_was_given_for(app, session, world):
    """A changed value (or a forged unit) is not taken in the unit chosen for another."""
    patient = signed_in(app, A1)
    fields = patient.form_fields("/report/weight")
    response = patient.client.post("/report/weight", data={**fields, "weight": "70", "unit": "lb", "unit_for": "165"})
    assert response.status_code == 302 and stored(session) == [("weight", 70.0)]
    fields = patient.form_fields("/report/weight")
    response = patient.client.post("/report/weight", data={**fields, "weight": "165", "unit": "zz", "unit_for": "165"})
    assert response.status_code == 200 and [b[1] for b in buttons(response)] == ["kg", "lb", "yes"]
    fields = patient.form_fields("/report/weight")
    response = patient.client.post("/report/weight", data={**fields, "weight": "165 kg", "unit": "lb",
                                                           "unit_for": "165 kg"})
    assert response.status_code == 302 and stored(session)[-1] == ("weight", 165.0)  # the typed unit wins


def test_the_same_converted_value_again_keeps_its_unit_through_the_repeat_question(app, session, clock, world):
    patient = signed_in(app, A1)
    press(patient, "/report/weight", patient.submit("/report/weight", {"weight": "165 lb"}), unit="lb")
    clock.advance(minutes=2)
    repeat = press(patient, "/report/weight", patient.submit("/report/weight", {"weight": "165 lb"}), unit="lb")
    assert repeat.status_code == 200 and len(stored(session)) == 1  # "you sent the same value a moment ago"
    html = repeat.get_data(as_text=True)
    assert 'name="unit" type="hidden" value="lb"' in html and 'name="confirm_repeat" type="hidden" value="yes"' in html
    again = press(patient, "/report/weight", repeat)
    assert again.status_code == 302 and stored(session) == [("weight", 74.8), ("weight", 74.8)]


def test_temperature_101_is_asked_about_in_fahrenheit_and_101_3_f_is_shown_in_celsius(app, session, world):
    patient = signed_in(app, A1)
    asked = patient.submit("/report/temperature", {"temperature": "101"})
    assert asked.status_code == 200 and "38,3" in text_of(asked)
    assert [(n, v) for n, v, _label in buttons(asked)] == [("unit", "°F"), ("retype", "yes")]
    assert press(patient, "/report/temperature", asked, unit="°F").status_code == 302
    shown = patient.submit("/report/temperature", {"temperature": "101,3 °F"})
    assert "101,3" in text_of(shown) and "38,5" in text_of(shown)
    assert press(patient, "/report/temperature", shown, unit="°F").status_code == 302
    assert stored(session) == [("temperature", 38.3), ("temperature", 38.5)]


@pytest.mark.parametrize(("typed", "shown"), [
    ("165 xyz", "xyz"),  # a word that is no unit: named back
    ("70\x00", None),  # a NUL byte
    ("\x1b[31m70", None),  # terminal control characters
    ("1000 lb", "1000 lb"),  # 453.6 kg: too high, quoted as typed
])
def test_bad_input_gets_a_clear_error_and_stores_nothing(app, session, world, typed, shown):
    patient = signed_in(app, A1)
    response = patient.submit("/report/weight", {"weight": typed})
    assert response.status_code == 200
    page = text_of(response)
    assert "Sjekk dette" in page  # the error summary
    if shown:
        assert shown in page
    assert "\x00" not in response.get_data(as_text=True) and "\x1b" not in response.get_data(as_text=True)
    assert stored(session) == []


def test_a_file_sent_in_place_of_the_number_is_refused_clearly(app, session, world):
    patient = signed_in(app, A1)
    fields = patient.form_fields("/report/weight")
    response = patient.client.post("/report/weight", content_type="multipart/form-data", data={
        **fields, "weight": (io.BytesIO(b"165 lb"), "weight.txt")})
    assert response.status_code == 200
    check_html(response.get_data(as_text=True))
    assert "Sjekk dette" in text_of(response) and "FileStorage" not in response.get_data(as_text=True)
    assert stored(session) == []


def test_glucose_36_mg_dl_is_a_severe_low_and_red(app, session, clock, diabetic):
    patient = signed_in(app, "+4791000020")
    asked = patient.submit("/report/glucose", {"glucose": "36 mg/dL"})
    assert "2,0 mmol/L" in text_of(asked)
    done = press(patient, "/report/glucose", asked, unit="mg/dL")
    assert done.status_code == 302
    report = session.get(Report, int(done.location.rsplit("/", 1)[1]))
    assert report.zone == "red" and stored(session)[-1] == ("glucose", 2.0)
    assert any(a.severity == "red" and "er under planens grense for rød sone (3,1\u00a0mmol/L)" in a.explanation["nb"]
               for a in session.exec(select(Alert).where(Alert.patient_id == diabetic.id)))


def test_glucose_36_without_a_unit_from_a_patient_around_7_is_asked_about(app, session, clock, diabetic):
    patient = signed_in(app, "+4791000020")
    asked = patient.submit("/report/glucose", {"glucose": "36"})
    assert [(n, v) for n, v, _label in buttons(asked)] == [("unit", "mmol/L"), ("unit", "mg/dL"), ("retype", "yes")]
    assert len(stored(session)) == 5  # only her earlier readings
    press(patient, "/report/glucose", asked, unit="mg/dL")
    assert stored(session)[-1] == ("glucose", 2.0)


def test_the_question_reads_plainly_in_norwegian(app, session, world):
    """The words a patient reads, from the nb catalogue."""
    patient = signed_in(app, A1)
    page = text_of(patient.submit("/report/weight", {"weight": "165 lb"}))
    assert "Du skrev 165 pund. Det er 74,8 kilo. Stemmer det?" in page
    assert "Ja, send 74,8 kg" in page and "Nei, jeg vil skrive på nytt" in page
    page = text_of(patient.submit("/report/weight", {"weight": "165"}))
    assert "Mente du 165 kilo, eller 165 pund (74,8 kilo)?" in page
    page = text_of(patient.submit("/report/temperature", {"temperature": "101"}))
    assert "Du skrev 101. Det kan ikke være grader celsius. Mente du 101 grader fahrenheit? Det er 38,3 grader " \
           "celsius." in page
    page = text_of(patient.submit("/report/weight", {"weight": "165 xyz"}))
    assert "Vi forstod ikke «xyz» etter tallet. Skriv bare tallet, for eksempel 74,5." in page


def test_the_question_reads_plainly_in_english(app, session, world):
    patient = signed_in(app, A1)
    patient.submit("/today", {"locale": "en"}, action="/locale")
    page = text_of(patient.submit("/report/weight", {"weight": "165 lb"}))
    assert "You wrote 165 pounds. That is 74.8 kilograms. Is that right?" in page
    assert "Yes, send 74.8 kg" in page and "No, I want to write it again" in page
    page = text_of(patient.submit("/report/weight", {"weight": "165"}))
    assert "Did you mean 165 kilograms, or 165 pounds (74.8 kilograms)?" in page


# ---- SMS -------------------------------------------------------------------------------------

@pytest.fixture
def hook_app(engine, clock, session):
    from homefollow import create_app
    from tests.conftest import app_config, observed_by

    return observed_by(create_app(app_config(engine, clock, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                             TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_WEBHOOK_SECRET=WEBHOOK_SECRET)),
                       session)


def sms(app, from_number: str, body: str, sid: str) -> str:
    path = f"/hooks/twilio/sms/{WEBHOOK_SECRET}"
    params = {"From": from_number, "Body": body, "MessageSid": sid}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url(path), params)
    response = app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


@pytest.mark.parametrize(("body", "value"), [
    ("VEKT 165 LB", ("weight", 74.8)),
    ("vekt 165 pund", ("weight", 74.8)),
    ("TEMP 101 F", ("temperature", 38.3)),
    ("Temp 101,3 °F", ("temperature", 38.5)),
    ("BS 36 MG", ("glucose", 2.0)),
    ("BS 126 mg/dl", ("glucose", 7.0)),
])
def test_a_reading_by_sms_in_another_unit_is_converted_and_echoed(hook_app, session, world, body, value):
    reply = sms(hook_app, A1, body, sid="SM1")
    assert stored(session) == [value]
    assert f"{value[1]:.1f}".replace(".", ",") in reply  # the stored value, in the reply
    assert session.exec(select(Report)).one().source == "sms"
    assert audit_events(session, "report.units")[0].detail["channel"] == "sms"


def test_an_unclear_number_by_sms_is_not_stored_but_asked_about_and_queued(hook_app, session, world):
    reply = sms(hook_app, A1, "VEKT 165", sid="SM1")  # dry weight 68: 165 lb = 74.8 kg fits better
    assert stored(session) == []
    assert "VEKT 165 KG" in reply and "VEKT 165 LB" in reply and "74,8" in reply
    item = session.exec(select(Alert).where(Alert.rule_key == unit_check.QUEUE_KEY)).one()
    assert (item.patient_id, item.severity, item.status) == (world.patient_a1.id, "yellow", "open")
    assert item.escalation_policy is None  # in the queue, nobody paged
    assert "VEKT 165" in item.value_text["nb"] and "VEKT 165" in item.explanation["en"]
    assert "74,8" in item.explanation["nb"]
    assert [e.kind for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == item.id))] == ["opened"]
    assert sms(hook_app, A1, "VEKT 165", sid="SM1") == reply  # Twilio delivered it again: nothing changes
    session.expire_all()
    assert [e.kind for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == item.id))] == ["opened"]
    # The answer with the unit is stored, converted.
    sms(hook_app, A1, "VEKT 165 LB", sid="SM2")
    assert stored(session) == [("weight", 74.8)]


def test_an_unclear_number_by_sms_that_is_dangerous_either_way_is_red_and_paged(hook_app, session, diabetic):
    """Glucose 36 from a patient around 7: 36 mmol/L and 36 mg/dL (2.0 mmol/L) are both red."""
    from homefollow.models import Notification

    reply = sms(hook_app, "+4791000020", "BS 36", sid="SMg1")
    assert "BS 36 MMOL" in reply.upper() and "BS 36 MG" in reply.upper()
    assert len(stored(session)) == 5  # nothing new stored: the unit is asked about
    item = session.exec(select(Alert).where(Alert.rule_key == unit_check.QUEUE_KEY)).one()
    assert (item.severity, item.status) == ("red", "open")
    assert item.escalation_policy is not None
    assert "call the patient now" in item.explanation["en"]
    pages = session.exec(select(Notification).where(Notification.alert_id == item.id)).all()
    assert pages, "a red item is paged"
    assert sms(hook_app, "+4791000020", "BS 36", sid="SMg1") == reply  # redelivered: nothing changes
    session.expire_all()
    assert len(session.exec(select(Notification).where(Notification.alert_id == item.id)).all()) == len(pages)
    kinds = [e.kind for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == item.id))]
    assert kinds[0] == "opened" and kinds.count("unit_asked") == 1


def test_a_first_glucose_of_36_by_sms_is_asked_about_and_a_usual_number_is_not(hook_app, session, world):
    """A1 has never measured glucose: 36 is unusual as mmol/L and a severe low as mg/dL."""
    reply = sms(hook_app, A1, "BS 36", sid="SMf1")
    assert stored(session) == [] and "BS 36 MG" in reply.upper()
    assert session.exec(select(Alert).where(Alert.rule_key == unit_check.QUEUE_KEY)).one().severity == "red"
    sms(hook_app, A1, "BS 12", sid="SMf2")
    assert stored(session) == [("glucose", 12.0)]


def test_a_temperature_of_101_by_sms_is_asked_about_not_refused(hook_app, session, world):
    reply = sms(hook_app, A1, "TEMP 101", sid="SM1")
    assert "TEMP 101 F" in reply and "38,3" in reply and stored(session) == []
    assert session.exec(select(Alert).where(Alert.rule_key == unit_check.QUEUE_KEY)).one() is not None


def test_glucose_36_mg_by_sms_is_a_severe_low_and_red(hook_app, session, diabetic):
    reply = sms(hook_app, "+4791000020", "BS 36 MG", sid="SM1")
    assert stored(session)[-1] == ("glucose", 2.0)
    assert "Spis sukker nå og ring teamet." in reply and "113" in reply
    assert any(a.severity == "red" and "is below the plan's red limit (3.1\u00a0mmol/L)" in a.explanation["en"]
               for a in session.exec(select(Alert).where(Alert.patient_id == diabetic.id)))
    asked = sms(hook_app, "+4791000020", "BS 36", sid="SM2")  # readings 5–9: asked, not a red high
    assert "BS 36 MMOL" in asked and "BS 36 MG" in asked and len(stored(session)) == 6


def test_sms_replies_about_units_in_norwegian(hook_app, session, world):
    """The words a patient reads, from the nb catalogue."""
    assert sms(hook_app, A1, "VEKT 165", sid="SM1") == ("Mente du 165 kg eller 165 pund (74,8 kg)? Send VEKT 165 KG "
                                                         "eller VEKT 165 LB. Ingenting er registrert ennå.")
    assert "Vi har registrert vekt 74,8 kg (165 pund)." in sms(hook_app, A1, "VEKT 165 LB", sid="SM2")


def test_sms_replies_about_units_fit_two_segments():
    outcomes = [ReportOutcome(("weight",), zone, "Ta en ekstra vanndrivende og ring teamet i dag.",
                              converted=tuple(parse_sms("VEKT 165,5 LB").with_unit.values()))
                for zone in ("green", "yellow", "red")]
    outcomes.append(ReportOutcome(("temperature",), "red", "Ring legevakt 116117 nå.",
                                  converted=tuple(parse_sms("TEMP 101,3 F").with_unit.values())))
    questions = [parse_sms("TEMP 101,3"), parse_sms("BS 400"),
                 AskUnit("weight", "weight", 165.5, (parse_sms("VEKT 165,5 KG").with_unit["weight"],
                                                     parse_sms("VEKT 165,5 LB").with_unit["weight"]))]
    for subject in outcomes + questions:
        for locale in ("nb", "en"):
            assert sms_segments(reply_text(subject, locale)) <= 2, (subject, locale)
    assert reply_text(questions[2], "en") == ("Did you mean 165.5 kg or 165.5 pounds (75.1 kg)? Send WEIGHT 165.5 KG "
                                               "or WEIGHT 165.5 LB. Nothing has been recorded yet.")


def test_sms_units_are_parsed_as_typed():
    command = parse_sms("VEKT 165 LB P 72")
    assert isinstance(command, SmsReport) and command.values == {"weight": {"weight": 74.8}, "pulse": {"pulse": 72.0}}
    assert command.with_unit["weight"].unit == "lb"
    assert parse_sms("VEKT 74 KG").with_unit["weight"].unit == "kg"  # a unit typed: never asked about
    assert parse_sms("VEKT 74").with_unit == {}  # no unit: checked against the patient's weight
    assert isinstance(parse_sms("TEMP 101 grader"), AskUnit)  # "degrees" does not say which
    assert parse_sms("VEKT 1000 LB").error_key == "implausible"

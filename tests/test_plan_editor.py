"""The care team's plan editor over HTTP, as a browser without JavaScript drives it: each
section saves a new version the patient sees at once, bad input comes back with specific
errors and what was typed, the rules preview counts alerts with the real backtest, versions
read as words, and only the patient's own team gets in."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from homefollow import values
from homefollow.models import AuditEvent, CarePlan
from homefollow.services import plan_editor, plans, rule_tools
from homefollow.services.reporting import report_measurement
from tests.webclient import WebClient, staff_client, text_of


def url(patient, tail=""):
    return f"/clinic/patients/{patient.id}/plan/{tail}"


def nurse(app, email="nurse.a@example.no") -> WebClient:
    return staff_client(app, email)


def form_data(session, patient, section, **changes) -> dict:
    """What the section's form holds when opened, with some fields changed, as posted."""
    content, _version = plans.current_content(session, patient.id)
    values = dict(posted(plan_editor.initial_data(section, content, plan_editor.active_rules(session), "nb")))
    values.update(changes)
    return {k: (v.split(",") if k.endswith("-weekdays") and isinstance(v, str) else v) for k, v in values.items()}


def posted(data, prefix=""):
    """Nested form values as a browser posts them: measurements-0-schedule-times."""
    for key, value in (enumerate(data) if isinstance(data, list) else data.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict) or (isinstance(value, list) and not name.endswith("-weekdays")):
            yield from posted(value, name + "-")
        elif value is True:
            yield name, "y"
        elif value is not False and value is not None:
            yield name, value


def versions(session, patient) -> list[CarePlan]:
    session.expire_all()
    return list(session.exec(select(CarePlan).where(CarePlan.patient_id == patient.id).order_by(CarePlan.version)))


def patient_plan_page(app, login="+4791000001") -> str:
    web = WebClient(app.test_client())
    web.login_patient(login)
    return text_of(web.get("/plan"))


def save(web, patient, section, data, reason="Avtalt med pasienten"):
    return web.submit(url(patient, f"edit/{section}"), {**data, "action": "save", "reason": reason})


def test_patient_page_links_to_the_plan_and_the_overview_lists_every_section(app, world):
    web = nurse(app)
    assert f'href="/clinic/patients/{world.patient_a1.id}/plan/edit"' in \
        web.get(f"/clinic/patients/{world.patient_a1.id}").get_data(as_text=True)
    page = text_of(web.get(url(world.patient_a1, "edit")))
    assert "Planen til Astrid A1" in page
    assert "Hva er viktig for deg?" in page and "Å gå tur med hunden." in page
    for section in plan_editor.SECTIONS:
        assert f'/plan/edit/{section}"' in web.get(url(world.patient_a1, "edit")).get_data(as_text=True)
    for section in plan_editor.SECTIONS:
        web.page(url(world.patient_a1, f"edit/{section}"))  # every section renders and passes the HTML gate
    # Rule parameters are named in words, not by their names in the rule format.
    assert "personlig utgangsverdi 68" in page and "baseline_value" not in page


@pytest.mark.parametrize("section, changes, shown", [
    ("matters", {"what_matters": "Å gå på ski med barnebarna.", "goals-1": "Sove hele natten"},
     ["Å gå på ski med barnebarna.", "Sove hele natten"]),
    ("measurements", {"limits-spo2-yellow_low": "93", "measurements-0-patient_actions-yellow": "Ta fram pusteøvelsene."},
     ["under 93", "Ta fram pusteøvelsene."]),
    ("checkins", {"tasks-0-text": "Ta morgenmedisinen", "tasks-0-schedule-times": "8:00",
                  "tasks-0-schedule-weekdays": "0,1,2,3,4,5,6"},
     ["Ta morgenmedisinen"]),
    ("events", {"anticipated_events-0-title": "KOLS-forverring",
                "anticipated_events-0-patient": "Start beredskapskuren og ring teamet.",
                "anticipated_events-0-responsible": "Sykepleier i teamet"},
     ["Hvis dette skjer", "KOLS-forverring", "Start beredskapskuren og ring teamet.", "Sykepleier i teamet"]),
    ("rules", {"rules-4-yellow_high": "165"}, ["over 165"]),
    ("contacts", {"contacts-0-name": "Dr. Lund", "contacts-0-role": "fastlege", "contacts-0-phone": "926 12 345",
                  "next_review": "2027-03-15"},
     ["Dr. Lund", "15. mars 2027"]),
])
def test_each_section_saves_a_version_the_patient_sees_at_once(app, session, world, section, changes, shown):
    web = nurse(app)
    data = form_data(session, world.patient_a1, section, **changes)
    response = save(web, world.patient_a1, section, data, reason=f"Endret {section}")
    assert response.status_code == 302, text_of(response)
    assert "Versjon 2 av planen er lagret" in text_of(web.get(response.headers["Location"]))
    stored = versions(session, world.patient_a1)
    assert [v.version for v in stored] == [1, 2]
    assert stored[-1].change_reason == f"Endret {section}"
    assert stored[-1].created_by_account_id == world.nurse_a.id
    page = patient_plan_page(app)
    for text in shown:
        assert text in page
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "plan.change",
                                                  AuditEvent.patient_id == world.patient_a1.id)
                         .order_by(AuditEvent.id.desc())).first()
    assert audit.actor_account_id == world.nurse_a.id and audit.detail["reason"] == f"Endret {section}"


def test_a_changed_limit_judges_the_next_reading(app, session, clock, world):
    web = nurse(app)
    save(web, world.patient_a1, "measurements", form_data(session, world.patient_a1, "measurements",
                                                           **{"limits-spo2-yellow_low": "95"}))
    outcome = report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 94},
                                 idempotency_key="k1", reported_by_account_id=None, actor_kind="patient")
    assert outcome.zone == "yellow"


def test_validation_errors_are_specific_tied_to_fields_and_keep_what_was_typed(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "measurements", **{
        "limits-spo2-yellow_low": "87", "measurements-0-patient_actions-yellow": "Min egen tekst",
        "measurements-1-schedule-times": "25:00", "measurements-2-grace_minutes": "mange",
        "limits-bp_systolic-red_high": "abc"})
    response = save(web, world.patient_a1, "measurements", data)
    assert response.status_code == 400
    page, html = text_of(response), response.get_data(as_text=True)
    assert "Den gule nedre grensen må være over den røde nedre grensen (92 %)" in page
    assert "Skriv klokkeslett som TT:MM" in page
    assert "Skriv et helt antall minutter" in page
    assert "Skriv et tall, for eksempel 70,4." in page
    # Each error is tied to its field, and the field keeps what was typed.
    assert 'id="limits-spo2-yellow_low" inputmode="decimal" name="limits-spo2-yellow_low" type="text" value="87"' in html
    assert 'aria-describedby="limits-spo2-yellow_low-hint limits-spo2-yellow_low-error" aria-invalid="true"' in html
    assert 'href="#limits-spo2-yellow_low"' in html
    assert 'value="25:00"' in html and 'value="mange"' in html and 'value="abc"' in html
    assert "Min egen tekst</textarea>" in html
    assert "Avtalt med pasienten</textarea>" in html
    assert len(versions(session, world.patient_a1)) == 1


def test_yellow_limit_above_red_upper_limit_and_implausible_values_are_refused(app, session, world):
    web = nurse(app)
    response = save(web, world.patient_a1, "measurements", form_data(
        session, world.patient_a1, "measurements", **{"limits-bp_systolic-yellow_high": "185",
                                                      "limits-spo2-red_low": "20"}))
    assert response.status_code == 400
    page = text_of(response)
    assert "Den gule øvre grensen må være under den røde øvre grensen (180 mmHg)" in page
    assert "Skriv en verdi mellom 50 % og 100 %." in page
    assert len(versions(session, world.patient_a1)) == 1


def test_a_number_with_a_space_inside_is_asked_about_not_guessed(app, session, world):
    """'9 3' may be 93 or 9,3: the nurse is asked, as on every form (homefollow.values)."""
    web = nurse(app)
    data = form_data(session, world.patient_a1, "measurements", **{
        "limits-spo2-yellow_low": "9 3", "measurements-0-grace_minutes": "1 80",
        "measurements-1-schedule-times": "8:00, 18.30"})
    response = save(web, world.patient_a1, "measurements", data)
    assert response.status_code == 400
    page, html = text_of(response), response.get_data(as_text=True)
    assert page.count("Det er et mellomrom inne i tallet. Skriv tallet på nytt uten mellomrom.") >= 2
    for field_id in ("limits-spo2-yellow_low", "measurements-0-grace_minutes"):
        assert f'id="{field_id}-error"' in html, field_id
    assert 'value="9 3"' in html and 'value="1 80"' in html and 'value="8:00, 18.30"' in html
    assert len(versions(session, world.patient_a1)) == 1


def test_numbers_and_times_are_written_back_as_the_nurse_reads_them(session, world):
    content, _version = plans.current_content(session, world.patient_a1.id)
    rules_ = plan_editor.active_rules(session)
    assert plan_editor.parameter_text(1.5, "nb") == "1,5" and plan_editor.parameter_text(1.5, "en") == "1.5"
    assert plan_editor.parameter_text(True, "nb") == "True" and plan_editor.parameter_text(None, "nb") == ""
    assert plan_editor.fmt_with_unit("weight", 70.25, "nb") == "70,25 kg"
    data = plan_editor.initial_data("measurements", content, rules_, "nb")
    assert data["limits"]["spo2"]["yellow_low"] == "93"
    assert data["measurements"][0]["schedule"]["times"] == ", ".join(t.strftime("%H:%M")
                                                                     for t in content.measurements[0].schedule.times)


def test_reason_is_required_and_nothing_is_saved_without_it(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "matters", what_matters="Noe nytt")
    response = save(web, world.patient_a1, "matters", data, reason="  ")
    assert response.status_code == 400
    page = text_of(response)
    assert "Skriv hvorfor planen endres" in page
    assert 'value="Noe nytt"' not in response.get_data(as_text=True)  # a textarea, so:
    assert "Noe nytt</textarea>" in response.get_data(as_text=True)
    assert len(versions(session, world.patient_a1)) == 1


def test_pydantic_errors_of_the_plan_come_back_on_the_field(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "events", **{
        "anticipated_events-0-title": "", "anticipated_events-0-patient": "Ring 113."})
    response = save(web, world.patient_a1, "events", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="anticipated_events-0-title-error"' in html and "Fyll ut dette." in text_of(response)
    assert "Ring 113.</textarea>" in html


def test_add_another_row_keeps_what_was_typed_and_offers_one_more(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "matters", **{"goals-1": "Gå til butikken"})
    response = web.submit(url(world.patient_a1, "edit/matters"), {**data, "action": "more", "reason": ""})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'value="Gå til butikken"' in html and 'name="goals-2"' in html
    assert len(versions(session, world.patient_a1)) == 1


def test_rules_preview_counts_alerts_with_the_backtest_for_current_and_proposed_parameters(app, session, clock, world):
    patient = world.patient_a1
    clock.advance(days=2)
    for day, value in enumerate([92, 95, 92, 95, 92, 95]):
        report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": value},
                           idempotency_key=f"d{day}", reported_by_account_id=None, actor_kind="patient")
        clock.advance(days=1)
    before = len(rule_tools.backtest_patient(session, clock, patient, "copd.spo2_low").alerts)
    after = len(rule_tools.backtest_patient(session, clock, patient, "copd.spo2_low",
                                            parameters={"yellow_low": 90, "n": 1, "m": 1}).alerts)
    assert (before, after) == (3, 0)

    web = nurse(app)
    data = form_data(session, patient, "rules", **{"rules-1-yellow_low": "90"})
    response = web.submit(url(patient, "edit/rules"), {**data, "action": "preview", "reason": ""})
    assert response.status_code == 200
    page = text_of(response)
    assert "Denne endringen ville gitt 0 varsler i stedet for 3 de siste 30 dagene." in page
    assert 'value="90"' in response.get_data(as_text=True)  # the proposal stays in the form
    assert len(versions(session, patient)) == 1  # a preview saves nothing

    data = form_data(session, patient, "rules", **{"rules-1-yellow_low": "20"})
    response = web.submit(url(patient, "edit/rules"), {**data, "action": "preview", "reason": ""})
    assert response.status_code == 400
    assert "Skriv en verdi mellom 50 % og 100 %." in text_of(response)

    data = form_data(session, patient, "rules")  # nothing changed: no "3 instead of 3"
    page = text_of(web.submit(url(patient, "edit/rules"), {**data, "action": "preview", "reason": ""}))
    assert "Endringen ville ikke ha endret antall varsler de siste 30 dagene: 3 varsler." in page
    assert "i stedet for" not in page


def test_rule_parameters_are_read_as_a_nurse_writes_them_and_shown_back_in_words(app, session, world):
    patient, web = world.patient_a1, nurse(app)
    page = text_of(web.get(url(patient, "edit/rules")))
    assert "Endring på minst" in page and "(amount)" not in page and "(n)" not in page
    assert "Standard: –. Skriv en varighet, for eksempel 3 timer, 2 dager eller 30 minutter." in page

    response = save(web, patient, "rules", form_data(session, patient, "rules", **{
        "rules-1-within": "2 dager", "rules-1-n": "2", "rules-1-m": "3", "rules-2-amount": "1,5",
        "rules-2-baseline_start": "01.10.2026", "rules-2-baseline_end": "14.10.2026", "rules-5-key": "hf.swelling"}))
    assert response.status_code == 302, text_of(response)
    rules = {r.key: r.parameters for r in plans.current_content(session, patient.id)[0].rules}
    assert rules["copd.spo2_low"] == {"yellow_low": 93, "n": 2, "m": 3, "within": "P2D"}
    assert rules["hf.weight_above_dry"]["amount"] == 1.5
    # A trial period "to 14.10" includes that day: it ends at midnight after it, Oslo time.
    assert rules["hf.weight_above_dry"]["baseline_start"] == "2026-09-30T22:00:00+00:00"
    assert rules["hf.weight_above_dry"]["baseline_end"] == "2026-10-14T22:00:00+00:00"

    html = web.get(url(patient, "edit/rules")).get_data(as_text=True)
    assert 'name="rules-1-within" type="text" value="2 dager"' in html  # the form shows it in words
    assert 'value="01.10.2026"' in html and 'value="14.10.2026"' in html  # the dates as written
    # The parts of a combined rule share parameter names; each label says which part it is.
    assert ">Hevelse i bena: skår minst</label>" in html and ">Tungpust: skår minst</label>" in html
    response = save(web, patient, "rules", form_data(session, patient, "rules"), reason="Ingen endring")
    assert "Ingenting i planen ble endret" in text_of(response)  # "2 dager" reads back as P2D


def test_bad_rule_parameters_are_refused_in_the_nurses_language_on_their_fields(app, session, world):
    patient, web = world.patient_a1, nurse(app)
    response = save(web, patient, "rules", form_data(session, patient, "rules", **{
        "rules-0-red_low": "abc", "rules-1-within": "snart", "rules-1-n": "3", "rules-1-m": "2",
        "rules-2-amount": "0", "rules-2-baseline_start": "01.10.2026", "rules-3-red_high": "900",
        "rules-4-yellow_low": "170"}))
    assert response.status_code == 400
    page, html = text_of(response), response.get_data(as_text=True)
    errors = {
        "rules-0-red_low": "Skriv et tall, for eksempel 70,4.",
        "rules-1-within": "Skriv tiden i minutter, timer eller døgn, for eksempel 30 min, 2 t eller 3 d.",
        "rules-1-n": "Antall målinger som trengs kan ikke være flere enn målingene som telles (2).",
        "rules-2-amount": "Skriv et tall større enn null.",
        "rules-2-baseline_end": "Fyll inn begge datoene for prøveperioden, eller ingen av dem.",
        "rules-3-red_high": "Skriv en verdi mellom 50 mmHg og 260 mmHg.",
        "rules-4-yellow_high": "Den gule øvre grensen må være over den gule nedre grensen (170 mmHg).",
    }
    for field_id, message in errors.items():
        assert f'id="{field_id}-error"' in html, field_id
        assert message in page
    # Nothing of the rule book's English, and every typed value is still there.
    assert "must" not in page and "Ikke godtatt av regelen" not in page
    for typed in ("abc", "snart", "01.10.2026", "900", "170"):
        assert f'value="{typed}"' in html
    assert len(versions(session, patient)) == 1


def test_a_date_outside_the_years_a_plan_can_hold_is_refused_in_words_and_nothing_is_lost(app, session, world):
    """'01.01.0001' was read as year 1: a trial period from then made the page fail, a next
    review in year 3000 was saved. Dates are read by homefollow.values now, 1900–2200."""
    patient, web = world.patient_a1, nurse(app)
    response = save(web, patient, "rules", form_data(session, patient, "rules", **{
        "rules-2-baseline_start": "01.01.0001", "rules-2-baseline_end": "31.02.2027", "rules-2-amount": "1,5"}))
    assert response.status_code == 400
    page, html = text_of(response), response.get_data(as_text=True)
    assert 'id="rules-2-baseline_start-error"' in html and 'id="rules-2-baseline_end-error"' in html
    assert "Datoen må være mellom år 1900 og 2200." in page
    assert "Den datoen finnes ikke i kalenderen." in page
    assert 'value="01.01.0001"' in html and 'value="31.02.2027"' in html and 'value="1,5"' in html

    response = save(web, patient, "contacts", form_data(session, patient, "contacts", **{
        "contacts-0-name": "Dr. Lund", "contacts-0-role": "fastlege", "next_review": "15.03.3000"}))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="next_review-error"' in html and "Datoen må være mellom år 1900 og 2200." in text_of(response)
    assert 'value="15.03.3000"' in html and 'value="Dr. Lund"' in html and 'value="fastlege"' in html
    assert len(versions(session, patient)) == 1


def test_the_next_review_is_shown_as_it_is_typed_in_norway(app, session, world):
    patient, web = world.patient_a1, nurse(app)
    assert save(web, patient, "contacts", form_data(session, patient, "contacts", next_review="2027-03-15")
                ).status_code == 302
    assert plan_editor.initial_data("contacts", plans.current_content(session, patient.id)[0], {}, "nb"
                                    )["next_review"] == "15.03.2027"
    response = save(web, patient, "contacts", form_data(session, patient, "contacts"), reason="Ingen endring")
    assert "Ingenting i planen ble endret" in text_of(response)  # "15.03.2027" reads back as the same day


def test_a_safety_decision_dated_by_a_two_digit_year_before_2000_is_refused(session, world):
    content, _version = plans.current_content(session, world.patient_a1.id)
    data = {"new_decisions": [{"limit": "safety.spo2_red:red_low", "value": "84", "decided_on": "01.03.95",
                               "reason": "Hyperkapnisk respirasjonssvikt, blodgass 2026", "decided_by": "Ingrid Berg, lege"}]}
    outcome = plan_editor.build("safety", content, data, plan_editor.active_rules(session), "nb",
                                plan_editor.active_rules(session, layer="safety"), today=date(2026, 3, 10))
    assert outcome.problems == [(("new_decisions", 0, "decided_on"),
                                 "En beslutning må være datert i år 2000 eller senere.")]
    data["new_decisions"][0]["decided_on"] = "01.03.26"
    outcome = plan_editor.build("safety", content, data, plan_editor.active_rules(session), "nb",
                                plan_editor.active_rules(session, layer="safety"), today=date(2026, 3, 10))
    assert outcome.ok and outcome.content.safety_decisions[-1].decided_on == date(2026, 3, 1)


@pytest.mark.parametrize("typed, stored", [("+47 926 12 345", "+4792612345"), ("926-12-345", "+4792612345"),
                                           ("0046 70 123 45 67", "+46701234567")])
def test_a_contacts_phone_is_read_as_on_every_form_and_shown_as_people_write_it(app, session, world, typed, stored):
    patient, web = world.patient_a1, nurse(app)
    response = save(web, patient, "contacts", form_data(session, patient, "contacts", **{
        "contacts-0-name": "Dr. Lund", "contacts-0-role": "fastlege", "contacts-0-phone": typed}))
    assert response.status_code == 302, text_of(response)
    content = plans.current_content(session, patient.id)[0]
    assert content.contacts[0].phone == stored
    shown = values.format_phone(stored)  # '926 12 345', with no-break spaces
    assert plan_editor.initial_data("contacts", content, {}, "nb")["contacts"][0]["phone"] == shown
    assert f"Kontakt lagt til: Dr. Lund (fastlege, {shown})".replace("\xa0", " ") in \
        text_of(web.get(url(patient, "versions")))
    response = save(web, patient, "contacts", form_data(session, patient, "contacts"), reason="Ingen endring")
    assert "Ingenting i planen ble endret" in text_of(response)  # the number as shown reads back as itself


def test_a_phone_number_that_cannot_be_real_is_refused_on_its_field(app, session, world):
    """'12345678' has 8 digits, which was all the editor once asked; no Norwegian number starts with 1."""
    patient, web = world.patient_a1, nurse(app)
    response = save(web, patient, "contacts", form_data(session, patient, "contacts", **{
        "contacts-0-name": "Dr. Lund", "contacts-0-role": "fastlege", "contacts-0-phone": "12345678"}))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="contacts-0-phone-error"' in html and "Dette er ikke et gyldig telefonnummer." in text_of(response)
    assert 'value="12345678"' in html and 'value="Dr. Lund"' in html
    assert len(versions(session, patient)) == 1


@pytest.mark.parametrize("typed, stored", [("1 dag og 12 timer", "P1DT12H"), ("2 uker", "P14D"),
                                           ("1 t, 30 min", "PT1H30M"), ("36 hours", "P1DT12H")])
def test_a_rule_window_is_read_as_a_nurse_writes_it(session, world, typed, stored):
    outcome = _rules_with(session, world.patient_a1, within=typed)
    assert outcome.ok, outcome.problems
    assert outcome.content.rules[1].parameters["within"] == stored


@pytest.mark.parametrize("typed, message", [
    ("2", "Skriv enheten også, for eksempel 3 timer, 2 dager eller 30 minutter."),  # 2 minutes? hours? days?
    ("7 2", "Skriv tiden i minutter, timer eller døgn, for eksempel 30 min, 2 t eller 3 d."),
    ("0 min", "Skriv en varighet lengre enn null, for eksempel 3 timer."),
])
def test_a_rule_window_without_a_clear_length_is_asked_about(session, world, typed, message):
    assert (("rules", 1, "within"), message) in _rules_with(session, world.patient_a1, within=typed).problems


def _rules_with(session, patient, **typed):
    """The rules section as opened, with the second rule's (copd.spo2_low) fields typed over."""
    content, _version = plans.current_content(session, patient.id)
    rules_ = plan_editor.active_rules(session)
    data = plan_editor.initial_data("rules", content, rules_, "nb")
    data["rules"][1].update(typed)
    return plan_editor.build("rules", content, data, rules_, "nb")


def test_versions_say_who_changed_what_when_and_why_in_words(app, session, world):
    web = nurse(app)
    save(web, world.patient_a1, "rules", form_data(session, world.patient_a1, "rules", **{"rules-4-yellow_high": "165"}),
         reason="BT høyt over tid, avtalt med fastlegen")
    save(web, world.patient_a1, "events", form_data(session, world.patient_a1, "events", **{
        "anticipated_events-0-title": "Fall", "anticipated_events-0-gp": "Vurderer medisiner."}), reason="Falt i mars")
    page = text_of(web.get(url(world.patient_a1, "versions")))
    assert "Systolisk blodtrykk, gul øvre grense: 160 mmHg → 165 mmHg" in page
    assert "BT høyt over tid, avtalt med fastlegen" in page and "Nora Nurse" in page
    assert "Forventet hendelse lagt til: «Fall»" in page
    assert "Den første versjonen av planen." in page
    assert page.index("Versjon 3") < page.index("Versjon 2") < page.index("Versjon 1")


def test_describe_changes_names_fields_in_words(session, world):
    old, _version = plans.current_content(session, world.patient_a1.id)
    new = old.model_copy(deep=True)
    new.measurements[1].patient_actions.yellow = "Ring teamet."
    new.rules[2].parameters["baseline_value"] = 69.0
    new.goals.append("Sykle")
    lines = plan_editor.describe_changes(old, new, plan_editor.active_rules(session), "nb")
    assert "Vekt, hva pasienten gjør i gul sone: «Ta en ekstra vanndrivende.» → «Ring teamet.»" in lines
    assert any(line.endswith("personlig utgangsverdi: 68 → 69") for line in lines)
    assert "Mål lagt til: «Sykle»" in lines


def test_print_view_has_the_whole_plan_for_patient_and_gp(app, session, world):
    web = nurse(app)
    save(web, world.patient_a1, "events", form_data(session, world.patient_a1, "events", **{
        "anticipated_events-0-title": "KOLS-forverring", "anticipated_events-0-gp": "Vurderer antibiotika."}))
    response = web.get(url(world.patient_a1, "print"))
    page = text_of(response)
    assert response.status_code == 200 and 'class="clinic printable"' in response.get_data(as_text=True)
    assert "Å gå tur med hunden." in page and "Start beredskapskuren." in page
    assert "KOLS-forverring" in page and "Vurderer antibiotika." in page and "under 92" in page


@pytest.mark.parametrize("tail", ["edit", "edit/rules", "versions", "print"])
def test_staff_of_another_team_get_404(app, session, world, tail):
    web = nurse(app, "nurse.b@example.no")
    assert web.get(url(world.patient_a1, tail)).status_code == 404
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.nurse_b.id)).all()
    assert denied


def test_staff_of_another_team_cannot_save(app, session, world):
    web = nurse(app, "nurse.b@example.no")
    token = web.csrf_token("/clinic/")
    response = web.client.post(url(world.patient_a1, "edit/matters"),
                               data={"csrf_token": token, "action": "save", "reason": "x", "what_matters": "Hack"})
    assert response.status_code == 404
    assert len(versions(session, world.patient_a1)) == 1


@pytest.mark.parametrize("login", ["+4791000001", "+4791000011"])
def test_patient_and_relative_cannot_reach_the_editor(app, session, world, login):
    web = WebClient(app.test_client())
    web.login_patient(login)
    for tail in ("edit", "edit/matters", "versions", "print"):
        assert web.get(url(world.patient_a1, tail)).status_code in (403, 404)
    assert len(versions(session, world.patient_a1)) == 1


def test_unknown_section_is_404(app, world):
    assert nurse(app).get(url(world.patient_a1, "edit/nothing")).status_code == 404


def test_someone_elses_newer_version_is_not_overwritten_silently(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "matters", what_matters="Min versjon")
    response = web.submit(url(world.patient_a1, "edit/matters"),
                          {**data, "action": "save", "reason": "r", "base_version": "0"})
    assert response.status_code == 400
    assert "Noen andre lagret en ny versjon av planen" in text_of(response)
    assert len(versions(session, world.patient_a1)) == 1


def test_old_plans_without_anticipated_events_stay_valid(session, world):
    plan = versions(session, world.patient_a1)[0]
    document = dict(plan.content)
    document.pop("anticipated_events", None)
    document.pop("responsibilities", None)
    content = plans.PlanContent.model_validate(document)
    assert content.anticipated_events == [] and content.responsibilities == []


def test_rules_and_measurements_are_added_from_the_empty_row_and_removed_with_the_checkbox(app, session, world):
    web = nurse(app)
    pulse_row = {"measurements-3-item": "pulse", "measurements-3-schedule-times": "08:00",
                 "measurements-3-schedule-weekdays": "0,2,4", "measurements-3-patient_actions-red": "Ring 113."}
    refused = save(web, world.patient_a1, "measurements", form_data(session, world.patient_a1, "measurements",
                                                                     **pulse_row))
    assert refused.status_code == 400  # a pulse at set times, and nothing notices when it does not come
    assert "Puls er planlagt til faste tider, men ingen regel merker når den ikke kommer" in text_of(refused)
    data = form_data(session, world.patient_a1, "rules", **{"rules-0-remove": "1", "rules-5-key": "general.pulse_red",
                                                            "rules-6-key": "missed.pulse"})
    assert save(web, world.patient_a1, "rules", data).status_code == 302
    data = form_data(session, world.patient_a1, "measurements", **pulse_row)
    assert save(web, world.patient_a1, "measurements", data).status_code == 302
    content, version = plans.current_content(session, world.patient_a1.id)
    assert version == 3
    assert [r.key for r in content.rules] == ["copd.spo2_low", "hf.weight_above_dry", "general.bp_red",
                                              "general.bp_yellow", "general.pulse_red", "missed.pulse"]
    pulse = content.measurement("pulse")
    assert pulse.schedule.weekdays == (0, 2, 4) and pulse.patient_actions.red == "Ring 113."
    page = text_of(web.get(url(world.patient_a1, "versions")))
    assert "Regel lagt til: «Puls i rød sone» (general.pulse_red)" in page
    assert "Regel fjernet: «Oksygenmetning i rød sone (KOLS)» (copd.spo2_red)" in page
    assert "Måling lagt til: Puls, 08:00 (man., ons., fre.)" in page
    # The new pulse rule's red limits are now editable with the measurement.
    assert 'name="limits-pulse-red_high"' in web.get(url(world.patient_a1, "edit/measurements")).get_data(as_text=True)


def test_unticking_every_weekday_is_refused_and_shown(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "measurements", **{"measurements-0-schedule-weekdays": ""})
    response = save(web, world.patient_a1, "measurements", data)
    assert response.status_code == 400
    assert "Velg minst én ukedag." in text_of(response)
    boxes = re.findall(r'<input[^>]*name="measurements-0-schedule-weekdays"[^>]*>', response.get_data(as_text=True))
    assert len(boxes) == 7 and not any("checked" in box for box in boxes)


def test_saving_a_section_without_a_change_saves_no_version(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "matters")
    response = save(web, world.patient_a1, "matters", data, reason="Ser over planen")
    assert response.status_code == 400
    assert "Ingenting i planen ble endret, så ingen ny versjon ble lagret." in text_of(response)
    assert [v.version for v in versions(session, world.patient_a1)] == [1]


def test_every_personal_parameter_of_the_shipped_rules_is_named_in_words():
    from homefollow.services.plan_editor import PARAMETER_LABELS, parameter_text
    from rules.ruleset import default_rules

    names = {n.rsplit(".", 1)[-1] for rule in default_rules().values() for n in rule.overridable}
    assert names - set(PARAMETER_LABELS) == set()
    assert parameter_text("PT3H", "nb") == "3 timer" and parameter_text("PT90M", "en") == "1 hour 30 minutes"


# ---- the form layer: problems on their fields, repeated posts, hostile input ----------------

def test_a_problem_in_a_row_shows_beside_that_rows_field_even_after_an_empty_row(app, session, world):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "events", **{
        "anticipated_events-0-title": "", "anticipated_events-1-title": "Fall",
        "anticipated_events-2-title": "", "anticipated_events-2-gp": "Vurderer medisiner."})
    response = save(web, world.patient_a1, "events", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    # Row 0 is empty and left out, so the plan's second event is the form's third row.
    assert 'id="anticipated_events-2-title-error"' in html and 'href="#anticipated_events-2-title"' in html
    assert 'id="anticipated_events-1-title-error"' not in html and 'id="anticipated_events-0-title-error"' not in html
    assert 'value="Fall"' in html and "Vurderer medisiner.</textarea>" in html
    assert len(versions(session, world.patient_a1)) == 1


def test_a_limit_problem_found_by_the_safety_checks_shows_beside_the_limit_on_the_rules_page(app, session, world):
    web = nurse(app)
    response = save(web, world.patient_a1, "rules", form_data(session, world.patient_a1, "rules",
                                                              **{"rules-0-red_low": "80"}))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="rules-0-red_low-error"' in html and "sikkerhetsnettet" in text_of(response)
    assert len(versions(session, world.patient_a1)) == 1


def test_a_double_submit_saves_one_version_and_keeps_what_was_typed(app, session, world):
    web = nurse(app)
    data = {**form_data(session, world.patient_a1, "matters", what_matters="Å klare trappa"), "base_version": "1"}
    assert save(web, world.patient_a1, "matters", data).status_code == 302
    again = save(web, world.patient_a1, "matters", data)
    assert again.status_code == 400
    assert "Noen andre lagret en ny versjon av planen (versjon 2)" in text_of(again)
    assert "Å klare trappa</textarea>" in again.get_data(as_text=True)
    assert [v.version for v in versions(session, world.patient_a1)] == [1, 2]


@pytest.mark.parametrize("field, hostile, message", [
    ("what_matters", "Å gå\x00 tur", "Feltet inneholder tegn som ikke kan brukes."),
    ("goals-0", "x" * 10_000, "Teksten er for lang (høyst 2000 tegn)."),
])
def test_hostile_input_gets_a_translated_error_on_its_field_and_loses_nothing(app, session, world, field, hostile,
                                                                            message):
    web = nurse(app)
    data = form_data(session, world.patient_a1, "matters", **{field: hostile, "goals-1": "Sove hele natten"})
    response = save(web, world.patient_a1, "matters", data, reason="Avtalt med pasienten")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    field_id = field
    assert f'id="{field_id}-error"' in html and f'href="#{field_id}"' in html and message in text_of(response)
    assert 'value="Sove hele natten"' in html and "Avtalt med pasienten</textarea>" in html
    if len(hostile) > 100:
        assert f'value="{hostile}"' in html  # the long text stays, to be shortened
    assert len(versions(session, world.patient_a1)) == 1

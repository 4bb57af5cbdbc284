"""The patient's and the relative's main paths on a 360 × 740 phone, in Debian's chromium with
JavaScript off, with axe (WCAG 2.2 AA), touch-target and font checks on every page."""

from __future__ import annotations

import re
from datetime import time

from playwright.sync_api import expect
import pytest
from sqlmodel import select

from homefollow.models import Message, Report
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule, Contact, PlanQuestionnaire, PlanTask
from rules.schedule import Schedule
from tests.browser.conftest import check_phone_page as check_page
from tests.browser.test_path_browser import sign_in_patient
from tests.factories import standard_plan

CODE_RE = re.compile(r"Koden din er (\d{6})")


@pytest.fixture
def plan_with_checkins(session, clock, world):
    content = standard_plan(
        questionnaires=[PlanQuestionnaire(key="daily_checkin", schedule=Schedule(times=(time(9, 0),)))],
        tasks=[PlanTask(key="walk", text="Gå en tur på 15 minutter", schedule=Schedule(times=(time(10, 0),)))],
        rules=standard_plan().rules + [AssignedRule(key="copd.symptoms_yellow"), AssignedRule(key="copd.symptoms_red")],
        contacts=[Contact(name="Dr. Lars Eide", role="fastlege", phone="+4777600000")],
    )
    change_plan(session, clock, patient=world.patient_a1, content=content, author_account_id=world.nurse_a.id,
                reason="check-ins", checked=False)
    session.commit()


def test_the_patients_main_path_on_a_phone(live_server_sms, phone, fake_twilio, session, plan_with_checkins):
    base = live_server_sms.url
    page = phone.new_page()

    # Signing in with a code by SMS
    page.goto(f"{base}/login")
    page.get_by_role("link", name="Logg inn med kode på SMS i stedet").click()
    check_page(page, "portal-code-request")
    page.get_by_label("Mobilnummer").fill("910 00 001")
    page.get_by_role("button", name="Send meg en kode").click()
    check_page(page, "portal-code-check")
    code = CODE_RE.search(fake_twilio.to("+4791000001")[-1].body).group(1)
    field = page.get_by_label("Koden fra SMS-en")
    expect(field).to_have_attribute("autocomplete", "one-time-code")
    expect(field).to_have_attribute("inputmode", "numeric")
    field.fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.locator(".error-summary")).to_contain_text("Koden er feil eller kan ikke lenger brukes.")
    check_page(page, "portal-code-wrong")
    page.get_by_label("Koden fra SMS-en").fill(code)
    page.get_by_role("button", name="Logg inn").click()

    # I dag: measurements, the check-in and the walk, each a big button
    expect(page.get_by_role("heading", level=1)).to_have_text("I dag")
    check_page(page, "portal-today")
    page.get_by_role("link", name=re.compile("Daglig egenvurdering")).click()

    # The check-in, one question per page
    expect(page.get_by_text("spørsmål 1 av 6")).to_be_visible()
    check_page(page, "portal-checkin-question")
    page.get_by_role("button", name="Neste").click()  # nothing chosen
    expect(page.locator(".error-summary")).to_contain_text("Velg ett av svarene.")
    check_page(page, "portal-checkin-error")
    page.get_by_label("Som vanlig").check()
    page.get_by_role("button", name="Neste").click()
    page.get_by_label("Mer enn vanlig").check()
    page.get_by_role("button", name="Neste").click()
    page.get_by_label("Ikke mer enn vanlig").check()
    page.get_by_role("button", name="Neste").click()
    page.get_by_label("Som vanlig").check()
    page.get_by_role("button", name="Neste").click()
    # The red flags everyone is asked about: chest pain, fainting.
    expect(page.locator("h1")).to_contain_text("Har du vondt eller trykk i brystet?")
    page.get_by_label("Nei", exact=True).check()
    page.get_by_role("button", name="Neste").click()
    page.get_by_label("Nei", exact=True).check()
    page.get_by_role("button", name="Send svarene").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Gul sone"))
    check_page(page, "portal-checkin-result")

    # A self-care task, not done, with a comment
    page.goto(f"{base}/today")
    page.get_by_role("link", name=re.compile("Gå en tur på 15 minutter")).click()
    check_page(page, "portal-task")
    page.get_by_label("Nei, ikke denne gangen").check()
    page.get_by_label("Kommentar (kan stå tom)").fill("For glatt ute")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("main")).to_contain_text("Ikke gjort, registrert")

    # Blood pressure and pulse from one cuff: one page, one press, both with their zones
    page.goto(f"{base}/report/blood_pressure")
    expect(page.get_by_label("Puls (hvis apparatet viser den)")).to_have_attribute("inputmode", "numeric")
    page.get_by_label("Øverste tall (systolisk)").fill("135")
    page.get_by_label("Nederste tall (diastolisk)").fill("85")
    page.get_by_label("Puls (hvis apparatet viser den)").fill("72")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("main")).to_contain_text("135/85")
    expect(page.locator("main")).to_contain_text("72")
    check_page(page, "portal-bp-pulse-result")

    # Meny → Min plan, Mine målinger, Meldinger, Pårørende, Innstillinger
    page.get_by_role("link", name="Meny").click()
    check_page(page, "portal-menu")
    page.get_by_role("link", name="Min plan").click()
    for text in ("Det som er viktig for meg", "Dr. Lars Eide", "Nora Nurse"):
        expect(page.locator("main")).to_contain_text(text)
    check_page(page, "portal-plan")

    page.goto(f"{base}/history")
    check_page(page, "portal-history")
    page.get_by_role("link", name="30 dager").click()
    expect(page.get_by_role("link", name="30 dager")).to_have_attribute("aria-current", "page")
    expect(page.locator("svg.chart").first).to_be_visible()
    page.get_by_text("Vis målingene som tabell").first.click()  # <details> opens without JavaScript
    expect(page.locator("details.chart-table").first).to_have_attribute("open", "")
    check_page(page, "portal-history-30")

    page.goto(f"{base}/messages")
    check_page(page, "portal-messages")
    page.get_by_role("button", name="Send meldingen").click()  # empty: the error is at the form, in view
    expect(page.locator(".error-summary")).to_contain_text("Skriv en melding")  # top of the page
    expect(page.locator("#body-error")).to_be_in_viewport()  # and at the form, with the cursor in the field
    expect(page.get_by_label("Skriv til teamet")).to_be_focused()
    page.get_by_label("Skriv til teamet").fill("Kan dere ringe meg i morgen?")
    page.get_by_role("button", name="Send meldingen").click()
    expect(page.locator(".notice--success")).to_contain_text("Meldingen er sendt")
    assert session.exec(select(Message.body)).all() == ["Kan dere ringe meg i morgen?"]

    page.goto(f"{base}/relatives")
    check_page(page, "portal-relatives")
    page.get_by_role("link", name="Gi en pårørende tilgang").click()
    check_page(page, "portal-invite")
    page.get_by_label("Navn").fill("Kari Nabo")
    page.get_by_label("Mobilnummer").fill("12")
    page.get_by_label("Hvem er dette for deg?").fill("nabo")
    page.get_by_role("button", name="Gi tilgang").click()
    expect(page.locator(".error-summary")).to_contain_text("Dette er ikke et norsk mobilnummer")
    check_page(page, "portal-invite-error")
    page.get_by_label("Mobilnummer").fill("934 56 789")
    page.get_by_role("button", name="Gi tilgang").click()
    expect(page.locator("main")).to_contain_text("Kari Nabo (nabo)")

    page.goto(f"{base}/settings")
    check_page(page, "portal-settings")
    page.get_by_role("button", name="Logg ut").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logg inn i HomeFollow")


def test_the_relatives_main_path_on_a_phone(live_server, phone, desktop, session, world, plan_with_checkins):
    base = live_server.url
    page = phone.new_page()
    sign_in_patient(page, base, "910 00 011")
    expect(page.locator("main")).to_contain_text("Du hjelper Astrid A1. Du er registrert som: datter.")

    # Reports on the patient's behalf
    page.get_by_role("link", name="Vekt").first.click()
    page.get_by_label("Vekt").fill("68,4")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Grønn sone"))
    report = session.exec(select(Report)).one()
    assert report.reported_by_account_id == world.relative.id

    # The check-in asks her about Astrid, including new confusion
    page.goto(f"{base}/checkin/daily_checkin/1")
    expect(page.locator("h1")).to_contain_text("Hvordan har Astrid A1 det i dag")
    expect(page.get_by_text("spørsmål 1 av 7")).to_be_visible()
    check_page(page, "relative-checkin-question")

    page.goto(f"{base}/history")
    expect(page.locator("main")).to_contain_text("datter")
    check_page(page, "relative-history")
    page.get_by_role("link", name="Meny").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Meny")
    expect(page.locator("main")).not_to_contain_text("Pårørende")  # only the patient decides these
    expect(page.locator("main")).not_to_contain_text("Innstillinger")
    check_page(page, "relative-menu")

    # Astrid revokes the access on her own phone; the daughter is out at her next tap
    patient = desktop.new_page()
    sign_in_patient(patient, base, "910 00 001")
    patient.goto(f"{base}/relatives")
    patient.get_by_role("link", name="Fjern tilgangen for Marit Datter").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Fjerne tilgangen for Marit Datter?")
    patient.get_by_role("button", name="Ja, fjern tilgangen").click()
    expect(patient.locator(".notice--success")).to_contain_text("Marit Datter kan ikke lenger se")
    page.goto(f"{base}/today")
    # The relative is told that the access has ended (issue 20), with the first name they knew
    # and nothing more: no surname, no health data.
    expect(page.get_by_role("heading", level=1)).to_have_text("Tilgangen din er avsluttet")
    expect(page.locator("body")).not_to_contain_text("A1")
    expect(page.locator("main").get_by_role("button", name="Logg ut")).to_be_visible()
    check_page(page, "relative-revoked")

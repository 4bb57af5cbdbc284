"""The whole loop in a real browser: a patient on a small phone, a nurse on a desktop."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session, select

from homefollow.models import Alert
from tests.browser.conftest import check_accessibility, check_phone_page, sign_in_staff
from tests.factories import PASSWORD
from tests.webclient import staff_code


def sign_in_patient(page, base, login):
    page.goto(f"{base}/login")
    page.get_by_label("Mobilnummer").fill(login)
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Logg inn").click()


def test_patient_on_a_phone_reports_red_and_a_nurse_resolves_it(live_server, phone, desktop, engine):
    base = live_server.url
    page = phone.new_page()
    page.goto(f"{base}/login")
    check_phone_page(page, "patient-login")
    sign_in_patient(page, base, "910 00 001")

    expect(page.get_by_role("heading", level=1)).to_have_text("I dag")
    check_phone_page(page, "patient-today")

    page.get_by_role("link", name="Oksygenmetning").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Oksygenmetning")
    field = page.get_by_label("Oksygenmetning")
    expect(field).to_have_attribute("inputmode", "numeric")  # whole numbers: the plain number pad
    check_phone_page(page, "patient-report-spo2")

    field.fill("860")  # a slip of the finger
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".error-summary")).to_contain_text("Du skrev 860. Oksygenmetning kan ikke være høyere enn 100 prosent (%)")
    expect(page.get_by_label("Oksygenmetning")).to_have_value("860")
    check_phone_page(page, "patient-report-error")

    page.get_by_label("Oksygenmetning").fill("86")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rød sone: gjør dette nå")
    page.wait_for_load_state("load")
    emergency = page.get_by_role("link", name="Ring 113 – nødnummer")
    expect(emergency).to_have_attribute("href", "tel:113")
    expect(page.get_by_role("link", name="Ring legevakten 116 117")).to_have_attribute("href", "tel:116117")
    box = emergency.bounding_box()
    assert box["y"] < 740 and box["height"] >= 44  # the first thing on the screen, big enough to hit
    expect(page.locator(".zone-result")).to_contain_text("Ring 113 ved alvorlig pustebesvær.")
    check_phone_page(page, "patient-result-red")

    nurse = desktop.new_page()
    nurse.goto(f"{base}/clinic/login")
    check_accessibility(nurse, "clinic-login")
    nurse.get_by_label("E-post").fill("nurse.a@example.no")
    nurse.get_by_label("Passord").fill(PASSWORD)
    nurse.get_by_role("button", name="Logg inn").click()
    nurse.get_by_label("Kode fra autentiseringsappen").fill(staff_code(live_server.app, "nurse.a@example.no"))
    nurse.get_by_role("button", name="Logg inn").click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text("Triagekø")
    row = nurse.locator("tbody tr").first
    for text in ("Astrid A1", "86%", "< 92%"):
        expect(row).to_contain_text(text)
    check_accessibility(nurse, "clinic-queue")

    row.get_by_role("link", name="Oksygenmetning i rød sone (KOLS)").click()
    check_accessibility(nurse, "clinic-alert")
    nurse.get_by_role("button", name="Kvitter").click()
    expect(nurse.locator(".notice")).to_contain_text("Varselet er kvittert")
    nurse.get_by_label("Råd gitt").check()
    nurse.get_by_label("Notat").fill("Ringte pasienten, startet beredskapskur.")
    nurse.get_by_role("button", name="Avslutt varselet").click()
    expect(nurse.locator("main")).to_contain_text("Ingen åpne varsler")

    with Session(engine) as s:
        alert = s.exec(select(Alert)).one()
        assert (alert.status, alert.outcome) == ("resolved", "advice_given")


def test_resolving_without_an_outcome_shows_an_error_tied_to_the_choice(live_server, desktop, session, clock, world):
    from homefollow.services import reporting

    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight", values={"weight": 71},
                                 idempotency_key="w", reported_by_account_id=None, actor_kind="patient")
    alert_id = session.exec(select(Alert.id)).one()
    session.commit()
    nurse = desktop.new_page()
    sign_in_staff(nurse, live_server, "nurse.a@example.no")
    nurse.goto(f"{live_server.url}/clinic/alerts/{alert_id}")
    nurse.get_by_role("button", name="Avslutt varselet").click()
    expect(nurse.locator(".error-summary")).to_contain_text("Velg hva som kom ut av varselet.")
    check_accessibility(nurse, "clinic-resolve-error")


def test_relative_sees_whom_she_is_helping_on_a_phone(live_server, phone):
    page = phone.new_page()
    sign_in_patient(page, live_server.url, "91000011")
    expect(page.locator("main")).to_contain_text("Du hjelper Astrid A1. Du er registrert som: datter.")
    check_phone_page(page, "relative-today")

"""The whole loop in a real browser: a patient on a small phone, a nurse on a desktop."""

from __future__ import annotations

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

    assert page.get_by_role("heading", level=1).inner_text() == "I dag"
    check_phone_page(page, "patient-today")

    page.get_by_role("link", name="Oksygenmetning").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Oksygenmetning"
    field = page.get_by_label("Oksygenmetning")
    assert field.get_attribute("inputmode") == "numeric"  # whole numbers: the plain number pad
    check_phone_page(page, "patient-report-spo2")

    field.fill("860")  # a slip of the finger
    page.get_by_role("button", name="Send").click()
    assert "Du skrev 860. Oksygenmetning kan ikke være høyere enn 100 prosent (%)" in page.locator(".error-summary").inner_text()
    assert page.get_by_label("Oksygenmetning").input_value() == "860"
    check_phone_page(page, "patient-report-error")

    page.get_by_label("Oksygenmetning").fill("86")
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Rød sone: gjør dette nå"
    page.wait_for_load_state("load")
    emergency = page.get_by_role("link", name="Ring 113 – nødnummer")
    assert emergency.get_attribute("href") == "tel:113"
    assert page.get_by_role("link", name="Ring legevakten 116 117").get_attribute("href") == "tel:116117"
    box = emergency.bounding_box()
    assert box["y"] < 740 and box["height"] >= 44  # the first thing on the screen, big enough to hit
    assert "Ring 113 ved alvorlig pustebesvær." in page.locator(".zone-result").inner_text()
    check_phone_page(page, "patient-result-red")

    nurse = desktop.new_page()
    nurse.goto(f"{base}/clinic/login")
    check_accessibility(nurse, "clinic-login")
    nurse.get_by_label("E-post").fill("nurse.a@example.no")
    nurse.get_by_label("Passord").fill(PASSWORD)
    nurse.get_by_role("button", name="Logg inn").click()
    nurse.get_by_label("Kode fra autentiseringsappen").fill(staff_code(live_server.app, "nurse.a@example.no"))
    nurse.get_by_role("button", name="Logg inn").click()
    assert nurse.get_by_role("heading", level=1).inner_text() == "Triagekø"
    row = nurse.locator("tbody tr").first
    assert "Astrid A1" in row.inner_text() and "86%" in row.inner_text() and "< 88%" in row.inner_text()
    check_accessibility(nurse, "clinic-queue")

    row.get_by_role("link", name="Oksygenmetning i rød sone (KOLS)").click()
    check_accessibility(nurse, "clinic-alert")
    nurse.get_by_role("button", name="Kvitter").click()
    assert "Varselet er kvittert" in nurse.locator(".notice").inner_text()
    nurse.get_by_label("Råd gitt").check()
    nurse.get_by_label("Notat").fill("Ringte pasienten, startet beredskapskur.")
    nurse.get_by_role("button", name="Avslutt varselet").click()
    assert "Ingen åpne varsler" in nurse.locator("main").inner_text()

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
    assert "Velg hva som kom ut av varselet." in nurse.locator(".error-summary").inner_text()
    check_accessibility(nurse, "clinic-resolve-error")


def test_relative_sees_whom_she_is_helping_on_a_phone(live_server, phone):
    page = phone.new_page()
    sign_in_patient(page, live_server.url, "91000011")
    assert "Du hjelper Astrid A1. Du er registrert som: datter." in page.locator("main").inner_text()
    check_phone_page(page, "relative-today")

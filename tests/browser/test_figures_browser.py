"""The figures page in a real browser at 1280×800: record service use on a patient, see the
figures for the team, choose a shorter period; axe each time."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import check_accessibility, sign_in_staff
from tests.outcomes.test_figures_page import service_world


def test_a_nurse_records_an_admission_and_reads_the_figures(live_server, desktop, session, clock, world):
    service_world(session, clock, world)
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.goto(f"{live_server.url}/clinic/patients/{world.patient_a1.id}/service-use")
    page.get_by_label("Sykehusinnleggelse").check()
    page.get_by_label("Startdato").fill("01.10.2025")
    page.get_by_label("Sluttdato").fill("06.10.2025")
    page.get_by_role("button", name="Registrer").click()
    expect(page.locator("body")).to_contain_text("Tjenestebruken er registrert.")
    expect(page.locator("#events-caption + thead + tbody tr")).to_have_count(1)
    check_accessibility(page, "service-use")

    page.get_by_role("link", name="Tall").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tall")
    expect(page.locator("svg[role=img]")).to_have_count(10)
    bed_days = page.locator("table").first.locator("tbody tr", has_text="Sengedøgn")
    expect(bed_days.locator("td").first).to_have_text("5")
    check_accessibility(page, "figures")

    page.get_by_label("Periode for tjenestetallene").select_option("30")
    page.get_by_role("button", name="Vis").click()
    expect(page.locator("body")).to_contain_text("Tjenesten, siste 30 dager")
    burden = page.locator("#burden-caption").locator("xpath=..").locator("tbody tr")
    expect(burden).to_have_count(2)
    check_accessibility(page, "figures-30-days")

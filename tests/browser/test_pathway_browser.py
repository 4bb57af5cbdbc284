"""The pathway dashboard and recording a step in a real browser at 1280×800, with axe."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from homefollow.services import pathway
from homefollow.services.audit import Actor
from tests.browser.conftest import check_accessibility, sign_in_staff


def test_a_nurse_finds_an_overdue_patient_and_records_the_consent(live_server, desktop, session, clock, world):
    pathway.record_referral(session, clock, world.patient_a1, referred_on=date(2026, 2, 1).isoformat(),
                            referred_by="UNN", actor=Actor(world.nurse_a.id, "staff"))
    session.commit()  # services flush; the test owns its set-up's transaction
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.get_by_role("link", name="Forløp", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forløp: forfalte steg")
    overdue = page.locator("#overdue-table tbody tr")
    expect(overdue).to_have_count(2)  # consent and the mapping conversation
    expect(overdue.first).to_contain_text("Samtykke")
    expect(overdue.first).to_contain_text("30 dager")
    check_accessibility(page, "pathway-dashboard")

    overdue.first.get_by_role("link", name="Astrid A1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forløp – Astrid A1")
    page.get_by_role("button", name="Registrer samtykket").click()  # no tick for follow-up: refused
    expect(page.locator(".error-summary")).to_contain_text("Hjemmeoppfølging kan ikke starte uten samtykke")
    check_accessibility(page, "pathway-consent-error")

    page.get_by_label("Dato for samtykket").fill("2026-03-09")
    page.get_by_label("Hjemmeoppfølging med målinger og egenrapportering").check()
    page.get_by_label("Samtykke gitt av").select_option("patient")
    page.get_by_role("button", name="Registrer samtykket").click()
    expect(page.locator("body")).to_contain_text("Samtykket er registrert")
    expect(page.locator("#pathway-current")).to_have_text("Nåværende steg: Venter på kartleggingssamtale")
    check_accessibility(page, "pathway-patient")

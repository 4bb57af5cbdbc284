"""Going away and coming home on a 360 × 740 phone, JavaScript off, with axe (WCAG 2.2 AA),
touch-target, font and reflow checks on each page. Controls are found by their place, not their
words, so the test reads the same before and after the Norwegian catalogue has them."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from homefollow.models import Patient
from homefollow.services import pauses
from tests.browser.conftest import check_phone_page
from tests.browser.test_path_browser import sign_in_patient


def test_the_patient_pauses_for_a_holiday_and_comes_home_on_a_phone(live_server, phone, session, world):
    base = live_server.url
    page = phone.new_page()
    sign_in_patient(page, base, "910 00 001")
    expect(page.get_by_role("heading", level=1)).to_have_text("I dag")

    page.goto(f"{base}/settings")
    expect(page.locator("#away-title")).to_be_visible()
    check_phone_page(page, "pause-settings")
    page.locator("#last_day").fill("2026-03-20")  # what a date field sends
    page.locator('form[action="/away"] button[type=submit]').click()

    expect(page.get_by_role("heading", level=1)).to_have_text("I dag")
    expect(page.locator("#paused")).to_contain_text("2026")
    check_phone_page(page, "pause-today")
    session.expire_all()
    patient = session.get(Patient, world.patient_a1.id)
    assert patient.status == "paused" and pauses.last_day(patient) == date(2026, 3, 20)
    session.commit()

    page.goto(f"{base}/away")
    expect(page.locator("#paused")).to_be_visible()
    check_phone_page(page, "pause-away")
    page.locator('#paused form[action="/away/end"] button').click()
    expect(page.get_by_role("heading", level=1)).to_have_text("I dag")
    expect(page.locator("#paused")).to_have_count(0)
    session.expire_all()
    assert session.get(Patient, world.patient_a1.id).status == "active"

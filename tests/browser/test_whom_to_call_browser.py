"""Whom to call out of hours, on a 360 × 740 phone in Debian's chromium with JavaScript off:
the yellow result page and the messages page, checked with axe (WCAG 2.2 AA), touch targets,
font size and reflow."""

from __future__ import annotations

from datetime import datetime, UTC
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.conftest import check_phone_page
from tests.browser.test_path_browser import sign_in_patient


def test_a_yellow_result_out_of_hours_on_a_phone(live_server, phone, clock):
    clock.set(datetime(2026, 3, 13, 16, 0, tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC))  # Friday
    base = live_server.url
    page = phone.new_page()
    sign_in_patient(page, base, "910 00 001")
    page.goto(f"{base}/report/blood_pressure")
    page.get_by_label("Øverste tall").fill("165")
    page.get_by_label("Nederste tall").fill("85")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gul sone")
    expect(page.locator(".whom-to-call")).to_contain_text("Teamet er stengt nå og åpner igjen mandag kl. 08:00.")
    expect(page.locator(".whom-to-call")).to_contain_text("Haster det, ring legevakten på 116")
    expect(page.locator('.whom-to-call a.call-button[href="tel:116117"]')).to_be_visible()
    check_phone_page(page, "patient-result-yellow-out-of-hours")

    page.goto(f"{base}/messages")
    expect(page.locator("#messages-warning")).to_contain_text("Teamet er stengt nå og åpner igjen mandag kl. 08:00.")
    page.get_by_label("Skriv til teamet").fill("Jeg har vondt i brystet siden i går kveld")
    page.get_by_role("button", name="Send meldingen").click()
    expect(page.locator("body")).to_contain_text("Meldingen er sendt til teamet.")
    check_phone_page(page, "patient-messages-sent-out-of-hours")

"""The staff's "Where you are signed in" page in a real browser, checked with axe: reached from
the name in the header, another session ended without JavaScript."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import check_accessibility, sign_in_staff


def test_the_sessions_page_is_accessible_and_ends_another_session(live_server, desktop, world):
    other = desktop.browser.new_context()
    other_page = other.new_page()
    sign_in_staff(other_page, live_server, "nurse.a@example.no")
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.get_by_role("link", name="Nora Nurse").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Der du er logget inn")
    expect(page.locator(".card-list > li")).to_have_count(2)
    expect(page.locator(".card-list")).to_contain_text("Denne enheten")
    check_accessibility(page, "clinic-sessions")
    page.set_viewport_size({"width": 320, "height": 700})  # a phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("button", name="Avslutt økten på").click()
    expect(page.locator(".notice")).to_contain_text("Økten er avsluttet")
    expect(page.locator(".card-list > li")).to_have_count(1)
    other_page.goto(f"{live_server.url}/clinic/")
    expect(other_page.get_by_role("heading", level=1)).to_have_text("Innlogging for ansatte")
    expect(other_page.locator(".notice")).to_contain_text("Du er logget ut")
    other.close()

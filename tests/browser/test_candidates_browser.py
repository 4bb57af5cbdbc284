"""The candidate list in a real browser at 1280×800: choose a threshold, sort by name; axe each time."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import check_accessibility, sign_in_staff
from tests.outcomes.test_candidates import _history


def test_a_nurse_lists_and_sorts_the_candidates(live_server, desktop, session, clock, world):
    _history(session, clock, world)
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.get_by_role("link", name="Kandidater").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kandidater for hjemmeoppfølging")
    expect(page.locator("tbody tr")).to_have_count(2)
    check_accessibility(page, "candidates")

    page.get_by_label("Minst så mange innleggelser på 12 måneder").select_option("5")
    page.get_by_role("button", name="Vis").click()
    page.get_by_role("link", name="Navn").click()
    expect(page.locator("tbody th")).to_have_text(["Fredrik Five", "Heidi Heavy", "Sigurd Six"])
    check_accessibility(page, "candidates-by-name")

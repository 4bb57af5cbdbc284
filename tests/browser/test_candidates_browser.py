"""The candidate list in a real browser at 1280×800: choose a threshold, sort by name; axe each time."""

from __future__ import annotations

from tests.browser.conftest import check_accessibility, sign_in_staff
from tests.outcomes.test_candidates import _history


def test_a_nurse_lists_and_sorts_the_candidates(live_server, desktop, session, clock, world):
    _history(session, clock, world)
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.get_by_role("link", name="Kandidater").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Kandidater for hjemmeoppfølging"
    assert page.locator("tbody tr").count() == 2
    check_accessibility(page, "candidates")

    page.get_by_label("Minst så mange innleggelser på 12 måneder").select_option("5")
    page.get_by_role("button", name="Vis").click()
    page.get_by_role("link", name="Navn").click()
    names = page.locator("tbody th").all_inner_texts()
    assert names == ["Fredrik Five", "Heidi Heavy", "Sigurd Six"]
    check_accessibility(page, "candidates-by-name")

"""The paged triage queue and patient overview in a real browser with JavaScript off, on a
laptop and on a phone: the Next link keeps the filters, the counts of the other pages are on
the page, and every page passes axe (WCAG 2.2 AA); on the phone nothing scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from tests.browser.conftest import check_accessibility, check_reflow, sign_in_staff
from tests.factories import make_patient, standard_plan
from tests.test_triage import make_alert


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_nurse_pages_through_the_queue_and_the_overview(live_server, engine, clock, world, request, device):
    with Session(engine) as session:
        for i in range(55):
            patient = make_patient(session, clock, world.team_a, f"Pasient {i:03d}", None, standard_plan(),
                                   world.nurse_a)
            session.commit()
            make_alert(session, clock, patient, "red" if i < 3 else "yellow", minutes_ago=10 + i)
    page = request.getfixturevalue(device).new_page()

    def check(page, name):
        if device == "phone":  # the clinic's phone standard (test_clinic_phone_browser): no sideways scrolling
            check_reflow(page)
        check_accessibility(page, name)
    sign_in_staff(page, live_server, "nurse.a@example.no")

    page.goto(f"{live_server.url}/clinic/?status=open")
    expect(page.locator("#queue-paging")).to_contain_text("1–50")
    expect(page.locator("tbody tr").first).to_contain_text("Rød")
    check(page, f"queue-page-1-{device}")
    page.get_by_role("link", name="Neste", exact=True).click()
    page.wait_for_url("**page=2**")
    assert "status=open" in page.url
    expect(page.locator("#queue-paging")).to_contain_text("51–55")
    expect(page.locator("#queue-paging")).to_contain_text("3")  # the reds on page 1 are counted here
    check(page, f"queue-page-2-{device}")

    page.goto(f"{live_server.url}/clinic/patients?sort=name")
    expect(page.locator("tbody tr")).to_have_count(50)
    check(page, f"patients-page-1-{device}")
    page.get_by_role("link", name="Neste", exact=True).click()
    page.wait_for_url("**page=2**")
    assert "sort=name" in page.url
    expect(page.locator("tbody tr")).to_have_count(7)  # 55 + Astrid and Arne
    check(page, f"patients-page-2-{device}")

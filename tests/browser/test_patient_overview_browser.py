"""A nurse goes from the patient overview to a patient's page and adds a note, on a desktop
and on a tablet, with JavaScript off; every page passes axe (WCAG 2.2 AA)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from homefollow.models import PatientNote
from homefollow.services import reporting
from tests.browser.conftest import _context, check_accessibility, sign_in_staff

TABLET = {"width": 768, "height": 1024}


@pytest.fixture
def tablet(browser, request):
    yield from _context(browser, TABLET, request)


@pytest.mark.parametrize("device", ["desktop", "tablet"])
def test_overview_to_patient_page_to_a_note(live_server, engine, clock, world, request, device):
    with Session(engine) as session:
        reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight", values={"weight": 71},
                                     idempotency_key="w", reported_by_account_id=world.relative.id,
                                     actor_kind="relative")
        session.commit()  # services flush; the test owns its set-up's transaction
    page = request.getfixturevalue(device).new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")

    page.get_by_role("link", name="Pasienter").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pasienter")
    first_row = page.locator("tbody tr").first
    expect(first_row).to_contain_text("Gul")
    expect(first_row).to_contain_text("Astrid A1")
    check_accessibility(page, f"clinic-patients-{device}")

    page.get_by_label("Trafikklys", exact=True).select_option("yellow")
    page.get_by_role("button", name="Vis", exact=True).click()
    page.wait_for_url("**light=yellow**")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Astrid A1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Astrid A1")
    expect(page.locator("#timeline-title + form + div")).to_contain_text("datter")
    check_accessibility(page, f"clinic-patient-{device}")

    page.get_by_role("button", name="Legg til notatet").click()  # empty: refused, explained
    expect(page.locator(".error-summary")).to_contain_text("Skriv notatet.")
    check_accessibility(page, f"clinic-patient-note-error-{device}")
    page.get_by_label("Nytt notat").fill("Ringte Astrid. Tar ekstra vanndrivende i dag.")
    page.get_by_role("button", name="Legg til notatet").click()
    expect(page.locator("main")).to_contain_text("Notatet er lagret.")
    expect(page.locator(".table--timeline")).to_contain_text("Ringte Astrid. Tar ekstra vanndrivende i dag.")
    check_accessibility(page, f"clinic-patient-note-saved-{device}")
    with Session(engine) as session:
        assert session.exec(select(PatientNote.body)).one() == "Ringte Astrid. Tar ekstra vanndrivende i dag."

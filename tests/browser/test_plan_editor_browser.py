"""The plan editor in a real browser at 1280×800 without JavaScript: a nurse changes a limit,
the patient's plan page changes at once, and every page of the editor passes axe."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import check_accessibility, sign_in_staff
from tests.factories import PASSWORD


def test_nurse_changes_a_limit_and_the_patient_sees_it(live_server, desktop, world):
    base = live_server.url
    patient_id = world.patient_a1.id
    nurse = desktop.new_page()
    assert nurse.viewport_size == {"width": 1280, "height": 800}
    sign_in_staff(nurse, live_server, "nurse.a@example.no")

    nurse.goto(f"{base}/clinic/patients/{patient_id}")
    nurse.get_by_role("link", name="Plan", exact=True).click()
    expect(nurse.get_by_role("heading", level=1)).to_have_text("Planen til Astrid A1")
    check_accessibility(nurse, "clinic-plan-overview")

    for section in ("matters", "checkins", "events", "rules", "contacts"):
        nurse.goto(f"{base}/clinic/patients/{patient_id}/plan/edit/{section}")
        check_accessibility(nurse, f"clinic-plan-{section}")

    nurse.goto(f"{base}/clinic/patients/{patient_id}/plan/edit")
    nurse.get_by_role("link", name=re.compile(r"^Endre.*Målinger, grenser og hva som gjøres")).click()
    check_accessibility(nurse, "clinic-plan-measurements")

    # A yellow limit inside the red zone is refused, next to the field, with what was typed kept.
    limit = nurse.get_by_label("Oksygenmetning, gul nedre grense (%)")
    limit.fill("87")
    nurse.get_by_label("Begrunnelse for endringen").fill("Lavere mål etter samtale med lege")
    nurse.get_by_role("button", name="Lagre en ny versjon").click()
    expect(nurse.locator(".error-summary")).to_contain_text(
        "Den gule nedre grensen må være over den røde nedre grensen (92 %)")
    expect(nurse.get_by_label("Oksygenmetning, gul nedre grense (%)")).to_have_value("87")
    expect(nurse.get_by_label("Begrunnelse for endringen")).to_have_value("Lavere mål etter samtale med lege")
    check_accessibility(nurse, "clinic-plan-measurements-error")

    nurse.get_by_label("Oksygenmetning, gul nedre grense (%)").fill("94")
    nurse.get_by_role("button", name="Lagre en ny versjon").click()
    expect(nurse.locator(".notice--success")).to_contain_text("Versjon 2 av planen er lagret")

    # The rules preview, then the versions and the print view.
    nurse.goto(f"{base}/clinic/patients/{patient_id}/plan/edit/rules")
    nurse.get_by_role("button", name="Vis virkningen").click()
    expect(nurse.locator("body")).to_contain_text("Endringen ville ikke ha endret antall varsler de siste 30 dagene: 0 varsler.")
    check_accessibility(nurse, "clinic-plan-rules-preview")
    nurse.goto(f"{base}/clinic/patients/{patient_id}/plan/versions")
    expect(nurse.locator("main")).to_contain_text("Oksygenmetning, gul nedre grense: 93 % → 94 %")
    check_accessibility(nurse, "clinic-plan-versions")
    nurse.goto(f"{base}/clinic/patients/{patient_id}/plan/print")
    check_accessibility(nurse, "clinic-plan-print")

    patient = desktop.new_page()
    patient.goto(f"{base}/login")
    patient.get_by_label("Mobilnummer").fill("91000001")
    patient.get_by_label("Passord").fill(PASSWORD)
    patient.get_by_role("button", name="Logg inn").click()
    patient.goto(f"{base}/plan")
    expect(patient.locator("main")).to_contain_text("under 94")


def test_a_next_review_typed_as_in_norway_survives_saving_the_contacts_again(live_server, desktop, world):
    """The next review is typed and shown as 15.03.2027; saving the contacts section again must
    keep it (it was once a date input, which drops a value not written 2027-03-15, so a second
    save erased the review date without a word)."""
    base = live_server.url
    contacts = f"{base}/clinic/patients/{world.patient_a1.id}/plan/edit/contacts"
    nurse = desktop.new_page()
    sign_in_staff(nurse, live_server, "nurse.a@example.no")
    nurse.goto(contacts)
    # "Add another row" looks secondary (white), not like "Save" beside it (a CSS rule once made
    # every secondary <button> look like the main one).
    background = "b => getComputedStyle(b).backgroundColor"
    assert nurse.get_by_role("button", name="Legg til en rad til").evaluate(background) == "rgb(255, 255, 255)"
    assert nurse.get_by_role("button", name="Lagre en ny versjon").evaluate(background) != "rgb(255, 255, 255)"
    nurse.get_by_label("Dato for neste gjennomgang av planen").fill("15.03.2027")
    nurse.get_by_label("Begrunnelse for endringen").fill("Gjennomgang avtalt med fastlegen")
    nurse.get_by_role("button", name="Lagre en ny versjon").click()
    expect(nurse.locator(".notice--success")).to_be_visible()

    nurse.goto(contacts)
    expect(nurse.get_by_label("Dato for neste gjennomgang av planen")).to_have_value("15.03.2027")
    nurse.get_by_label("Begrunnelse for endringen").fill("Ny telefon til hjemmesykepleien")
    nurse.get_by_role("button", name="Lagre en ny versjon").click()
    nurse.goto(contacts)
    expect(nurse.get_by_label("Dato for neste gjennomgang av planen")).to_have_value("15.03.2027")
    nurse.goto(f"{base}/clinic/patients/{world.patient_a1.id}/plan/versions")
    expect(nurse.locator("main")).not_to_contain_text("15.03.2027 → –")

"""The clinician portal on a 360 px phone, as an on-call nurse uses it: no page scrolls
sideways, the queue's alerts are cards whose buttons can be reached and pressed, axe passes."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import Session, select

from homefollow.models import Alert
from homefollow.services import plan_templates
from tests.browser.conftest import check_accessibility, check_reflow, sign_in_staff
from tests.test_triage import make_alert


def test_an_on_call_nurse_acknowledges_a_red_alert_on_a_phone(live_server, phone, session, clock, world, engine):
    red = make_alert(session, clock, world.patient_a1, "red", minutes_ago=12, title="SpO2 i rød sone")
    make_alert(session, clock, world.patient_a2, "yellow", minutes_ago=90, title="Vekt mangler")
    red_id = red.id
    page = phone.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    expect(page.get_by_role("heading", level=1)).to_have_text("Triagekø")
    check_reflow(page)
    check_accessibility(page, "phone-triage-queue")
    button = page.get_by_role("button", name="Kvitter varselet for Astrid A1")
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["height"] >= 44
    button.click()
    expect(page.locator("main")).to_contain_text("Kvittert av Nora Nurse")
    with Session(engine) as s:
        assert s.exec(select(Alert.status).where(Alert.id == red_id)).one() == "acknowledged"

    page.get_by_role("link", name="SpO2 i rød sone").click()
    check_reflow(page)
    check_accessibility(page, "phone-alert")
    page.get_by_role("link", name="Astrid A1").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Astrid A1"))
    check_reflow(page)


def test_the_team_admins_pages_fit_a_phone(live_server, phone, session, clock, world):
    plan_templates.sync_defaults(session, clock)
    copd = next(t for t in plan_templates.shared_templates(session) if t.key == "copd")
    session.commit()  # services flush; the test owns its set-up's transaction
    page = phone.new_page()
    sign_in_staff(page, live_server, "admin.a@example.no")
    for path in ("/clinic/teams", f"/clinic/plan-templates/{copd.id}", "/clinic/candidates", "/clinic/pathway"):
        page.goto(f"{live_server.url}{path}")
        check_reflow(page)
    check_accessibility(page, "phone-pathway")

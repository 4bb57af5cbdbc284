"""The triage queue in a real browser at 1280×800: filter, tick two yellow alerts, acknowledge
them together, assign one to oneself; axe after each step. And, with JavaScript on, the
refresh script loads without console errors."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session, select

from homefollow.models import Alert
from tests.browser.conftest import DESKTOP, check_accessibility, sign_in_staff
from tests.test_triage import make_alert


def sign_in_nurse(page, server):
    sign_in_staff(page, server, "nurse.a@example.no")
    expect(page.get_by_role("heading", level=1)).to_have_text("Triagekø")


def test_a_nurse_filters_acknowledges_two_yellow_alerts_and_takes_one(live_server, desktop, session, clock, world,
                                                                     engine):
    make_alert(session, clock, world.patient_a1, "red", minutes_ago=30, title="Rødt varsel")
    first = make_alert(session, clock, world.patient_a1, "yellow", minutes_ago=90, title="Gult varsel 1")
    second = make_alert(session, clock, world.patient_a2, "yellow", minutes_ago=60, title="Gult varsel 2")
    first_id, second_id = first.id, second.id
    page = desktop.new_page()
    sign_in_nurse(page, live_server)
    check_accessibility(page, "triage-queue")

    page.get_by_label("Alvorlighet", exact=True).select_option("yellow")
    page.get_by_role("button", name="Vis").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tbody")).not_to_contain_text("Rødt varsel")
    expect(page.locator("#queue-counts")).to_contain_text("Rød: 1")  # the counts keep the whole scope
    check_accessibility(page, "triage-queue-filtered")

    page.get_by_label("Velg varselet for Astrid A1").check()
    page.get_by_label("Velg varselet for Arne A2").check()
    page.get_by_role("button", name="Kvitter de valgte").click()
    expect(page.locator(".notice").first).to_contain_text("2 varsler kvittert.")
    expect(page.get_by_label("Alvorlighet", exact=True)).to_have_value("yellow")  # back on the same filtered queue
    expect(page.locator("tbody tr", has_text="Kvittert av Nora Nurse")).to_have_count(2)
    check_accessibility(page, "triage-queue-acknowledged")

    page.get_by_role("button", name="Tildel meg varselet for Arne A2").click()
    expect(page.locator(".notice").first).to_contain_text("Varselet er tildelt deg.")
    page.get_by_label("Status", exact=True).select_option("mine")
    page.get_by_role("button", name="Vis").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("Gult varsel 2")
    check_accessibility(page, "triage-queue-mine")

    with Session(engine) as s:
        got = {a.id: (a.status, a.assigned_to_account_id) for a in s.exec(select(Alert))}
    assert got[first_id] == ("acknowledged", None)
    assert got[second_id] == ("acknowledged", world.nurse_a.id)


def test_the_refresh_script_loads_without_console_errors(live_server, browser, session, clock, world):
    make_alert(session, clock, world.patient_a1, "yellow", title="Gult varsel")
    context = browser.new_context(viewport=DESKTOP, locale="nb-NO", java_script_enabled=True)
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        loaded = []
        page.on("response", lambda r: loaded.append((r.url, r.status)) if r.url.endswith("/queue.js") else None)
        sign_in_nurse(page, live_server)
        page.wait_for_load_state("load")
        assert loaded and loaded[0][1] == 200
        assert page.evaluate("() => document.getElementById('queue-live').getAttribute('aria-live')") == "polite"
        assert errors == []
    finally:
        context.close()

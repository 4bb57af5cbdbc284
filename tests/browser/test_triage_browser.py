"""The triage queue in a real browser at 1280×800: filter, tick two yellow alerts, acknowledge
them together, assign one to oneself; axe after each step. With JavaScript on, the refresh
script loads without console errors. A full queue fits a 1280 px laptop without sideways
scrolling, and on a 390 px phone the first red alert is on the first screen."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect
from sqlmodel import Session, select

from homefollow.models import Alert
from tests.browser.conftest import DESKTOP, check_accessibility, sign_in_staff
from tests.test_triage import make_alert

PHONE_390 = {"width": 390, "height": 844}


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


LONG = "Oksygenmetning under planens grense tre ganger på rad, og pasienten svarte ja på tungpust i sjekken"


def _a_full_queue(session, clock, world):
    """A queue as a busy morning has it: red and yellow, long titles, one snoozed, one assigned."""
    make_alert(session, clock, world.patient_a2, "yellow", minutes_ago=400, title=LONG, occurrences=3)
    make_alert(session, clock, world.patient_a1, "yellow", minutes_ago=200, title="Vekt over tørrvekt + 2 kg",
               assigned_to_account_id=world.admin_a.id)
    make_alert(session, clock, world.patient_a1, "red", minutes_ago=30, title=LONG)
    make_alert(session, clock, world.patient_a2, "red", minutes_ago=5, title="Blodtrykk over 180")
    make_alert(session, clock, world.patient_a1, "yellow", minutes_ago=60, title="Ulest melding",
               snoozed_until=clock.now() + timedelta(hours=2), snooze_reason="Ringer etter legevisitten")


def test_the_queue_fits_a_1280_laptop_without_sideways_scrolling(live_server, desktop, session, clock, world):
    _a_full_queue(session, clock, world)
    page = desktop.new_page()
    sign_in_nurse(page, live_server)
    page.wait_for_load_state("load")
    assert page.viewport_size == {"width": 1280, "height": 800}
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1280, f"the queue page is {width}px wide at 1280 px"
    assign = page.get_by_role("button", name=re.compile("^Tildel meg varselet for"))
    expect(assign).to_have_count(5)
    for box in [assign.nth(i).bounding_box() for i in range(5)]:
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, f"an assign button is cut: {box}"
    # The paging status and the value are still in each row, folded under what fired.
    expect(page.locator("tbody tr").first).to_contain_text("Varsling:")
    expect(page.locator("tbody tr").first).to_contain_text("Verdi:")
    # The filters stand in a row above the queue, without a click.
    expect(page.get_by_label("Alvorlighet", exact=True)).to_be_visible()
    check_accessibility(page, "triage-queue-1280")


def test_on_a_phone_the_first_red_alert_is_on_the_first_screen(live_server, browser, session, clock, world):
    _a_full_queue(session, clock, world)
    context = browser.new_context(viewport=PHONE_390, locale="nb-NO", java_script_enabled=False, device_scale_factor=1)
    try:
        page = context.new_page()
        sign_in_nurse(page, live_server)
        page.wait_for_load_state("load")
        first = page.locator("tbody tr").first
        expect(first).to_have_class(re.compile(r"\brow--red\b"))  # red alerts come first
        top = first.bounding_box()["y"]
        assert top < PHONE_390["height"], f"the first red alert starts at {top}px, below the first screen"
        # The filters are one line away, and still work without JavaScript.
        page.get_by_text("Filtrer køen").click()
        page.get_by_label("Alvorlighet", exact=True).select_option("yellow")
        page.get_by_role("button", name="Vis").click()
        expect(page.locator("tbody tr")).to_have_count(3)
        # The rows are there before the style sheet on a loaded machine: measure the styled page.
        page.wait_for_load_state("load")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE_390["width"]
        check_accessibility(page, "triage-queue-390")
    finally:
        context.close()

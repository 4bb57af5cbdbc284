"""Every page of both portals, in a real browser, on the demo data: axe-clean at 1280 px and at
390 px, and no sideways scrolling at 320 CSS px (a 1280 px screen at 400 % zoom, WCAG 1.4.10).

The pages are found, not listed by hand: each signed-in person's pages are crawled from their
home page, following every link (JavaScript off), at most a few addresses per route; the pages
only reached through a form are reached through that form. Every GET route of app.url_map must
then be visited or be in SKIPPED with the reason, so a new page cannot slip past this sweep.

The sweeps run on whichever xdist worker is free. Each writes the routes it reached to a file
all workers share, and the worker that finds every sweep's file there does the route check.

One demo database (homefollow.demo, as `make run` loads it, at a fixed moment) per worker serves
every sweep run there: loading it takes a while, and the sweeps only read, apart from the forms
they submit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import datetime, UTC
from urllib.parse import urldefrag, urlsplit

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from homefollow import create_app
from homefollow.clock import FixedClock
from homefollow.db import make_engine
from homefollow.demo import DEMO_PASSWORD, demo_totp_secret, load_demo
from homefollow.migrate import upgrade
from homefollow.services.staff_auth import code_at
from tests.browser.conftest import LiveServer, check_accessibility
from tests.conftest import app_config

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # a Monday, 14:00 in Oslo (as the screenshots)
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 320, "height": 640}

# GET routes this sweep does not visit, and why.
SKIPPED = {
    "static": "files, not pages",
    "health.healthz": "JSON for the load balancer, not a page",
    "api.openapi": "JSON (the API description), not a page",
    "clinician.figures_csv": "a CSV download, not a page",
    "clinician.patient_figures_csv": "a CSV download, not a page",
    "clinician.fhir_export": "a FHIR JSON download, not a page",
    "clinician.change_service_use": "only for a service use a clinician entered by hand, and the demo has none "
                                    "(its form is the one of /clinic/patients/<id>/service-use, which is swept)",
    "clinician.login_enrol": "only shown while an account without an authenticator signs in for the first time; "
                             "the demo accounts all have one (tests/browser/test_staff_signin_browser.py covers it)",
}
# Addresses that answer 404 on purpose, with a page of their own.
NOT_FOUND_PAGES = {"/clinic/set-password/not-a-valid-token"}
# Routes worth more than one address: every report form, every section of the plan editor.
PER_ROUTE = {"patient.report": 12, "clinician.plan_section": 12, "clinician.patient_detail": 3,
             "patient.task": 3, "patient.checkin_question": 2, "clinician.staff_report": 3}

SCROLL_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
WIDEST = """
() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(0, 4).map(el => el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined ? '.' + el.className.trim().replace(/ +/g, '.') : ''))
"""

# Two rules outside the WCAG tags that the sweep asks for as well: a page's landmarks of one kind
# are told apart by their names (figures, patient and pathway pages repeat sections), and a
# scrolling box can be reached with the keyboard.
EXTRA_RULES = ("landmark-unique", "scrollable-region-focusable")

@pytest.fixture(scope="session")
def demo_server():
    """Session-wide, so that a worker loads the demo once however its sweeps come between other tests."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/every-page.sqlite")
        upgrade(engine)
        load_demo(engine, echo=lambda line: None, now=NOW)
        server = LiveServer(create_app(app_config(engine, FixedClock(NOW), DEMO=True, TESTING=False,
                                                  PROPAGATE_UNEXPECTED_ERRORS=False)))
        yield server
        server.stop()
        engine.dispose()


def _context(browser, viewport, storage_state=None):
    context = browser.new_context(viewport=viewport, locale="nb-NO", java_script_enabled=False, bypass_csp=True,
                                  device_scale_factor=1, storage_state=storage_state)
    context.set_default_timeout(15000)
    return context


def _endpoint(server, url: str) -> str | None:
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != server.url:
        return None
    try:
        endpoint, _args = server.app.url_map.bind("localhost").match(parts.path, method="GET")
    except RequestRedirect:
        return None
    except HTTPException:
        return None
    return endpoint


class Sweep:
    """Visits pages at 1280 px, follows their links, and judges each at 1280, 390 and 320 px."""

    def __init__(self, server, browser, wide_context, who: str):
        self.server, self.browser, self.who = server, browser, who
        self.wide = wide_context.new_page()
        state = wide_context.storage_state()
        self.phone_context = _context(browser, PHONE, state)
        self.narrow_context = _context(browser, NARROW, state)
        self.phone = self.phone_context.new_page()
        self.narrow = self.narrow_context.new_page()
        self.problems: list[str] = []
        self.seen: set[str] = set()
        self.per_route: Counter = Counter()
        self.visited: dict[str, list[str]] = {}  # endpoint → paths

    def close(self):
        self.phone_context.close()
        self.narrow_context.close()

    def name(self, path: str, size: str) -> str:
        slug = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-").replace("&", "-") or "home"
        return f"every-{self.who}-{slug}-{size}"[:150]

    def judge_current(self, page, path: str, size: str) -> None:
        """axe on whatever the page shows now (a page reached through a form)."""
        try:
            check_accessibility(page, self.name(path, size), EXTRA_RULES)
        except AssertionError as e:
            self.problems.append(f"{self.who} {path} at {size} px: {e}")

    def judge(self, path: str) -> None:
        """The page at this address at 390 px (axe) and 320 px (no sideways scrolling)."""
        self.phone.goto(self.server.url + path)
        self.judge_current(self.phone, path, "390")
        self.narrow.goto(self.server.url + path)
        self.narrow.wait_for_load_state("load")
        width, screen = self.narrow.evaluate(SCROLL_WIDTH)
        if width > screen:
            self.problems.append(f"{self.who} {path} at 320 px: the page is {width}px wide: "
                                 f"{self.narrow.evaluate(WIDEST)}")

    def record(self, page) -> tuple[str | None, str]:
        endpoint = _endpoint(self.server, page.url)
        parts = urlsplit(page.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if endpoint:
            self.visited.setdefault(endpoint, []).append(path)
        return endpoint, path

    def crawl(self, *starts: str) -> None:
        todo = list(starts)
        while todo:
            path = todo.pop(0)
            if path in self.seen:
                continue
            self.seen.add(path)
            response = self.wide.goto(self.server.url + path)
            requested = _endpoint(self.server, self.server.url + path)
            if requested:  # a route that redirects (/, /choose with one patient) was visited too
                self.visited.setdefault(requested, []).append(path)
            endpoint, final = self.record(self.wide)
            if response is None or (response.status >= 400 and path not in NOT_FOUND_PAGES):
                self.problems.append(f"{self.who} {path}: HTTP {response.status if response else '?'}")
                continue
            if final != path:  # a redirect: judge where it led, once
                if final in self.seen:
                    continue
                self.seen.add(final)
            self.judge_current(self.wide, final, "1280")
            self.judge(final)
            for href in self.wide.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
                href = urldefrag(href)[0]
                target = _endpoint(self.server, href)
                if target is None or target in SKIPPED:
                    continue
                parts = urlsplit(href)
                link = parts.path + (f"?{parts.query}" if parts.query else "")
                if link in self.seen or link in todo:
                    continue
                if self.per_route[target] >= PER_ROUTE.get(target, 1):
                    continue
                self.per_route[target] += 1
                todo.append(link)

    def at_200_percent_zoom(self) -> None:
        """The page the wide tab shows, at 180 CSS px (a 360 px phone at 200 % zoom): the call
        buttons, "Ring 113" first, wrap inside the screen (WCAG 1.4.10)."""
        _endpoint_, path = self.record(self.wide)
        context = _context(self.browser, {"width": 180, "height": 370}, self.wide.context.storage_state())
        try:
            page = context.new_page()
            page.goto(self.server.url + path)
            page.wait_for_load_state("load")
            width, screen = page.evaluate(SCROLL_WIDTH)
            calls = page.locator("a[href^='tel:']")
            assert calls.count() > 0, f"{path}: no call buttons"
            cut = [(calls.nth(i).inner_text(), box) for i in range(calls.count())
                   if (box := calls.nth(i).bounding_box()) and box["x"] + box["width"] > screen + 0.5]
            if width > screen or cut:
                self.problems.append(f"{self.who} {path} at 180 px: the page is {width}px wide, cut: {cut}: "
                                     f"{page.evaluate(WIDEST)}")
        finally:
            context.close()

    def judge_after_form(self) -> None:
        """A page reached by submitting a form: judge it where it stands, and at the other sizes by address."""
        self.wide.wait_for_load_state("load")
        _endpoint_, path = self.record(self.wide)
        self.judge_current(self.wide, path, "1280")
        self.judge(path)


def sign_in_patient(page, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Mobilnummer").fill(login)
    page.get_by_label("Passord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_load_state("load")


def staff_password_step(page, base: str, email: str) -> None:
    page.goto(f"{base}/clinic/login")
    page.get_by_label("E-post").fill(email)
    page.get_by_label("Passord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_load_state("load")


def sign_in_staff(page, base: str, email: str) -> None:
    staff_password_step(page, base, email)
    page.get_by_label("Kode fra autentiseringsappen").fill(code_at(demo_totp_secret(email), NOW))
    page.get_by_role("button", name="Logg inn").click()
    page.wait_for_load_state("load")


ALL_SWEEPS = {"signed-out", "patient", "red-result", "relative", "nurse", "admin"}


@pytest.fixture(scope="session")
def reached(tmp_path_factory):
    """A directory this run's xdist workers share (their own temporary directories' parent):
    a file per sweep that ran, with the routes it reached."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    path = base / "every-page-reached"
    path.mkdir(exist_ok=True)
    return path


def _run(sweep: Sweep, steps, reached) -> list[str]:
    """Run a sweep's steps; returns the problems found (axe violations, sideways scrolling)."""
    try:
        steps(sweep)
    finally:
        sweep.close()
        part = reached / f"{sweep.who}.part"
        part.write_text(json.dumps(sorted(sweep.visited)))
        part.replace(reached / f"{sweep.who}.json")  # whole, for another worker reading it now
    return sweep.problems


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problems:\n\n" + "\n\n".join(problems)


@pytest.fixture(scope="module", autouse=True)
def every_get_route_is_visited_or_skipped_with_a_reason(demo_server, reached):
    """Once every sweep has run (on any worker, in any order): no GET route was left out unnoticed.
    Reported as an error at the module's teardown on the worker that ran the last sweep (which
    sees every sweep's file then); a worker that finishes earlier leaves the check to it."""
    yield
    files = {f.stem: f for f in reached.glob("*.json")}
    if set(files) != ALL_SWEEPS:
        return  # a sweep is still running elsewhere, or a part of the module was chosen (-k)
    visited = set().union(*(json.loads(f.read_text()) for f in files.values()))
    routes = {rule.endpoint for rule in demo_server.app.url_map.iter_rules() if "GET" in rule.methods}
    missed = sorted(routes - visited - set(SKIPPED))
    assert missed == [], f"GET routes no sweep reached (add a start page or a reason in SKIPPED): {missed}"


def test_every_signed_out_page(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        def steps(sweep):
            sweep.crawl("/login", "/clinic/login", "/clinic/set-password/not-a-valid-token")
            page = sweep.wide
            page.goto(f"{demo_server.url}/login/code")
            page.get_by_label("Mobilnummer").fill("91000001")
            page.get_by_role("button", name="Send meg en kode").click()
            sweep.judge_after_form()  # /login/code/check
            staff_password_step(page, demo_server.url, "kari.nilsen@demo.homefollow.no")
            sweep.judge_after_form()  # /clinic/login/code
        sweep = Sweep(demo_server, browser, context, "signed-out")
        problems = _run(sweep, steps, reached)
        assert not problems, _report(problems)
        assert {"patient.login", "clinician.login", "patient.login_code_check"} <= set(sweep.visited)
    finally:
        context.close()


def test_every_page_of_a_patient(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        sign_in_patient(context.new_page(), demo_server.url, "91000001")  # Astrid, heart failure

        def steps(sweep):
            sweep.crawl("/", "/today", "/menu", "/report", "/choose", "/away", "/plan/versions",
                        "/relatives/invite", "/settings/phone", "/checkin/daily_checkin", "/tasks/walk")
            page = sweep.wide
            page.goto(f"{demo_server.url}/report/weight")
            page.locator("main form input:not([type=hidden])").first.fill("68,4")  # the weight
            page.get_by_role("button", name="Send").click()
            sweep.judge_after_form()  # /report/result/<id>
            sweep.at_200_percent_zoom()
            page.goto(f"{demo_server.url}/settings/phone")
            page.get_by_label("Nytt mobilnummer").fill("91999999")
            page.get_by_role("button", name="Send en kode til det nye nummeret").click()
            sweep.judge_after_form()  # /settings/phone/check
        sweep = Sweep(demo_server, browser, context, "patient")
        problems = _run(sweep, steps, reached)
        assert not problems, _report(problems)
        assert {"patient.today", "patient.report_result", "patient.my_plan"} <= set(sweep.visited)
    finally:
        context.close()


def test_a_red_result_page_reflows_at_200_percent_zoom(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        sign_in_patient(context.new_page(), demo_server.url, "91000002")  # Ola, COPD

        def steps(sweep):
            page = sweep.wide
            page.goto(f"{demo_server.url}/report/spo2")
            page.get_by_label("Oksygenmetning").fill("84")
            page.get_by_role("button", name="Send").click()
            sweep.judge_after_form()  # a red result: "Ring 113" first
            sweep.at_200_percent_zoom()
        sweep = Sweep(demo_server, browser, context, "red-result")
        problems = _run(sweep, steps, reached)
        assert not problems, _report(problems)
    finally:
        context.close()


def test_every_page_of_a_relative(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        sign_in_patient(context.new_page(), demo_server.url, "91000011")  # Marit, Astrid's daughter
        sweep = Sweep(demo_server, browser, context, "relative")
        problems = _run(sweep, lambda sweep: sweep.crawl("/", "/choose", "/today"), reached)
        assert not problems, _report(problems)
        assert "patient.today" in sweep.visited
    finally:
        context.close()


def test_every_page_of_a_nurse(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        sign_in_staff(context.new_page(), demo_server.url, "kari.nilsen@demo.homefollow.no")

        def steps(sweep):
            sweep.crawl("/clinic/", "/clinic/patients", "/clinic/pathway", "/clinic/candidates", "/clinic/figures",
                        "/clinic/teams", "/clinic/account/sessions")
        sweep = Sweep(demo_server, browser, context, "nurse")
        problems = _run(sweep, steps, reached)
        assert not problems, _report(problems)
        assert {"clinician.queue", "clinician.alert_detail", "clinician.patient_detail"} <= set(sweep.visited)
    finally:
        context.close()


def test_every_page_of_a_team_admin(demo_server, browser, reached):
    context = _context(browser, WIDE)
    try:
        sign_in_staff(context.new_page(), demo_server.url, "ole.hansen@demo.homefollow.no")
        sweep = Sweep(demo_server, browser, context, "admin")
        problems = _run(sweep, lambda sweep: sweep.crawl("/clinic/teams", "/clinic/admin/outbox",
                                                         "/clinic/plan-templates"), reached)
        assert not problems, _report(problems)
        assert {"clinician.teams", "clinician.outbox", "clinician.plan_templates_list"} <= set(sweep.visited)
    finally:
        context.close()


"""Browser tests: Debian's chromium driven by Playwright against a live server on loopback.

Pages are exercised with JavaScript disabled (the portals must work without it) and checked
with axe-core for WCAG 2.2 AA violations.
"""

from __future__ import annotations

import os
import re
import shutil
import threading

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from homefollow import create_app
from tests.conftest import ARTIFACTS, app_config

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or run .ci/run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def live_server(engine, clock, world):
    server = LiveServer(create_app(app_config(engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False)))
    yield server
    server.stop()


@pytest.fixture
def live_server_sms(engine, clock, world, fake_twilio):
    """A live server that sends SMS through the real twilio library to the fake Twilio."""
    from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

    server = LiveServer(create_app(app_config(
        engine, clock, PROPAGATE_UNEXPECTED_ERRORS=False, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER, TWILIO_API_BASE_URL=fake_twilio.base_url)))
    yield server
    server.stop()


def _context(browser, viewport, request):
    context = browser.new_context(viewport=viewport, locale="nb-NO", java_script_enabled=False, bypass_csp=True,
                                  device_scale_factor=1)
    context.set_default_timeout(15000)
    yield context
    context.close()


@pytest.fixture
def phone(browser, request):
    yield from _context(browser, PHONE, request)


@pytest.fixture
def desktop(browser, request):
    yield from _context(browser, DESKTOP, request)


_mirrors: dict[tuple[int, int], Page] = {}  # (width, height) → a JavaScript-enabled page, kept for the session


def _mirror(page: Page) -> Page:
    """A JavaScript-enabled page of `page`'s size on its origin, with axe loaded.

    One per size is kept for the session: a new context, page and axe (600 kB of script) per
    check cost more than axe's run. set_content replaces the whole document but keeps the window,
    and so axe, which builds its picture of the document afresh on every run."""
    from urllib.parse import urlsplit

    from axe_playwright_python.base import AXE_SCRIPT

    size = page.viewport_size
    key = (size["width"], size["height"])
    mirror = _mirrors.get(key)
    if mirror is None or mirror.is_closed() or mirror.context.browser is not page.context.browser:
        context = page.context.browser.new_context(java_script_enabled=True, bypass_csp=True, viewport=size,
                                                   locale="nb-NO")
        mirror = _mirrors[key] = context.new_page()
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    if not mirror.url.startswith(origin + "/"):
        mirror.goto(f"{origin}/static/homefollow.css")  # same origin, so the stylesheet loads
    if not mirror.evaluate("() => typeof window.axe === 'object'"):
        mirror.evaluate(AXE_SCRIPT)
    return mirror


def check_accessibility(page, name: str, extra_rules: tuple[str, ...] = ()) -> None:
    """axe-core WCAG 2.2 AA (and `extra_rules`, axe rules outside those tags): zero violations;
    a screenshot of the page is kept for review.

    axe needs JavaScript, which the pages under test run without, so the page is copied,
    exactly as the browser shows it, into a JavaScript-enabled page of the same size."""
    from axe_playwright_python.base import AxeResults

    page.wait_for_load_state("load")  # the stylesheet is applied before anything is judged
    # A page still loading reads as an empty document, which axe would pass: judge only whole pages.
    expect(page.locator("body")).to_contain_text(re.compile(r"\S"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    mirror = _mirror(page)
    mirror.set_content(page.content(), wait_until="load")
    # Details of the violations only: those of the passes, never read, took axe longer to collect
    # than its checks.
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"],
               "rules": {rule: {"enabled": True} for rule in extra_rules}}
    violations = mirror.evaluate("options => axe.run(document, options).then(results => results.violations)",
                                 options)
    assert violations == [], f"{name}: {AxeResults({'violations': violations}).generate_report()}"


TOUCH_TARGET_CHECK = """
() => [...document.querySelectorAll('a, button, input:not([type=hidden]), select, textarea, label.checkbox__label')]
  .filter(el => el.offsetParent !== null)
  .filter(el => !(el.tagName === 'A' && el.closest('p') && el.closest('p').textContent.trim() !== el.textContent.trim()))
  .map(el => { const r = el.getBoundingClientRect(); return {text: (el.textContent || el.name || '').trim().slice(0, 40), w: r.width, h: r.height}; })
  .filter(t => t.w < 44 || t.h < 44)
"""


def check_touch_targets(page) -> None:
    """Every control an old, shaky finger must hit is at least 44 × 44 px (links inside
    running text excepted, as WCAG 2.5.8 does)."""
    page.wait_for_load_state("load")
    small = page.evaluate(TOUCH_TARGET_CHECK)
    assert small == [], f"touch targets under 44 px: {small}"


def check_font_size(page) -> None:
    page.wait_for_load_state("load")
    size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 18, f"base font is {size}px"


REFLOW_CHECK = """
() => {
  const screen = window.innerWidth;
  const culprits = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > screen + 0.5)
    .slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
  return [document.documentElement.scrollWidth, screen, culprits];
}
"""


def check_reflow(page) -> None:
    """Nothing is wider than the screen (WCAG 1.4.10): no sideways scrolling on a small phone."""
    page.wait_for_load_state("load")
    width, screen, culprits = page.evaluate(REFLOW_CHECK)
    assert width <= screen, f"the page is {width}px wide on a {screen}px screen: {culprits}"


def check_phone_page(page, name: str) -> None:
    """Everything a patient's page on a small phone must pass."""
    check_accessibility(page, name)
    check_touch_targets(page)
    check_font_size(page)
    check_reflow(page)


def sign_in_staff(page, server: LiveServer, email: str, password: str | None = None) -> None:
    """Staff sign-in in the browser: the password, then the authenticator code at the app's clock."""
    from tests.factories import PASSWORD
    from tests.webclient import staff_code

    page.goto(f"{server.url}/clinic/login")
    page.get_by_label("E-post").fill(email)
    page.get_by_label("Passord").fill(password or PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    page.get_by_label("Kode fra autentiseringsappen").fill(staff_code(server.app, email))
    page.get_by_role("button", name="Logg inn").click()

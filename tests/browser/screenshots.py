"""Screenshots of the main pages for docs/screenshots/, made with the browser tests' set-up.

Run with `make screenshots`. A fresh SQLite database in a temporary directory gets the demo data
as of a fixed moment, so the pictures only change when the pages do. The patient pages are taken
at phone size (360 × 740, full page), the clinician pages at desktop size (1280 × 800; the
triage queue also as the laptop's first screen, 20b).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, UTC
from pathlib import Path

from playwright.sync_api import sync_playwright

from homefollow import create_app
from homefollow.clock import FixedClock
from homefollow.db import make_engine
from homefollow.demo import DEMO_PASSWORD, demo_totp_secret, load_demo
from homefollow.migrate import upgrade
from homefollow.services.staff_auth import code_at
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, LiveServer
from tests.conftest import app_config

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # a Monday, 14:00 in Oslo


class Shooter:
    def __init__(self, base: str, out: Path):
        self.base, self.out, self.count = base, out, 0

    def shot(self, page, name: str) -> None:
        page.wait_for_load_state("load")  # a click returns once the next page is on its way, not loaded
        page.screenshot(path=str(self.out / f"{name}.png"), full_page=True)
        self.count += 1
        print(f"  {name}.png", flush=True)

    def sign_in_patient(self, page, login: str) -> None:
        page.goto(f"{self.base}/login")
        page.get_by_label("Mobilnummer").fill(login)
        page.get_by_label("Passord").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Logg inn").click()


def patient_pages(s: Shooter, page) -> None:
    base = s.base
    page.goto(f"{base}/login")
    s.shot(page, "01-login")
    page.get_by_role("link", name="Logg inn med kode på SMS i stedet").click()
    s.shot(page, "02-login-code")

    s.sign_in_patient(page, "91000001")  # Astrid, heart failure
    s.shot(page, "03-today")
    page.goto(f"{base}/report/pulse")
    page.get_by_label("Puls").fill("900")
    page.get_by_role("button", name="Send").click()
    s.shot(page, "04-report-implausible")
    page.goto(f"{base}/report/weight")
    s.shot(page, "05-report-weight")
    page.goto(f"{base}/report/blood_pressure")  # the blood-pressure form at 360 px, whatever it becomes
    s.shot(page, "05b-report-blood-pressure")
    page.locator("main form input:not([type=hidden])").first.fill("71,4")  # the weight
    page.get_by_role("button", name="Send").click()
    s.shot(page, "06-result-yellow")
    page.goto(f"{base}/checkin/daily_checkin")
    s.shot(page, "07-checkin-question")
    page.goto(f"{base}/tasks/walk")
    s.shot(page, "08-task")
    page.goto(f"{base}/plan")
    s.shot(page, "09-plan")
    page.goto(f"{base}/history?period=30")
    s.shot(page, "10-history")
    page.goto(f"{base}/messages")
    s.shot(page, "11-messages")
    page.goto(f"{base}/relatives")
    s.shot(page, "12-relatives")
    page.goto(f"{base}/settings")
    s.shot(page, "13-settings")
    page.get_by_role("button", name="Logg ut").click()

    s.sign_in_patient(page, "91000002")  # Ola, COPD
    page.goto(f"{base}/report/spo2")
    page.get_by_label("Oksygenmetning").fill("86")
    page.get_by_role("button", name="Send").click()
    s.shot(page, "14-result-red")
    page.get_by_role("button", name="Logg ut").click()

    s.sign_in_patient(page, "91000011")  # Marit, Astrid's daughter
    s.shot(page, "15-relative-today")
    page.get_by_role("button", name="Logg ut").click()


def sign_in_staff(s: Shooter, page, email: str) -> None:
    page.goto(f"{s.base}/clinic/login")
    page.get_by_label("E-post").fill(email)
    page.get_by_label("Passord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    # The second step: what `flask demo code` prints, at the screenshots' fixed moment.
    page.get_by_label("Kode fra autentiseringsappen").fill(code_at(demo_totp_secret(email), NOW))
    page.get_by_role("button", name="Logg inn").click()


def clinician_pages(s: Shooter, page) -> None:
    sign_in_staff(s, page, "kari.nilsen@demo.homefollow.no")
    s.shot(page, "20-clinic-queue")
    # The queue as a 1280 × 800 laptop shows it: no sideways scrolling, "Tildel meg" in view.
    page.screenshot(path=str(s.out / "20b-clinic-queue-1280x800.png"), full_page=False)
    s.count += 1
    print("  20b-clinic-queue-1280x800.png", flush=True)
    page.locator("table a[href*='/alerts/']").first.click()
    s.shot(page, "21-clinic-alert")
    page.locator("h1 a").click()  # the patient
    s.shot(page, "22-clinic-patient")
    patient_url = page.url
    page.goto(f"{patient_url}/plan/edit")
    s.shot(page, "23-clinic-plan-edit")
    page.goto(f"{patient_url}/plan/versions")
    s.shot(page, "24-clinic-plan-versions")
    page.goto(f"{s.base}/clinic/patients")
    s.shot(page, "25-clinic-patients")
    page.goto(f"{s.base}/clinic/candidates")
    s.shot(page, "26-clinic-candidates")
    page.get_by_role("button", name="Logg ut").click()
    # The team admin's pages.
    sign_in_staff(s, page, "ole.hansen@demo.homefollow.no")
    page.goto(f"{s.base}/clinic/plan-templates")
    s.shot(page, "27-clinic-plan-templates")
    page.get_by_role("link", name="KOLS").first.click()
    page.get_by_role("link", name="Tilbaketest på malens pasienter").click()
    rule = page.get_by_label("Regelversjon")
    rule.select_option(value=next(v for v in rule.locator("option").evaluate_all("os => os.map(o => o.value)")
                                  if v.startswith("copd.spo2_low:")))
    page.get_by_role("button", name="Kjør tilbaketesten").click()
    s.shot(page, "29-clinic-template-backtest")
    page.goto(f"{s.base}/clinic/teams")
    s.shot(page, "28-clinic-teams")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/screenshots.sqlite")
        upgrade(engine)
        load_demo(engine, echo=lambda line: None, now=NOW)
        clock = FixedClock(NOW)
        server = LiveServer(create_app(app_config(engine, clock, DEMO=True, TESTING=False,
                                                  PROPAGATE_UNEXPECTED_ERRORS=False)))
        shooter = Shooter(server.url, OUT)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for viewport, pages in ((PHONE, patient_pages), (DESKTOP, clinician_pages)):
                    context = browser.new_context(viewport=viewport, locale="nb-NO", java_script_enabled=False,
                                                  device_scale_factor=1)
                    context.set_default_timeout(15000)
                    pages(shooter, context.new_page())
                    context.close()
                browser.close()
        finally:
            server.stop()
            engine.dispose()
    print(f"Wrote {shooter.count} screenshots to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

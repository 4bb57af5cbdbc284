"""Staff sign-in with an authenticator code, enrolment and the members page in a real browser
at desktop size (1280 × 800), checked with axe."""

from __future__ import annotations

from playwright.sync_api import expect
import pyotp
from sqlmodel import Session, select

from homefollow.models import Account
from homefollow.services.staff_auth import STEP_SECONDS, time_step
from tests.browser.conftest import check_accessibility, sign_in_staff
from tests.factories import PASSWORD, make_staff
from tests.webclient import staff_code


def test_sign_in_with_a_code_and_a_wrong_code_are_accessible(live_server, desktop):
    page = desktop.new_page()
    page.goto(f"{live_server.url}/clinic/login")
    page.get_by_label("E-post").fill("nurse.a@example.no")
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kode fra autentiseringsappen")
    check_accessibility(page, "clinic-login-code")

    page.get_by_label("Kode fra autentiseringsappen").fill("12")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.locator(".error-summary")).to_contain_text("Koden er seks sifre")
    expect(page.get_by_label("Kode fra autentiseringsappen")).to_have_value("12")
    check_accessibility(page, "clinic-login-code-error")

    page.get_by_label("Kode fra autentiseringsappen").fill(staff_code(live_server.app, "nurse.a@example.no"))
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Triagekø")


def test_enrolment_page_is_accessible_and_enables_the_app(live_server, desktop, engine, session, clock, world):
    make_staff(session, clock, "ny@example.no", "Nina Ny", world.team_a, "nurse", totp=False)
    session.commit()
    page = desktop.new_page()
    page.goto(f"{live_server.url}/clinic/login")
    page.get_by_label("E-post").fill("ny@example.no")
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sett opp totrinnsinnlogging")
    qr = page.get_by_role("img", name="QR-kode for autentiseringsappen")
    box = qr.bounding_box()
    assert box["width"] >= 150 and box["y"] + box["height"] <= 800 * 2  # big enough to scan from the screen
    check_accessibility(page, "clinic-login-enrol")

    with Session(engine) as s:
        secret = s.exec(select(Account.totp_secret).where(Account.login == "ny@example.no")).one()
    expect(page.locator("code")).to_contain_text(secret.replace(" ", "")[:4])
    code = pyotp.TOTP(secret, interval=STEP_SECONDS).generate_otp(time_step(clock.now()))
    page.get_by_label("Kode fra autentiseringsappen").fill(code)
    page.get_by_role("button", name="Slå på og logg inn").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Triagekø")
    expect(page.locator(".notice").first).to_contain_text("Totrinnsinnlogging er satt opp")


def test_members_pages_are_accessible(live_server, desktop, world):
    page = desktop.new_page()
    sign_in_staff(page, live_server, "admin.a@example.no")
    page.goto(f"{live_server.url}/clinic/teams")
    page.get_by_role("link", name="Administrer medlemmene").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Medlemmer av Team A")
    check_accessibility(page, "clinic-members")
    page.get_by_role("button", name="Legg til i teamet").click()
    expect(page.locator(".error-summary")).to_contain_text("Skriv e-postadressen.")
    check_accessibility(page, "clinic-members-error")
    page.get_by_role("link", name="Nora Nurse").click()
    check_accessibility(page, "clinic-member")

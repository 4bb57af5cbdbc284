"""A team admin on a 1280×800 desktop edits the team's settings, without JavaScript; the Teams
page and every form, error states included, pass axe (WCAG 2.2 AA)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlmodel import Session

from homefollow.escalation import parse_policy
from homefollow.models import Team
from tests.browser.conftest import check_accessibility, sign_in_staff


def test_an_admin_edits_hours_phones_rota_and_policy(live_server, desktop, engine, world):
    base, team_id = live_server.url, world.team_a.id
    page = desktop.new_page()
    sign_in_staff(page, live_server, "admin.a@example.no")
    page.goto(f"{base}/clinic/teams")
    expect(page.get_by_role("heading", level=1)).to_have_text("Team")
    check_accessibility(page, "clinic-teams")

    # Opening hours: a mistake is explained at its field and what was typed stays.
    page.get_by_role("link", name="Endre åpningstidene").click()
    check_accessibility(page, "clinic-team-hours")
    page.locator("#mon_closes").fill("07:00")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator("#mon_closes-error")).to_contain_text("Stengetiden må være senere enn åpningstiden.")
    expect(page.locator("#mon_closes")).to_have_value("07:00")
    expect(page.locator("#mon_closes")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page, "clinic-team-hours-error")
    page.locator("#mon_closes").fill("16:00")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator(".notice").first).to_contain_text("Åpningstidene er lagret.")

    # Phones.
    page.goto(f"{base}/clinic/teams/{team_id}/phones")
    check_accessibility(page, "clinic-team-phones")
    page.get_by_label("Vakttelefon").fill("123")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator(".error-summary")).to_contain_text("gyldig norsk telefonnummer")
    check_accessibility(page, "clinic-team-phones-error")

    # The on-call rota: a shift without a person is explained.
    page.goto(f"{base}/clinic/teams/{team_id}/on-call")
    check_accessibility(page, "clinic-team-rota")
    page.locator("#rota-0-weekdays-0").check()
    page.locator("#rota-0-shift_start").fill("08:00")
    page.locator("#rota-0-shift_end").fill("16:00")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator("#rota-0-people-0-error")).to_contain_text("Velg hvem som tar denne vakten")
    check_accessibility(page, "clinic-team-rota-error")
    page.locator("#rota-0-people-0").select_option(label="Nora Nurse")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator(".notice").first).to_contain_text("Vaktlisten er lagret.")

    # The escalation policy: an empty fallback is refused, then a preview in words, then saved.
    page.goto(f"{base}/clinic/teams/{team_id}/escalation")
    check_accessibility(page, "clinic-team-policy")
    page.locator("#fallback-0-kind").select_option("")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator("#fallback-0-kind-error")).to_contain_text("Reserven kan ikke være tom")
    check_accessibility(page, "clinic-team-policy-error")
    page.locator("#fallback-0-kind").select_option("phone")
    page.locator("#fallback-0-number").fill("900 00 000")
    page.locator("#fallback-0-label").fill("Vakttelefon")
    page.get_by_role("button", name="Forhåndsvis").click()
    # The number is written with no-break spaces (it never breaks); the match treats them as spaces.
    expect(page.locator(".preview")).to_contain_text("Røde varsler utenfor åpningstiden: Vakttelefon 900 00 000 straks.")
    check_accessibility(page, "clinic-team-policy-preview")
    page.get_by_role("button", name="Lagre").click()
    expect(page.locator(".notice").first).to_contain_text("Varslingsplanen er lagret.")
    expect(page.locator("main")).to_contain_text("Teamets egen plan")

    with Session(engine) as s:
        team = s.get(Team, team_id)
        assert team.opening_hours["mon"] == ["08:00", "16:00"]
        assert team.on_call_schedule["rotations"][0]["people"] == [world.nurse_a.id]
        assert parse_policy(team.escalation_policy).fallback[0].number == "+4790000000"


def test_a_nurse_sees_the_teams_page_read_only(live_server, desktop):
    page = desktop.new_page()
    sign_in_staff(page, live_server, "nurse.a@example.no")
    page.goto(f"{live_server.url}/clinic/teams")
    expect(page.locator("main")).to_contain_text("Bare teamets administratorer")
    expect(page.get_by_role("link", name="Endre varslingsplanen")).to_have_count(0)

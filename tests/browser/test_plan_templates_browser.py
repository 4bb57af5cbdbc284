"""Plan templates and calibration in a real browser at 1280×800, checked with axe."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from homefollow.services import plan_templates, plans, reporting
from homefollow.services.audit import Actor
from tests.browser.conftest import check_accessibility, sign_in_staff


def test_admin_adapts_a_template_starts_a_plan_from_it_and_calibrates(live_server, desktop, world, session, clock):
    patient = world.patient_a1
    start = clock.now()
    for day, value in enumerate([95, 96, 94, 95, 95, 96, 94, 95, 97, 95, 94, 96, 95, 95]):
        clock.set(start + timedelta(days=day, hours=1))
        reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": value},
                                     idempotency_key=f"trial-{day}", reported_by_account_id=patient.account_id,
                                     actor_kind="patient")
    clock.set(start + timedelta(days=15))
    plan_templates.sync_defaults(session, clock)
    session.commit()  # services flush; the test owns its set-up's transaction
    base = live_server.url
    page = desktop.new_page()
    sign_in_staff(page, live_server, "admin.a@example.no")

    page.get_by_role("link", name="Planmaler").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Planmaler")
    check_accessibility(page, "clinic-plan-templates")

    page.get_by_role("button", name="Kopier KOLS til teamet mitt").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("KOLS")
    expect(page.locator("main")).to_contain_text("Malen er kopiert til teamet ditt")
    check_accessibility(page, "clinic-plan-template-edit")

    page.get_by_label("Mål, ett per linje").fill("Gå til butikken")
    page.get_by_label("Oksygenmetning", exact=True).fill("klokka åtte")
    page.get_by_role("button", name="Lagre malen").click()
    expect(page.locator(".error-summary")).to_contain_text("Skriv klokkeslettene som 08:00")
    expect(page.get_by_label("Oksygenmetning", exact=True)).to_have_value("klokka åtte")
    check_accessibility(page, "clinic-plan-template-error")
    page.get_by_label("Oksygenmetning", exact=True).fill("07:30, 19:00")
    page.get_by_role("button", name="Lagre malen").click()
    expect(page.locator("main")).to_contain_text("Malen er lagret.")

    page.goto(f"{base}/clinic/patients/{patient.id}/plan/from-template")
    page.get_by_label("KOLS").first.check()
    page.get_by_role("button", name="Vis malen").click()
    expect(page.locator("main")).to_contain_text("Planen med KOLS")
    check_accessibility(page, "clinic-plan-from-template")
    page.get_by_label("Hvorfor planen tar utgangspunkt i denne malen").fill("KOLS-mal avtalt med fastlegen")
    page.get_by_role("button", name="Bruk denne malen for planen").click()
    expect(page.locator("main")).to_contain_text("Planen er nå versjon 2")
    session.commit()
    content, _version = plans.current_content(session, patient.id)
    session.commit()
    assert content.goals == ["Gå tur hver dag"]  # the patient's own goals are kept, not the template's

    page.goto(f"{base}/clinic/patients/{patient.id}/plan/calibrate")
    expect(page.get_by_role("heading", level=1)).to_have_text("Personlige grenser for Astrid A1")
    check_accessibility(page, "clinic-plan-calibrate")
    page.get_by_label("Ny grense: Oksygenmetning, Rød under").fill("92")
    page.get_by_label("Ny grense: Oksygenmetning, Gul under").fill("93")
    page.get_by_role("button", name="Lagre grensene i planen").click()
    expect(page.locator(".error-summary")).to_contain_text("Si hvorfor grensene endres.")
    check_accessibility(page, "clinic-plan-calibrate-error")
    expect(page.get_by_label("Ny grense: Oksygenmetning, Gul under")).to_have_value("93")
    page.get_by_label("Hvorfor grensene endres").fill("Grenser fra prøveperioden")
    page.get_by_role("button", name="Lagre grensene i planen").click()
    expect(page.locator("main")).to_contain_text("De nye grensene står i planen, versjon 3")
    session.commit()  # end the test session's read snapshot (taken when `patient` was refreshed)
    content, version = plans.current_content(session, patient.id)
    assert version == 3
    limits = plan_templates.current_limits(session, content)
    session.commit()
    assert (limits["spo2"].red_low, limits["spo2"].yellow_low) == (92, 93)

    # What would the SpO2 rule have raised for the team's patients on its KOLS template?
    page.get_by_role("link", name="Planmaler").click()
    page.get_by_role("link", name="KOLS").first.click()
    page.get_by_role("link", name="Tilbaketest på malens pasienter").click()
    check_accessibility(page, "clinic-template-backtest-form")
    page.get_by_label("Periode").select_option(label="De siste 14 dagene")
    page.get_by_role("button", name="Kjør tilbaketesten").click()
    for text in ("1 pasient på malen", "Astrid A1", "pasientens egne grenser"):
        expect(page.locator("main")).to_contain_text(text)
    check_accessibility(page, "clinic-template-backtest-result")


def test_template_backtest_reads_on_a_phone(live_server, phone, world, session, clock):
    plan_templates.sync_defaults(session, clock)
    copd = next(t for t in plan_templates.shared_templates(session) if t.key == "copd")
    plan_templates.start_from_template(session, clock, patient=world.patient_a1, template=copd,
                                       actor=Actor(world.nurse_a.id, "staff"), reason="test",
                                       expected_version=plans.current_content(session, world.patient_a1.id)[1])
    session.commit()  # services flush; the test owns its set-up's transaction
    page = phone.new_page()
    sign_in_staff(page, live_server, "admin.a@example.no")
    page.goto(f"{live_server.url}/clinic/plan-templates/{copd.id}/backtest")
    page.get_by_role("button", name="Kjør tilbaketesten").click()
    expect(page.locator("main")).to_contain_text("1 pasient på malen")
    check_accessibility(page, "clinic-template-backtest-phone")

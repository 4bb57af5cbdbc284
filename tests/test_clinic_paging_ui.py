"""What the care team sees of paging: who was paged, snoozing from the alert page, the teams
page, and a warning to admins when the scheduler has stopped."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from homefollow.models import Alert
from homefollow.scheduler import beat
from homefollow.services import reporting
from tests.webclient import WebClient, text_of


def red_alert(session, clock, world) -> int:
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 85},
                                 idempotency_key="r", reported_by_account_id=None, actor_kind="patient")
    return session.exec(select(Alert.id)).one()


def test_the_alert_page_shows_who_was_paged(app, session, clock, world):
    alert_id = red_alert(session, clock, world)
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    page = text_of(nurse.get(f"/clinic/alerts/{alert_id}"))
    assert "Varsling" in page and "SMS 900 00 101 Venter på å bli sendt" in page


def test_a_nurse_snoozes_paging_with_a_reason_and_the_alert_stays_in_the_queue(app, session, clock, world):
    alert_id = red_alert(session, clock, world)
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    page = nurse.get(f"/clinic/alerts/{alert_id}").get_data(as_text=True)
    assert '<option value="60">1 time</option>' in page and 'value="120"' not in page  # red: at most an hour
    refused = nurse.submit(f"/clinic/alerts/{alert_id}", {"minutes": "30", "reason": ""},
                           action=f"/clinic/alerts/{alert_id}/snooze")
    assert refused.status_code == 400 and "Skriv hvorfor varslingen settes på pause." in text_of(refused)
    done = nurse.submit(f"/clinic/alerts/{alert_id}", {"minutes": "30", "reason": "Hjemmesykepleien er på vei"},
                        action=f"/clinic/alerts/{alert_id}/snooze", follow_redirects=True)
    assert "Varslingen er satt på pause til kl. 09:30" in text_of(done)
    alert = session.get(Alert, alert_id)
    assert alert.snoozed_until == clock.now() + timedelta(minutes=30)
    assert alert.escalation_due_at == alert.snoozed_until  # paging resumes when the snooze ends
    queue = text_of(nurse.get("/clinic/"))
    assert "På pause til 09:30" in queue and "Hjemmesykepleien er på vei" in queue


def test_the_teams_page_explains_how_alerts_are_paged(app, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    page = text_of(nurse.get("/clinic/teams"))
    assert "Team A" in page and "Team B" not in page
    assert "Nora Nurse – Sykepleier" in page  # name, organisation (none), roles
    assert "gule / røde varsler, i åpningstiden: alle med rollen sykepleier i teamet (SMS, e-post)" in page
    assert "røde varsler, utenfor åpningstiden: Vakttelefon 900 00 000 (SMS)" in page


def test_team_admins_are_warned_when_the_scheduler_has_stopped(app, engine, clock, world):
    admin = WebClient(app.test_client())
    admin.login_staff("admin.a@example.no")
    assert "Planleggeren har aldri kjørt" in text_of(admin.get("/clinic/"))
    beat(engine, clock, "scheduler@test:1", clock.now())
    assert "Planleggeren" not in text_of(admin.get("/clinic/"))
    clock.advance(minutes=10)
    assert "Planleggeren har ikke kjørt på 10 minutter" in text_of(admin.get("/clinic/"))
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    assert "Planleggeren" not in text_of(nurse.get("/clinic/"))  # admins are the ones who can act

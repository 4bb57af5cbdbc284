"""The enrolment pathway: deadlines in the patient's time zone, overdue steps on the dashboard
per team and municipality, the forms that record each step (with translated errors, audited,
404 for another team's staff), referring a candidate, and consent withdrawal or ending honoured
by the scheduler's sweeps, messages, relatives' SMS and the patient portal."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from homefollow.models import (Alert, CarePathway, Notification, Organisation, Patient, PatientStatus,
                               Report, ServicePerson, Team)
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.outbox import Senders
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.scheduler import run_sweeps
from homefollow.services import messages, relatives
from homefollow.services import pathway as pw
from homefollow.services.audit import Actor
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule
from tests.factories import audit_events as audits
from tests.factories import standard_plan
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from tests.webclient import WebClient, staff_client as staff, text_of

OSLO = "Europe/Oslo"


def oslo(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(OSLO)).astimezone(UTC)


def a_pathway(**dates) -> CarePathway:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return CarePathway(patient_id=1, created_at=now, updated_at=now, **dates)


def refer(session, clock, patient, on: date, nurse_id: int) -> CarePathway:
    return pw.record_referral(session, clock, patient, referred_on=on.isoformat(), referred_by="UNN", actor=Actor(nurse_id, "staff"))


def consent(session, clock, patient, on: date, nurse_id: int) -> None:
    pw.record_consent(session, clock, patient, consent_on=on.isoformat(), scope=["follow_up", "share_gp"],
                      given_by="patient", representative="", actor=Actor(nurse_id, "staff"))


# ---- deadlines --------------------------------------------------------------------------------

def test_a_step_is_overdue_from_the_local_midnight_after_its_deadline_across_the_spring_dst_change():
    # Referred on 25 March: consent is due 1 April, after the clocks went forward on 29 March.
    pathway = a_pathway(referred_on=date(2026, 3, 25))
    deadlines = pw.Deadlines()
    assert pw.overdue_from(date(2026, 4, 1), OSLO) == datetime(2026, 4, 1, 22, 0, tzinfo=UTC)  # CEST
    assert pw.overdue_from(date(2026, 3, 17), OSLO) == datetime(2026, 3, 17, 23, 0, tzinfo=UTC)  # CET

    before = pw.standing(pathway, deadlines, None, datetime(2026, 4, 1, 21, 59, tzinfo=UTC), OSLO)
    assert before.current == "consent" and before.step("consent").due_on == date(2026, 4, 1)
    assert before.overdue == []
    after = pw.standing(pathway, deadlines, None, datetime(2026, 4, 1, 22, 0, tzinfo=UTC), OSLO)
    assert [s.key for s in after.overdue] == ["consent"] and after.overdue[0].days_overdue == 1
    # The same instant is still 1 April in New York: not overdue there.
    assert pw.standing(pathway, deadlines, None, datetime(2026, 4, 1, 22, 0, tzinfo=UTC),
                       "America/New_York").overdue == []


def test_the_team_settings_move_the_deadlines_and_later_steps_count_from_the_step_before():
    deadlines = pw.Deadlines(consent_days=3, mapping_days=10, plan_days=10, trial_start_days=2, trial_max_days=21,
                             evaluation_months=6)
    pathway = a_pathway(referred_on=date(2026, 1, 5), consent_on=date(2026, 1, 6), mapping_on=date(2026, 1, 9),
                        trial_start_on=date(2026, 1, 14))
    s = pw.standing(pathway, deadlines, date(2026, 1, 12), oslo(2026, 2, 6, 12), OSLO)
    assert s.step("consent").due_on == date(2026, 1, 8) and not s.step("consent").overdue  # done in time
    assert s.step("trial_start").due_on == date(2026, 1, 14)  # two days after the plan
    assert s.step("trial_end").due_on == date(2026, 2, 4) and s.step("trial_end").days_overdue == 2
    assert s.current == "trial_end"

    pathway.trial_end_on = date(2026, 2, 5)
    pathway.evaluations = [{"on": "2026-08-31", "note": "ok", "by": None}]
    s = pw.standing(pathway, deadlines, date(2026, 1, 12), oslo(2026, 9, 1, 12), OSLO)
    assert s.current == "follow_up" and s.next_evaluation_on == date(2027, 2, 28)  # 31 Aug + 6 months
    assert pw.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


def test_an_ended_pathway_has_nothing_overdue():
    pathway = a_pathway(referred_on=date(2026, 1, 5), ended_on=date(2026, 1, 7), end_reason="moved")
    s = pw.standing(pathway, pw.Deadlines(), None, oslo(2026, 6, 1), OSLO)
    assert s.current == "ended" and s.overdue == []


@pytest.mark.parametrize("values, problems", [
    ({"consent_days": "", "evaluation_months": "x"}, [("consent_days", "number_missing"),
                                                      ("evaluation_months", "whole_number")]),
    ({"consent_days": "20", "mapping_days": "10"}, [("mapping_days", "deadlines_order")]),
    ({"trial_min_days": "30", "trial_max_days": "20"}, [("trial_max_days", "trial_max_below_min")]),
    ({"evaluation_months": "30"}, [("evaluation_months", "number_range")]),
])
def test_deadlines_are_checked(values, problems):
    typed = {k: str(v) for k, v in pw.Deadlines().model_dump().items()} | values
    deadlines, found = pw.check_deadlines(typed)
    assert deadlines is None and [(f, c) for f, c, _p in found] == problems


# ---- the dashboard ------------------------------------------------------------------------------

def test_the_dashboard_lists_overdue_steps_per_team_and_municipality(session, clock, world):
    tromso = session.exec(select(Organisation)).one()
    balsfjord = Organisation(name="Balsfjord kommune", kind="municipality", created_at=clock.now())
    session.add(balsfjord)
    session.flush()
    world.patient_a1.municipality_id, world.patient_a2.municipality_id = tromso.id, balsfjord.id
    session.add_all([world.patient_a1, world.patient_a2])
    today = date(2026, 3, 10)
    refer(session, clock, world.patient_a1, today - timedelta(days=10), world.nurse_a.id)  # consent due 7 days
    refer(session, clock, world.patient_a2, today - timedelta(days=2), world.nurse_a.id)
    refer(session, clock, world.patient_b1, today - timedelta(days=30), world.nurse_b.id)

    board = pw.dashboard(session, clock, {world.team_a.id})
    assert [(r.patient.name, r.step.key, r.step.days_overdue) for r in board.rows] == [("Astrid A1", "consent", 3)]
    assert board.by_team == [(session.get(Team, world.team_a.id), {"consent": 1})]
    assert board.by_municipality == [("Tromsø kommune", {"consent": 1})]
    assert board.patients == 2 and board.at_step["consent"] == 2
    assert pw.dashboard(session, clock, {world.team_a.id}, municipality_id=balsfjord.id).rows == []
    # Team B's patient is overdue on three steps, but only for Team B.
    assert {r.step.key for r in pw.dashboard(session, clock, {world.team_b.id}).rows} == {"consent", "mapping"}


# ---- consent decides what is sent ---------------------------------------------------------------

@pytest.fixture
def senders(fake_twilio):
    return Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                   email=LogEmailSender())


@pytest.mark.parametrize("stop", ["withdraw", "end"])
def test_after_withdrawal_or_ending_the_scheduler_sends_nothing_and_raises_no_missed_check_in(
        engine, session, clock, world, fake_twilio, senders, stop):
    clock.set(oslo(2026, 3, 10, 6, 0))
    for patient in (world.patient_a1, world.patient_a2):
        patient.reminders = {"enabled": True, "delay_minutes": 45}
        patient.monitoring_since = clock.now()
        content = standard_plan()
        content.rules = [AssignedRule(key="hf.weight_missed")]
        change_plan(session, clock, patient=patient, content=content, author_account_id=world.nurse_a.id,
                    reason="test", checked=False)
        refer(session, clock, patient, date(2026, 3, 1), world.nurse_a.id)
        consent(session, clock, patient, date(2026, 3, 2), world.nurse_a.id)
    a1 = world.patient_a1
    assert a1.reminder_due_at == oslo(2026, 3, 10, 8, 45)
    if stop == "withdraw":
        pw.withdraw_consent(session, clock, a1, withdrawn_on="2026-03-10", note="Vil ikke mer.",
                            actor=Actor(world.nurse_a.id, "staff"))
    else:
        pw.end_pathway(session, clock, a1, ended_on="10.03.2026", reason="moved", note="", actor=Actor(world.nurse_a.id, "staff"))
    session.expire_all()
    assert session.get(Patient, a1.id).status == PatientStatus.ENDED.value
    assert session.get(Patient, a1.id).reminder_due_at is None

    for at in (oslo(2026, 3, 10, 8, 45), oslo(2026, 3, 10, 11, 0), oslo(2026, 3, 11, 11, 0)):
        session.commit()
        clock.set(at)
        run_sweeps(engine, clock, senders)
    session.expire_all()
    assert fake_twilio.to("+4791000001") == []  # Astrid: no reminder
    assert fake_twilio.to("+4791000011") == []  # nor her daughter
    assert {a.patient_id for a in session.exec(select(Alert))} == {world.patient_a2.id}
    # Arne, still followed up, is reminded (08:45 and 09:45 the first day, and the next)
    assert [m.body for m in fake_twilio.to("+4791000002")] == ["HomeFollow: Det er tid for din registrering."] * 3


def test_no_message_sms_or_relative_sms_for_a_patient_whose_follow_up_stopped(session, clock, world):
    a1 = world.patient_a1
    refer(session, clock, a1, date(2026, 3, 1), world.nurse_a.id)
    consent(session, clock, a1, date(2026, 3, 2), world.nurse_a.id)
    a1.reminder_due_at = clock.now()  # as if a sweep were on its way: send_due must still refuse
    session.add(a1)
    pw.withdraw_consent(session, clock, a1, withdrawn_on="2026-03-09", note="", actor=Actor(world.nurse_a.id, "staff"))
    session.get(Patient, a1.id)
    messages.send_from_team(session, clock, patient=a1, actor=Actor(world.nurse_a.id, "staff"), body="Hei")
    assert relatives.notify_of_red_alert(session, clock, a1, alert_id=1) == 0
    from homefollow.services.reminders import send_due

    assert send_due(session, clock, a1) == 0
    assert session.exec(select(Notification).where(Notification.patient_id == a1.id)).all() == []


def test_a_referred_patient_gets_nothing_until_consent_then_follow_up_starts(session, clock, world):
    person = ServicePerson(team_id=world.team_a.id, person_key="local:UNN:1", name="Kari Kandidat",
                           birth_date=date(1941, 2, 3), created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.commit()
    patient = pw.refer_candidate(session, clock, person, municipality_id=None, referred_on="2026-03-09",
                                 referred_by="", actor=Actor(world.nurse_a.id, "staff"))
    assert patient.status == "referred" and not patient.in_follow_up and person.patient_id == patient.id
    assert patient.name == "Kari Kandidat" and patient.birth_date == date(1941, 2, 3)
    with pytest.raises(pw.PathwayError) as refused:
        pw.refer_candidate(session, clock, person, municipality_id=None, referred_on="2026-03-09", referred_by="",
                           actor=Actor(world.nurse_a.id, "staff"))
    assert refused.value.problems == [("", "already_referred", {})]
    consent(session, clock, patient, date(2026, 3, 10), world.nurse_a.id)
    assert patient.status == "active" and patient.monitoring_since == clock.now()
    assert [e.detail["scope"] for e in audits(session, "pathway.consent")] == [["follow_up", "share_gp"]]


# ---- the forms -----------------------------------------------------------------------------------

def test_nurse_records_the_steps_with_translated_errors_and_an_audit_row_each(app, session, clock, world):
    nurse = staff(app, "nurse.a@example.no")
    page = f"/clinic/patients/{world.patient_a1.id}/pathway"
    assert "Ingen forløp er registrert" in text_of(nurse.get(page))
    response = nurse.submit(page, {"referred_on": "2026-03-02", "referred_by": "UNN medisinsk avdeling"},
                            action=f"{page}/referral")
    assert response.status_code == 302
    assert "Samtykke: frist 9. mars 2026 (1 dag siden)" in text_of(nurse.get(page))

    wrong = nurse.submit(page, {"consent_on": "2026-03-11", "given_by": "representative"}, action=f"{page}/consent")
    assert wrong.status_code == 400
    text = text_of(wrong)
    assert "Datoen kan ikke være fram i tid" in text
    assert "Hjemmeoppfølging kan ikke starte uten samtykke til den" in text
    assert "Skriv representantens navn og relasjon til pasienten." in text
    session.expire_all()
    assert pw.pathway_of(session, world.patient_a1.id).consent_on is None

    assert nurse.submit(page, {"consent_on": "03.03.2026", "scope": ["follow_up", "relatives"], "given_by":
                               "representative", "representative": "Marit, datter"},
                        action=f"{page}/consent").status_code == 302
    assert nurse.submit(page, {"mapping_on": "2026-03-05", "what_matters": "Å bo hjemme.", "goals": "",
                               "risks": "Fall", "frailty": "6"}, action=f"{page}/mapping").status_code == 302
    assert nurse.submit(page, {"trial_start_on": "2026-03-06"}, action=f"{page}/trial_start").status_code == 302
    short = nurse.submit(page, {"trial_end_on": "2026-03-10"}, action=f"{page}/trial_end")
    assert short.status_code == 400 and "Prøveperioden må vare minst 14 dager" in text_of(short)

    session.expire_all()
    p = pw.pathway_of(session, world.patient_a1.id)
    assert p.consent_on == date(2026, 3, 3) and p.consent_scope == ["follow_up", "relatives"]
    assert p.consent_representative == "Marit, datter" and p.risks == "Fall" and p.trial_end_on is None
    assert session.get(Patient, world.patient_a1.id).frailty_score == 6
    for action in ("pathway.referral", "pathway.consent", "pathway.mapping", "pathway.trial_start"):
        [event] = audits(session, action)
        assert event.actor_account_id == world.nurse_a.id and event.patient_id == world.patient_a1.id
    patient_page = text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))
    assert "Forløp I prøveperioden, frist 3. apr. 2026" in patient_page

    ended = nurse.submit(page, {"ended_on": "2026-03-10", "end_reason": "improved", "end_note": ""},
                         action=f"{page}/end")
    assert ended.status_code == 302
    assert "Oppfølgingen er avsluttet" in text_of(nurse.get(page))
    session.expire_all()
    assert session.get(Patient, world.patient_a1.id).status == "ended"


def test_another_teams_nurse_gets_404_and_nothing_is_recorded(app, session, clock, world):
    refer(session, clock, world.patient_a1, date(2026, 3, 2), world.nurse_a.id)
    other = staff(app, "nurse.b@example.no")
    page = f"/clinic/patients/{world.patient_a1.id}/pathway"
    assert other.get(page).status_code == 404
    token = other.csrf_token("/clinic/pathway")
    for step, data in (("consent", {"consent_on": "2026-03-03", "scope": "follow_up", "given_by": "patient"}),
                       ("withdrawal", {"withdrawn_on": "2026-03-03"}), ("end", {"ended_on": "2026-03-03",
                                                                                "end_reason": "died"})):
        response = other.client.post(f"{page}/{step}", data={"csrf_token": token, **data})
        assert response.status_code == 404
    assert world.patient_a1.name not in text_of(other.get("/clinic/pathway"))
    session.expire_all()
    assert pw.pathway_of(session, world.patient_a1.id).consent_on is None
    assert session.get(Patient, world.patient_a1.id).status == "active"
    assert len(audits(session, "access.denied")) == 4


def test_the_dashboard_page_links_each_overdue_patient(app, session, clock, world):
    refer(session, clock, world.patient_a1, date(2026, 2, 1), world.nurse_a.id)
    response, parsed = staff(app, "nurse.a@example.no").page("/clinic/pathway")
    text = text_of(response)
    assert "Forfalte steg: 2, blant 1 pasient i forløp." in text  # one patient: singular
    assert "Astrid A1 Samtykke 8. feb. 2026 30 dager Team A" in text
    assert f'href="/clinic/patients/{world.patient_a1.id}/pathway"' in response.get_data(as_text=True)
    assert audits(session, "view.pathway")


def test_team_admins_set_the_deadlines_and_others_cannot(app, session, clock, world):
    page = f"/clinic/teams/{world.team_a.id}/pathway-deadlines"
    admin = staff(app, "admin.a@example.no")
    typed = {k: str(v) for k, v in pw.Deadlines().model_dump().items()}
    bad = admin.submit(page, typed | {"consent_days": "30", "trial_max_days": "x"})
    assert bad.status_code == 400
    assert "Skriv et helt tall (du skrev x)." in text_of(bad)
    assert admin.submit(page, typed | {"consent_days": "5", "evaluation_months": "6"}).status_code == 302
    session.expire_all()
    assert pw.deadlines_of(session.get(Team, world.team_a.id)).consent_days == 5
    [event] = audits(session, "team.pathway_deadlines.change")
    assert event.detail["new"]["evaluation_months"] == 6 and event.detail["old"] is None
    assert "samtykke innen 5 dager" in text_of(admin.get("/clinic/teams")).lower()

    assert staff(app, "nurse.a@example.no").get(page).status_code == 403
    assert staff(app, "nurse.b@example.no").get(page).status_code == 404


def test_a_candidate_is_referred_from_the_list_and_another_team_cannot(app, session, clock, world):
    person = ServicePerson(team_id=world.team_a.id, person_key="local:UNN:7", name="Kari Kandidat",
                           birth_date=date(1941, 2, 3), created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.commit()
    tromso = session.exec(select(Organisation)).one()
    page = f"/clinic/candidates/{person.id}/refer"
    assert staff(app, "nurse.b@example.no").get(page).status_code == 404
    nurse = staff(app, "nurse.a@example.no")
    bad = nurse.submit(page, {"referred_on": "i går", "municipality": "999"})
    assert bad.status_code == 400 and "Skriv datoen som ÅÅÅÅ-MM-DD" in text_of(bad)
    assert "Velg en kommune fra listen." in text_of(bad)
    response = nurse.submit(page, {"referred_on": "2026-03-10", "referred_by": "Fastlegen",
                                   "municipality": str(tromso.id)})
    assert response.status_code == 302
    session.expire_all()
    person = session.get(ServicePerson, person.id)
    patient = session.get(Patient, person.patient_id)
    assert patient.status == "referred" and patient.municipality_id == tromso.id and patient.team_id == world.team_a.id
    assert response.location.endswith(f"/clinic/patients/{patient.id}/pathway")
    assert "Venter på samtykke" in text_of(nurse.get(f"/clinic/patients/{patient.id}/pathway"))


# ---- the patient portal -------------------------------------------------------------------------

def test_the_patient_portal_says_follow_up_has_stopped_and_whom_to_call(app, session, clock, world):
    refer(session, clock, world.patient_a1, date(2026, 3, 1), world.nurse_a.id)
    consent(session, clock, world.patient_a1, date(2026, 3, 2), world.nurse_a.id)
    pw.withdraw_consent(session, clock, world.patient_a1, withdrawn_on="2026-03-10", note="",
                        actor=Actor(world.nurse_a.id, "staff"))
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    text = text_of(patient.get("/today"))
    assert "Oppfølgingen er avsluttet" in text and "77 62 00 00" in text and "113" in text
    token = patient.csrf_token("/today")
    refused = patient.client.post("/report/weight", data={"csrf_token": token, "weight": "70"})
    assert refused.status_code == 409
    session.expire_all()
    assert session.exec(select(Report).where(Report.patient_id == world.patient_a1.id)).all() == []
    daughter = WebClient(app.test_client())
    daughter.login_patient("+4791000011")
    assert "Oppfølgingen er avsluttet" in text_of(daughter.get("/choose", follow_redirects=True))

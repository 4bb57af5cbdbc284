"""From a firing rule to a person who answers: paging by policy through the real scheduler
sweeps, the real twilio library (to a local fake), SMS replies, delivery callbacks, snoozes,
re-measure requests and reminders."""

from __future__ import annotations

from datetime import datetime, time, timedelta, UTC

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from homefollow.links import public_url
from homefollow.models import Alert, Notification, Report, SmsOptOut, Team
from homefollow.notifications.email import SmtpEmailSender
from homefollow.notifications.outbox import Senders, forget_opt_outs
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.scheduler import run_sweeps
from homefollow.services import alerts, messages, reporting
from homefollow.services.alert_log import events_of
from homefollow.services.audit import Actor
from homefollow.services.plan_changes import change_plan
from homefollow.web import failure_reason
from tests.conftest import WEBHOOK_SECRET
from tests.factories import standard_plan
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

OSLO = "Europe/Oslo"


def oslo(y, m, d, hh, mm=0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(OSLO)).astimezone(UTC)


def on_call(session, world, person):
    """A weekday day-shift rota with one nurse, so the first step has a name at 10:00."""
    team = session.get(Team, world.team_a.id)
    team.on_call_schedule = {"time_zone": OSLO, "rotations": [
        {"role": "nurse", "people": [person.id], "start_date": "2026-01-05", "shift_start": "08:00",
         "shift_end": "16:00", "weekdays": [0, 1, 2, 3, 4]}]}
    session.add(team)
    session.commit()


def red_spo2(session, clock, patient, key="red"):
    return reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": 85},
                                        idempotency_key=key, reported_by_account_id=patient.account_id,
                                        actor_kind="patient")


def sweep_at(engine, clock, senders, at, session=None):
    """Run the scheduler's sweeps at a moment. The test's session lets go of the database first
    and reads afresh afterwards, as another process would."""
    if session is not None:
        session.commit()
    clock.set(at)
    return run_sweeps(engine, clock, senders)


def texts_to(fake, number):
    return [m.body for m in fake.to(number)]


# ---- the timeline from the issue ----------------------------------------------------------

def test_red_at_ten_pages_on_call_then_the_coordinator_and_stops_at_the_acknowledgement(
        engine, session, clock, world, fake_twilio, senders):
    on_call(session, world, world.nurse_a)
    clock.set(oslo(2026, 3, 10, 10, 0))  # a Tuesday
    red_spo2(session, clock, world.patient_a1)
    code = session.exec(select(Alert)).one().short_code

    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    [text] = texts_to(fake_twilio, "+4790000101")
    page, ref = text.split("\nRef: ")
    assert page == f"HomeFollow: nytt RØDT varsel i Team A. Kode {code}. Svar OK {code} for å kvittere."
    # The page carries its outbox row's token, to look it up at Twilio if its fate is ever unknown.
    assert ref == session.exec(select(Notification.ref).where(Notification.recipient == "+4790000101")).one()
    assert fake_twilio.to("+4790000102") == []

    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 14), session)
    assert fake_twilio.to("+4790000102") == []  # the coordinator's turn has not come
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 15), session)
    assert len(fake_twilio.to("+4790000102")) == 1  # no acknowledgement: the coordinator

    clock.set(oslo(2026, 3, 10, 10, 16))
    alert = session.exec(select(Alert)).one()
    alerts.acknowledge(session, clock, alert.id, world.admin_a.id)
    for minute in (16, 20, 30, 40, 45):
        sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, minute), session)
    assert len(fake_twilio.messages) == 2  # nothing more


def test_an_acknowledged_alert_nobody_resolves_returns_to_the_queue(engine, session, clock, world, fake_twilio,
                                                                     senders):
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    alert = session.exec(select(Alert)).one()
    alerts.acknowledge(session, clock, alert.id, world.nurse_a.id)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 29), session)
    session.refresh(alert)
    assert alert.status == "acknowledged"
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 30), session)  # red: 30 minutes to resolve
    session.refresh(alert)
    assert alert.status == "open"
    assert "ack_expired" in [e.kind for e in alerts.events_of(session, alert.id)]
    assert len(fake_twilio.to("+4790000102")) == 1  # paging resumed with the next step


def test_paging_waits_count_real_minutes_across_the_spring_dst_change(engine, session, clock, world, fake_twilio,
                                                                      senders):
    """Outside opening hours a red alert goes to the on-call phone; with no answer it is repeated
    15 real minutes later, even when the clocks jump from 02:00 to 03:00 in between."""
    start = oslo(2026, 3, 29, 1, 55)  # 00:55 UTC; the clocks go forward at 01:00 UTC
    clock.set(start)
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, start, session)
    assert len(fake_twilio.to("+4790000000")) == 1
    sweep_at(engine, clock, senders, start + timedelta(minutes=14), session)  # 03:09 on the wall clock
    assert len(fake_twilio.to("+4790000000")) == 1
    sweep_at(engine, clock, senders, start + timedelta(minutes=15), session)  # 03:10 on the wall clock
    assert len(fake_twilio.to("+4790000000")) == 2


def test_a_yellow_alert_at_night_waits_for_the_team_to_open(engine, session, clock, world, fake_twilio, senders):
    clock.set(oslo(2026, 3, 13, 20, 0))  # Friday evening
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight", values={"weight": 71},
                                 idempotency_key="w", reported_by_account_id=None, actor_kind="patient")
    for at in (oslo(2026, 3, 13, 20, 0), oslo(2026, 3, 14, 12, 0), oslo(2026, 3, 16, 7, 59)):
        sweep_at(engine, clock, senders, at, session)
    assert fake_twilio.messages == []  # nobody woken for yellow; it waits in the queue
    sweep_at(engine, clock, senders, oslo(2026, 3, 16, 8, 0), session)  # Monday 08:00
    # The weight, and the weekend's silence (nothing reported since Friday): both yellow, both now.
    paged = {a.rule_key for a in session.exec(select(Alert)) if a.short_code in
             " ".join(m.body for m in fake_twilio.to("+4790000101"))}
    assert paged == {"hf.weight", "safety.inactive"}
    assert len(fake_twilio.to("+4790000101")) == 2


def test_a_page_to_a_number_that_cannot_be_reached_moves_on_at_once(engine, session, clock, world, fake_twilio,
                                                                    senders):
    fake_twilio.script["+4790000101"] = ["permanent"]  # the nurse's number is wrong
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    report = sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    assert report.outbox.failed == 1
    # Her e-mail is the next channel (the log sender records it), in the same sweep.
    email = session.exec(select(Notification).where(Notification.channel == "email")).one()
    assert email.recipient == "nurse.a@example.no" and email.status == "sent"
    assert "/clinic/alerts/" in email.body


def test_policy_frozen_on_the_alert_is_not_changed_by_editing_the_team_policy(session, clock, world):
    red_spo2(session, clock, world.patient_a1)
    alert = session.exec(select(Alert)).one()
    team = session.get(Team, world.team_a.id)
    team.escalation_policy = {**alert.escalation_policy, "repeat": 3}
    session.add(team)
    session.commit()
    session.refresh(alert)
    assert alert.escalation_policy["repeat"] == 1


# ---- snooze ----------------------------------------------------------------------------

def test_snooze_needs_a_reason_and_a_bounded_end_and_pauses_paging(engine, session, clock, world, fake_twilio,
                                                                   senders):
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    alert = session.exec(select(Alert)).one()
    with pytest.raises(alerts.SnoozeRefused) as refused:
        alerts.snooze(session, clock, alert.id, world.nurse_a.id, clock.now() + timedelta(hours=5), "")
    fields = {field for field, _why in refused.value.problems}
    assert fields == {"reason", "until"}  # no reason, and red may be snoozed at most an hour
    alerts.snooze(session, clock, alert.id, world.nurse_a.id, clock.now() + timedelta(minutes=40),
                  "Hjemmesykepleien er på vei")
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 30), session)
    assert fake_twilio.to("+4790000102") == []  # the coordinator is not paged while snoozed
    queue = alerts.triage_queue(session, frozenset({world.team_a.id}))
    assert [a.id for a, _p in queue] == [alert.id]  # still in the queue
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 40), session)
    assert len(fake_twilio.to("+4790000102")) == 1  # snooze over: paging resumes


# ---- yellow: ask the patient to measure again first ----------------------------------------

def test_a_yellow_alert_can_first_ask_the_patient_to_measure_again_red_never_waits(
        engine, session, clock, world, fake_twilio, senders):
    team = session.get(Team, world.team_a.id)
    from homefollow.services.escalation import default_policy

    policy = default_policy(team).model_dump(mode="json")
    policy["yellow_remeasure"] = {"wait": 30, "rule_keys": ["copd.spo2"]}
    team.escalation_policy = policy
    session.add(team)
    session.commit()
    clock.set(oslo(2026, 3, 10, 10, 0))
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 92},
                                 idempotency_key="y", reported_by_account_id=None, actor_kind="patient")
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    assert texts_to(fake_twilio, "+4791000001") == [
        "HomeFollow: Vi ber deg gjøre en ny måling nå og sende den inn. Ved akutt fare: ring 113."]
    assert fake_twilio.to("+4790000101") == []  # the nurse waits for the new measurement
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 30), session)
    assert len(fake_twilio.to("+4790000101")) == 1  # no new measurement in 30 minutes: paged
    clock.set(oslo(2026, 3, 10, 11, 0))
    red_spo2(session, clock, world.patient_a1, key="red-later")
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 11, 0), session)
    assert len(fake_twilio.to("+4790000101")) == 2  # red: paged at once, no re-measure request
    assert len(fake_twilio.to("+4791000001")) == 1


# ---- webhooks: replies and delivery reports -------------------------------------------------

def post_signed(app, path, params, token=AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(public_url(path), params)
    return app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})


def sms(app, from_number, body, sid="SM1"):
    return post_signed(app, f"/hooks/twilio/sms/{WEBHOOK_SECRET}", {"From": from_number, "Body": body,
                                                                    "MessageSid": sid})


def test_a_nurse_acknowledges_by_replying_with_the_code(hook_app, session, clock, world):
    red_spo2(session, clock, world.patient_a1)
    alert = session.exec(select(Alert)).one()
    reply = sms(hook_app, "+4790000101", f"ok {alert.short_code.lower()}")
    assert reply.status_code == 200 and reply.mimetype == "application/xml"
    assert f"Kvittert: varsel {alert.short_code}" in reply.get_data(as_text=True)
    session.refresh(alert)
    assert (alert.status, alert.acknowledged_by_account_id) == ("acknowledged", world.nurse_a.id)
    again = sms(hook_app, "+4790000101", f"OK {alert.short_code}", sid="SM2")
    assert "allerede kvittert" in again.get_data(as_text=True)


def test_only_the_alerts_team_can_acknowledge_it_by_sms(hook_app, session, clock, world):
    red_spo2(session, clock, world.patient_a1)
    alert = session.exec(select(Alert)).one()
    reply = sms(hook_app, "+4790000103", f"OK {alert.short_code}")  # a nurse of team B
    assert "kan ikke kvittere" in reply.get_data(as_text=True)
    session.refresh(alert)
    assert alert.status == "open"


def test_a_patient_reports_by_sms_and_is_told_the_zone(hook_app, session, clock, world):
    reply = sms(hook_app, "+4791000001", "BT 185/95 P 72")
    text = reply.get_data(as_text=True)
    assert "Ring nå." in text and "113" in text  # red: the plan's own words, and 113
    report = session.exec(select(Report).where(Report.item_key == "blood_pressure")).one()
    assert (report.source, report.zone, report.patient_id) == ("sms", "red", world.patient_a1.id)
    assert session.exec(select(Alert)).one().severity == "red"
    sms(hook_app, "+4791000001", "BT 185/95 P 72")  # Twilio retried the same message: stored once
    assert len(session.exec(select(Report)).all()) == 2  # blood pressure and pulse, once each
    bad = sms(hook_app, "+4791000001", "VEKT sytti", sid="SM9")
    assert "Vi forstod ikke «VEKT sytti»" in bad.get_data(as_text=True)
    assert "ikke registrert" in sms(hook_app, "+4799999999", "VEKT 70", sid="SM10").get_data(as_text=True)


def test_stop_and_start_are_honoured(hook_app, engine, session, clock, world, fake_twilio, senders):
    # A patient's STOP (staff and on-call phones: tests/test_duty_stop.py).
    sms(hook_app, "+4791000001", "STOPP")
    assert session.exec(select(SmsOptOut.phone)).all() == ["+4791000001"]
    messages.send_from_team(session, clock, patient=world.patient_a1, actor=Actor(world.nurse_a.id, "staff"),
                            body="Hei")
    sweep_at(engine, clock, senders, clock.now(), session)
    assert fake_twilio.to("+4791000001") == []  # no SMS after STOP
    sms(hook_app, "+4791000001", "START", sid="SM3")
    session.commit()
    assert session.exec(select(SmsOptOut)).all() == []
    forget_opt_outs(session)  # the test's session read the opt-outs before the START
    messages.send_from_team(session, clock, patient=world.patient_a1, actor=Actor(world.nurse_a.id, "staff"),
                            body="Hei")
    sweep_at(engine, clock, senders, clock.now(), session)
    assert len(fake_twilio.to("+4791000001")) == 1


def test_an_undelivered_page_moves_on_at_once(hook_app, engine, session, clock, world, fake_twilio, senders):
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    [message] = fake_twilio.to("+4790000101")
    response = post_signed(hook_app, f"/hooks/twilio/status/{WEBHOOK_SECRET}",
                           {"MessageSid": message.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert response.status_code == 204
    page = session.exec(select(Notification).where(Notification.provider_ref == message.sid)).one()
    assert (page.status, page.delivery_status) == ("failed", "undelivered")
    assert session.exec(select(Notification).where(Notification.channel == "email")).one().status == "pending"


def test_forged_webhooks_are_rejected_and_change_nothing(hook_app, session, clock, world):
    red_spo2(session, clock, world.patient_a1)
    alert = session.exec(select(Alert)).one()
    path = f"/hooks/twilio/sms/{WEBHOOK_SECRET}"
    forged = post_signed(hook_app, path, {"From": "+4790000101", "Body": f"OK {alert.short_code}",
                                          "MessageSid": "SMX"}, token="not-the-auth-token")
    assert forged.status_code == 403
    unsigned = hook_app.test_client().post(path, data={"From": "+4791000001", "Body": "STOPP"})
    assert unsigned.status_code == 403
    wrong_secret = post_signed(hook_app, "/hooks/twilio/sms/guess", {"From": "+4791000001", "Body": "VEKT 70"})
    assert wrong_secret.status_code == 404
    status = post_signed(hook_app, f"/hooks/twilio/status/{WEBHOOK_SECRET}",
                         {"MessageSid": "SM1", "MessageStatus": "failed"}, token="forged")
    assert status.status_code == 403
    session.refresh(alert)
    assert alert.status == "open"
    assert session.exec(select(SmsOptOut)).all() == []
    assert len(session.exec(select(Report)).all()) == 1  # only the reading behind the alert


# ---- reminders ------------------------------------------------------------------------------

def test_one_reminder_for_a_measurement_not_done_at_the_patients_chosen_delay(engine, session, clock, world,
                                                                              fake_twilio, senders):
    clock.set(oslo(2026, 3, 10, 6, 0))
    patient = world.patient_a1
    patient.reminders = {"enabled": True, "delay_minutes": 45}
    change_plan(session, clock, patient=patient, content=standard_plan(), author_account_id=world.nurse_a.id,
                reason="reminders", checked=False)
    assert patient.reminder_due_at == oslo(2026, 3, 10, 8, 45)  # SpO2 and weight at 08:00, + 45 min
    reporting.report_measurement(session, clock, patient=patient, item_key="weight", values={"weight": 68},
                                 idempotency_key="early", reported_by_account_id=None, actor_kind="patient")
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 8, 44), session)
    assert fake_twilio.to("+4791000001") == []
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 8, 45), session)
    assert texts_to(fake_twilio, "+4791000001") == ["HomeFollow: Det er tid for din registrering."]  # SpO2 only
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 9, 0), session)
    assert len(fake_twilio.to("+4791000001")) == 1  # one reminder, not one per sweep


def test_reminders_keep_quiet_hours(session, clock, world):
    from homefollow.services.reminders import Settings, reminder_times

    content = standard_plan(measurements=standard_plan().measurements[:1])  # SpO2 at 08:00 and 18:00
    content.measurements[0].schedule = content.measurements[0].schedule.model_copy(
        update={"times": (time(7, 0), time(20, 30))})
    due = reminder_times(content, Settings(delay_minutes=60, quiet_start=time(21, 0), quiet_end=time(8, 0)),
                         datetime(2026, 3, 10).date(), OSLO)
    # 07:00 + 1 h = 08:00 (quiet hours just ended); 20:30 + 1 h = 21:30 is quiet until tomorrow: none
    assert [d.remind_at for d in due] == [oslo(2026, 3, 10, 8, 0)]


# ---- the red path (issue 18) -------------------------------------------------------------

def test_sms_and_email_both_failing_for_good_page_the_coordinator_in_the_same_tick(
        hook_app, engine, session, clock, world, fake_twilio, fake_smtp):
    """The nurse's SMS is refused (21610) and then her e-mail too (550): the coordinator is paged
    in the same scheduler tick, not when the step's 15 minutes run out; each failure is logged."""
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                      email=SmtpEmailSender(fake_smtp.host, fake_smtp.port, "hf@example.no"))
    on_call(session, world, world.nurse_a)
    fake_twilio.script["+4790000101"] = ["opted_out"]
    fake_smtp.script["nurse.a@example.no"] = ["rcpt:550"]
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    report = sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    assert report.outbox.failed == 2
    assert len(fake_twilio.to("+4790000102")) == 1  # the coordinator, at 10:00
    assert len(fake_twilio.to("+4790000000")) == 1  # red goes by SMS: the on-call phone when hers failed
    alert = session.exec(select(Alert)).one()
    failures = [e for e in events_of(session, alert.id) if e.kind == "page_failed"]
    assert sorted((e.data["channel"], e.data["recipient"]) for e in failures) == [
        ("email", "nurse.a@example.no"), ("sms", "+4790000101")]
    assert "21610" in next(e.data["error"] for e in failures if e.data["channel"] == "sms")
    with hook_app.test_request_context():  # the alert page shows the reason in words (bokmål)
        assert failure_reason(next(e.data["error"] for e in failures if e.data["channel"] == "sms")).startswith(
            "nummeret har svart STOPP")


def test_an_unacknowledged_red_keeps_paging_the_fallback_and_the_admins_are_told(
        engine, session, clock, world, fake_twilio, senders):
    on_call(session, world, world.nurse_a)
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    at = oslo(2026, 3, 10, 10, 0)
    while at <= oslo(2026, 3, 10, 14, 0):
        sweep_at(engine, clock, senders, at, session)
        at += timedelta(minutes=5)
    alert = session.exec(select(Alert)).one()
    fallback = [m for m in fake_twilio.to("+4790000000")]
    # Two rounds of nurse + coordinator (10:00–10:45), then the on-call phone every 15 minutes.
    assert len(fallback) >= 12
    admin_texts = [m.body for m in fake_twilio.to("+4790000102") if "Ref:" not in m.body]
    assert len(admin_texts) == 1 and alert.short_code in admin_texts[0]
    assert any(e.kind == "red_repeating" for e in events_of(session, alert.id))
    # Acknowledged: the repeats stop.
    alerts.acknowledge(session, clock, alert.id, world.nurse_a.id)
    before = len(fake_twilio.to("+4790000000"))
    sweep_at(engine, clock, senders, at + timedelta(minutes=20), session)
    assert len(fake_twilio.to("+4790000000")) == before


def test_a_red_page_to_people_without_a_mobile_number_also_goes_to_the_on_call_phone(
        engine, session, clock, world, fake_twilio, senders):
    for account in (world.nurse_a, world.admin_a):
        account.phone = None
        session.add(account)
    session.commit()
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    assert len(fake_twilio.to("+4790000000")) == 1
    emails = session.exec(select(Notification).where(Notification.channel == "email")).all()
    assert [e.recipient for e in emails] == ["nurse.a@example.no"]  # e-mail in addition, not instead

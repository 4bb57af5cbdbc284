"""STOP from staff or from a number a team pages on duty does not silence duty pages: no opt-out
is recorded, the sender is told what to do instead, and the team's admins are told, once per
team and STOP message. A patient's and a relative's STOP is honoured as before. Through the
signed Twilio webhook, and the scheduler's sweeps to a fake Twilio."""

from __future__ import annotations

from datetime import datetime, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from homefollow.links import public_url
from homefollow.models import Account, Alert, Channel, Notification, SmsOptOut, Team
from homefollow.notifications import outbox
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.texts import message_text
from homefollow.notifications.outbox import Senders
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.scheduler import run_sweeps
from homefollow.services import reporting
from homefollow.services.teams import duty_teams
from tests.factories import audit_events
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
NURSE, ADMIN, ON_CALL = "+4790000101", "+4790000102", "+4790000000"
DUTY_REPLY = ("Dette nummeret får vaktvarsler fra HomeFollow (Team A), og STOPP kan ikke slå dem av: be teamets "
              "administrator endre vaktlisten eller vaktnummeret. Send START for å få vaktvarsler igjen.")


@pytest.fixture
def hook_app(engine, clock, session):
    from homefollow import create_app
    from tests.conftest import app_config, observed_by

    return observed_by(create_app(app_config(engine, clock, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                             TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_WEBHOOK_SECRET=WEBHOOK_SECRET)),
                       session)


def sms(app, from_number: str, body: str, sid: str = "SM1") -> str:
    """An inbound SMS as Twilio posts it, signed; returns the reply text."""
    path = f"/hooks/twilio/sms/{WEBHOOK_SECRET}"
    params = {"From": from_number, "Body": body, "MessageSid": sid}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url(path), params)
    response = app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200 and response.mimetype == "application/xml"
    body_text = response.get_data(as_text=True)
    return body_text.split("<Message>")[1].split("</Message>")[0] if "<Message>" in body_text else ""


def notices(session, team_id: int) -> list[Notification]:
    session.commit()
    return list(session.exec(select(Notification).where(Notification.dedup_key.like(f"admin:{team_id}:duty-stop:%"))
                             .order_by(Notification.id)))


def test_a_nurses_stop_records_no_opt_out_says_what_to_do_and_tells_the_admins(hook_app, session, world):
    reply = sms(hook_app, NURSE, "STOPP")
    assert reply == DUTY_REPLY
    session.commit()
    assert session.exec(select(SmsOptOut)).all() == []

    told = notices(session, world.team_a.id)
    assert sorted((n.channel, n.recipient) for n in told) == [("email", "admin.a@example.no"), ("sms", ADMIN)]
    [text] = {n.body for n in told}
    assert text.startswith("HomeFollow: Nora Nurse (900 00 101) sendte STOPP. Vaktvarsler sendes fortsatt til "
                           "nummeret, men SMS-leverandøren kan sperre dem til det sender START.")
    assert text.endswith(f"Endre vaktlisten eller vaktnummeret for Team A: "
                         f"{public_url(f'/clinic/teams/{world.team_a.id}/phones')}")
    assert all(n.status == "pending" for n in told)
    [event] = audit_events(session, "sms.stop.duty")
    assert (event.actor_account_id, event.actor_kind, event.detail["teams"]) == (world.nurse_a.id, "staff",
                                                                                 [world.team_a.id])

    sms(hook_app, NURSE, "STOPP")  # Twilio delivered the same message again: told once
    assert len(notices(session, world.team_a.id)) == 2
    sms(hook_app, NURSE, "stop", sid="SM2")  # a new STOP: told again
    assert len(notices(session, world.team_a.id)) == 4
    assert notices(session, world.team_b.id) == []  # team B has nothing to do with her


def test_stop_from_the_on_call_phone_does_not_silence_the_nights_red_pages(hook_app, engine, session, clock, world,
                                                                           fake_twilio):
    assert sms(hook_app, ON_CALL, "STOP") == DUTY_REPLY
    [text] = {n.body for n in notices(session, world.team_a.id)}
    assert text.startswith("HomeFollow: Vakttelefonen (900 00 000) sendte STOPP.")
    assert session.exec(select(SmsOptOut)).all() == []
    [event] = audit_events(session, "sms.stop.duty")
    assert (event.actor_account_id, event.actor_kind) == (None, "anonymous")

    # 22:00 on a Tuesday: the team is closed, the standard policy pages the on-call phone.
    night = datetime(2026, 3, 10, 22, 0, tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC)
    clock.set(night)
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 85},
                                 idempotency_key="red", reported_by_account_id=world.patient_a1.account_id,
                                 actor_kind="patient")
    session.commit()
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                      email=LogEmailSender())
    run_sweeps(engine, clock, senders)
    [page] = fake_twilio.to(ON_CALL)
    assert session.exec(select(Alert)).one().short_code in page.body


def test_a_number_in_a_teams_own_policy_is_a_duty_number(hook_app, session, world):
    team = session.get(Team, world.team_a.id)
    team.escalation_policy = {
        "name": "Med responssenter",
        "steps": [{"target": {"kind": "role", "role": "nurse"}, "channels": ["sms"], "when": "in_opening_hours",
                   "wait": {"yellow": 60, "red": 15}},
                  {"target": {"kind": "phone", "number": "+4722334455", "label": "Responssenter"},
                   "channels": ["sms"], "when": "outside_opening_hours", "wait": {"yellow": 60, "red": 15}}],
        "fallback": [{"kind": "phone", "number": ON_CALL}],
        "ack_timeout": {"yellow": 240, "red": 30}, "snooze_max": {"yellow": 1440, "red": 60}}
    session.add(team)
    session.commit()
    assert [t.id for t in duty_teams(session, "+4722334455")] == [world.team_a.id]
    assert [t.id for t in duty_teams(session, "+4790000009")] == [world.team_b.id]  # B's on-call phone
    assert duty_teams(session, "+4791000001") == []  # a patient

    assert "STOPP kan ikke slå dem av" in sms(hook_app, "+4722334455", "AVMELD")
    session.commit()
    assert session.exec(select(SmsOptOut)).all() == [] and len(notices(session, world.team_a.id)) == 2


@pytest.mark.parametrize("number", ["+4791000001", "+4791000011"], ids=["patient", "relative"])
def test_a_patients_and_a_relatives_stop_is_honoured_as_before(hook_app, session, world, number):
    assert sms(hook_app, number, "STOPP") == message_text("stop", "nb")
    session.commit()
    assert session.exec(select(SmsOptOut.phone)).all() == [number]
    assert session.exec(select(Notification)).all() == []  # nobody is told
    assert audit_events(session, "sms.stop") and not audit_events(session, "sms.stop.duty")


def test_a_former_staff_members_stop_is_honoured(hook_app, session, world):
    nurse = session.get(Account, world.nurse_a.id)
    nurse.is_active = False
    session.add(nurse)
    session.commit()
    assert "vaktvarsler" not in sms(hook_app, NURSE, "STOPP")
    session.commit()
    assert session.exec(select(SmsOptOut.phone)).all() == [NURSE]


def test_staff_who_also_report_as_a_relative_stop_the_relative_sms_only(hook_app, session, clock, world):
    """A number that is both: the opt-out is recorded for the patient side, duty pages go on."""
    relative = session.get(Account, world.relative.id)
    nurse = session.get(Account, world.nurse_a.id)
    nurse.phone = relative.phone
    session.add(nurse)
    session.commit()
    assert sms(hook_app, relative.phone, "STOPP") == DUTY_REPLY
    session.commit()
    assert session.exec(select(SmsOptOut.phone)).all() == [relative.phone]
    outbox.forget_opt_outs(session)
    to_relative = outbox.message(session, clock, dedup_key="r", channel=Channel.SMS, recipient=relative.phone,
                                 body="x")
    page = outbox.message(session, clock, dedup_key="p", channel=Channel.SMS, recipient=relative.phone, body="x",
                          duty=True)
    assert (to_relative["status"], page["status"]) == ("failed", "pending")


def test_an_opt_out_recorded_before_does_not_refuse_a_duty_page(session, clock, world):
    session.add(SmsOptOut(phone=ON_CALL, opted_out_at=clock.now()))
    session.commit()
    outbox.forget_opt_outs(session)
    refused = outbox.enqueue(session, clock, dedup_key="other", channel=Channel.SMS, recipient=ON_CALL, body="x")
    assert (refused.status, refused.last_error) == ("failed", "recipient opted out (STOP)")
    page = outbox.enqueue(session, clock, dedup_key="page", channel=Channel.SMS, recipient=ON_CALL, body="x",
                          duty=True)
    assert (page.status, page.last_error) == ("pending", None)

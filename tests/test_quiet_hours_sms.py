"""Quiet hours (issue 20): an SMS that can wait (a new message, an invitation, a reminder) is
held in the outbox until the recipient's quiet hours end, in the patient's time zone, and then
sent; red is never held, and the relative's red-alert SMS says truthfully who has been told."""

from __future__ import annotations

from datetime import datetime, time, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from homefollow.models import Notification, Patient, RelativeAccess, Team
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.outbox import Senders
from homefollow.notifications.quiet_hours import send_after
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.notifications.texts import sms_segments
from homefollow.scheduler import run_sweeps
from homefollow.services import messages, relatives, reporting
from homefollow.services.audit import Actor
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

OSLO = "Europe/Oslo"
PATIENT, DAUGHTER, ON_CALL = "+4791000001", "+4791000011", "+4790000000"


def oslo(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(OSLO)).astimezone(UTC)


@pytest.fixture
def senders(fake_twilio):
    return Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                   email=LogEmailSender())


def sweep_at(engine, clock, senders, at, session):
    session.commit()
    clock.set(at)
    return run_sweeps(engine, clock, senders)


def texts_to(fake, number):
    return [m.body for m in fake.to(number)]


def daughter_gets_alerts(session, world):
    grant = session.exec(select(RelativeAccess).where(RelativeAccess.relative_account_id == world.relative.id)).one()
    grant.receives_alerts = True
    session.add(grant)
    session.commit()


def red_spo2(session, clock, patient):
    return reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": 85},
                                        idempotency_key="red", reported_by_account_id=patient.account_id,
                                        actor_kind="patient")


# ---- the rule, pure --------------------------------------------------------------------------

def test_send_after_is_now_outside_quiet_hours_and_their_end_inside():
    assert send_after(oslo(2026, 3, 10, 14, 0), OSLO) == oslo(2026, 3, 10, 14, 0)
    assert send_after(oslo(2026, 3, 10, 1, 41), OSLO) == oslo(2026, 3, 10, 8, 0)
    assert send_after(oslo(2026, 3, 10, 21, 0), OSLO) == oslo(2026, 3, 11, 8, 0)  # evening: tomorrow morning
    assert send_after(oslo(2026, 3, 10, 8, 0), OSLO) == oslo(2026, 3, 10, 8, 0)  # the end is not quiet
    # Hours that do not pass midnight.
    assert send_after(oslo(2026, 3, 10, 0, 30), OSLO, time(0, 0), time(6, 30)) == oslo(2026, 3, 10, 6, 30)


def test_send_after_keeps_local_time_across_both_dst_changes():
    # Spring (29 March 2026): 01:30 CET, the night loses an hour; 08:00 CEST is 06:00 UTC.
    spring = send_after(oslo(2026, 3, 29, 1, 30), OSLO)
    assert spring == oslo(2026, 3, 29, 8, 0) and spring == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # Autumn (25 October 2026): 02:30 in the repeated hour; 08:00 CET is 07:00 UTC.
    autumn = send_after(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), OSLO)  # 02:30 CET, the second time
    assert autumn == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    # Quiet hours ending inside the spring gap (02:30 does not exist): the moment the clocks jump.
    assert send_after(oslo(2026, 3, 29, 1, 0), OSLO, time(23, 0), time(2, 30)) == \
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


# ---- held, then sent ---------------------------------------------------------------------------

def test_a_team_message_at_night_is_held_until_quiet_hours_end_and_then_sent(engine, session, clock, world,
                                                                              fake_twilio, senders):
    clock.set(oslo(2026, 3, 10, 1, 41))
    messages.send_from_team(session, clock, patient=world.patient_a1, actor=Actor(world.nurse_a.id, "staff"),
                            body="Hei Astrid, husk vektmålingen i morgen.")
    row = session.exec(select(Notification).where(Notification.recipient == PATIENT)).one()
    assert row.due_at == oslo(2026, 3, 10, 8, 0)  # stored in UTC, held to 08:00 Oslo time
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 1, 45), session)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 7, 59), session)
    assert texts_to(fake_twilio, PATIENT) == []
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 8, 0), session)
    assert len(texts_to(fake_twilio, PATIENT)) == 1 and "ny melding" in texts_to(fake_twilio, PATIENT)[0]
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 9, 0), session)
    assert len(texts_to(fake_twilio, PATIENT)) == 1  # once


def test_a_team_message_keeps_the_patients_own_quiet_hours_across_the_spring_dst_change(engine, session, clock,
                                                                                       world, fake_twilio, senders):
    patient = session.get(Patient, world.patient_a1.id)
    patient.reminders = {"enabled": False, "quiet_start": "22:00", "quiet_end": "07:00"}
    session.add(patient)
    session.commit()
    clock.set(oslo(2026, 3, 28, 23, 15))  # the night the clocks go forward
    messages.send_from_team(session, clock, patient=patient, actor=Actor(world.nurse_a.id, "staff"), body="God natt")
    sweep_at(engine, clock, senders, datetime(2026, 3, 29, 4, 59, tzinfo=UTC), session)  # 06:59 CEST
    assert texts_to(fake_twilio, PATIENT) == []
    sweep_at(engine, clock, senders, datetime(2026, 3, 29, 5, 0, tzinfo=UTC), session)  # 07:00 CEST
    assert len(texts_to(fake_twilio, PATIENT)) == 1


def test_a_team_message_in_the_day_goes_at_once(engine, session, clock, world, fake_twilio, senders):
    clock.set(oslo(2026, 3, 10, 14, 0))
    messages.send_from_team(session, clock, patient=world.patient_a1, actor=Actor(world.nurse_a.id, "staff"),
                            body="Hei")
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 14, 0), session)
    assert len(texts_to(fake_twilio, PATIENT)) == 1


def test_an_invitation_at_night_is_held_until_morning_and_then_sent(engine, session, clock, world, fake_twilio,
                                                                    senders):
    clock.set(oslo(2026, 3, 10, 23, 10))
    relatives.invite(session, clock, patient=world.patient_a1, name="Per Sønn", phone="+4791000055",
                     relation="sønn", can_view=True, can_report=False, receives_alerts=False, valid_until=None,
                     actor=Actor(world.patient_a1.account_id, "patient"))
    sweep_at(engine, clock, senders, oslo(2026, 3, 11, 7, 59), session)
    assert texts_to(fake_twilio, "+4791000055") == []
    sweep_at(engine, clock, senders, oslo(2026, 3, 11, 8, 0), session)
    assert len(texts_to(fake_twilio, "+4791000055")) == 1


# ---- red is never held -------------------------------------------------------------------------

def test_red_at_night_pages_at_once_and_tells_the_relative_at_once_who_has_been_told(engine, session, clock, world,
                                                                                     fake_twilio, senders):
    daughter_gets_alerts(session, world)
    clock.set(oslo(2026, 3, 10, 1, 33))  # a Tuesday night: the team is closed
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 1, 33), session)
    assert len(texts_to(fake_twilio, ON_CALL)) >= 1  # the on-call phone, at once
    [text] = texts_to(fake_twilio, DAUGHTER)  # the relative, at once, in quiet hours
    assert "Teamet er stengt nå, så teamets vakt har fått beskjed." in text
    assert "ring 113" in text and "116117" in text
    assert "teamet har fått beskjed" not in text and "følger opp" not in text
    assert "Astrid" in text and "85" not in text  # the first name, never the value


def test_the_relatives_red_sms_in_opening_hours_says_the_team_has_been_told(session, clock, world):
    text = relatives.relative_alert_text(session, world.patient_a1, oslo(2026, 3, 10, 10, 0), "nb")
    assert "teamet har fått beskjed" in text


def test_the_relatives_red_sms_names_the_teams_out_of_hours_phone(session, clock, world):
    team = session.get(Team, world.team_a.id)
    team.out_of_hours_phone = "+4777626000"
    session.add(team)
    session.commit()
    text = relatives.relative_alert_text(session, world.patient_a1, oslo(2026, 3, 10, 22, 0), "nb")
    assert "teamets vakt har fått beskjed" in text and "vakttelefonen på 77 62 60 00" in text and "113" in text


def test_the_relatives_red_sms_never_claims_anyone_was_told_when_the_team_has_no_route(session, clock, world):
    team = session.get(Team, world.team_a.id)
    team.on_call_phone = None  # no policy, no out-of-hours route: nobody is paged at night
    session.add(team)
    session.commit()
    text = relatives.relative_alert_text(session, world.patient_a1, oslo(2026, 3, 10, 22, 0), "nb")
    assert "har fått beskjed" not in text
    assert "ser den ikke før det åpner igjen" in text and "113" in text and "116117" in text


@pytest.mark.parametrize("locale", ["nb", "en"])
def test_every_relative_red_sms_fits_two_segments(session, clock, world, locale):
    team = session.get(Team, world.team_a.id)
    for at in (oslo(2026, 3, 10, 10, 0), oslo(2026, 3, 10, 22, 0)):
        for phone in (None, "+4777626000"):
            team.out_of_hours_phone = phone
            session.add(team)
            session.commit()
            assert sms_segments(relatives.relative_alert_text(session, world.patient_a1, at, locale)) <= 2


# ---- the demo's messages -----------------------------------------------------------------------

def test_the_demos_messages_are_written_at_daytime_hours_whenever_it_is_loaded():
    from homefollow.demo import _daytime, _recent_daytime

    for loaded in (oslo(2026, 3, 10, 1, 33), oslo(2026, 3, 29, 5, 0), oslo(2026, 6, 1, 16, 0),
                   oslo(2026, 6, 1, 9, 45)):
        for at in (_daytime(loaded, 2, "10:15"), _recent_daytime(loaded, "09:40"), _daytime(loaded, 1, "11:20")):
            local = at.astimezone(ZoneInfo(OSLO))
            assert time(8, 0) <= local.time() <= time(16, 0) and at < loaded, (loaded, local)

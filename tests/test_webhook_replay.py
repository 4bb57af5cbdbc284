"""Each signed Twilio request is applied once (issue 19). A captured request sent again, or
Twilio retrying one it thinks was lost, gets the first answer and changes nothing: a STOP
replayed after START does not opt the patient out again, an "OK <code>" replayed after the alert
went back to the queue does not acknowledge it again, a delivery report does not fail over
twice. Through the real webhook routes, signed with twilio's own RequestValidator."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from homefollow.models import Alert, Notification, ProcessedWebhook, Report, SmsOptOut
from homefollow.notifications.outbox import forget_opt_outs
from homefollow.services.alert_log import events_of
from tests.conftest import WEBHOOK_SECRET
from tests.test_escalation_flow import oslo, post_signed, red_spo2, sms, sweep_at

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

PATIENT, NURSE = "+4791000001", "+4790000101"


def reply_of(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return response.get_data(as_text=True)


def test_a_stop_replayed_after_start_does_not_opt_the_patient_out_again(hook_app, session, world):
    first = reply_of(sms(hook_app, PATIENT, "STOPP", sid="SMstop"))
    assert session.exec(select(SmsOptOut.phone)).all() == [PATIENT]
    reply_of(sms(hook_app, PATIENT, "START", sid="SMstart"))
    session.commit()
    assert session.exec(select(SmsOptOut)).all() == []

    replay = reply_of(sms(hook_app, PATIENT, "STOPP", sid="SMstop"))  # the same signed request, captured
    assert replay == first  # the answer first given, nothing new
    session.commit()
    forget_opt_outs(session)
    assert session.exec(select(SmsOptOut)).all() == []  # still receives SMS
    assert session.exec(select(func.count()).select_from(ProcessedWebhook)).one() == 2


def test_a_replayed_acknowledgement_does_not_acknowledge_again(hook_app, engine, session, clock, world, fake_twilio,
                                                               senders):
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    alert = session.exec(select(Alert)).one()
    assert f"Kvittert: varsel {alert.short_code}" in reply_of(sms(hook_app, NURSE, f"OK {alert.short_code}",
                                                                 sid="SMack"))
    # Nobody resolves it within 30 minutes: it goes back to the queue and paging resumes.
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 30), session)
    session.refresh(alert)
    assert alert.status == "open"

    reply_of(sms(hook_app, NURSE, f"OK {alert.short_code}", sid="SMack"))  # replayed
    session.commit()
    session.refresh(alert)
    assert alert.status == "open"  # still waiting for a person, and still paged
    assert [e.kind for e in events_of(session, alert.id)].count("acknowledged") == 1

    # A new message with the code (a new MessageSid) is a real acknowledgement.
    assert "Kvittert" in reply_of(sms(hook_app, NURSE, f"OK {alert.short_code}", sid="SMack2"))
    session.refresh(alert)
    assert alert.status == "acknowledged"


def test_a_replayed_report_by_sms_is_stored_once(hook_app, session, world):
    first = reply_of(sms(hook_app, PATIENT, "VEKT 72", sid="SMweight"))
    again = reply_of(sms(hook_app, PATIENT, "VEKT 72", sid="SMweight"))
    assert again == first
    session.commit()
    assert session.exec(select(func.count()).select_from(Report)).one() == 1


def test_a_replayed_delivery_report_fails_over_once(hook_app, engine, session, clock, world, fake_twilio, senders):
    clock.set(oslo(2026, 3, 10, 10, 0))
    red_spo2(session, clock, world.patient_a1)
    sweep_at(engine, clock, senders, oslo(2026, 3, 10, 10, 0), session)
    [message] = fake_twilio.to(NURSE)
    params = {"MessageSid": message.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    path = f"/hooks/twilio/status/{WEBHOOK_SECRET}"
    assert post_signed(hook_app, path, params).status_code == 204
    session.commit()
    after_first = session.exec(select(func.count()).select_from(Notification)).one()
    alert = session.exec(select(Alert)).one()
    failures = [e.kind for e in events_of(session, alert.id)].count("page_failed")
    assert failures == 1

    assert post_signed(hook_app, path, params).status_code == 204  # Twilio sent it again
    session.commit()
    assert session.exec(select(func.count()).select_from(Notification)).one() == after_first
    assert [e.kind for e in events_of(session, alert.id)].count("page_failed") == failures


def test_a_forged_replay_with_another_body_is_still_refused(hook_app, session, world):
    """The id makes a request once-only; the signature still decides whether it is believed."""
    reply_of(sms(hook_app, PATIENT, "VEKT 72", sid="SMweight"))
    forged = post_signed(hook_app, f"/hooks/twilio/sms/{WEBHOOK_SECRET}",
                         {"From": PATIENT, "Body": "STOPP", "MessageSid": "SMweight"}, token="not-the-token")
    assert forged.status_code == 403
    session.commit()
    assert session.exec(select(SmsOptOut)).all() == []


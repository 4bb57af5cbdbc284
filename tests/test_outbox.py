"""Delivering the outbox through the real twilio library and real SMTP, to local fakes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from homefollow.models import Channel, Notification, Priority
from homefollow.notifications import outbox
from homefollow.notifications.email import LogEmailSender, SmtpEmailSender
from homefollow.notifications.outbox import Senders, dispatch_due
from homefollow.notifications.sms import LogSmsSender, TwilioSmsSender
from homefollow.scheduler import senders_from_config
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def twilio_senders(fake) -> Senders:
    return Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake.base_url),
                   email=LogEmailSender())


def queue_sms(session, clock, key="k1", to="+4790000000", body="HomeFollow: test"):
    n = outbox.enqueue(session, clock, dedup_key=key, channel=Channel.SMS, recipient=to, body=body)
    session.commit()
    return n


def reload(engine, notification_id) -> Notification:
    with Session(engine) as s:
        return s.get(Notification, notification_id)


def test_enqueue_is_deduplicated_by_key(session, clock):
    assert queue_sms(session, clock, key="alert:1:opened") is not None
    assert outbox.enqueue(session, clock, dedup_key="alert:1:opened", channel=Channel.SMS, recipient="+4790000000",
                          body="again") is None
    assert len(session.exec(select(Notification)).all()) == 1


def test_sms_goes_through_the_twilio_library_to_the_provider(engine, session, clock, fake_twilio):
    n = queue_sms(session, clock, body="HomeFollow: nytt RØDT varsel")
    result = dispatch_due(engine, clock, twilio_senders(fake_twilio))
    assert result.sent == 1
    [message] = fake_twilio.messages
    assert (message.to, message.from_, message.body) == ("+4790000000", FROM_NUMBER, "HomeFollow: nytt RØDT varsel")
    row = reload(engine, n.id)
    assert (row.status, row.provider, row.provider_ref, row.attempts) == ("sent", "twilio", message.sid, 1)
    assert row.sent_at == clock.now()
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).sent == 0  # sent once, not again


def test_transient_errors_are_retried_with_backoff(engine, session, clock, fake_twilio):
    fake_twilio.script["+4790000000"] = ["transient", "rate_limited"]
    n = queue_sms(session, clock)
    senders = twilio_senders(fake_twilio)
    assert dispatch_due(engine, clock, senders).retried == 1
    row = reload(engine, n.id)
    assert row.status == "pending" and row.due_at == clock.now() + timedelta(seconds=30) and "500" in row.last_error
    assert dispatch_due(engine, clock, senders).sent == 0  # not due yet
    clock.advance(seconds=30)
    assert dispatch_due(engine, clock, senders).retried == 1
    assert reload(engine, n.id).due_at == clock.now() + timedelta(minutes=1)
    clock.advance(minutes=1)
    assert dispatch_due(engine, clock, senders).sent == 1
    assert len(fake_twilio.messages) == 1 and reload(engine, n.id).attempts == 3


def test_permanent_errors_fail_the_message_without_retrying(engine, session, clock, fake_twilio):
    fake_twilio.script["+4790000000"] = ["permanent"]
    n = queue_sms(session, clock)
    result = dispatch_due(engine, clock, twilio_senders(fake_twilio))
    assert result.failed == 1 and result.failed_ids == [n.id]
    row = reload(engine, n.id)
    assert row.status == "failed" and "21211" in row.last_error
    clock.advance(hours=1)
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).sent == 0
    assert fake_twilio.messages == []


def test_an_unreachable_provider_never_marks_a_message_sent(engine, session, clock, fake_twilio):
    base = fake_twilio.base_url
    fake_twilio.server.shutdown()
    fake_twilio.server.server_close()
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=base, timeout=2),
                      email=LogEmailSender())
    n = queue_sms(session, clock)
    assert dispatch_due(engine, clock, senders).retried == 1
    row = reload(engine, n.id)
    assert row.status == "pending" and row.sent_at is None and "unreachable" in row.last_error


def test_gives_up_after_the_maximum_number_of_attempts(engine, session, clock, fake_twilio):
    fake_twilio.script["+4790000000"] = ["transient"] * outbox.MAX_ATTEMPTS
    n = queue_sms(session, clock)
    for _ in range(outbox.MAX_ATTEMPTS):
        dispatch_due(engine, clock, twilio_senders(fake_twilio))
        clock.advance(hours=1)
    row = reload(engine, n.id)
    assert row.status == "failed" and row.attempts == outbox.MAX_ATTEMPTS and row.last_error.startswith("gave up")


def test_a_message_left_by_a_crashed_sender_is_sent_once_after_its_lease(engine, session, clock, fake_twilio):
    n = queue_sms(session, clock)
    # A sender claimed it and died before recording anything.
    assert outbox.claim(session, clock, n.id) is not None
    senders = twilio_senders(fake_twilio)
    assert dispatch_due(engine, clock, senders).sent == 0  # still leased
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    result = dispatch_due(engine, clock, senders)
    assert (result.released, result.sent) == (1, 1)
    assert len(fake_twilio.messages) == 1 and reload(engine, n.id).status == "sent"


def test_two_dispatchers_at_once_send_each_message_exactly_once(engine, session, clock, fake_twilio):
    for i in range(30):
        queue_sms(session, clock, key=f"k{i}", body=f"message {i}")
    session.commit()
    barrier = threading.Barrier(3)

    def run():
        barrier.wait()
        dispatch_due(engine, clock, twilio_senders(fake_twilio))

    threads = [threading.Thread(target=run) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    bodies = sorted(m.body for m in fake_twilio.messages)
    assert bodies == sorted(f"message {i}" for i in range(30))
    with Session(engine) as s:
        assert {n.status for n in s.exec(select(Notification))} == {"sent"}


def test_email_goes_over_real_smtp(engine, session, clock, fake_smtp):
    n = outbox.enqueue(session, clock, dedup_key="mail-1", channel=Channel.EMAIL, recipient="team@example.no",
                       subject="Innleggelse", body="Pasienten har en plan.")
    refused = outbox.enqueue(session, clock, dedup_key="mail-2", channel=Channel.EMAIL, recipient="nobody@example.no",
                             subject="x", body="y")
    session.commit()
    fake_smtp.handler.refuse["nobody@example.no"] = "permanent"
    senders = Senders(sms=LogSmsSender(), email=SmtpEmailSender(fake_smtp.host, fake_smtp.port, "HomeFollow <hf@example.no>"))
    result = dispatch_due(engine, clock, senders)
    assert (result.sent, result.failed) == (1, 1)
    [mail] = fake_smtp.received
    assert mail.recipients == ["team@example.no"] and mail.subject == "Innleggelse"
    assert "Pasienten har en plan." in mail.body
    assert reload(engine, n.id).status == "sent" and reload(engine, refused.id).status == "failed"


def test_without_provider_settings_messages_are_recorded_by_the_log_sender(engine, session, clock):
    senders = senders_from_config({})
    assert senders.sms.name == "log" and senders.email.name == "log"
    n = queue_sms(session, clock)
    assert dispatch_due(engine, clock, senders).sent == 1
    row = reload(engine, n.id)
    assert row.status == "sent" and row.provider == "log" and row.provider_ref.startswith("log-")


def test_provider_settings_select_twilio_and_smtp():
    senders = senders_from_config({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                                   "TWILIO_FROM_NUMBER": FROM_NUMBER, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": 25,
                                   "SMTP_FROM": "x@example.no"})
    assert (senders.sms.name, senders.email.name) == ("twilio", "smtp")


# -- the red path: order, lanes, provider hints, at most once (issue 18) ----------------------

def queue_page(session, clock, key, to, priority, body="HomeFollow: side"):
    n = outbox.enqueue(session, clock, dedup_key=key, channel=Channel.SMS, recipient=to, body=body,
                       priority=priority, with_ref=True, duty=True)
    session.commit()
    return n


def test_red_pages_go_first_even_behind_a_full_batch_of_older_messages(engine, session, clock, fake_twilio):
    for i in range(outbox.BATCH + 20):
        queue_sms(session, clock, key=f"reminder-{i}", to=f"+47911{i:05d}", body=f"reminder {i}")
    clock.advance(seconds=30)
    red = queue_page(session, clock, "esc:1:e1:red:r0:s0:acct1:sms", "+4790000101", Priority.RED)
    result = dispatch_due(engine, clock, twilio_senders(fake_twilio), limit=outbox.BATCH)
    assert result.sent == outbox.BATCH
    assert reload(engine, red.id).status == "sent"  # not left for the next pass
    assert fake_twilio.to("+4790000101")[0].body.endswith(f"Ref: {red.ref}")


def test_a_page_carries_a_unique_ref_token(session, clock):
    first = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    second = queue_page(session, clock, "p2", "+4790000101", Priority.RED)
    assert first.ref and second.ref and first.ref != second.ref
    assert first.body == f"HomeFollow: side\nRef: {first.ref}"
    plain = queue_sms(session, clock, key="plain")
    assert plain.ref is None and "Ref:" not in plain.body  # patients' texts carry no token


def test_retry_after_from_a_429_is_honoured(engine, session, clock, fake_twilio):
    fake_twilio.script["+4790000000"] = ["rate_limited:600"]
    n = queue_sms(session, clock)
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).retried == 1
    row = reload(engine, n.id)
    assert row.due_at >= clock.now() + timedelta(seconds=600)  # not the 30 s backoff
    clock.advance(seconds=599)
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).sent == 0
    clock.advance(seconds=2)
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).sent == 1
    assert len(fake_twilio.to("+4790000000")) == 1


def test_smtp_4xx_is_retried_and_5xx_is_failed_for_good(engine, session, clock, fake_smtp):
    senders = Senders(sms=LogSmsSender(), email=SmtpEmailSender(fake_smtp.host, fake_smtp.port, "hf@example.no"))
    fake_smtp.script["later@example.no"] = ["rcpt:451", "ok"]
    fake_smtp.script["data@example.no"] = ["data:451", "ok"]
    fake_smtp.script["never@example.no"] = ["rcpt:550"]
    rows = {address: outbox.enqueue(session, clock, dedup_key=address, channel=Channel.EMAIL, recipient=address,
                                    subject="s", body="b")
            for address in ("later@example.no", "data@example.no", "never@example.no")}
    session.commit()
    result = dispatch_due(engine, clock, senders)
    assert (result.retried, result.failed) == (2, 1)
    assert reload(engine, rows["never@example.no"].id).status == "failed"
    clock.advance(minutes=1)
    assert dispatch_due(engine, clock, senders).sent == 2
    assert sorted(m.recipients[0] for m in fake_smtp.received) == ["data@example.no", "later@example.no"]


def test_a_page_accepted_before_its_sender_died_is_found_and_not_sent_again(engine, session, clock, fake_twilio):
    n = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    claimed = outbox.claim(session, clock, n.id)
    # The dead sender's request reached Twilio (the process died before recording it).
    twilio_senders(fake_twilio).sms.send(claimed.recipient, claimed.body)
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    result = dispatch_due(engine, clock, twilio_senders(fake_twilio))
    assert (result.released, result.reconciled, result.sent) == (1, 1, 1)
    assert len(fake_twilio.to("+4790000101")) == 1
    row = reload(engine, n.id)
    assert row.status == "sent" and row.provider_ref == fake_twilio.messages[0].sid and not row.fate_unknown


def test_a_page_that_never_reached_twilio_before_its_sender_died_is_sent(engine, session, clock, fake_twilio):
    n = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    outbox.claim(session, clock, n.id)
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    result = dispatch_due(engine, clock, twilio_senders(fake_twilio))
    assert (result.reconciled, result.sent) == (0, 1)
    assert len(fake_twilio.to("+4790000101")) == 1


def test_accepted_then_no_answer_in_time_is_not_sent_twice(engine, session, clock, fake_twilio):
    fake_twilio.script["+4790000101"] = ["accept_then_hang:3"]
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url,
                                          timeout=1), email=LogEmailSender())
    n = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    assert dispatch_due(engine, clock, senders).retried == 1
    assert reload(engine, n.id).fate_unknown
    clock.advance(minutes=1)
    result = dispatch_due(engine, clock, senders)
    assert (result.reconciled, result.sent) == (1, 1)
    assert len(fake_twilio.to("+4790000101")) == 1


def test_when_the_lookup_fails_nothing_is_sent_blind(engine, session, clock, fake_twilio):
    n = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    outbox.claim(session, clock, n.id)
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    fake_twilio.list_mode = "transient"
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).retried == 1
    assert fake_twilio.to("+4790000101") == []
    fake_twilio.list_mode = "ok"
    clock.advance(minutes=1)
    assert dispatch_due(engine, clock, twilio_senders(fake_twilio)).sent == 1
    assert len(fake_twilio.to("+4790000101")) == 1


def test_a_sender_that_lost_its_claim_while_stalled_does_not_send(engine, session, clock, fake_twilio):
    n = queue_page(session, clock, "p1", "+4790000101", Priority.RED)
    claimed = outbox.claim(session, clock, n.id)
    # It stalled past its lease; another sender took the message over.
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    with Session(engine) as other:
        outbox.release_expired_leases(other, clock)
        assert outbox.claim(other, clock, n.id) is not None
    result = outbox.DispatchResult()
    with Session(engine) as s:
        outbox._deliver(s, clock, twilio_senders(fake_twilio), claimed, result)
    assert result.skipped == 1 and fake_twilio.to("+4790000101") == []


def test_a_hanging_sms_provider_does_not_hold_back_email(engine, session, clock, fake_twilio, fake_smtp):
    fake_twilio.mode = "hang:3"
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url,
                                          timeout=1),
                      email=SmtpEmailSender(fake_smtp.host, fake_smtp.port, "hf@example.no"), concurrency=2)
    for i in range(4):
        queue_sms(session, clock, key=f"s{i}", to=f"+4791100{i:03d}")
    outbox.enqueue(session, clock, dedup_key="mail", channel=Channel.EMAIL, recipient="nurse@example.no",
                   subject="RØDT", body="b", priority=Priority.RED)
    session.commit()
    result = dispatch_due(engine, clock, senders)
    assert result.sent == 1 and result.retried == 4
    assert [m.recipients for m in fake_smtp.received] == [["nurse@example.no"]]
    assert fake_smtp.received[0].received_at < min(a.at for a in fake_twilio.attempts) + 1  # not after the SMS
    fake_twilio.release()


def test_the_red_lane_sends_red_pages_only(engine, session, clock, fake_twilio):
    from homefollow.scheduler import send_red_pages

    reminder = queue_sms(session, clock, key="reminder", to="+4791100001")
    yellow = queue_page(session, clock, "yellow", "+4790000101", Priority.YELLOW)
    red = queue_page(session, clock, "red", "+4790000102", Priority.RED)
    result = send_red_pages(engine, clock, twilio_senders(fake_twilio))
    assert result.sent == 1
    assert [reload(engine, n.id).status for n in (reminder, yellow, red)] == ["pending", "pending", "sent"]

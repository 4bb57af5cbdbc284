"""Messages reach the team: a message from the patient or a relative — written in the portal or
texted by SMS — is an item in the triage queue (paged by the team's policy like a yellow alert)
and shows in the patient overview, until someone in the team reads or answers it; the patient
is told it is not for emergencies and whom to call instead."""

from __future__ import annotations

import html
from datetime import datetime, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from homefollow.links import public_url
from homefollow.models import Alert, AlertEvent, AuditEvent, Message, Notification, Patient, PatientStatus, Team
from homefollow.notifications.sms_commands import FreeText, Report, Unknown, parse_sms
from homefollow.notifications.texts import sms_segments
from homefollow.services import messages, overview
from homefollow.services.audit import Actor
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.webclient import WebClient, staff_client, text_of

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
CHEST = "Jeg har vondt i brystet siden i går kveld"


def oslo(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC)


def patient_client(app, login="+4791000001") -> WebClient:
    client = WebClient(app.test_client())
    client.login_patient(login)
    client.get("/today", follow_redirects=True)  # a relative picks the patient here
    return client


def write(client: WebClient, body: str):
    return client.submit("/messages", {"body": body})


def items(session) -> list[Alert]:
    session.expire_all()
    return list(session.exec(select(Alert).where(Alert.rule_key == messages.ALERT_KEY).order_by(Alert.id)))


def events(session, alert: Alert) -> list[AlertEvent]:
    return list(session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id)))


# ---- from the portal to the queue -----------------------------------------------------------

def test_a_message_is_a_yellow_item_in_the_queue_with_its_age_and_is_paged_by_policy(app, session, clock, world):
    assert write(patient_client(app), CHEST).status_code == 302
    [item] = items(session)
    assert (item.severity, item.status, item.patient_id, item.team_id) == ("yellow", "open", world.patient_a1.id,
                                                                           world.team_a.id)
    assert item.escalation_policy is not None  # the team's policy, frozen as for any alert
    # Paged like a yellow alert in opening hours: the nurse, by SMS and e-mail, with no health detail.
    pages = session.exec(select(Notification).where(Notification.alert_id == item.id)).all()
    assert {p.recipient for p in pages} >= {"+4790000101"}
    for page in pages:
        assert "brystet" not in page.body and "Astrid" not in page.body and item.short_code in page.body

    clock.advance(minutes=25)
    queue = text_of(staff_client(app, "nurse.a@example.no").get("/clinic/"))
    assert "Astrid A1" in queue and "Ulest melding" in queue and "1 ulest melding" in queue
    assert "«Jeg har vondt i brystet siden i går kveld»" in queue  # the first words, to the team's staff
    assert "25 minutter" in queue  # how long it has waited
    assert "grense" not in queue  # a message has no limit


def test_the_overview_shows_unread_messages(app, session, clock, world):
    write(patient_client(app), CHEST)
    page = text_of(staff_client(app, "nurse.a@example.no").get("/clinic/patients"))
    assert "Astrid A1 1 ulest melding" in page
    [row] = [r for r in overview.patient_rows(session, clock, {world.team_a.id}) if r.patient.id == world.patient_a1.id]
    assert (row.unread_messages, row.light, row.open_alerts) == (1, "yellow", 1)


def test_a_second_message_updates_the_same_item_without_paging_again(app, session, clock, world):
    client = patient_client(app)
    write(client, "Kan dere ringe meg?")
    [item] = items(session)
    pages = len(session.exec(select(Notification).where(Notification.alert_id == item.id)).all())
    clock.advance(minutes=10)
    write(client, CHEST)
    [again] = items(session)
    assert again.id == item.id and again.occurrences == 2 and again.opened_at == item.opened_at
    assert again.value_text["nb"] == "2 uleste meldinger" and "brystet" in again.explanation["nb"]
    assert len(session.exec(select(Notification).where(Notification.alert_id == item.id)).all()) == pages
    assert [e.kind for e in events(session, again)].count("repeated") == 1


def test_reading_the_thread_resolves_the_item_with_an_event_saying_so(app, session, clock, world):
    write(patient_client(app), CHEST)
    [item] = items(session)
    clock.advance(minutes=20)
    nurse = staff_client(app, "nurse.a@example.no")
    page = text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))
    assert "1 ny melding fra pasienten eller en pårørende" in page and CHEST in page
    [item] = items(session)
    assert (item.status, item.outcome, item.resolved_by_account_id) == ("resolved", "other", world.nurse_a.id)
    resolved = events(session, item)[-1]
    assert (resolved.kind, resolved.actor_account_id, resolved.data["reason"]) == ("resolved", world.nurse_a.id,
                                                                                   "message_read")
    log = text_of(nurse.get(f"/clinic/alerts/{item.id}"))
    assert "Avsluttet av seg selv: meldingene ble lest på pasientsiden." in log and "Nora Nurse" in log
    assert "Ingen åpne varsler" in text_of(nurse.get("/clinic/"))
    assert "ulest melding" not in text_of(nurse.get("/clinic/patients"))
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "message.read")).one().actor_account_id \
        == world.nurse_a.id
    # Opening the page again changes nothing more; a new message opens a new item.
    assert "ny melding" not in text_of(nurse.get(f"/clinic/patients/{world.patient_a1.id}"))
    write(patient_client(app), "En ting til.")
    assert [a.status for a in items(session)] == ["resolved", "open"]


def test_the_alert_page_leads_to_the_messages(app, session, world):
    write(patient_client(app), CHEST)
    [item] = items(session)
    page = text_of(staff_client(app, "nurse.a@example.no").get(f"/clinic/alerts/{item.id}"))
    assert "Les og svar på meldingene" in page and "Pasienten skrev" in page and "brystet" in page


def test_an_answer_settles_nothing_the_team_has_not_seen(session, clock, world):
    """A message that arrives after the nurse opened the page is still unread when she answers:
    the item stays; reading it resolves it."""
    patient = session.get(Patient, world.patient_a1.id)
    messages.send_from_patient_side(session, clock, patient=patient, actor=Actor(patient.account_id, "patient"),
                                    body=CHEST)
    messages.send_from_team(session, clock, patient=patient, actor=Actor(world.nurse_a.id, "staff"),
                            body="Vi ringer deg.")
    [item] = items(session)
    assert item.status == "open"
    messages.mark_read_by_team(session, clock, patient.id, Actor(world.nurse_a.id, "staff"))
    assert items(session)[0].status == "resolved"


def test_an_answer_resolves_an_item_whose_messages_are_read(session, clock, world):
    patient = session.get(Patient, world.patient_a1.id)
    messages.send_from_patient_side(session, clock, patient=patient, actor=Actor(patient.account_id, "patient"),
                                    body=CHEST)
    session.exec(select(Message)).one().read_by_team_at = clock.now()  # read elsewhere, item still open
    session.commit()
    messages.send_from_team(session, clock, patient=patient, actor=Actor(world.nurse_a.id, "staff"),
                            body="Vi ringer deg.")
    [item] = items(session)
    assert (item.status, item.outcome) == ("resolved", "advice_given")
    assert events(session, item)[-1].data["reason"] == "message_answered"


def test_a_relatives_message_says_who_wrote_it(app, session, world):
    assert write(patient_client(app, "+4791000011"), "Mor er mye mer tungpustet i dag.").status_code == 302
    [item] = items(session)
    assert item.patient_id == world.patient_a1.id and item.explanation["nb"].startswith("Marit Datter (pårørende) skrev")
    assert session.exec(select(Message)).one().author_account_id == world.relative.id


def test_out_of_hours_the_item_waits_for_the_team_and_the_patient_is_told_whom_to_call(app, session, clock, world):
    clock.set(oslo(2026, 3, 13, 18, 0))  # Friday evening
    client = patient_client(app)
    page = text_of(client.get("/messages"))
    assert "Ikke for akutte situasjoner." in page and "Teamet leser meldinger bare når det er åpent." in page
    assert "Teamet er stengt nå og åpner igjen mandag kl. 08:00." in page and "ring 113" in page
    response = client.submit("/messages", {"body": CHEST}, follow_redirects=True)
    confirmation = text_of(response)
    assert "Meldingen er sendt til teamet. Teamet er stengt nå og åpner igjen mandag kl. 08:00." in confirmation
    assert "Haster det, ring legevakten på 116 117." in confirmation.replace("\u00a0", " ")
    assert 'href="tel:116117"' in response.get_data(as_text=True)
    [item] = items(session)
    assert session.exec(select(Notification).where(Notification.alert_id == item.id)).all() == []  # nobody woken
    assert item.escalation_due_at == oslo(2026, 3, 16, 8, 0)  # paged when the team opens
    assert "brystet" in text_of(staff_client(app, "nurse.a@example.no").get("/clinic/"))  # but in the queue now


def test_in_opening_hours_the_messages_page_offers_the_teams_phone(app, world):
    response = patient_client(app).get("/messages")
    assert "Teamet er åpent nå, til kl. 15:30." in text_of(response)
    assert 'href="tel:+4777620000"' in response.get_data(as_text=True)


# ---- who may see it ---------------------------------------------------------------------------

def test_staff_of_another_team_neither_see_nor_resolve_the_item(app, session, world):
    write(patient_client(app), CHEST)
    [item] = items(session)
    other = staff_client(app, "nurse.b@example.no")
    queue = text_of(other.get("/clinic/"))
    assert "Astrid" not in queue and "brystet" not in queue and "Ulest melding" not in queue
    assert other.get(f"/clinic/alerts/{item.id}").status_code == 404
    assert other.get(f"/clinic/patients/{world.patient_a1.id}").status_code == 404
    assert "Astrid" not in text_of(other.get("/clinic/patients"))
    [item] = items(session)
    assert item.status == "open"
    assert session.exec(select(Message)).one().read_by_team_at is None


def test_hostile_messages_are_stored_cleanly_or_refused_never_a_500(app, session, world):
    client = patient_client(app)
    assert write(client, "Hei\x00 dere\x1b, jeg er svimmel").status_code == 302
    assert session.exec(select(Message)).one().body == "Hei dere, jeg er svimmel"
    response = write(client, "\x00\x00")
    assert response.status_code == 400 and "Skriv en melding" in text_of(response)
    assert write(client, "ø" * 2000).status_code == 302
    assert len(items(session)) == 1


# ---- by SMS ----------------------------------------------------------------------------------

@pytest.fixture
def hook_app(engine, clock, session):
    from homefollow import create_app
    from tests.conftest import app_config, observed_by

    return observed_by(create_app(app_config(engine, clock, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                             TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_WEBHOOK_SECRET=WEBHOOK_SECRET)),
                       session)


def sms(app, from_number, body, sid="SM1") -> str:
    path = f"/hooks/twilio/sms/{WEBHOOK_SECRET}"
    params = {"From": from_number, "Body": body, "MessageSid": sid}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url(path), params)
    response = app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    xml = response.get_data(as_text=True)
    return html.unescape(xml.split("<Message>", 1)[1].split("</Message>", 1)[0]) if "<Message>" in xml else ""


def test_a_symptom_texted_by_sms_becomes_a_message_in_the_queue_and_the_reply_says_so(hook_app, session, world):
    reply = sms(hook_app, "+4791000001", CHEST)
    assert reply.startswith("Meldingen din er sendt til teamet. Meldinger er ikke for akutte situasjoner.")
    assert "Teamet er åpent nå, til kl. 15:30. Haster det, ring teamet på 77 62 00 00." in reply
    assert reply.endswith("Ved akutt fare: ring 113.") and sms_segments(reply) <= 2
    [message] = session.exec(select(Message)).all()
    assert (message.body, message.patient_id, message.from_team, message.idempotency_key) == (
        CHEST, world.patient_a1.id, False, "sms:SM1")
    [item] = items(session)
    assert "brystet" in item.explanation["nb"]
    # Twilio delivers the same webhook again: stored once, the item not touched.
    sms(hook_app, "+4791000001", CHEST)
    assert len(session.exec(select(Message)).all()) == 1 and items(session)[0].occurrences == 1
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "message.create")).one()
    assert audit.detail == {"channel": "sms"} or audit.detail.get("channel") == "sms"


def test_out_of_hours_the_sms_reply_names_legevakt_or_the_out_of_hours_number(hook_app, session, clock, world):
    clock.set(oslo(2026, 3, 14, 2, 0))  # Saturday night
    reply = sms(hook_app, "+4791000001", CHEST)
    assert "Teamet er stengt nå og åpner igjen mandag kl. 08:00. Haster det, ring legevakten på 116117." in reply
    assert sms_segments(reply) <= 2
    team = session.get(Team, world.team_a.id)
    team.out_of_hours_phone = "+4777600000"
    session.add(team)
    session.commit()
    reply = sms(hook_app, "+4791000001", "Og nå er jeg svimmel også", sid="SM2")
    assert "Haster det, ring vakttelefonen på 77 60 00 00." in reply and sms_segments(reply) <= 2


def test_a_relative_who_may_report_can_text_the_team(hook_app, session, world):
    reply = sms(hook_app, "+4791000011", "Mor har falt og slått hodet")
    assert reply.startswith("Meldingen din er sendt til teamet.")
    message = session.exec(select(Message)).one()
    assert (message.patient_id, message.author_account_id) == (world.patient_a1.id, world.relative.id)


def test_unknown_senders_staff_and_stopped_follow_up_get_their_own_reply_and_nothing_is_stored(hook_app, session,
                                                                                                world):
    assert "ikke registrert" in sms(hook_app, "+4799999999", CHEST)
    assert "ikke registrert" in sms(hook_app, "+4791000012", CHEST, sid="SM2")  # a relative who may only look
    assert "OK K7QX4" in sms(hook_app, "+4790000101", "Ringer henne nå", sid="SM3")  # a nurse: how to acknowledge
    patient = session.get(Patient, world.patient_a2.id)
    patient.status = PatientStatus.ENDED.value
    session.add(patient)
    session.commit()
    reply = sms(hook_app, "+4791000002", CHEST, sid="SM4")
    assert reply.startswith("HomeFollow følger deg ikke opp nå, så ingen leser denne meldingen.")
    assert "116117" in reply and "113" in reply
    assert session.exec(select(Message)).all() == [] and items(session) == []


def test_texts_that_try_to_be_readings_keep_their_precise_replies(hook_app, session, world):
    assert "er for lavt til å stemme" in sms(hook_app, "+4791000001", "BT 135/8")
    assert "Vi forstod ikke «VEKT sytti»" in sms(hook_app, "+4791000001", "VEKT sytti", sid="SM2")
    assert "Skriv hva du har målt foran tallet" in sms(hook_app, "+4791000001", "135/85", sid="SM3")
    assert session.exec(select(Message)).all() == []


def test_a_patient_saying_ok_in_words_is_heard(hook_app, session, world):
    """Only staff acknowledge alerts: "Ok, men jeg er svimmel" from a patient is a message."""
    assert sms(hook_app, "+4791000001", "Ok, men jeg er fortsatt svimmel").startswith("Meldingen din er sendt")
    assert session.exec(select(Message)).one().body == "Ok, men jeg er fortsatt svimmel"


def test_hostile_sms_never_a_500(hook_app, session, world):
    reply = sms(hook_app, "+4791000001", "Hei\x00 jeg\x00 har vondt")
    assert reply.startswith("Meldingen din er sendt")
    assert session.exec(select(Message)).one().body == "Hei jeg har vondt"
    long = "Jeg har vondt " * 2000
    assert sms(hook_app, "+4791000001", long, sid="SM2").startswith("Meldingen din er sendt")
    assert max(len(m.body) for m in session.exec(select(Message))) == messages.MAX_LENGTH
    for body in ("\x00", "", "🫀🫀 💔", "‮ reverse text ‮"):
        sms(hook_app, "+4791000001", body, sid=f"SM-{len(body)}-{ord(body[0]) if body else 0}")


def test_a_yellow_reading_by_sms_out_of_hours_names_whom_to_call(hook_app, session, clock, world):
    clock.set(oslo(2026, 3, 13, 20, 0))
    reply = sms(hook_app, "+4791000001", "BT 165/85")
    assert "Haster det, ring legevakten på 116117." in reply and sms_segments(reply) <= 2
    clock.set(oslo(2026, 3, 16, 10, 0))  # Monday morning: the plan's own words are enough
    reply = sms(hook_app, "+4791000001", "BT 166/85", sid="SM2")
    assert "Haster det" not in reply


def test_a_red_reading_by_sms_out_of_hours_names_113_and_whom_to_call(hook_app, session, clock, world):
    team = session.get(Team, world.team_a.id)
    team.out_of_hours_phone = "+4777600000"
    session.add(team)
    session.commit()
    clock.set(oslo(2026, 3, 14, 3, 0))
    reply = sms(hook_app, "+4791000001", "O2 85")
    assert "113" in reply and "Haster det, ring vakttelefonen på 77 60 00 00." in reply and sms_segments(reply) <= 2


# ---- where a message ends and a reading begins ------------------------------------------------

@pytest.mark.parametrize("text", [
    CHEST, "Hjelp, jeg får ikke puste", "Hei! Jeg føler meg bra i dag", "Vekten min er 74 i dag",
    "Puls 72 og jeg er svimmel", "O2 93 og tungpustet", "Kan dere ringe meg?", "? hva betyr dette",
])
def test_words_for_the_team_are_a_message(text):
    assert parse_sms(text) == FreeText(text)


@pytest.mark.parametrize(("text", "kind"), [
    ("BT 135/8", Unknown), ("VEKT sytti", Unknown), ("135/85", Unknown), ("blåbær 5", Unknown), ("Takk", Unknown),
    ("BT 135/85 takk", Unknown), ("BT 135/85 P 72", Report), ("Puls: 72 slag/min", Report),
])
def test_texts_that_try_to_be_readings_are_not_messages(text, kind):
    assert isinstance(parse_sms(text), kind)

"""The whole loop over HTTP, as a browser without JavaScript would drive it:
patient signs in → reports → sees the zone and the plan's instruction → alert in the queue
→ nurse acknowledges → resolves with an outcome → every step in the event log."""

from __future__ import annotations

import re

from sqlmodel import select

from homefollow.models import Alert, AlertEvent, Measurement, Report
from tests.webclient import WebClient, staff_code, text_of


def test_patient_reports_red_and_nurse_triages_it(app, session, clock, world):
    patient = WebClient(app.test_client())
    patient.login_patient("910 00 001")  # spaces as people type them
    today = patient.get("/today")
    assert today.status_code == 200
    assert "Oksygenmetning" in text_of(today) and "Ikke ennå" in text_of(today)

    response = patient.submit("/report/spo2", {"spo2": "86"})
    assert response.status_code == 302
    result = patient.get(response.headers["Location"])
    page = text_of(result)
    assert "Rød sone" in page
    assert "Ring 113 ved alvorlig pustebesvær." in page  # the plan's own words
    html = result.get_data(as_text=True)
    assert html.index('href="tel:113"') < html.index("Ring 113 ved alvorlig pustebesvær.")  # call buttons first
    assert 'href="tel:116117"' in html
    assert 'href="tel:+4777620000"' in html  # the team, because it is open on a Tuesday at 09:00

    clock.advance(minutes=12)
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    queue = text_of(nurse.get("/clinic/"))
    assert "Astrid A1" in queue and "Oksygenmetning i rød sone (KOLS)" in queue
    assert "86%" in queue and "< 92%" in queue and "12 minutter" in queue

    alert = session.exec(select(Alert)).one()
    assert nurse.submit(f"/clinic/alerts/{alert.id}", {}, action=f"/clinic/alerts/{alert.id}/acknowledge").status_code == 302
    assert "Kvittert av Nora Nurse" in text_of(nurse.get("/clinic/"))

    clock.advance(minutes=20)
    response = nurse.submit(f"/clinic/alerts/{alert.id}", {"outcome": "advice_given", "note": "Ringte, startet kur."},
                            action=f"/clinic/alerts/{alert.id}/resolve")
    assert response.status_code == 302
    session.refresh(alert)
    assert (alert.status, alert.outcome, alert.resolution_note) == ("resolved", "advice_given", "Ringte, startet kur.")
    assert "Ingen åpne varsler" in text_of(nurse.get("/clinic/"))
    kinds = [e.kind for e in session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id))]
    # Acknowledged after 12 minutes, before the coordinator's turn at 15: one page only.
    assert kinds == ["opened", "page_queued", "acknowledged", "resolved"]
    log = text_of(nurse.get(f"/clinic/alerts/{alert.id}"))
    assert "Råd gitt" in log and "Ringte, startet kur." in log


def test_today_shows_done_and_missed_and_a_friendly_word_when_all_is_done(app, clock, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    clock.advance(hours=4)  # 13:00 in Oslo: the 08:00 and 09:00 items are late
    page = text_of(patient.get("/today"))
    assert page.count("Glemt – registrer nå") == 3  # SpO2 08:00, weight 08:00, BP 09:00
    patient.submit("/report/spo2", {"spo2": "95"})
    patient.submit("/report/weight", {"weight": "68,4"})
    patient.submit("/report/blood_pressure", {"bp_systolic": "130", "bp_diastolic": "80"})
    page = text_of(patient.get("/today"))
    assert page.count("Gjort") == 3 and "Ikke ennå" in page  # SpO2 18:00 is still to come
    clock.advance(hours=6)
    patient.submit("/report/spo2", {"spo2": "94"})
    assert "Alt er gjort for i dag. Takk!" in text_of(patient.get("/today"))


def test_implausible_value_gets_a_clear_norwegian_message_and_keeps_the_form(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "900", "bp_diastolic": "80"})
    assert response.status_code == 200
    page = text_of(response)
    assert ("Du skrev 900. Øverste tall (systolisk) kan ikke være høyere enn 260 millimeter kvikksølv (mmHg)."
            in page)
    html = response.get_data(as_text=True)
    assert 'value="900"' in html and 'value="80"' in html  # nothing typed is lost
    assert 'aria-invalid="true"' in html and 'aria-describedby="bp_systolic-hint bp_systolic-error"' in html
    response = patient.submit("/report/weight", {"weight": "sytti"})
    assert "Skriv et tall, for eksempel 74,5." in text_of(response)
    response = patient.submit("/report/blood_pressure", {"bp_systolic": "120", "bp_diastolic": "125"})
    assert "Det nederste tallet må være mindre enn det øverste" in text_of(response)
    assert session.exec(select(Report)).all() == []


def test_a_decimal_in_a_whole_number_is_refused_not_rounded(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    response = patient.submit("/report/pulse", {"pulse": "72,5"})
    assert response.status_code == 200
    assert "Puls er et helt tall. Skriv det uten komma, for eksempel 72." in text_of(response)
    assert 'value="72,5"' in response.get_data(as_text=True)
    assert session.exec(select(Report)).all() == []


def test_blood_pressure_typed_as_on_the_monitor_in_one_field_is_understood(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.submit("/report/blood_pressure", {"bp_systolic": "135 / 85", "bp_diastolic": ""}).status_code == 302
    values = {m.code: m.value for m in session.exec(select(Measurement))}
    assert values == {"bp_systolic": 135, "bp_diastolic": 85}


def test_comma_decimal_is_accepted(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    patient.submit("/report/weight", {"weight": "70,4"})
    assert session.exec(select(Report)).one().zone == "yellow"


def test_double_submit_from_a_flaky_phone_stores_one_measurement(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    fields = patient.form_fields("/report/spo2")
    data = {"csrf_token": fields["csrf_token"], "idempotency_key": fields["idempotency_key"], "spo2": "86"}
    first = patient.client.post("/report/spo2", data=data)
    second = patient.client.post("/report/spo2", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]  # both show the same result
    assert len(session.exec(select(Report)).all()) == 1
    assert len(session.exec(select(Alert)).all()) == 1


def test_expired_session_keeps_the_typed_values(app, session, world):
    """The phone was left on the form overnight; the session is gone when she presses Send."""
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    key = patient.form_fields("/report/weight")["idempotency_key"]
    fresh = WebClient(app.test_client())  # a browser whose session cookie has expired
    response = fresh.client.post("/report/weight", data={"csrf_token": "stale", "idempotency_key": key, "weight": "71,2"})
    assert response.status_code == 302
    response = fresh.client.get(response.headers["Location"])  # → sign in first
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login = fresh.submit(response.headers["Location"], {"login": "91000001", "password": "correct horse battery"})
    form = fresh.get(login.headers["Location"])
    html = form.get_data(as_text=True)
    assert 'value="71,2"' in html and f'value="{key}"' in html
    assert "Vi tok vare på det du skrev" in text_of(form)
    assert session.exec(select(Report)).all() == []  # nothing stored until she confirms


def test_english_is_available(app, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    patient.submit("/today", {"locale": "en"}, action="/locale")
    page = text_of(patient.get("/today"))
    assert "Today" in page and "Oxygen saturation" in page and "Not yet" in page


def test_wrong_password_gives_a_clear_error_and_repeated_failures_are_throttled(app, world):
    client = WebClient(app.test_client())
    response = client.submit("/login", {"login": "91000001", "password": "wrong"})
    assert response.status_code == 200
    assert "Mobilnummeret eller passordet er feil" in text_of(response)
    for _ in range(10):
        response = client.submit("/login", {"login": "91000001", "password": "wrong"})
    assert response.status_code == 429
    assert "For mange forsøk" in text_of(response)
    # Another user is not locked out by someone guessing at Astrid's account.
    assert client.submit("/login", {"login": "91000002", "password": "correct horse battery"}).status_code == 302


def test_staff_sessions_time_out_after_inactivity(app, clock, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    assert nurse.get("/clinic/").status_code == 200
    clock.advance(minutes=31)
    response = nurse.get("/clinic/")
    assert response.status_code == 302 and "/clinic/login" in response.headers["Location"]
    clock.advance(minutes=1)
    assert nurse.get("/clinic/").status_code == 302  # really signed out


def test_security_headers_are_set(app, world):
    response = app.test_client().get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_without_a_csrf_token_are_refused(app, session, world):
    client = app.test_client()
    response = client.post("/clinic/login", data={"email": "nurse.a@example.no", "password": "correct horse battery"})
    assert response.status_code == 400
    assert "Skjemaet var utløpt" in text_of(response)


def test_unknown_pages_get_a_friendly_404_never_a_500(app, world):
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    assert client.get("/report/cholesterol").status_code == 404
    assert client.get("/report/result/999999").status_code == 404
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "Vi fant ikke siden" in text_of(response)


def test_login_throttling_is_shared_by_workers_through_redis(engine, clock, world):
    """Several gunicorn workers count failed sign-ins together when RATELIMIT_STORAGE_URI
    points at Redis, as the README's production set-up does."""
    import socket
    import uuid

    import pytest

    from homefollow import create_app
    from tests.conftest import app_config

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    config = app_config(engine, clock, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379",
                        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}")
    worker_1 = WebClient(create_app(config).test_client())
    for _ in range(10):
        worker_1.submit("/login", {"login": "91000001", "password": "wrong"})
    # A new app starts with a fresh limiter storage, as another worker process would;
    # only a shared store remembers the failures.
    worker_2 = WebClient(create_app(config).test_client())
    assert worker_2.submit("/login", {"login": "91000001", "password": "wrong"}).status_code == 429


def test_signing_out_also_forgets_keep_me_signed_in(app, world):
    client = WebClient(app.test_client())
    response = client.submit("/login", {"login": "91000001", "password": "correct horse battery", "remember": "y"})
    assert response.status_code == 302
    client.client.delete_cookie("session")  # the browser was closed: only the remember cookie is left
    assert client.get("/today").status_code == 200  # kept signed in on her own phone
    client.submit("/today", {}, action="/logout")
    assert client.get("/today").status_code == 302  # signed out for real
    client.client.delete_cookie("session")
    assert client.get("/today").status_code == 302  # and the remember cookie is gone too


def test_ids_too_large_for_the_database_are_not_found(app, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    huge = "9" * 25
    assert nurse.get(f"/clinic/alerts/{huge}").status_code == 404
    assert nurse.get(f"/clinic/patients/{huge}").status_code == 404
    token = nurse.csrf_token("/clinic/")
    assert nurse.client.post(f"/clinic/alerts/{huge}/acknowledge", data={"csrf_token": token}).status_code == 404
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.get(f"/report/result/{huge}").status_code == 404


def test_a_unit_typed_after_the_number_is_understood(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.submit("/report/weight", {"weight": "70,4 kg"}).status_code == 302
    assert session.exec(select(Report)).one().zone == "yellow"


def test_an_implausible_value_is_quoted_as_typed(app, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    page = text_of(patient.submit("/report/spo2", {"spo2": "0.96"}))
    assert "Du skrev 0.96. Oksygenmetning kan ikke være lavere enn 50 prosent (%)" in page


def test_the_same_value_again_within_minutes_is_confirmed_before_it_is_stored(app, session, clock, world):
    """The Back button brings a fresh form; the same reading sent again is probably not new."""
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    patient.submit("/report/weight", {"weight": "68,2"})
    clock.advance(minutes=2)
    asked = patient.submit("/report/weight", {"weight": "68,2"})
    assert asked.status_code == 200
    assert "Du sendte den samme verdien kl. 09:00" in text_of(asked)
    assert len(session.exec(select(Report)).all()) == 1
    fields = patient.form_fields("/report/weight")  # a fresh form: not yet confirmed
    assert fields["confirm_repeat"] == ""
    html = asked.get_data(as_text=True)
    key = html.split('name="idempotency_key" type="hidden" value="')[1].split('"')[0]
    confirmed = patient.client.post("/report/weight", data={
        "csrf_token": fields["csrf_token"], "idempotency_key": key, "confirm_repeat": "yes", "weight": "68,2"})
    assert confirmed.status_code == 302
    assert len(session.exec(select(Report)).all()) == 2
    clock.advance(minutes=15)
    assert patient.submit("/report/weight", {"weight": "68,2"}).status_code == 302  # long after: a new reading


def test_a_nurses_note_survives_an_expired_session(app, session, clock, world):
    from homefollow.services import reporting

    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 86},
                                 idempotency_key="x", reported_by_account_id=None, actor_kind="patient")
    alert_id = session.exec(select(Alert.id)).one()
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    token = nurse.csrf_token(f"/clinic/alerts/{alert_id}")
    clock.advance(minutes=45)  # longer than a staff session lasts without activity
    response = nurse.client.post(f"/clinic/alerts/{alert_id}/resolve",
                                 data={"csrf_token": token, "outcome": "home_visit", "note": "Besøkte pasienten."})
    assert response.status_code == 302 and "/clinic/login" in response.headers["Location"]
    login = nurse.submit(response.headers["Location"], {"email": "nurse.a@example.no",
                                                        "password": "correct horse battery"})
    login = nurse.submit(login.headers["Location"], {"code": staff_code(app, "nurse.a@example.no")})
    page = nurse.get(login.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Besøkte pasienten." in html
    assert re.search(r'<input checked[^>]*value="home_visit"', html)
    assert session.get(Alert, alert_id).status == "open"  # nothing resolved until she confirms


def test_someone_guessing_from_one_address_does_not_lock_the_patient_out_elsewhere(app, world):
    guesser = WebClient(app.test_client())
    guesser.client.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    for _ in range(10):
        guesser.submit("/login", {"login": "91000001", "password": "wrong"})
    assert guesser.submit("/login", {"login": "91000001", "password": "correct horse battery"}).status_code == 429
    astrid = WebClient(app.test_client())
    astrid.client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert astrid.submit("/login", {"login": "91000001", "password": "correct horse battery"}).status_code == 302


def test_behind_a_proxy_each_user_is_counted_by_their_own_address(engine, clock, world):
    from homefollow import create_app
    from tests.conftest import app_config

    app = create_app(app_config(engine, clock, TRUSTED_PROXIES=1))
    guesser = WebClient(app.test_client())
    guesser.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.66"
    for _ in range(10):
        guesser.submit("/login", {"login": "91000001", "password": "wrong"})
    assert guesser.submit("/login", {"login": "91000001", "password": "wrong"}).status_code == 429
    astrid = WebClient(app.test_client())  # same proxy address, another forwarded client
    astrid.client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    assert astrid.submit("/login", {"login": "91000001", "password": "correct horse battery"}).status_code == 302


def test_a_measurement_the_plan_has_no_limits_for_says_so_and_who_to_call(app, session, clock, world):
    """A weight where no rule watches weight (the safety net has no weight limit, weight depends
    on the patient): "registered" alone would read as "fine"."""
    from homefollow.services.plan_changes import change_plan
    from tests.factories import standard_plan

    plan = standard_plan()
    change_plan(session, clock, patient=world.patient_a1, author_account_id=None, reason="no weight rule", checked=False,
                content=plan.model_copy(update={"rules": [r for r in plan.rules if not r.key.startswith("hf.")]}))
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    response = patient.submit("/report/weight", {"weight": "90"})
    assert response.status_code == 302
    result = patient.get(response.headers["Location"])
    page, html = text_of(result), result.get_data(as_text=True)
    assert "Takk, det er registrert" in page and "90,0 kg" in page.replace("\u00a0", " ")
    assert "Planen din har ingen grenser for denne målingen, så teamet får ikke beskjed om den." in page
    assert 'href="tel:+4777620000"' in html  # the team is open on a Tuesday at 09:00
    assert session.exec(select(Alert)).all() == []  # no rule, no alert: the page does not pretend

    clock.advance(hours=12)  # 21:00: the team is closed, so the emergency clinic is offered
    response = patient.submit("/report/weight", {"weight": "90,5"})
    html = patient.get(response.headers["Location"]).get_data(as_text=True)
    assert 'href="tel:116117"' in html and 'href="tel:+4777620000"' not in html


def test_the_repeat_check_reads_the_recent_readings_in_one_query(session, clock, world, count_queries):
    """A device or a busy patient may send many readings in ten minutes: asking whether the same
    value came a moment ago must not read each of them on its own."""
    from homefollow.services import reporting

    for i in range(12):
        reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight",
                                     values={"weight": 68 + i / 10}, idempotency_key=f"w{i}",
                                     reported_by_account_id=None, actor_kind="patient")
        clock.advance(seconds=20)
    patient_id = world.patient_a1.id
    session.commit()

    def repeat_of(kg):
        return reporting.recent_same_report(session, clock, patient_id=patient_id, item_key="weight",
                                            values={"weight": kg}, idempotency_key="new")

    with count_queries() as statements:
        again = repeat_of(68.5)
        fresh = repeat_of(75.0)
    assert again is not None and again.idempotency_key == "w5"
    assert fresh is None
    assert len(statements) <= 4  # one query each and the report found (and the transaction's BEGIN)

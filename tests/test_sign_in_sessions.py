"""Server-side session validity (issue 19): signing out ends the session for a copied cookie
too, "keep me signed in" cookies die with their session, password change, second-factor reset
and deactivation end every session, and staff see and end their own other sessions."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from homefollow.models import AuditEvent, SignInSession
from tests.factories import PASSWORD
from tests.webclient import WebClient, text_of

NURSE = "nurse.a@example.no"
ADMIN = "admin.a@example.no"
PATIENT = "+4791000001"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")


def browser(app, user_agent: str | None = None) -> WebClient:
    client = app.test_client()
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    return WebClient(client)


def cookies_of(client: WebClient) -> dict[str, str]:
    return {name: client.client.get_cookie(name).value
            for name in ("session", "remember_token") if client.client.get_cookie(name) is not None}


def replay(app, cookies: dict[str, str]) -> WebClient:
    """A fresh browser holding copied cookies (an attacker's, or a shared computer's)."""
    thief = WebClient(app.test_client())
    for name, value in cookies.items():
        thief.client.set_cookie(name, value)
    return thief


def rows(session, account_id) -> list[SignInSession]:
    session.commit()
    return list(session.exec(select(SignInSession).where(SignInSession.account_id == account_id)
                             .order_by(SignInSession.created_at)))


def sign_out(client: WebClient, page: str, action: str) -> None:
    response = client.submit(page, {}, action=action)
    assert response.status_code == 302


# ---- a copied cookie after sign-out -------------------------------------------------------

def test_a_copied_staff_cookie_gets_the_sign_in_page_after_sign_out(app, session, world):
    nurse = browser(app, FIREFOX)
    nurse.login_staff(NURSE)
    patient_page = f"/clinic/patients/{world.patient_a1.id}"
    assert nurse.get(patient_page).status_code == 200
    copied = cookies_of(nurse)
    [row] = rows(session, world.nurse_a.id)
    assert (row.portal, row.user_agent, row.remember, row.revoked_at) == ("staff", "Firefox · Windows", False, None)

    sign_out(nurse, "/clinic/", "/clinic/logout")
    thief = replay(app, copied)
    response = thief.get(patient_page)
    assert response.status_code == 302 and "/clinic/login" in response.location
    assert "Du er logget ut" in text_of(thief.get(response.location))
    assert thief.get(patient_page).status_code == 302  # and the session was cleared, not retried
    [row] = rows(session, world.nurse_a.id)
    assert row.revoked_reason == "signed_out" and row.revoked_at is not None


def test_a_copied_patient_cookie_gets_the_sign_in_page_after_sign_out(app, session, world):
    patient = browser(app, IPHONE)
    patient.login_patient(PATIENT)
    for page in ("/today", "/history", "/messages"):
        assert patient.get(page).status_code == 200
    copied = cookies_of(patient)
    sign_out(patient, "/today", "/logout")
    thief = replay(app, copied)
    for page in ("/today", "/history", "/messages"):
        response = thief.get(page)
        assert response.status_code == 302 and "/login" in response.location, page
    [row] = rows(session, world.patient_a1.account_id)
    assert (row.portal, row.user_agent, row.revoked_reason) == ("patient", "Safari · iPhone", "signed_out")


def test_a_copied_remember_me_cookie_dies_with_sign_out(app, session, world):
    patient = WebClient(app.test_client())
    response = patient.submit("/login", {"login": PATIENT, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302
    remember = cookies_of(patient)["remember_token"]
    # Before sign-out the remember cookie alone, in a fresh browser, is signed in.
    assert replay(app, {"remember_token": remember}).get("/today").status_code == 200
    [row] = rows(session, world.patient_a1.account_id)
    assert row.remember

    sign_out(patient, "/today", "/logout")
    thief = replay(app, {"remember_token": remember})
    response = thief.get("/today")
    assert response.status_code == 302 and "/login" in response.location
    assert thief.client.get_cookie("remember_token") is None  # deleted at once
    assert thief.get("/history").status_code == 302


def test_a_relatives_sign_out_ends_the_session_too(app, session, world):
    daughter = WebClient(app.test_client())
    daughter.login_patient("+4791000011")
    daughter.get("/today", follow_redirects=True)
    copied = cookies_of(daughter)
    sign_out(daughter, "/today", "/logout")
    response = replay(app, copied).get("/today")
    assert response.status_code == 302 and "/login" in response.location


def test_an_unknown_or_forged_session_id_is_not_signed_in(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient(PATIENT)
    for row in rows(session, world.patient_a1.account_id):  # the row is gone (or never existed)
        session.delete(row)
    session.commit()
    response = patient.get("/today")
    assert response.status_code == 302 and "/login" in response.location


def test_last_seen_is_written_at_most_once_a_minute(app, session, clock, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff(NURSE)
    [row] = rows(session, world.nurse_a.id)
    started = row.last_seen_at
    nurse.get("/clinic/")
    clock.advance(timedelta(seconds=30))
    nurse.get("/clinic/")
    assert rows(session, world.nurse_a.id)[0].last_seen_at == started
    clock.advance(timedelta(seconds=45))
    nurse.get("/clinic/")
    assert rows(session, world.nurse_a.id)[0].last_seen_at == clock.now()


# ---- password change, second-factor reset, deactivation ------------------------------------

def member_url(world, account) -> str:
    return f"/clinic/teams/{world.team_a.id}/members/{account.id}"


def test_a_second_factor_reset_ends_every_session_of_the_account(app, session, world):
    laptop, tablet = WebClient(app.test_client()), WebClient(app.test_client())
    laptop.login_staff(NURSE)
    tablet.login_staff(NURSE)
    admin = WebClient(app.test_client())
    admin.login_staff(ADMIN)
    url = member_url(world, world.nurse_a)
    admin.submit(url, {}, action=f"{url}/reset-second-factor")
    assert {r.revoked_reason for r in rows(session, world.nurse_a.id)} == {"totp_reset"}
    for device in (laptop, tablet):
        assert device.get("/clinic/").status_code == 302
    assert all(r.revoked_at is None for r in rows(session, world.admin_a.id))  # the admin's own stay


def test_deactivation_ends_every_session_of_the_account(app, session, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff(NURSE)
    copied = cookies_of(nurse)
    admin = WebClient(app.test_client())
    admin.login_staff(ADMIN)
    url = member_url(world, world.nurse_a)
    admin.submit(url, {}, action=f"{url}/deactivate")
    assert {r.revoked_reason for r in rows(session, world.nurse_a.id)} == {"deactivated"}
    assert replay(app, copied).get("/clinic/").status_code == 302


def test_a_new_password_ends_every_session_of_the_account(app, session, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff(NURSE)
    copied = cookies_of(nurse)
    admin = WebClient(app.test_client())
    admin.login_staff(ADMIN)
    url = member_url(world, world.nurse_a)
    response = admin.submit(url, {}, action=f"{url}/password-link")
    link = re.search(r"http://[^<\s]+/clinic/set-password/[^<\s\"]+", admin.get(response.location).get_data(as_text=True))
    path = link.group(0).split("localhost", 1)[-1]
    response = WebClient(app.test_client()).submit(path, {"password": "lang nok passord", "repeat": "lang nok passord"})
    assert response.status_code == 302
    assert {r.revoked_reason for r in rows(session, world.nurse_a.id)} == {"password_changed"}
    assert replay(app, copied).get("/clinic/").status_code == 302


# ---- the staff's own sessions page ---------------------------------------------------------

def test_staff_see_their_sessions_and_end_another_one(app, session, world):
    laptop, phone = browser(app, FIREFOX), browser(app, IPHONE)
    laptop.login_staff(NURSE)
    phone.login_staff(NURSE)
    page = laptop.get("/clinic/account/sessions")
    assert page.status_code == 200
    text = text_of(page)
    assert "Firefox · Windows" in text and "Safari · iPhone" in text and "Denne enheten" in text
    assert 'href="/clinic/account/sessions"' in laptop.get("/clinic/").get_data(as_text=True)  # from the header

    phone_row = next(r for r in rows(session, world.nurse_a.id) if r.user_agent == "Safari · iPhone")
    response = laptop.submit("/clinic/account/sessions", {"session_id": phone_row.id},
                             action="/clinic/account/sessions/end")
    assert response.status_code == 302
    assert phone.get("/clinic/").status_code == 302  # the phone is signed out
    assert laptop.get("/clinic/").status_code == 200  # this device is not
    assert "Safari · iPhone" not in text_of(laptop.get("/clinic/account/sessions"))
    ended = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.session_ended")).one()
    assert ended.actor_account_id == world.nurse_a.id


def test_sign_out_everywhere_else_keeps_this_device(app, session, world):
    devices = [WebClient(app.test_client()) for _ in range(3)]
    for device in devices:
        device.login_staff(NURSE)
    response = devices[0].submit("/clinic/account/sessions", {}, action="/clinic/account/sessions/end-others")
    assert response.status_code == 302
    assert "2" in text_of(devices[0].get(response.location))
    assert devices[0].get("/clinic/").status_code == 200
    assert [d.get("/clinic/").status_code for d in devices[1:]] == [302, 302]
    assert sorted(r.revoked_reason or "" for r in rows(session, world.nurse_a.id)) == \
        ["", "ended_all_others", "ended_all_others"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "auth.sessions_ended_others")).one()


def test_staff_cannot_end_another_persons_session(app, session, world):
    victim = WebClient(app.test_client())
    victim.login_staff(ADMIN)
    [victim_row] = rows(session, world.admin_a.id)
    nurse = WebClient(app.test_client())
    nurse.login_staff(NURSE)
    token = nurse.csrf_token("/clinic/account/sessions")
    assert victim_row.id not in nurse.get("/clinic/account/sessions").get_data(as_text=True)
    response = nurse.client.post("/clinic/account/sessions/end", data={"csrf_token": token,
                                                                       "session_id": victim_row.id})
    assert response.status_code == 404
    assert rows(session, world.admin_a.id)[0].revoked_at is None
    assert victim.get("/clinic/").status_code == 200
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                   AuditEvent.actor_account_id == world.nurse_a.id)).all()
    assert any(e.object_type == "sign_in_session" for e in denied)


def test_ending_a_session_needs_the_csrf_token_and_a_signed_in_staff_member(app, session, world):
    nurse = WebClient(app.test_client())
    nurse.login_staff(NURSE)
    [row] = rows(session, world.nurse_a.id)
    response = nurse.client.post("/clinic/account/sessions/end-others", data={})
    assert response.status_code in (302, 400)
    assert rows(session, world.nurse_a.id)[0].revoked_at is None
    patient = WebClient(app.test_client())
    patient.login_patient(PATIENT)
    assert patient.get("/clinic/account/sessions").status_code in (302, 403)
    anonymous = WebClient(app.test_client())
    response = anonymous.get("/clinic/account/sessions")
    assert response.status_code == 302 and "/clinic/login" in response.location

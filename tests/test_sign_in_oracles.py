"""Issue 19: no sign-in oracles, relative invitations that tell nothing, and audit records that
name the patient actually concerned. Each test fails on the main before the issue."""

from __future__ import annotations

import pytest
from sqlmodel import select

from homefollow.models import Account, AuditEvent, Notification, RelativeAccess, Report, ServicePerson
from homefollow.services import accounts as accounts_service
from homefollow.services import reporting
from tests.factories import PASSWORD, audit_events
from tests.webclient import WebClient, text_of

WRONG = "Mobilnummeret eller passordet er feil"


def _patient_login(app, login, password):
    client = WebClient(app.test_client())
    return client.submit("/login", {"login": login, "password": password})


# ---- 1. sign-in ------------------------------------------------------------------------------

def test_every_wrong_combination_on_the_patient_portal_gets_one_answer(app, session, world):
    """Unknown number, wrong password, a staff account with its right password, a staff account
    with a wrong one, a deactivated patient: the same page, word for word, and no session."""
    gone = world.patient_a2
    session.get(Account, gone.account_id).is_active = False
    session.commit()
    tries = [("99999999", PASSWORD), ("91000001", "wrong"), ("nurse.a@example.no", PASSWORD),
             ("nurse.a@example.no", "wrong"), ("91000002", PASSWORD)]
    pages = []
    for login, password in tries:
        response = _patient_login(app, login, password)
        assert response.status_code == 200, login
        page = text_of(response)
        assert WRONG in page and "konto for ansatte" not in page
        pages.append(page.replace(login, ""))  # the typed login is shown back in the field
    assert len(set(pages)) == 1
    # The staff password did not make a patient-portal session.
    client = WebClient(app.test_client())
    client.submit("/login", {"login": "nurse.a@example.no", "password": PASSWORD})
    assert client.get("/today").status_code == 302


def test_failed_patient_sign_ins_are_audited_with_address_and_normalised_login(app, session, world):
    _patient_login(app, "910 00 001", "wrong")
    _patient_login(app, "Nurse.A@Example.no", PASSWORD)
    failed = audit_events(session, "auth.login_failed")
    assert [f.detail["login"] for f in failed] == ["+4791000001", "nurse.a@example.no"]
    assert all(f.ip == "127.0.0.1" and f.detail["step"] == "password" for f in failed)
    assert all(PASSWORD not in str(f.detail) and "wrong" not in str(f.detail) for f in failed)
    assert all(f.actor_account_id is None for f in failed)  # the record does not confirm an account


def test_a_staff_account_tried_on_the_patient_portal_shares_its_throttle_with_the_staff_portal(app, world):
    """One counter per account across portals: guesses on the patient page use up the same
    allowance as guesses on the staff page."""
    for _ in range(6):
        _patient_login(app, "nurse.a@example.no", "wrong")
    staff = WebClient(app.test_client())
    for _ in range(4):
        response = staff.submit("/clinic/login", {"email": "nurse.a@example.no", "password": "wrong"})
        assert response.status_code == 200  # 10 failures per account and address are allowed
    response = staff.submit("/clinic/login", {"email": "nurse.a@example.no", "password": "wrong"})
    assert response.status_code == 429


def test_a_throttled_sign_in_is_audited(app, session, world):
    client = WebClient(app.test_client())
    for _ in range(11):
        response = client.submit("/login", {"login": "91000001", "password": "wrong"})
    assert response.status_code == 429
    throttled = [e for e in audit_events(session, "auth.login_failed") if e.detail.get("reason") == "throttled"]
    assert throttled and throttled[0].detail["login"] == "+4791000001" and throttled[0].ip == "127.0.0.1"


def test_unknown_and_inactive_logins_verify_one_hash_like_a_wrong_password(app, session, clock, world, monkeypatch):
    """Constant work: every path verifies exactly one argon2 hash."""
    calls = []
    real = accounts_service._verify
    monkeypatch.setattr(accounts_service, "_verify", lambda h, p: calls.append(h) or real(h, p))
    session.get(Account, world.patient_a2.account_id).is_active = False
    session.commit()
    for login, password, kinds in [("+4799999999", "x", None), ("+4791000001", "wrong", None),
                                   ("+4791000002", PASSWORD, None),
                                   ("nurse.a@example.no", PASSWORD, ("patient", "relative"))]:
        calls.clear()
        assert accounts_service.authenticate(session, clock, login, password, kinds=kinds) is None
        assert len(calls) == 1, login


def test_the_sms_code_page_says_the_same_for_a_registered_and_an_unknown_number(app, session, world):
    """A registered number has a fresh code, so a wrong guess used to answer "wrong" where an
    unknown number answered "ask for a new code"."""
    answers = []
    for phone in ("+4791000001", "+4799999999"):
        client = WebClient(app.test_client())
        assert client.submit("/login/code", {"phone": phone}).status_code == 302
        response = client.submit("/login/code/check", {"code": "000000"})
        assert response.status_code == 400
        answers.append(text_of(response).replace(phone[3:6] + "\u00a0" + phone[6:8] + "\u00a0" + phone[8:], ""))
    assert "Koden er feil eller kan ikke lenger brukes" in answers[0]
    assert answers[0].count("Koden er feil eller kan ikke lenger brukes") == \
        answers[1].count("Koden er feil eller kan ikke lenger brukes")
    failed = audit_events(session, "auth.login_failed")
    assert [(f.detail["login"], f.detail["step"]) for f in failed] == [("+4791000001", "sms_code"),
                                                                       ("+4799999999", "sms_code")]
    assert all(f.ip == "127.0.0.1" for f in failed)


def test_a_wrong_and_a_replayed_staff_code_get_one_answer(app, session, clock, world):
    from tests.test_staff_signin import NURSE, code_for, password_step
    from tests.factories import staff_totp_secret

    code = code_for(staff_totp_secret(NURSE), clock)
    first = WebClient(app.test_client())
    password_step(first)
    assert first.submit("/clinic/login/code", {"code": code}).status_code == 302
    replayed, wrong = WebClient(app.test_client()), WebClient(app.test_client())
    password_step(replayed)
    password_step(wrong)
    bad = "000001" if code == "000000" else "000000"
    assert replayed.submit("/clinic/login/code", {"code": code}).status_code == 400
    a = text_of(replayed.submit("/clinic/login/code", {"code": bad}))
    b = text_of(wrong.submit("/clinic/login/code", {"code": bad}))
    c = text_of(replayed.submit("/clinic/login/code", {"code": code}))
    assert a == b == c.replace(code, bad)


# ---- 2. relative invitations ---------------------------------------------------------------

def _invite(client, phone, name="Per Hjelper"):
    return client.submit("/relatives/invite", {"name": name, "phone": phone, "relation": "nabo",
                                               "can_view": "y"})


@pytest.mark.parametrize("phone, name_on_file, kind", [
    ("+4791000002", "Arne A2", "patient"),  # another patient of the team
    ("+4791000003", "Bjørn B1", "patient"),  # a patient of another team
    ("+4791000014", "Vera Venn", "relative"),  # another patient's relative
])
def test_inviting_a_number_that_has_an_account_looks_like_any_invitation(app, session, clock, world, phone,
                                                                          name_on_file, kind):
    from tests.factories import grant, make_account

    vera = make_account(session, clock, "relative", "+4791000014", "Vera Venn", phone="+4791000014")
    grant(session, clock, world.patient_b1, vera, "venn")
    session.commit()
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    fresh = _invite(patient, "+4793456789", name="Ny Person")
    taken = _invite(patient, phone)
    assert fresh.status_code == taken.status_code == 302
    assert fresh.location == taken.location
    page = text_of(patient.get("/relatives"))
    assert "Per Hjelper kan nå logge inn" in page and "Ny Person" in page
    assert name_on_file not in page  # the name on file is not shown: only what was typed
    # The person gets an invitation SMS, like anyone invited.
    sms = session.exec(select(Notification).where(Notification.recipient == phone)).all()
    assert len(sms) == 1
    # Nothing is merged: the account keeps its kind, and a patient account gets no access.
    account = session.exec(select(Account).where(Account.login == phone)).one()
    assert account.kind == kind and account.name == name_on_file
    if account.kind == "patient":
        invitee = WebClient(app.test_client())
        invitee.login_patient(phone)
        assert "Astrid" not in text_of(invitee.get("/today"))
        assert invitee.client.post("/choose", data={"patient_id": world.patient_a1.id,
                                                    "csrf_token": invitee.csrf_token("/today")}).status_code \
            in (302, 400, 404)
        assert "Astrid" not in text_of(invitee.get("/today"))


def test_a_grant_to_another_patients_number_sends_that_patient_no_alerts(app, session, clock, world):
    """Inviting another patient's number, with "receives alerts" ticked, must not make that
    patient a recipient of the inviter's red alerts: the grant is inert until linked."""
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    response = patient.submit("/relatives/invite", {"name": "Arne", "phone": "+4791000002", "relation": "nabo",
                                                    "can_view": "y", "receives_alerts": "y"})
    assert response.status_code == 302
    invited = patient.submit("/relatives/invite", {"name": "Per Hjelper", "phone": "+4793456789",
                                                   "relation": "sønn", "can_view": "y", "receives_alerts": "y"})
    assert invited.status_code == 302
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 80},
                                 idempotency_key="red-for-relatives", reported_by_account_id=world.patient_a1.account_id,
                                 actor_kind="patient")
    session.commit()
    told = {n.recipient for n in session.exec(select(Notification).where(Notification.dedup_key.like("relative-alert:%")))}
    assert told == {"+4793456789"}  # the real relative is told, the other patient is not


def test_invitations_are_limited_per_patient_with_a_translated_message(app, session, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    for n in range(5):
        assert _invite(patient, f"+479345678{n}").status_code == 302
    response = _invite(patient, "+4793456789")
    assert response.status_code == 429
    assert "Du kan invitere høyst 5 pårørende per dag" in text_of(response)
    assert session.exec(select(RelativeAccess).where(RelativeAccess.relative_account_id.in_(
        select(Account.id).where(Account.login == "+4793456789")))).first() is None
    # Another patient is not limited by Astrid's invitations.
    other = WebClient(app.test_client())
    other.login_patient("+4791000002")
    assert _invite(other, "+4793456789").status_code == 302


def test_typing_errors_do_not_use_up_invitations(app, world):
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    for _ in range(6):
        assert _invite(patient, "123").status_code == 400
    assert _invite(patient, "+4793456780").status_code == 302


# ---- 3. audit records that name the patient concerned ---------------------------------------

def test_choosing_a_patient_one_may_not_act_for_is_denied_and_audited(app, session, world):
    revoked = WebClient(app.test_client())
    revoked.login_patient("+4791000013")  # Rolf: his grant for A1 is revoked
    token = revoked.csrf_token("/choose")
    # His former patient: "your access has ended" (issue 20); a patient he never helped: not found.
    ended = revoked.client.post("/choose", data={"patient_id": world.patient_a1.id, "csrf_token": token})
    assert ended.status_code == 403 and "Tilgangen din er avsluttet" in text_of(ended)
    never = revoked.client.post("/choose", data={"patient_id": world.patient_b1.id, "csrf_token": token})
    assert never.status_code == 404 and "Bjørn" not in text_of(never)
    denied = audit_events(session, "access.denied")
    assert [(d.actor_account_id, d.patient_id, d.detail["attempted"]) for d in denied] == [
        (world.revoked.id, world.patient_a1.id, "view.choose"), (world.revoked.id, world.patient_b1.id, "view.choose")]
    daughter = WebClient(app.test_client())
    daughter.login_patient("+4791000011")
    token = daughter.csrf_token("/today")
    assert daughter.client.post("/choose", data={"patient_id": world.patient_a1.id,
                                                 "csrf_token": token}).status_code == 302
    granted = audit_events(session, "view.choose")
    assert [(g.actor_account_id, g.patient_id) for g in granted] == [(world.relative.id, world.patient_a1.id)]


def test_another_patients_report_result_is_denied_against_that_patient(app, session, clock, world):
    outcome = reporting.report_measurement(session, clock, patient=world.patient_b1, item_key="weight",
                                           values={"weight": 80}, idempotency_key="b1-w",
                                           reported_by_account_id=world.patient_b1.account_id, actor_kind="patient")
    session.commit()
    report_id = outcome.report.id
    astrid = WebClient(app.test_client())
    astrid.login_patient("+4791000001")
    response = astrid.get(f"/report/result/{report_id}")
    assert response.status_code == 404 and "Bjørn" not in response.get_data(as_text=True)
    assert not [e for e in audit_events(session, "view.report_result")]  # no granted read is logged
    denied = audit_events(session, "access.denied")
    assert [(d.patient_id, d.object_id, d.detail["attempted"]) for d in denied] == [
        (world.patient_b1.id, report_id, "view.report_result")]
    # Her own report: a granted read of her own patient.
    own = reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight",
                                       values={"weight": 70}, idempotency_key="a1-w",
                                       reported_by_account_id=world.patient_a1.account_id, actor_kind="patient")
    session.commit()
    assert astrid.get(f"/report/result/{own.report.id}").status_code == 200
    assert [e.patient_id for e in audit_events(session, "view.report_result")] == [world.patient_a1.id]
    assert session.get(Report, report_id) is not None


def test_opening_a_candidates_referral_page_is_audited(app, session, clock, world):
    from tests.test_access import _signed_in_staff

    person = ServicePerson(team_id=world.team_a.id, person_key="local:UNN:x", name="Cecilie Candidate",
                           created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.commit()
    nurse = _signed_in_staff(app, "nurse.a@example.no")
    assert nurse.get(f"/clinic/candidates/{person.id}/refer").status_code == 200
    reads = audit_events(session, "view.candidate_refer")
    assert [(r.actor_account_id, r.object_type, r.object_id) for r in reads] == [
        (world.nurse_a.id, "service_person", person.id)]
    other = _signed_in_staff(app, "nurse.b@example.no")
    assert other.get(f"/clinic/candidates/{person.id}/refer").status_code == 404
    assert [d.object_id for d in audit_events(session, "access.denied")] == [person.id]
    assert len(audit_events(session, "view.candidate_refer")) == 1
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "view.candidate_refer",
                                                 AuditEvent.actor_account_id == world.nurse_b.id)).first() is None

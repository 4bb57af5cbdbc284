"""A team must be reachable about a red alert outside opening hours before it takes on patients:
what counts as a reachable out-of-hours route, the refusals when referring a candidate and when
consent starts follow-up (service and forms, input kept), the warning on the Teams page, /healthz
and the CLI (`accounts create-staff`, `teams check`)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from homefollow.models import Patient, PatientStatus, ServicePerson, SmsOptOut, Team
from homefollow.notifications import outbox
from homefollow.scheduler import beat
from homefollow.services import pathway as pw
from homefollow.services.audit import Actor
from homefollow.services.teams import (ROUTE_NO_POLICY, ROUTE_OPTED_OUT, out_of_hours_route_problems,
                                       teams_without_route)
from tests.factories import audit_events, make_staff, make_team
from tests.webclient import staff_client as staff
from tests.webclient import text_of

RESPONSE_CENTRE = "+4722334455"


def own_policy(out_of_hours_target: dict, fallback: list[dict]) -> dict:
    """A valid policy: the nurses in opening hours, `out_of_hours_target` for red outside them."""
    return {
        "name": "Egen",
        "steps": [
            {"target": {"kind": "role", "role": "nurse"}, "channels": ["sms"], "when": "in_opening_hours",
             "wait": {"yellow": 60, "red": 15}},
            {"target": out_of_hours_target, "channels": ["sms"], "severities": ["red"],
             "when": "outside_opening_hours", "wait": {"red": 15}},
        ],
        "fallback": fallback,
        "ack_timeout": {"yellow": 240, "red": 30},
        "snooze_max": {"yellow": 1440, "red": 60},
    }


def without_route(session, team_id: int) -> Team:
    """The team as `accounts create-staff --team` makes it: no on-call phone, no own policy."""
    team = session.get(Team, team_id)
    team.on_call_phone = None
    team.escalation_policy = None
    session.add(team)
    session.commit()
    return team


def opt_out(session, clock, *numbers: str) -> None:
    for number in numbers:
        session.add(SmsOptOut(phone=number, opted_out_at=clock.now()))
    session.commit()
    outbox.forget_opt_outs(session)


def candidate(session, clock, team_id: int, key: str = "local:UNN:1") -> ServicePerson:
    person = ServicePerson(team_id=team_id, person_key=key, name="Kari Kandidat", birth_date=date(1941, 2, 3),
                           created_at=clock.now(), updated_at=clock.now())
    session.add(person)
    session.commit()
    return person


def consent(session, clock, patient, nurse_id):
    pw.record_consent(session, clock, patient, consent_on="2026-03-10", scope=["follow_up"], given_by="patient",
                      representative="", actor=Actor(nurse_id, "staff"))


# ---- what counts as a route -------------------------------------------------------------------

def test_the_standard_policy_is_a_route_only_with_an_on_call_phone(session, clock, world):
    team = session.get(Team, world.team_a.id)
    assert out_of_hours_route_problems(session, team) == []
    team = without_route(session, world.team_a.id)
    [problem] = out_of_hours_route_problems(session, team)
    assert problem.code == ROUTE_NO_POLICY
    assert "no on-call phone" in str(problem) and "Set the team's on-call phone" in str(problem)
    assert "Legg inn teamets vakttelefon" in problem.text("nb")


def test_a_route_whose_every_number_replied_stop_is_no_route(session, clock, world):
    team = session.get(Team, world.team_a.id)
    opt_out(session, clock, "+4790000000")
    [problem] = out_of_hours_route_problems(session, team)
    assert (problem.code, problem.numbers) == (ROUTE_OPTED_OUT, ("+4790000000",))
    assert "(900 00 000)" in str(problem) and "send START from that phone" in str(problem)

    # The team's own policy: a response centre out of hours, the on-call phone as the fallback.
    team.escalation_policy = own_policy({"kind": "phone", "number": RESPONSE_CENTRE},
                                        [{"kind": "phone", "number": "+4790000000"}])
    session.add(team)
    session.commit()
    assert out_of_hours_route_problems(session, team) == []  # one number that answers is enough
    opt_out(session, clock, RESPONSE_CENTRE)
    assert out_of_hours_route_problems(session, team)[0].numbers == (RESPONSE_CENTRE, "+4790000000")


def test_members_with_a_mobile_named_by_an_out_of_hours_step_count_and_a_rota_does_not(session, clock, world):
    team = session.get(Team, world.team_a.id)
    opt_out(session, clock, "+4790000000")
    policy = own_policy({"kind": "role", "role": "coordinator"}, [{"kind": "phone", "number": "+4790000000"}])
    team.escalation_policy = policy
    session.add(team)
    session.commit()
    assert out_of_hours_route_problems(session, team) == []  # Ada, the coordinator, has a mobile

    admin = session.get(type(world.admin_a), world.admin_a.id)
    admin.phone = None
    session.add(admin)
    session.commit()
    assert out_of_hours_route_problems(session, team)[0].code == ROUTE_OPTED_OUT

    # Whoever a rota has on call is not counted: the rota can have a gap at night.
    team.escalation_policy = own_policy({"kind": "on_call", "role": "nurse"},
                                        [{"kind": "phone", "number": "+4790000000"}])
    session.add(team)
    session.commit()
    assert out_of_hours_route_problems(session, team)[0].code == ROUTE_OPTED_OUT


# ---- enrolment is refused -------------------------------------------------------------------------

def test_referral_and_the_consent_that_starts_follow_up_are_refused_without_a_route(session, clock, world):
    without_route(session, world.team_a.id)
    person = candidate(session, clock, world.team_a.id)
    with pytest.raises(pw.PathwayError) as refused:
        pw.refer_candidate(session, clock, person, municipality_id=None, referred_on="2026-03-09",
                           referred_by="UNN", actor=Actor(world.nurse_a.id, "staff"))
    [(field, code, params)] = refused.value.problems
    assert (field, code, params["team"], params["team_id"]) == ("", "no_out_of_hours_route", "Team A",
                                                                  world.team_a.id)
    assert [p.code for p in params["route"]] == [ROUTE_NO_POLICY]
    session.rollback()
    assert session.exec(select(Patient).where(Patient.name == "Kari Kandidat")).first() is None

    team = session.get(Team, world.team_a.id)
    team.on_call_phone = "+4790000000"
    session.add(team)
    session.commit()
    patient = pw.refer_candidate(session, clock, person, municipality_id=None, referred_on="2026-03-09",
                                 referred_by="UNN", actor=Actor(world.nurse_a.id, "staff"))
    assert patient.status == PatientStatus.REFERRED.value

    opt_out(session, clock, "+4790000000")  # the on-call phone replied STOP before the consent
    with pytest.raises(pw.PathwayError) as refused:
        consent(session, clock, patient, world.nurse_a.id)
    assert [c for _f, c, _p in refused.value.problems] == ["no_out_of_hours_route"]
    session.rollback()
    assert session.get(Patient, patient.id).status == PatientStatus.REFERRED.value
    assert pw.pathway_of(session, patient.id).consent_on is None

    session.delete(session.get(SmsOptOut, "+4790000000"))  # START
    session.commit()
    outbox.forget_opt_outs(session)
    consent(session, clock, patient, world.nurse_a.id)
    assert session.get(Patient, patient.id).status == PatientStatus.ACTIVE.value


def test_consent_for_a_patient_already_followed_up_is_not_refused(session, clock, world):
    """Only starting follow-up is refused: a patient followed up already is never stopped."""
    pw.record_referral(session, clock, world.patient_a1, referred_on="2026-03-02", referred_by="",
                       actor=Actor(world.nurse_a.id, "staff"))
    without_route(session, world.team_a.id)
    consent(session, clock, session.get(Patient, world.patient_a1.id), world.nurse_a.id)
    assert pw.pathway_of(session, world.patient_a1.id).consent_on == date(2026, 3, 10)


def test_the_refer_form_says_what_to_fix_links_the_phones_page_and_keeps_what_was_typed(app, session, clock,
                                                                                         world):
    without_route(session, world.team_a.id)
    person = candidate(session, clock, world.team_a.id)
    page = f"/clinic/candidates/{person.id}/refer"
    phones = f'href="/clinic/teams/{world.team_a.id}/phones"'
    nurse = staff(app, "nurse.a@example.no")
    before = nurse.get(page)
    assert before.status_code == 200 and phones in before.get_data(as_text=True)
    assert "Team A kan ikke nås utenfor åpningstiden: nye pasienter kan ikke henvises" in text_of(before)
    assert "bare teamets administratorer kan endre dem" in text_of(before)  # she is not an admin

    response = nurse.submit(page, {"referred_on": "2026-03-10", "referred_by": "Fastlegen Eide"})
    assert response.status_code == 400
    text, html = text_of(response), response.get_data(as_text=True)
    assert ("Team A kan ikke ta inn pasienter ennå: ingen ville blitt varslet om et rødt varsel utenfor "
            "åpningstiden. Teamet har ingen vakttelefon og ingen egen varslingsplan") in text
    assert phones in html and 'value="Fastlegen Eide"' in html and 'value="2026-03-10"' in html
    session.expire_all()
    assert session.get(ServicePerson, person.id).patient_id is None

    admin_page = staff(app, "admin.a@example.no").get(page)
    assert phones in admin_page.get_data(as_text=True) and "bare teamets administratorer" not in text_of(admin_page)
    # Staff of another team see nothing of it.
    assert staff(app, "nurse.b@example.no").get(page).status_code == 404


def test_the_consent_form_is_refused_with_the_fix_and_keeps_what_was_typed(app, session, clock, world):
    person = candidate(session, clock, world.team_a.id)
    patient = pw.refer_candidate(session, clock, person, municipality_id=None, referred_on="2026-03-09",
                                 referred_by="", actor=Actor(world.nurse_a.id, "staff"))
    without_route(session, world.team_a.id)
    page = f"/clinic/patients/{patient.id}/pathway"
    nurse = staff(app, "nurse.a@example.no")
    assert f'href="/clinic/teams/{world.team_a.id}/phones"' in nurse.get(page).get_data(as_text=True)
    response = nurse.submit(page, {"consent_on": "2026-03-10", "scope": ["follow_up"], "given_by": "representative",
                                   "representative": "Marit, datter"}, action=f"{page}/consent")
    assert response.status_code == 400
    assert "Team A kan ikke ta inn pasienter ennå" in text_of(response)
    assert 'value="Marit, datter"' in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Patient, patient.id).status == PatientStatus.REFERRED.value
    assert audit_events(session, "pathway.consent") == []

    # Another team's nurse can neither see nor record it.
    other = staff(app, "nurse.b@example.no")
    assert other.get(page).status_code == 404
    token = other.csrf_token("/clinic/pathway")
    assert other.client.post(f"{page}/consent", data={"csrf_token": token, "consent_on": "2026-03-10",
                                                      "scope": "follow_up", "given_by": "patient"}).status_code == 404


# ---- where it is reported -------------------------------------------------------------------------

def test_the_teams_page_warns_about_a_team_without_a_route(app, session, clock, world):
    assert "kan ikke nås utenfor åpningstiden" not in text_of(staff(app, "admin.a@example.no").get("/clinic/teams"))
    without_route(session, world.team_a.id)
    response = staff(app, "admin.a@example.no").get("/clinic/teams")
    text = text_of(response)
    assert "Team A kan ikke nås utenfor åpningstiden: nye pasienter kan ikke henvises, og oppfølging kan ikke " \
           "starte." in text
    assert "Teamet har ingen vakttelefon og ingen egen varslingsplan" in text
    assert f'href="/clinic/teams/{world.team_a.id}/phones"' in response.get_data(as_text=True)
    # Team B is fine, and its nurse sees only her own team.
    assert "kan ikke nås utenfor åpningstiden" not in text_of(staff(app, "nurse.b@example.no").get("/clinic/teams"))


def test_healthz_names_teams_without_a_route_and_degrades_only_for_patients_at_risk(app, engine, session, clock,
                                                                                     world):
    beat(engine, clock, "scheduler@test:1", clock.now())
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "ok" and body["teams_without_out_of_hours_route"] == []

    new_team = make_team(session, clock, "Ny", on_call_phone=None)
    session.commit()
    response = app.test_client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok"  # no patients: none at risk
    assert body["teams_without_out_of_hours_route"] == [
        {"id": new_team.id, "problems": ["no_policy"], "patients_in_follow_up": 0}]
    assert "Ny" not in response.get_data(as_text=True)  # a public page: ids, not names

    opt_out(session, clock, "+4790000000")  # team A's on-call phone, with two patients
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded"
    assert {"id": world.team_a.id, "problems": ["opted_out"], "patients_in_follow_up": 2} in \
        body["teams_without_out_of_hours_route"]


def test_create_staff_warns_about_a_new_team_without_a_route_and_teams_check_fails(app, session, monkeypatch):
    monkeypatch.setenv("HOMEFOLLOW_NEW_PASSWORD", "a long enough password")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["teams", "check"]).exit_code == 0  # an empty installation

    made = runner.invoke(args=["accounts", "create-staff", "--email", "first@example.no", "--name", "First Admin",
                               "--team", "Nordlys"])
    assert made.exit_code == 0, made.output
    team = session.exec(select(Team).where(Team.name == "Nordlys")).one()
    assert "Created staff account first@example.no" in made.stdout
    assert f"Warning: team 'Nordlys' (id {team.id}) has no reachable out-of-hours route" in made.stderr
    assert f"/clinic/teams/{team.id}/phones" in made.stderr

    check = runner.invoke(args=["teams", "check"])
    assert check.exit_code == 1
    assert f"Nordlys (id {team.id}): no reachable out-of-hours route" in check.stdout
    assert "The team has no on-call phone" in check.stdout
    assert "1 team of 1 without a reachable out-of-hours route." in check.stderr

    with_phone = runner.invoke(args=["accounts", "create-staff", "--email", "second@example.no", "--name", "Second",
                                     "--team", "Sørlys", "--on-call-phone", "900 00 123"])
    assert with_phone.exit_code == 0 and "Warning" not in with_phone.output
    session.commit()  # read afresh, as the command's own session left it
    assert session.exec(select(Team).where(Team.name == "Sørlys")).one().on_call_phone == "+4790000123"

    team.on_call_phone = "+4790000124"
    session.add(team)
    session.commit()
    fixed = runner.invoke(args=["teams", "check"])
    assert fixed.exit_code == 0 and "Every team (2) has a reachable out-of-hours route." in fixed.stdout


def test_create_staff_refuses_a_bad_on_call_phone(app, session, monkeypatch):
    monkeypatch.setenv("HOMEFOLLOW_NEW_PASSWORD", "a long enough password")
    result = app.test_cli_runner().invoke(args=["accounts", "create-staff", "--email", "x@example.no", "--name", "X",
                                                "--team", "Nordlys", "--on-call-phone", "12"])
    assert result.exit_code != 0 and "not a valid Norwegian number" in result.output
    assert session.exec(select(Team)).all() == []


def test_teams_without_route_lists_every_team_by_name(session, clock, world):
    make_staff(session, clock, "x@example.no", "X", make_team(session, clock, "Ny", on_call_phone=None))
    session.commit()
    assert [team.name for team, _problems in teams_without_route(session)] == ["Ny"]

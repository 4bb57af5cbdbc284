"""Baseline calibration: personal limits proposed from the trial period, approved by a nurse
into a new plan version."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from homefollow.models import AuditEvent, CarePlan
from homefollow.services import plan_templates, plans, reporting
from tests.webclient import WebClient, text_of

SPO2 = [95, 96, 94, 95, 95, 96, 94, 95, 97, 95, 94, 96, 95, 95]  # median 95, IQR 1


def _report_trial_period(session, clock, patient, values=SPO2):
    start = clock.now()
    for day, value in enumerate(values):
        clock.set(start + timedelta(days=day, hours=1))
        reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": value},
                                     idempotency_key=f"trial-{day}", reported_by_account_id=patient.account_id,
                                     actor_kind="patient")
    clock.set(start + timedelta(days=15))


def _rule(session, patient, key):
    content, _version = plans.current_content(session, patient.id)
    return next(r for r in content.rules if r.key == key)


@pytest.fixture
def nurse(app, world):
    """Signs in when first used, after the test has moved the clock past the trial period
    (a staff session ends after 30 idle minutes)."""

    class Nurse(WebClient):
        signed_in = False

        def get(self, url, **kw):
            if not self.signed_in:
                self.signed_in = True
                self.login_staff("nurse.a@example.no")
            return super().get(url, **kw)

    return Nurse(app.test_client())


@pytest.fixture
def trial(world, session, clock):
    _report_trial_period(session, clock, world.patient_a1)
    return world


def url_for(world):
    return f"/clinic/patients/{world.patient_a1.id}/plan/calibrate"


def test_the_proposal_is_shown_beside_its_readings_and_the_current_limits(nurse, trial):
    page = nurse.get(url_for(trial))
    assert page.status_code == 200
    text = text_of(page)
    assert "Målinger i prøveperioden (14): 95% , 96% , 94% ," in text
    assert "Median 95% Spredning (kvartilbredde) 0,75% (minst 1% brukt) Lavest og høyest 94% – 97%" in text
    # Current limits (red below 92, yellow below 93) beside the proposal (yellow 95 − 1.5 × 1 → 93;
    # red 95 − 3 × 1 = 92: no lower than the safety net's 92, no higher than 94, the floor of the
    # range normal for anybody on scale 1).
    assert "Rød under 92% 92%" in text and "Gul under 93% 93%" in text
    # No blood pressure readings: a clear message instead of a proposal.
    assert "For få målinger til et forslag: 0 i prøveperioden, minst 7 trengs." in text
    html = page.get_data(as_text=True)
    assert 'name="codes-0-yellow_low" type="text" value="93"' in html


def test_accepting_the_proposal_writes_a_new_plan_version(nurse, trial, session):
    response = nurse.submit(url_for(trial), {"codes-0-code": "spo2", "codes-0-use": "y", "codes-0-red_low": "92",
                                             "plan_version": "1", "codes-0-yellow_low": "93",
                                             "reason": "Grenser fra prøveperioden"})
    assert response.status_code == 302, text_of(response)
    session.expire_all()
    assert _rule(session, trial.patient_a1, "copd.spo2_red").parameters["red_low"] == 92
    assert _rule(session, trial.patient_a1, "copd.spo2_low").parameters == {"yellow_low": 93, "n": 1, "m": 1}
    plan = session.exec(select(CarePlan).where(CarePlan.patient_id == trial.patient_a1.id)
                        .order_by(CarePlan.version.desc())).first()
    assert (plan.version, plan.change_reason) == (2, "Grenser fra prøveperioden")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "plan.limits_calibrated")).one()
    assert event.detail["limits"] == {"spo2": {"red_low": 92, "yellow_low": 93}}
    # The patient's traffic light follows at once: 92 % is now yellow.
    limits = plan_templates.current_limits(session, plans.current_content(session, trial.patient_a1.id)[0])
    assert (limits["spo2"].red_low, limits["spo2"].yellow_low) == (92, 93)


def test_the_nurse_adjusts_a_number_and_an_empty_field_keeps_the_limit(nurse, trial, session):
    response = nurse.submit(url_for(trial), {"codes-0-code": "spo2", "codes-0-use": "y", "codes-0-red_low": "",
                                             "plan_version": "1", "codes-0-yellow_low": "94", "reason": "Justert"})
    assert response.status_code == 302
    session.expire_all()
    assert _rule(session, trial.patient_a1, "copd.spo2_red").parameters["red_low"] == 92  # unchanged
    assert _rule(session, trial.patient_a1, "copd.spo2_low").parameters["yellow_low"] == 94


@pytest.mark.parametrize("data, message", [
    ({"codes-0-yellow_low": "nittitre"}, "Skriv et tall"),
    ({"codes-0-yellow_low": "87"}, "rekkefølge"),  # below the red limit 92
    ({"codes-0-red_low": "80"}, "sikkerhetsgrensen"),
    ({"codes-0-yellow_low": "101"}, "Grensen må være mellom"),
    ({"codes-0-yellow_low": "inf"}, "Skriv et tall"),
    ({"reason": ""}, "Si hvorfor grensene endres."),
    ({"codes-0-use": ""}, "Kryss av for minst én måling"),
    ({"codes-0-yellow_low": "93\x00"}, "Ta dem bort og prøv igjen"),  # the guard: nothing saved
    ({"codes-0-yellow_low": "9" * 10_000}, "Skriv et tall"),
    ({"codes-0-yellow_low": "9 3"}, "Du skrev «9 3» med mellomrom inne i tallet. Hva mente du?"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_saved(nurse, trial, session, data, message):
    form = {"codes-0-code": "spo2", "codes-0-use": "y", "codes-0-red_low": "92", "codes-0-yellow_low": "93",
            "reason": "Kalibrering", "plan_version": "1"}
    form.update(data)
    if form["codes-0-use"] == "":
        del form["codes-0-use"]
    response = nurse.submit(url_for(trial), form)
    assert response.status_code == 400
    assert message in text_of(response)
    for name, value in data.items():
        if name.endswith("_low") and len(value) < 100 and "\x00" not in value:
            assert f'value="{value}"' in response.get_data(as_text=True)  # what was typed is kept
    assert plans.current_content(session, trial.patient_a1.id)[1] == 1


def test_a_plan_changed_meanwhile_is_not_overwritten(nurse, trial, session, clock):
    page_url = url_for(trial)
    token = nurse.csrf_token(page_url)
    content, _version = plans.current_content(session, trial.patient_a1.id)
    from homefollow.services.plan_changes import change_plan

    change_plan(session, clock, patient=trial.patient_a1, content=content.model_copy(update={"goals": ["Nytt mål"]}),
                author_account_id=trial.admin_a.id, reason="annen endring", checked=False)
    response = nurse.client.post(page_url, data={"csrf_token": token, "plan_version": "1", "codes-0-code": "spo2",
                                                 "codes-0-use": "y",
                                                 "codes-0-red_low": "92", "codes-0-yellow_low": "93",
                                                 "reason": "Kalibrering"})
    assert response.status_code == 409 and "endret av noen andre" in text_of(response)
    session.expire_all()
    assert _rule(session, trial.patient_a1, "copd.spo2_red").parameters["red_low"] == 92
    assert _rule(session, trial.patient_a1, "copd.spo2_low").parameters["yellow_low"] == 93


def test_before_the_trial_period_is_over_nothing_is_proposed(nurse, world, session, clock):
    _report_trial_period(session, clock, world.patient_a1, values=SPO2[:8])
    clock.set(world.patient_a1.monitoring_since + timedelta(days=9))
    page = nurse.get(url_for(world))
    assert page.status_code == 200
    assert "Prøveperioden er ikke over ennå" in text_of(page)
    token = nurse.csrf_token(url_for(world))
    response = nurse.client.post(url_for(world), data={"csrf_token": token, "codes-0-code": "spo2", "codes-0-use": "y",
                                                       "codes-0-yellow_low": "93", "reason": "x"})
    assert response.status_code == 400
    assert plans.current_content(session, world.patient_a1.id)[1] == 1


def test_too_few_readings_gives_a_clear_message_and_no_form(nurse, world, session, clock):
    _report_trial_period(session, clock, world.patient_a1, values=SPO2[:3])
    page = nurse.get(url_for(world))
    text = text_of(page)
    assert "For få målinger til et forslag: 3 i prøveperioden, minst 7 trengs." in text
    assert "Lagre grensene i planen" not in text


def test_who_may_calibrate(app, trial, session):
    other = WebClient(app.test_client())
    other.login_staff("nurse.b@example.no")
    assert other.get(url_for(trial)).status_code == 404
    token = other.csrf_token("/clinic/")
    response = other.client.post(url_for(trial), data={"csrf_token": token, "codes-0-code": "spo2", "codes-0-use": "y",
                                                       "codes-0-yellow_low": "93", "reason": "x"})
    assert response.status_code == 404
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert {e.detail["attempted"] for e in denied} >= {"view.plan_calibration", "plan.calibrate"}
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.get(url_for(trial)).status_code in (302, 403)
    assert WebClient(app.test_client()).get(url_for(trial)).status_code == 302  # not signed in
    assert plans.current_content(session, trial.patient_a1.id)[1] == 1
    assert other.get("/clinic/patients/999999/plan/calibrate").status_code == 404

"""The safety net under every plan (issue 17): limits and answers no plan may silence, the
checks a plan must pass before it is put in force, recorded decisions that loosen a limit,
silence as a finding, and the defaults a clinician would sign."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC

import pytest
from sqlmodel import select

from homefollow.models import Alert, Notification, PatientStatus, Report
from homefollow.services import alerts, evaluation, plan_safety, plan_templates, reporting
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule, PlanContent, PlanMeasurement, PlanQuestionnaire, SafetyDecision
from homefollow.services.rulebook import sync_defaults
from rules.schedule import Schedule
from rules.zones import Zone
from tests.factories import standard_plan
from tests.test_plan_editor import form_data
from tests.webclient import WebClient, staff_client, text_of

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

SCALE2 = SafetyDecision(rule="safety.spo2_red", parameters={"red_low": 84},
                        reason="Kronisk hyperkapnisk respirasjonssvikt, blodgass 12.11.2026 (pCO2 7,8 kPa).",
                        decided_by="Ingrid Berg, lege", decided_on=date(2026, 3, 1))


def report(session, clock, patient, item, values, key, **kw):
    return reporting.report_measurement(session, clock, patient=patient, item_key=item, values=values,
                                        idempotency_key=key, reported_by_account_id=patient.account_id,
                                        actor_kind="patient", **kw)


def checkin(session, clock, patient, answers, key):
    full = {"general": 0, "breathless": 0, "swelling": 0, "cough": 0, "chest_pain": 0, "fainting": 0, **answers}
    return reporting.report_questionnaire(session, clock, patient=patient, questionnaire_key="daily_checkin",
                                          answers=full, idempotency_key=key, reported_by_account_id=None,
                                          actor_kind="patient")


def kinds(problems):
    return sorted((p.kind, p.item or p.rule, p.parameter) for p in problems)


def with_plan(session, clock, world, content, patient=None):
    patient = patient or world.patient_a1
    change_plan(session, clock, patient=patient, content=content, author_account_id=world.nurse_a.id,
                reason="test", checked=False)
    return patient


# ---- the shipped templates and the demo pass every check ----------------------------------

def test_every_shipped_template_passes_the_plan_checks(session, clock):
    sync_defaults(session, clock)
    for template in plan_templates.shipped_templates():
        assert plan_safety.problems(session, template.content, "nb") == [], template.key


def test_the_shipped_templates_have_the_defaults_a_clinician_would_sign(session, clock):
    sync_defaults(session, clock)
    shipped = {t.key: t.content for t in plan_templates.shipped_templates()}
    copd = plan_templates.current_limits(session, shipped["copd"])
    assert (copd["spo2"].red_low, copd["spo2"].yellow_low) == (92, 94)  # scale 1, BTS 94–98 %
    assert {r.key for r in shipped["frail_elderly"].rules} >= {"general.news2_medium", "general.news2_high"}
    assert {r.key for r in shipped["heart_failure"].rules} >= {"hf.weight_gain_3d", "hf.weight_gain_7d",
                                                                "hf.weight_above_dry", "hf.weight_red"}
    frail = plan_templates.current_limits(session, shipped["frail_elderly"])["temperature"]
    assert (frail.yellow_high, frail.red_high) == (38.0, 39.0)  # 38.1 yellow, 39.1 red on one reading
    for key, content in shipped.items():  # no template puts SpO2 on scale 2
        assert all(r.parameters.get("variant") != "scale2" for r in content.rules), key


# ---- what a plan must satisfy ---------------------------------------------------------------

def test_a_planned_measurement_no_rule_judges_is_refused(session, clock):
    sync_defaults(session, clock)
    content = PlanContent(measurements=[PlanMeasurement(item="weight")])  # weight: not in the safety net
    assert kinds(plan_safety.problems(session, content, "nb")) == [("unwatched", "weight", None)]
    content.rules = [AssignedRule(key="hf.weight_gain_3d")]
    assert plan_safety.problems(session, content, "nb") == []


def test_a_scheduled_item_without_its_missed_data_rule_is_refused(session, clock):
    sync_defaults(session, clock)
    content = PlanContent(
        measurements=[PlanMeasurement(item="spo2", schedule=Schedule(times=("08:00",)))],
        questionnaires=[PlanQuestionnaire(key="daily_checkin", schedule=Schedule(times=("10:00",)))],
        rules=[AssignedRule(key="missed.measurement")])  # "any measurement" does not say which is missing
    problems = plan_safety.problems(session, content, "nb")
    assert kinds(problems) == [("no_missed_rule", "daily_checkin", None), ("no_missed_rule", "spo2", None)]
    assert "missed.spo2" in next(p.message for p in problems if p.item == "spo2")
    content.rules += [AssignedRule(key="missed.spo2"), AssignedRule(key="missed.questionnaire")]
    assert plan_safety.problems(session, content, "nb") == []


def test_a_yellow_limit_inside_a_red_zone_is_refused(session, clock):
    sync_defaults(session, clock)
    content = PlanContent(rules=[AssignedRule(key="general.pulse_red"),
                                 AssignedRule(key="general.pulse_yellow", parameters={"yellow_high": 125})])
    assert plan_safety.problems(session, content, "nb") == []
    content.rules[1] = AssignedRule(key="general.pulse_yellow", parameters={"yellow_high": 140})  # red is > 130
    problems = plan_safety.problems(session, content, "en")
    assert kinds(problems) == [("limits_contradict", "general.pulse_yellow", "yellow_high")]
    assert "«yellow above 140 /min» contradicts «red above 130 /min»" in problems[0].message.replace("\u00a0", " ")


@pytest.mark.parametrize("rule, parameters, limit", [
    ("copd.spo2_red", {"red_low": 60}, "red_low"),  # far below the safety net's 92
    ("diabetes.glucose_red", {"red_low": 1.5}, "red_low"),  # below 3.0
    ("general.temperature_yellow", {"yellow_high": 39.0}, "yellow_high"),  # fever from 38.1 is yellow for anybody
    ("copd.spo2_low", {"yellow_low": 88}, "yellow_low"),  # a yellow zone inside the safety net's red zone
])
def test_a_limit_looser_than_the_safety_net_is_refused(session, clock, rule, parameters, limit):
    sync_defaults(session, clock)
    content = PlanContent(rules=[AssignedRule(key=rule, parameters=parameters)])
    problems = plan_safety.problems(session, content, "nb")
    assert kinds(problems) == [("looser_than_safety", rule, limit)]
    assert "sikkerhetsnettet" in problems[0].message and "klinisk beslutning" in problems[0].message


def test_a_recorded_decision_allows_scale_2_and_is_named_in_the_alert(session, clock, world):
    sync_defaults(session, clock)
    scale2_rules = [AssignedRule(key="copd.spo2_red", parameters={"red_low": 84}),
                    AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 88}),
                    AssignedRule(key="general.news2_medium", parameters={"variant": "scale2"})]
    refused = plan_safety.problems(session, PlanContent(rules=scale2_rules), "nb")
    assert {p.kind for p in refused} == {"looser_than_safety", "scale2"}
    decided = PlanContent(rules=scale2_rules, safety_decisions=[SCALE2])
    assert plan_safety.problems(session, decided, "nb") == []

    patient = with_plan(session, clock, world, standard_plan(rules=scale2_rules, safety_decisions=[SCALE2]))
    assert report(session, clock, patient, "spo2", {"spo2": 87}, "a").zone == Zone.YELLOW  # not red: scale 2
    assert session.exec(select(Alert).where(Alert.severity == "red")).all() == []
    clock.advance(minutes=5)
    assert report(session, clock, patient, "spo2", {"spo2": 82}, "b").zone == Zone.RED
    alert = session.exec(select(Alert).where(Alert.severity == "red")).one()
    assert "Ingrid Berg, lege" in alert.explanation["nb"] and "blodgass 12.11.2026" in alert.explanation["nb"]
    assert "rød under 84%" in alert.explanation["nb"]


def test_the_safety_net_is_not_a_plan_rule(session, clock):
    sync_defaults(session, clock)
    content = PlanContent(rules=[AssignedRule(key="safety.spo2_red", parameters={"red_low": 70})])
    with pytest.raises(evaluation.PlanRulesInvalid) as refused:
        evaluation.assigned_rules(session, content)
    assert "recording a clinical decision" in refused.value.problems[0][2]


def test_change_plan_refuses_what_the_change_brings_but_not_what_the_plan_had(session, clock, world):
    old = with_plan(session, clock, world, standard_plan())  # in force before the checks: no missed rules
    more = standard_plan(what_matters="Å se barnebarna.")
    change_plan(session, clock, patient=old, content=more, author_account_id=world.nurse_a.id, reason="matters")
    worse = standard_plan(what_matters="Å se barnebarna.")
    worse.rules[0] = AssignedRule(key="copd.spo2_red", parameters={"red_low": 80})
    with pytest.raises(plan_safety.PlanUnsafe) as refused:
        change_plan(session, clock, patient=old, content=worse, author_account_id=world.nurse_a.id, reason="lower")
    assert [p.kind for p in refused.value.safety_problems] == ["looser_than_safety"]


# ---- every reading, whatever the plan says -------------------------------------------------

@pytest.mark.parametrize("item, values, group", [
    ("spo2", {"spo2": 80}, "safety.spo2"),
    ("temperature", {"temperature": 40.5}, "safety.temperature"),
    ("glucose", {"glucose": 2.0}, "safety.glucose"),
    ("blood_pressure", {"bp_systolic": 75, "bp_diastolic": 45}, "safety.bp"),
    ("pulse", {"pulse": 135}, "safety.pulse_red"),
])
def test_a_dangerous_value_off_the_plan_is_red_and_pages(session, clock, world, item, values, group):
    patient = with_plan(session, clock, world, standard_plan(measurements=[], rules=[AssignedRule(key="hf.weight_gain_3d")]))
    outcome = report(session, clock, patient, item, values, "x")
    assert outcome.zone == Zone.RED and outcome.report.team_alerted
    alert = session.exec(select(Alert)).one()
    assert (alert.rule_key, alert.severity) == (group, "red")
    assert "sikkerhetsnett" in alert.explanation["nb"]
    assert session.exec(select(Notification).where(Notification.alert_id == alert.id)).first() is not None


def test_a_plan_finding_on_the_same_reading_speaks_for_the_safety_net(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "spo2", {"spo2": 85}, "x")  # plan: red below 92
    assert outcome.zone == Zone.RED
    assert [a.rule_key for a in session.exec(select(Alert))] == ["copd.spo2"]  # one alert, in the plan's words


def test_every_worrying_check_in_answer_is_at_least_yellow_and_red_flags_are_red(session, clock, world):
    patient = with_plan(session, clock, world, standard_plan(rules=[]))
    calm = checkin(session, clock, patient, {}, "c0")
    assert calm.zone == Zone.GREEN
    worse = checkin(session, clock, patient, {"general": 2}, "c1")
    assert worse.zone == Zone.YELLOW and worse.report.team_alerted
    clock.advance(hours=1)
    chest = checkin(session, clock, patient, {"chest_pain": 1}, "c2")
    assert chest.zone == Zone.RED and "113" in chest.instructions[0]
    alert = session.exec(select(Alert).where(Alert.rule_key == "safety.checkin")).one()
    assert alert.severity == "red" and "Brystsmerter" in alert.explanation["nb"]


# ---- one yellow reading, and silence -------------------------------------------------------

def test_a_single_yellow_reading_asks_for_a_new_one_and_alerts_when_none_comes(session, clock, world):
    patient = with_plan(session, clock, world, standard_plan(rules=[AssignedRule(key="general.pulse_yellow")]))
    first = report(session, clock, patient, "pulse", {"pulse": 118}, "p1")
    assert first.zone == Zone.YELLOW and not first.report.team_alerted
    assert first.report.remeasure_by == clock.now() + timedelta(minutes=15)
    clock.advance(minutes=14)
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(select(Alert)).all() == []
    clock.advance(minutes=1)
    evaluation.sweep_due_rules(session, clock)
    alert = session.exec(select(Alert)).one()
    assert alert.rule_key == "general.pulse" and "Ingen ny måling innen 15 minutter" in alert.explanation["nb"]


def test_a_normal_re_measurement_stands_the_yellow_reading_down(session, clock, world):
    patient = with_plan(session, clock, world, standard_plan(rules=[AssignedRule(key="general.pulse_yellow")]))
    report(session, clock, patient, "pulse", {"pulse": 118}, "p1")
    clock.advance(minutes=10)
    assert report(session, clock, patient, "pulse", {"pulse": 84}, "p2").zone == Zone.GREEN
    clock.advance(hours=1)
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(select(Alert)).all() == []


def test_silence_is_yellow_after_two_days_and_red_after_four(session, clock, world):
    patient = world.patient_a1  # a daily plan
    report(session, clock, patient, "weight", {"weight": 68.0}, "w")
    clock.advance(days=2, minutes=1)
    evaluation.sweep_due_rules(session, clock)
    alert = session.exec(select(Alert).where(Alert.rule_key == "safety.inactive")).one()
    assert alert.severity == "yellow" and "Ingen registreringer på 2 dager" in alert.explanation["nb"]
    clock.advance(days=2)
    evaluation.sweep_due_rules(session, clock)
    session.refresh(alert)
    assert alert.severity == "red"  # the longer it lasts, the louder: paged at once
    assert session.exec(select(Notification).where(Notification.alert_id == alert.id)).all()
    clock.advance(hours=1)
    report(session, clock, patient, "weight", {"weight": 68.2}, "w2")  # a report ends the silence …
    events = [e.kind for e in alerts.events_of(session, alert.id)]
    assert "condition_cleared" in events
    session.refresh(alert)
    assert alert.status != "resolved"  # … and the nurse resolves the alert with what she learnt


def test_a_plan_with_days_off_waits_that_much_longer_before_silence_is_a_finding(session, clock, world):
    # Monday, Wednesday and Friday only: a Friday reading and nothing over the weekend is the plan.
    clock.set(datetime(2026, 3, 13, 9, 0, tzinfo=UTC))  # Friday
    three_days = standard_plan(measurements=[m.model_copy(update={"schedule": Schedule(times=("08:00",),
                                                                                         weekdays=(0, 2, 4))})
                                             for m in standard_plan().measurements])
    patient = with_plan(session, clock, world, three_days)
    report(session, clock, patient, "weight", {"weight": 68.0}, "fri")
    clock.advance(days=3, minutes=1)  # Monday morning: three days, the plan's longest gap
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(select(Alert).where(Alert.rule_key == "safety.inactive")).all() == []
    clock.advance(days=1)  # Tuesday: two days more than the plan allows, as for a daily plan
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(select(Alert).where(Alert.rule_key == "safety.inactive")).one().severity == "yellow"


def test_a_paused_patient_is_not_silent_and_misses_nothing(session, clock, world):
    patient = world.patient_a1
    patient.status = PatientStatus.PAUSED.value
    session.add(patient)
    session.commit()
    report(session, clock, patient, "weight", {"weight": 68.0}, "w")  # a reading while away is still judged
    clock.advance(days=5)
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(select(Alert).where(Alert.rule_key == "safety.inactive")).all() == []
    assert report(session, clock, patient, "spo2", {"spo2": 80}, "s").zone == Zone.RED  # still the safety net


# ---- calibration --------------------------------------------------------------------------

def test_calibration_never_proposes_a_limit_looser_than_the_safety_net(session, clock, world):
    from homefollow.services import rule_tools

    patient = world.patient_a1
    start = clock.now() - timedelta(days=14)
    patient.monitoring_since = start
    session.add(patient)
    for day, value in enumerate([97, 98, 97, 96, 97, 98, 97, 97, 96, 97, 98, 97, 97, 96]):
        clock.set(start + timedelta(days=day))
        report(session, clock, patient, "spo2", {"spo2": value}, f"t{day}")
    clock.set(start + timedelta(days=14))
    proposal = rule_tools.propose_personal_limits(session, clock, patient, "spo2")
    assert proposal.median == 97
    assert 92 <= proposal.limits.red_low <= 94  # never below the safety net, never inside 94–98 %
    assert proposal.limits.yellow_low > proposal.limits.red_low


# ---- the plan editor -----------------------------------------------------------------------

def test_the_editor_ties_a_looser_limit_to_its_field_and_saves_nothing(app, session, clock, world):
    web = staff_client(app, "nurse.a@example.no")
    url = f"/clinic/patients/{world.patient_a1.id}/plan/edit/measurements"
    data = form_data(session, world.patient_a1, "measurements", **{"limits-spo2-red_low": "80"})
    response = web.submit(url, {**data, "action": "save", "reason": "Lavere grense"})
    assert response.status_code == 400
    page = text_of(response)
    assert "sikkerhetsnettet" in page and "rød under 80%" in page
    assert 'id="limits-spo2-red_low-error"' in response.get_data(as_text=True)  # on its own field
    assert evaluation.plans.current_content(session, world.patient_a1.id)[1] == 1  # nothing saved


def test_a_decision_is_recorded_with_who_when_and_why_in_the_safety_section(app, session, clock, world):
    web = staff_client(app, "nurse.a@example.no")
    url = f"/clinic/patients/{world.patient_a1.id}/plan/edit/safety"
    fields = web.form_fields(url)
    assert fields["new_decisions-0-decided_by"] == "Nora Nurse" and fields["new_decisions-0-decided_on"] == "10.03.2026"
    fields = {k: v for k, v in fields.items() if k.startswith("new_decisions-")}
    fields.update({"new_decisions-0-limit": "safety.spo2_red:red_low", "new_decisions-0-value": "84",
                   "new_decisions-0-reason": "kort", "reason": "Skala 2", "action": "save"})
    refused = web.submit(url, fields)
    assert refused.status_code == 400 and "minst 10 tegn" in text_of(refused)
    fields["new_decisions-0-reason"] = SCALE2.reason
    fields["new_decisions-0-decided_by"] = "Ingrid Berg, lege"
    saved = web.submit(url, fields)
    assert saved.status_code == 302, text_of(saved)
    content, _version = evaluation.plans.current_content(session, world.patient_a1.id)
    [decision] = content.safety_decisions
    assert (decision.rule, decision.parameters, decision.decided_by) == ("safety.spo2_red", {"red_low": 84},
                                                                          "Ingrid Berg, lege")
    assert decision.decided_by_account_id == world.nurse_a.id and decision.decided_on == date(2026, 3, 10)
    overview = text_of(web.get(f"/clinic/patients/{world.patient_a1.id}/plan/edit"))
    assert "Ingrid Berg, lege" in overview and "blodgass" in overview
    versions = text_of(web.get(f"/clinic/patients/{world.patient_a1.id}/plan/versions"))
    assert "klinisk beslutning" in versions


def test_a_plan_from_before_the_checks_lists_what_it_must_fix(app, session, clock, world):
    web = staff_client(app, "nurse.a@example.no")
    page = text_of(web.get(f"/clinic/patients/{world.patient_a1.id}/plan/edit"))
    assert "Det planen må rette" in page and "ingen regel merker når den ikke kommer" in page


def test_a_nurse_of_another_team_cannot_see_or_record_a_decision(app, session, clock, world):
    web = staff_client(app, "nurse.b@example.no")
    url = f"/clinic/patients/{world.patient_a1.id}/plan/edit/safety"
    assert web.get(url).status_code == 404
    assert web.client.post(url, data={"new_decisions-0-limit": "safety.spo2_red:red_low"}).status_code in (400, 404)
    content, _version = evaluation.plans.current_content(session, world.patient_a1.id)
    assert content.safety_decisions == []


# ---- what the patient is told by SMS --------------------------------------------------------

def test_an_sms_reading_nothing_judges_is_not_called_fine(session, clock, world):
    from homefollow.services import sms_inbox

    with_plan(session, clock, world, standard_plan(measurements=[], rules=[]))
    reply = sms_inbox.handle(session, clock, from_number="+4791000001", body="VEKT 90", message_id="SMnone1")
    assert "ingen grenser" in reply and "Fortsett som vanlig" not in reply and "113" in reply


def test_a_single_yellow_reading_by_sms_asks_for_a_new_one(session, clock, world):
    from homefollow.services import sms_inbox

    with_plan(session, clock, world, standard_plan(rules=[AssignedRule(key="general.pulse_yellow")]))
    reply = sms_inbox.handle(session, clock, from_number="+4791000001", body="PULS 118", message_id="SMre1")
    assert "mål på nytt innen 15 minutter" in reply
    assert session.exec(select(Alert)).all() == []  # not yet: the new reading decides


# ---- a reading a nurse registers -------------------------------------------------------------

def test_a_nurse_registers_a_reading_read_out_on_the_phone(app, session, clock, world):
    from homefollow.models import AuditEvent

    web = staff_client(app, "nurse.a@example.no")
    url = f"/clinic/patients/{world.patient_a1.id}/report/spo2"
    response = web.submit(url, {"spo2": "85"})
    assert response.status_code == 302
    page = text_of(web.get(response.location))
    assert "Registrert: 85%, rød sone. Et varsel er åpent i triagekøen." in page.replace("\u00a0", " ")
    report = session.exec(select(Report)).one()
    assert (report.source, report.reported_by_account_id, report.zone) == ("staff", world.nurse_a.id, "red")
    assert session.exec(select(Alert)).one().severity == "red"
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "report.create")).one()
    assert (audit.actor_kind, audit.actor_account_id) == ("staff", world.nurse_a.id)
    assert "Nora Nurse" in page  # shown as registered by her


def test_a_reading_is_registered_only_by_the_patients_own_team(app, session, clock, world):
    from homefollow.models import AuditEvent

    url = f"/clinic/patients/{world.patient_a1.id}/report/spo2"
    other = staff_client(app, "nurse.b@example.no")
    assert other.get(url).status_code == 404
    token = other.csrf_token("/clinic/")
    assert other.client.post(url, data={"csrf_token": token, "spo2": "85"}).status_code == 404
    assert session.exec(select(Report)).all() == []
    denied = session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert {e.detail["attempted"] for e in denied} >= {"view.staff_report", "report.staff"}
    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.get(url).status_code in (302, 403)  # staff pages are not for patients
    assert staff_client(app, "nurse.a@example.no").get(f"/clinic/patients/{world.patient_a1.id}/report/x").status_code == 404

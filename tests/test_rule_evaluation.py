"""The rule engine at work in the system: on each report, from the scheduler's sweep, across
restarts and DST, with personal parameters, versions, backtests and calibration."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, UTC

import pytest
from sqlmodel import Session, select

from homefollow.models import Alert, AuditEvent, CarePlan, Notification, Outcome, RuleState, RuleVersion
from homefollow.services import alerts, evaluation, reporting, rule_tools, rulebook
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule
from rules import parse_rule
from rules.ruleset import default_rules
from rules.zones import Zone
from tests.factories import standard_plan

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def report(session, clock, patient, item, values, key, measured_at=None):
    return reporting.report_measurement(session, clock, patient=patient, item_key=item, values=values,
                                        idempotency_key=key, reported_by_account_id=patient.account_id,
                                        actor_kind="patient", measured_at=measured_at)


def with_rules(session, clock, world, *rules, patient=None, **plan_changes):
    patient = patient or world.patient_a1
    content = standard_plan(**plan_changes)
    content.rules = list(rules)
    change_plan(session, clock, patient=patient, content=content, author_account_id=world.nurse_a.id,
                reason="test", checked=False)
    return patient


def next_version(key, session, **changes):
    """The next version of a shipped rule, with its examples brought up to date (they name the
    version)."""
    data = rulebook.definition_of(rulebook.find_version(session, key)).model_dump(mode="json")
    now, new = data["version"], data["version"] + 1
    for example in data["examples"]:
        for expectation in example["expect"]:
            expectation["explanation_contains"] = [t.replace(f"versjon {now}", f"versjon {new}")
                                                   for t in expectation["explanation_contains"]]
    data.update(version=new, **changes)
    return parse_rule(data)


def test_a_version_without_examples_cannot_be_activated(session, clock, world):
    untested = rulebook.add_version(session, clock, next_version("copd.spo2_red", session, examples=[]))
    with pytest.raises(rulebook.RuleBookError) as info:
        rulebook.activate(session, clock, untested)
    assert "at least one example" in info.value.problems[0]


def state_of(session, patient, key) -> RuleState:
    return session.exec(select(RuleState).where(RuleState.patient_id == patient.id, RuleState.rule_key == key)).one()


# ---- on each report ------------------------------------------------------------------------

def test_yellow_confirmed_by_two_of_three_shows_yellow_at_once_but_alerts_on_the_second(session, clock, world):
    patient = with_rules(session, clock, world, AssignedRule(key="copd.spo2_low"))
    first = report(session, clock, patient, "spo2", {"spo2": 93}, "a")
    assert first.zone == Zone.YELLOW and first.instructions == ["Start beredskapskuren."]
    assert session.exec(select(Alert)).all() == []  # one low reading is not yet confirmed …
    assert not first.report.team_alerted
    assert first.report.remeasure_by == clock.now() + timedelta(minutes=15)  # … the patient measures again
    clock.advance(minutes=10)
    second = report(session, clock, patient, "spo2", {"spo2": 93}, "b")
    alert = session.exec(select(Alert)).one()
    assert second.report.team_alerted and second.report.remeasure_by is None
    assert alert.explanation["nb"].startswith("Oksygenmetning: 2 av de siste 3 målingene er under planens grense "
                                              "for gul sone (94%)")


def test_a_trend_rule_makes_a_reading_yellow_with_the_plans_instruction(session, clock, world):
    patient = with_rules(session, clock, world, AssignedRule(key="hf.weight_gain_3d"),
                         instructions={"weight.yellow": "Ta en ekstra vanndrivende og ring teamet."})
    assert report(session, clock, patient, "weight", {"weight": 68.0}, "d1").zone == Zone.GREEN
    clock.advance(days=2)
    outcome = report(session, clock, patient, "weight", {"weight": 70.3}, "d3")
    assert outcome.zone == Zone.YELLOW
    assert outcome.instructions == ["Ta en ekstra vanndrivende og ring teamet."]
    alert = session.exec(select(Alert)).one()
    assert alert.rule_key == "hf.weight"  # the weight rules share one alert
    assert alert.explanation["nb"].startswith("Vekt 70,3\u00a0kg 12. mars er 2,3\u00a0kg over 68,0\u00a0kg 10. mars; "
                                              "planen tillater 2,0\u00a0kg på 3 dager.")


def test_a_condition_that_persists_after_resolution_does_not_reopen_but_a_new_reading_does(session, clock, world):
    patient = world.patient_a1
    report(session, clock, patient, "weight", {"weight": 70.6}, "w1")
    alert = session.exec(select(Alert)).one()
    alerts.resolve(session, clock, alert.id, world.nurse_a.id, Outcome.ADVICE_GIVEN, "")
    clock.advance(hours=1)
    report(session, clock, patient, "spo2", {"spo2": 96}, "s1")  # re-evaluates every rule
    assert len(session.exec(select(Alert)).all()) == 1
    clock.advance(days=1)
    report(session, clock, patient, "weight", {"weight": 70.9}, "w2")
    assert len(session.exec(select(Alert)).all()) == 2


def test_a_milder_reading_does_not_hide_why_an_alert_is_red(session, clock, world):
    patient = world.patient_a1
    report(session, clock, patient, "blood_pressure", {"bp_systolic": 185, "bp_diastolic": 95}, "r")
    clock.advance(hours=2)
    report(session, clock, patient, "blood_pressure", {"bp_systolic": 165, "bp_diastolic": 90}, "y")
    alert = session.exec(select(Alert)).one()
    assert alert.severity == "red" and alert.occurrences == 2
    assert alert.value_text["nb"].startswith("185")
    repeated = [e for e in alerts.events_of(session, alert.id) if e.kind == "repeated"]
    assert len(repeated) == 1 and repeated[0].data["severity"] == "yellow"
    assert "165" in repeated[0].data["explanation"]["nb"]


def test_a_fever_no_plan_rule_watches_is_red_by_the_safety_net(session, clock, world):
    assert report(session, clock, world.patient_a1, "temperature", {"temperature": 39.9}, "t").zone == Zone.RED
    assert session.exec(select(Alert)).one().rule_key == "safety.temperature"


# ---- the scheduler's sweep: time-based rules ----------------------------------------------

def weight_missed_plan(session, clock, world):
    """Follow-up starts now, with a daily weighing at 08:00 and the missed-weighing rule."""
    world.patient_a1.monitoring_since = clock.now()
    session.add(world.patient_a1)
    return with_rules(session, clock, world, AssignedRule(key="hf.weight_missed"))


def test_a_missed_weighing_becomes_an_alert_when_its_grace_period_ends(session, clock, world):
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))  # 06:00 in Oslo
    patient = weight_missed_plan(session, clock, world)
    due = state_of(session, patient, "hf.weight_missed").next_due_at
    assert due == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 08:00 local + 3 h grace (the plan's)
    clock.set(due - timedelta(minutes=1))
    assert evaluation.sweep_due_rules(session, clock).evaluated == 0
    clock.set(due)
    assert evaluation.sweep_due_rules(session, clock).evaluated == 1
    alert = session.exec(select(Alert)).one()
    assert alert.rule_key == "hf.weight_missed" and alert.severity == "yellow"
    assert "Ingen vektmåling registrert for kl. 08:00 10. mars (frist 11:00)" in alert.explanation["nb"]
    assert session.exec(select(Notification)).one().alert_id == alert.id
    clock.advance(minutes=15)
    evaluation.sweep_due_rules(session, clock)
    assert len(session.exec(select(Alert)).all()) == 1  # nothing new to say


@pytest.mark.parametrize("day, deadline_utc", [
    (datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 3, 29, 9, 0, tzinfo=UTC)),  # CEST
    (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 10, 25, 10, 0, tzinfo=UTC)),  # CET
])
def test_missed_check_in_deadlines_follow_local_time_across_dst(session, clock, world, day, deadline_utc):
    clock.set(day - timedelta(hours=2))  # the evening before, before the clocks change
    weight_missed_plan(session, clock, world)
    missed = select(Alert).where(Alert.rule_key == "hf.weight_missed")
    clock.set(deadline_utc - timedelta(minutes=1))
    evaluation.sweep_due_rules(session, clock)
    assert session.exec(missed).all() == []
    clock.set(deadline_utc)
    evaluation.sweep_due_rules(session, clock)
    assert "kl. 08:00" in session.exec(missed).one().explanation["nb"]


def test_a_pending_condition_survives_a_restart_and_fires_after_its_hold_time(engine, session, clock, world):
    """A rule version with a one-hour hold: pending after the reading; the state is in the
    database, so a freshly started scheduler (new session, nothing in memory) fires it on time."""
    held = next_version("copd.spo2_red", session, hold="PT1H", examples=[{
        "name": "fires an hour after the reading",
        "observations": [{"code": "spo2", "value": 80, "at": "2026-03-10T09:00:00+01:00"}],
        "expect": [{"at": "2026-03-10T09:59:00+01:00", "status": "pending"},
                   {"at": "2026-03-10T10:00:00+01:00", "status": "firing"}]}])
    rulebook.activate(session, clock, rulebook.add_version(session, clock, held))
    # A personal red limit stricter than the safety net's (which never waits: 91 % would page at once).
    patient = with_rules(session, clock, world, AssignedRule(key="copd.spo2_red", parameters={"red_low": 94}))
    outcome = report(session, clock, patient, "spo2", {"spo2": 93}, "low")
    assert outcome.zone == Zone.RED  # the patient is told at once; only the alert waits
    assert state_of(session, patient, "copd.spo2_red").status == "pending"
    assert session.exec(select(Alert)).all() == []
    patient_id = patient.id
    session.commit()

    with Session(engine) as restarted:
        clock.advance(minutes=59)
        assert evaluation.sweep_due_rules(restarted, clock).evaluated == 0
        clock.advance(minutes=1)
        assert evaluation.sweep_due_rules(restarted, clock).evaluated == 1
        alert = restarted.exec(select(Alert)).one()
        assert (alert.patient_id, alert.severity, alert.rule_version) == (patient_id, "red", 3)


def test_two_sweeps_at_once_evaluate_a_due_patient_once(engine, session, clock, world):
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
    weight_missed_plan(session, clock, world)
    session.commit()
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    barrier = threading.Barrier(3)
    results = []

    def sweep():
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            results.append(evaluation.sweep_due_rules(s, clock))

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(r.evaluated for r in results) == 1
    with Session(engine) as s:
        assert len(s.exec(select(Alert)).all()) == 1
        assert len(s.exec(select(Notification)).all()) == 1


def missed_weighing_for_three(session, clock, world):
    """Patients A1, A2 (team A) and B1 (team B) on the missed-weighing rule, all due at 11:00."""
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
    for patient in (world.patient_a1, world.patient_a2, world.patient_b1):
        patient.monitoring_since = clock.now()
        session.add(patient)
        with_rules(session, clock, world, AssignedRule(key="hf.weight_missed"), patient=patient)
    session.commit()
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))


def test_one_sweep_opens_every_patients_alert_with_its_page_and_events_in_order(session, clock, world):
    missed_weighing_for_three(session, clock, world)
    assert evaluation.sweep_due_rules(session, clock).evaluated == 3
    opened = session.exec(select(Alert).order_by(Alert.patient_id)).all()
    assert [a.patient_id for a in opened] == sorted(p.id for p in (world.patient_a1, world.patient_a2,
                                                                   world.patient_b1))
    assert len({a.short_code for a in opened}) == 3
    assert {a.team_id: a.escalation_policy["fallback"][0]["number"] for a in opened} == {
        world.team_a.id: "+4790000000", world.team_b.id: "+4790000009"}  # each team's own policy, frozen
    for alert in opened:
        events = alerts.events_of(session, alert.id)
        assert [e.kind for e in events] == ["opened", "page_queued"]
        page = session.get(Notification, events[1].data["notification_id"])
        assert (page.alert_id, page.status) == (alert.id, "pending")
        assert alert.short_code in page.body
        assert alert.escalation_due_at is not None  # the next step is planned
    assert len(session.exec(select(Notification)).all()) == 3


def test_an_alert_opened_meanwhile_by_another_transaction_is_updated_and_the_others_still_open(
        session, clock, world, monkeypatch):
    """The sweep reads the latest alerts, then another transaction (a report) opens A2's alert
    before the sweep inserts its own: the database refuses a second open alert, so the sweep
    updates that one, and still opens A1's and B1's."""
    missed_weighing_for_three(session, clock, world)
    read_latest = alerts.latest_alerts_for

    def then_a_report_opens_one(s, keys):
        found = read_latest(s, keys)
        s.add(Alert(patient_id=world.patient_a2.id, team_id=world.team_a.id, rule_key="hf.weight_missed",
                    title={"nb": "t", "en": "t"}, severity="yellow", short_code="AAAAA", opened_at=clock.now(),
                    severity_since=clock.now(), last_seen_at=clock.now(), value_text={}, threshold_text={},
                    explanation={"nb": "fra en rapport", "en": "from a report"}))
        s.flush()
        return found

    monkeypatch.setattr(alerts, "latest_alerts_for", then_a_report_opens_one)
    assert evaluation.sweep_due_rules(session, clock).evaluated == 3
    by_patient = {a.patient_id: a for a in session.exec(select(Alert))}
    assert len(by_patient) == 3
    meanwhile = by_patient[world.patient_a2.id]
    assert (meanwhile.short_code, meanwhile.occurrences) == ("AAAAA", 2)
    assert "Ingen vektmåling" in meanwhile.explanation["nb"]
    assert [e.kind for e in alerts.events_of(session, meanwhile.id)][0] == "repeated"
    for patient in (world.patient_a1, world.patient_b1):
        assert [e.kind for e in alerts.events_of(session, by_patient[patient.id].id)] == ["opened", "page_queued"]


def test_paused_patients_are_not_swept(session, clock, world):
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
    patient = weight_missed_plan(session, clock, world)
    patient.status = "paused"
    session.add(patient)
    session.commit()
    clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert evaluation.sweep_due_rules(session, clock).evaluated == 0
    assert session.exec(select(Alert)).all() == []


def test_a_patient_whose_evaluation_fails_is_retried_later_and_the_others_are_swept(session, clock, world,
                                                                                   monkeypatch):
    missed_weighing_for_three(session, clock, world)
    broken = world.patient_a2.id
    run = evaluation._run

    def fails_for_one(s, c, inputs, writes):
        if inputs.patient.id == broken:
            raise RuntimeError("a plan this version cannot read")
        return run(s, c, inputs, writes)

    monkeypatch.setattr(evaluation, "_run", fails_for_one)
    result = evaluation.sweep_due_rules(session, clock)
    assert (result.evaluated, result.failed) == (2, 1)
    assert {a.patient_id for a in session.exec(select(Alert))} == {world.patient_a1.id, world.patient_b1.id}
    assert state_of(session, world.patient_a2, "hf.weight_missed").next_due_at == clock.now() + evaluation.RETRY_AFTER
    # The next sweeps do not stumble over it again until it is due once more.
    assert evaluation.sweep_due_rules(session, clock) == evaluation.SweepResult(evaluated=0, failed=0)
    monkeypatch.setattr(evaluation, "_run", run)  # mended
    clock.advance(evaluation.RETRY_AFTER)
    assert evaluation.sweep_due_rules(session, clock).evaluated == 1
    assert broken in {a.patient_id for a in session.exec(select(Alert))}


def test_a_sweep_that_dies_before_committing_leaves_its_patients_to_the_next_sweep(engine, session, clock, world):
    missed_weighing_for_three(session, clock, world)
    with Session(engine) as dying:
        assert len(evaluation.claim_due_patients(dying, clock, 10)) == 3
        if engine.dialect.name == "postgresql":  # SQLite: the second process waits for the write lock instead
            with Session(engine) as other:
                assert evaluation.sweep_due_rules(other, clock).evaluated == 0  # claimed: skipped, not waited for
        # The process dies here: its transaction ends without a commit.
    with Session(engine) as next_sweep:
        assert evaluation.sweep_due_rules(next_sweep, clock).evaluated == 3  # at once: no lease to run out
        assert len(next_sweep.exec(select(Alert)).all()) == 3


# ---- plans, personal parameters and versions ------------------------------------------------

def test_a_plan_with_a_bad_parameter_is_refused_with_every_problem_named(session, clock, world):
    content = standard_plan()
    content.rules = [AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 30, "n": 0}),
                     AssignedRule(key="no.such_rule")]
    with pytest.raises(evaluation.PlanRulesInvalid) as info:
        change_plan(session, clock, patient=world.patient_a1, content=content, author_account_id=world.nurse_a.id,
                    reason="typo", checked=False)
    problems = {(key, name) for key, name, _reason in info.value.problems}
    assert problems == {("copd.spo2_low", "yellow_low"), ("copd.spo2_low", "n"), ("no.such_rule", "")}
    reasons = " ".join(reason for _k, _n, reason in info.value.problems)
    assert "outside the plausible range" in reasons and "at least 1" in reasons
    session.rollback()
    assert len(session.exec(select(CarePlan).where(CarePlan.patient_id == world.patient_a1.id)).all()) == 1


def test_personal_parameters_are_versioned_with_who_when_and_why(session, clock, world):
    clock.advance(hours=1)
    content = standard_plan()
    content.rules[1] = AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 94, "n": 1, "m": 1})
    change_plan(session, clock, patient=world.patient_a1, content=content, author_account_id=world.admin_a.id,
                reason="Målområde 94–98 % etter legevurdering", checked=False)
    plans = session.exec(select(CarePlan).where(CarePlan.patient_id == world.patient_a1.id)
                         .order_by(CarePlan.version)).all()
    assert [p.version for p in plans] == [1, 2]
    assert (plans[1].created_by_account_id, plans[1].created_at, plans[1].change_reason) == (
        world.admin_a.id, clock.now(), "Målområde 94–98 % etter legevurdering")
    assert plans[0].content["rules"][1]["parameters"]["yellow_low"] == 93  # the old version is untouched
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "plan.change",
                                                 AuditEvent.actor_account_id == world.admin_a.id)).one()
    assert report(session, clock, world.patient_a1, "spo2", {"spo2": 93}, "k").zone == Zone.YELLOW


def test_alerts_record_the_rule_version_that_fired(session, clock, world):
    report(session, clock, world.patient_a1, "spo2", {"spo2": 86}, "v1")
    first = session.exec(select(Alert)).one()
    alerts.resolve(session, clock, first.id, world.nurse_a.id, Outcome.ADVICE_GIVEN, "")
    rulebook.activate(session, clock, rulebook.add_version(session, clock, next_version("copd.spo2_red", session)))
    clock.advance(days=1)
    report(session, clock, world.patient_a1, "spo2", {"spo2": 85}, "v2")
    versions = [(a.rule_version, rulebook.definition_of(session.get(RuleVersion, a.rule_version_id)).version)
                for a in session.exec(select(Alert).order_by(Alert.id))]
    assert versions == [(2, 2), (3, 3)]


def test_a_version_whose_examples_fail_cannot_be_activated(session, clock, world):
    broken = rulebook.add_version(session, clock, next_version("copd.spo2_red", session, parameters={"red_low": 70}))
    with pytest.raises(rulebook.RuleBookError) as info:
        rulebook.activate(session, clock, broken)
    assert info.value.problems and "FAIL" in info.value.problems[0]
    assert rulebook.find_version(session, "copd.spo2_red").version == 2


def test_a_stored_version_cannot_be_changed(session, clock, world):
    definition = rulebook.definition_of(rulebook.find_version(session, "copd.spo2_red"))
    changed = parse_rule({**definition.model_dump(mode="json"), "parameters": {"red_low": 80}})
    with pytest.raises(rulebook.RuleBookError, match="versions are immutable, so store the change as version 3"):
        rulebook.add_version(session, clock, changed)


def test_syncing_the_shipped_rules_twice_changes_nothing(session, clock, world):
    report_ = rulebook.sync_defaults(session, clock)
    assert report_.added == [] and report_.refused == [] and report_.unchanged == len(default_rules())


# ---- backtest and calibration -------------------------------------------------------------

def spo2_history(session, clock, patient, values):
    start = clock.now() - timedelta(days=len(values))
    for i, value in enumerate(values):
        clock.set(start + timedelta(days=i))
        report(session, clock, patient, "spo2", {"spo2": value}, f"h{i}")
    clock.set(start + timedelta(days=len(values)))
    session.commit()


def test_a_stricter_limit_in_a_backtest_would_have_raised_more_alerts(session, clock, world):
    patient = with_rules(session, clock, world, AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 93}))
    spo2_history(session, clock, patient, [96, 94, 94, 96, 92, 92, 96, 96, 94, 94])
    as_planned = rule_tools.backtest_patient(session, clock, patient, "copd.spo2_low", days=30)
    stricter = rule_tools.backtest_patient(session, clock, patient, "copd.spo2_low", days=30,
                                           parameters={"yellow_low": 95})
    # Below 93: only 92, 92. Below 95: 94, 94 … 92, 92 is one long episode, then 94, 94. (One reading a day:
    # no re-measurement within 15 minutes, so each episode starts 15 minutes after its first reading.)
    assert as_planned.parameters == {"yellow_low": 93.0} and len(as_planned.alerts) == 1
    assert len(stricter.alerts) == 2
    assert "Ingen ny måling innen 15 minutter" in stricter.alerts[0].first.explanation.nb


def test_calibration_proposes_personal_limits_from_the_trial_period(session, clock, world):
    patient = world.patient_a1
    spo2_history(session, clock, patient, [93, 94, 94, 95, 93, 94, 95, 94, 93, 94, 94, 95, 94, 93])
    patient.monitoring_since = clock.now() - timedelta(days=14)
    session.add(patient)
    session.commit()
    proposal = rule_tools.propose_personal_limits(session, clock, patient, "spo2")
    assert proposal.count == 14 and proposal.median == 94
    assert proposal.limits.yellow_low is not None and proposal.limits.yellow_low < 94
    assert proposal.limits.red_low is not None and proposal.limits.red_low <= proposal.limits.yellow_low
    assert "94" in proposal.explanation.nb


# ---- the command line -------------------------------------------------------------------

def test_flask_rules_test_runs_the_shipped_examples(app):
    result = app.test_cli_runner().invoke(args=["rules", "test"])
    assert result.exit_code == 0, result.output
    examples = sum(len(rule.examples) for rule in default_rules().values())
    assert examples > len(default_rules())  # every shipped rule has examples, most several
    assert result.output.strip().endswith(f"{examples} passed, 0 failed")


def test_flask_rules_test_fails_on_a_failing_example(app, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""
key: test.spo2_red
version: 1
title: {nb: Test, en: Test}
severity: red
instruction_key: spo2.red
spec: {kind: zones, code: spo2}
parameters: {red_low: 88}
examples:
  - name: wrong expectation
    observations: [{code: spo2, value: 95, at: "2026-03-10T08:00:00+01:00"}]
    expect: [{at: "2026-03-10T08:00:00+01:00", status: firing}]
""")
    result = app.test_cli_runner().invoke(args=["rules", "test", str(bad)])
    assert result.exit_code == 1 and "FAIL test.spo2_red" in result.output
    add = app.test_cli_runner().invoke(args=["rules", "add", str(bad), "--activate"])
    assert add.exit_code != 0 and "cannot be activated" in add.output


def test_flask_rules_backtest_and_calibrate(app, session, clock, world):
    patient = with_rules(session, clock, world, AssignedRule(key="copd.spo2_low", parameters={"yellow_low": 94}))
    spo2_history(session, clock, patient, [96, 93, 93, 96, 95, 96, 95, 95, 96, 95])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--patient", str(patient.id),
                                 "--days", "30"])
    assert result.exit_code == 0, result.output
    assert ": 1 alert\n" in result.output and "copd.spo2_low v2 over 30 days: 1 alert for 1 patient." in result.output
    result = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--set", "yellow_low=96"])
    # Every patient whose plan uses the rule (all three in this world), with another limit.
    assert result.exit_code == 0 and "for 3 patients." in result.output
    assert result.output.count("parameters yellow_low=96.0:") == 3
    nobody = runner.invoke(args=["rules", "backtest", "--rule", "hf.weight_gain_3d"])  # in no plan here
    assert nobody.exit_code == 0 and "No patient to backtest: name one with --patient" in nobody.output
    assert "0 alerts for 0 patients." in nobody.output
    templates = runner.invoke(args=["templates", "list"])
    assert templates.exit_code == 0 and templates.output.rstrip().endswith("plan templates.")
    result = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--set", "yellow_low=20"])
    assert result.exit_code != 0 and "outside the plausible range" in result.output
    assert "Backtesting" not in result.output  # refused before it starts
    unknown = runner.invoke(args=["rules", "backtest", "--rule", "copd.no_such_rule"])
    # Only the error: no "Backtesting … for 0 patients" line that reads as if it ran.
    assert unknown.exit_code != 0 and unknown.output.strip() == "Error: no active version of rule copd.no_such_rule"
    patient.monitoring_since = clock.now() - timedelta(days=10)
    session.add(patient)
    session.commit()
    result = runner.invoke(args=["rules", "calibrate", "--patient", str(patient.id), "--code", "spo2"])
    assert result.exit_code == 0, result.output
    assert "Proposed limits for spo2" in result.output


def test_a_rule_taken_off_the_plan_stops_its_timer(session, clock, world):
    """Its state is kept (the history of the rule), but time can no longer change it: the sweep
    must not take the patient again and again for a timer no rule of the plan reads."""
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
    patient = weight_missed_plan(session, clock, world)
    due = state_of(session, patient, "hf.weight_missed").next_due_at
    with_rules(session, clock, world, AssignedRule(key="copd.spo2_red"))  # the weighing rule is taken off
    assert state_of(session, patient, "hf.weight_missed").next_due_at is None
    clock.set(due)
    assert evaluation.sweep_due_rules(session, clock).evaluated == 0
    # A timer left running (stored before this was so, or its rule retired): one sweep stops it.
    left = state_of(session, patient, "hf.weight_missed")
    left.next_due_at = due
    session.add(left)
    session.commit()
    assert evaluation.sweep_due_rules(session, clock).evaluated == 1
    assert evaluation.sweep_due_rules(session, clock).evaluated == 0
    assert session.exec(select(Alert)).all() == []

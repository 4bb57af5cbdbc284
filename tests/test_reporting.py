"""Reporting a measurement: zone from the plan, one open alert per rule, page in the outbox,
all in one transaction; repeated submissions store nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from homefollow.models import Alert, AlertEvent, AuditEvent, Measurement, Notification, Patient, Report, ReportSource
from homefollow.services import alerts, reporting
from rules.measurements import ImplausibleValue
from rules.zones import Zone

from .factories import standard_plan

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def report(session, clock, patient, item, values, key, by=None):
    return reporting.report_measurement(session, clock, patient=patient, item_key=item, values=values,
                                        idempotency_key=key, reported_by_account_id=by or patient.account_id,
                                        actor_kind="patient")


def test_green_value_is_stored_with_the_plans_instruction_and_raises_nothing(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "spo2", {"spo2": 95}, "k1")
    assert outcome.zone == Zone.GREEN
    assert outcome.instructions == ["Fortsett som før."]
    assert session.exec(select(Measurement.value).where(Measurement.patient_id == world.patient_a1.id)).all() == [95]
    assert session.exec(select(Alert)).all() == []
    assert session.exec(select(Notification)).all() == []


def test_red_value_opens_an_alert_and_pages_the_nurse_in_opening_hours(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "spo2", {"spo2": 86}, "k1")
    assert outcome.zone == Zone.RED
    assert outcome.instructions == ["Ring 113 ved alvorlig pustebesvær."]
    alert = session.exec(select(Alert)).one()
    assert (alert.severity, alert.status, alert.rule_key, alert.team_id) == ("red", "open", "copd.spo2", world.team_a.id)
    assert alert.explanation["nb"].startswith("Oksygenmetning 86% 10. mars 09:00 er under planens grense for rød sone (92%).")
    assert "copd.spo2_red versjon 2" in alert.explanation["nb"]
    assert alert.title == {"nb": "Oksygenmetning i rød sone (KOLS)", "en": "Oxygen saturation in the red zone (COPD)"}
    assert alert.threshold_text == {"nb": "< 92%", "en": "< 92%"}
    page = session.exec(select(Notification)).one()  # Tuesday 09:00: the team's nurse, by SMS
    assert page.recipient == "+4790000101" and page.channel == "sms" and page.status == "pending"
    assert alert.short_code in page.body
    assert "Astrid" not in page.body and "86" not in page.body  # no patient detail in the SMS
    kinds = [e.kind for e in session.exec(select(AlertEvent).order_by(AlertEvent.id))]
    assert kinds == ["opened", "page_queued"]
    assert alert.escalation_policy["fallback"][0]["number"] == "+4790000000"  # the policy, frozen
    assert alert.escalation_due_at == clock.now() + timedelta(minutes=15)  # then the coordinator


def test_repeated_finding_updates_the_open_alert_instead_of_opening_another(session, clock, world):
    report(session, clock, world.patient_a1, "spo2", {"spo2": 92}, "k1")
    clock.advance(hours=10)
    report(session, clock, world.patient_a1, "spo2", {"spo2": 92}, "k2")
    alert = session.exec(select(Alert)).one()
    assert alert.occurrences == 2
    assert alert.value_text["nb"] == "92%" and alert.last_report_id is not None
    assert alert.last_seen_at == clock.now()
    assert len(session.exec(select(Notification)).all()) == 1  # paged once, not twice


def test_a_more_severe_finding_raises_the_alert_and_pages_again(session, clock, world):
    report(session, clock, world.patient_a1, "spo2", {"spo2": 92}, "k1")
    alert = session.exec(select(Alert)).one()
    alerts.acknowledge(session, clock, alert.id, world.nurse_a.id)
    clock.advance(hours=1)
    report(session, clock, world.patient_a1, "spo2", {"spo2": 85}, "k2")
    session.refresh(alert)
    assert alert.severity == "red"
    assert alert.status == "open"  # back in the queue: new for whoever answers
    assert len(session.exec(select(Notification)).all()) == 2
    assert "severity_raised" in [e.kind for e in alerts.events_of(session, alert.id)]


def test_after_resolution_a_new_finding_opens_a_new_alert(session, clock, world):
    from homefollow.models import Outcome

    report(session, clock, world.patient_a1, "weight", {"weight": 70.5}, "k1")
    first = session.exec(select(Alert)).one()
    alerts.resolve(session, clock, first.id, world.nurse_a.id, Outcome.ADVICE_GIVEN, "")
    clock.advance(days=1)
    report(session, clock, world.patient_a1, "weight", {"weight": 70.8}, "k2")
    assert len(session.exec(select(Alert)).all()) == 2


def test_a_red_reading_raises_one_alert_for_the_red_and_yellow_rule_of_a_group(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "blood_pressure", {"bp_systolic": 185, "bp_diastolic": 95}, "k1")
    assert outcome.zone == Zone.RED and outcome.instructions == ["Ring nå."]
    alert = session.exec(select(Alert)).one()  # general.bp_red and general.bp_yellow both fire
    assert (alert.rule_key, alert.severity) == ("general.bp", "red")
    assert "over planens grense for rød sone (180\u00a0mmHg)" in alert.explanation["nb"]


def test_same_idempotency_key_stores_one_report(session, clock, world):
    first = report(session, clock, world.patient_a1, "spo2", {"spo2": 86}, "same-key")
    again = report(session, clock, world.patient_a1, "spo2", {"spo2": 86}, "same-key")
    assert again.replayed and not first.replayed
    assert again.report.id == first.report.id and again.zone == Zone.RED
    assert len(session.exec(select(Report)).all()) == 1
    assert len(session.exec(select(Notification)).all()) == 1


def test_implausible_values_are_refused_and_nothing_is_stored(session, clock, world):
    with pytest.raises(ImplausibleValue) as info:
        report(session, clock, world.patient_a1, "pulse", {"pulse": 900}, "k1")
    assert info.value.reason == "too_high"
    with pytest.raises(ImplausibleValue) as info:
        report(session, clock, world.patient_a1, "blood_pressure", {"bp_systolic": 120, "bp_diastolic": 130}, "k2")
    assert info.value.reason == "diastolic_not_below_systolic"
    assert session.exec(select(Report)).all() == []


def test_a_dangerous_value_the_plan_does_not_watch_is_red_by_the_safety_net(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "glucose", {"glucose": 25.0}, "k1")
    assert outcome.zone == Zone.RED and outcome.report.team_alerted
    assert outcome.instructions and "113" in outcome.instructions[0]  # the safety net's own advice
    alert = session.exec(select(Alert)).one()
    assert (alert.rule_key, alert.severity) == ("safety.glucose", "red")
    assert "sikkerhetsnettets grense for rød sone (19,9\u00a0mmol/L)" in alert.explanation["nb"]
    assert session.exec(select(Notification)).one().recipient == "+4790000101"  # paged like any red


def test_an_ordinary_value_the_plan_does_not_watch_is_green_by_the_safety_net(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "glucose", {"glucose": 7.0}, "k1")
    assert outcome.zone == Zone.GREEN and outcome.instructions == []
    assert session.exec(select(Alert)).all() == []


def test_a_measurement_nothing_watches_has_no_zone(session, clock, world):
    from homefollow.services.plan_changes import change_plan

    change_plan(session, clock, patient=world.patient_a2, content=standard_plan(rules=[]), checked=False,
                author_account_id=world.nurse_a.id, reason="no rules")
    outcome = report(session, clock, world.patient_a2, "weight", {"weight": 90.0}, "k1")
    assert outcome.zone is None and outcome.instructions == []  # the safety net has no weight limits
    assert session.exec(select(Alert)).all() == []


def test_every_report_is_audited(session, clock, world):
    outcome = report(session, clock, world.patient_a1, "spo2", {"spo2": 95}, "k1", by=world.relative.id)
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "report.create")).one()
    assert (audit.patient_id, audit.object_id, audit.actor_account_id) == (world.patient_a1.id, outcome.report.id,
                                                                          world.relative.id)
    assert reporting.reporters(session, world.patient_a1, [outcome.report]) == {outcome.report.id: "datter"}


def _release(session, patient) -> int:
    """Threads get their own sessions; the test's session lets go of the database first."""
    patient_id = patient.id
    session.commit()
    return patient_id


def test_concurrent_double_submit_stores_one_report_and_one_alert(engine, session, clock, world):
    """Two requests with the same key at the same moment (a flaky phone retrying)."""
    patient_id = _release(session, world.patient_a1)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def submit():
        with Session(engine, expire_on_commit=False) as s:
            patient = s.get(Patient, patient_id)
            s.commit()
            barrier.wait()
            try:
                outcomes.append(report(s, clock, patient, "spo2", {"spo2": 80}, "flaky"))
                s.commit()  # the edge's commit
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert {o.report.id for o in outcomes} and len({o.report.id for o in outcomes}) == 1
    with Session(engine) as s:
        assert len(s.exec(select(Report)).all()) == 1
        assert len(s.exec(select(Alert)).all()) == 1


def test_concurrent_findings_for_one_rule_never_open_two_alerts(engine, session, clock, world):
    patient_id = _release(session, world.patient_a1)
    barrier = threading.Barrier(4)
    errors = []

    def submit(i):
        with Session(engine, expire_on_commit=False) as s:
            patient = s.get(Patient, patient_id)
            s.commit()
            barrier.wait()
            try:
                reporting.report_measurement(s, clock, patient=patient, item_key="spo2", values={"spo2": 85 + i},
                                             idempotency_key=f"key-{i}", reported_by_account_id=None,
                                             actor_kind="patient", measured_at=clock.now() + timedelta(seconds=i))
                s.commit()  # the edge's commit
            except Exception as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    with Session(engine) as s:
        open_alerts = s.exec(select(Alert).where(Alert.status != "resolved")).all()
        assert len(open_alerts) == 1
        assert len(s.exec(select(Report)).all()) == 4


def test_concurrent_updates_of_one_alert_lose_no_occurrence(engine, session, clock, world):
    """Findings for the same open alert from four transactions at once are all counted
    (the open alert's row is locked while it is updated)."""
    from rules.text import Text

    patient_id = _release(session, world.patient_a1)
    finding = alerts.RaisedFinding(alert_key="copd.spo2", rule_key="copd.spo2_red", rule_version=1,
                                   rule_version_id=None, title=Text("t", "t"), severity=Zone.RED,
                                   value_text=Text("86%", "86%"), threshold_text=Text("< 88%", "< 88%"),
                                   explanation=Text("x", "x"))
    with Session(engine) as s:
        alerts.raise_finding(s, clock, s.get(Patient, patient_id), finding)
        s.commit()
    barrier = threading.Barrier(4)
    errors = []

    def update():
        with Session(engine, expire_on_commit=False) as s:
            patient = s.get(Patient, patient_id)
            s.commit()
            barrier.wait()
            try:
                alerts.raise_finding(s, clock, patient, finding)
                s.commit()
            except Exception as exc:  # pragma: no cover
                errors.append(exc)

    threads = [threading.Thread(target=update) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    with Session(engine) as s:
        assert s.exec(select(Alert)).one().occurrences == 5


def test_append_only_logs_cannot_be_rewritten(session, clock, world):
    from homefollow.services.appendonly import AppendOnlyViolation

    report(session, clock, world.patient_a1, "spo2", {"spo2": 80}, "k1")
    event = session.exec(select(AlertEvent)).first()
    event.kind = "tampered"
    with pytest.raises(AppendOnlyViolation):
        session.commit()
    session.rollback()
    audit = session.exec(select(AuditEvent)).first()
    session.delete(audit)
    with pytest.raises(AppendOnlyViolation):
        session.commit()


def test_a_device_clock_slightly_ahead_does_not_hide_a_reading_from_the_rules(session, clock, world):
    outcome = reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2",
                                           values={"spo2": 84}, idempotency_key="ahead", reported_by_account_id=None,
                                           actor_kind="patient", source=ReportSource.DEVICE,
                                           measured_at=clock.now() + timedelta(minutes=3))
    assert outcome.report.measured_at == clock.now()
    assert session.exec(select(Alert)).one().severity == "red"
    with pytest.raises(ImplausibleValue) as info:
        reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 84},
                                     idempotency_key="far", reported_by_account_id=None, actor_kind="patient",
                                     measured_at=clock.now() + timedelta(days=1))
    assert info.value.reason == "measured_in_the_future"


@pytest.mark.parametrize("first, second", [(95, 86), (86, 95)])
def test_a_red_reading_stamped_with_the_same_second_as_another_reaches_the_team(session, clock, world, first,
                                                                                  second):
    """A device hub sends two SpO2 readings stamped with the same second. Whichever order they
    come in, the red one opens a red alert: the readings count in the order they arrived."""
    at = clock.now().replace(microsecond=0)
    outcomes = []
    for n, spo2 in enumerate((first, second)):
        outcomes.append(reporting.report_measurement(
            session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": spo2},
            idempotency_key=f"hub-{n}", reported_by_account_id=None, actor_kind="system",
            source=ReportSource.DEVICE, measured_at=at))
        session.commit()
        clock.advance(seconds=0.4)
    red = next(o for o in outcomes if o.values["spo2"] == 86)
    assert red.zone == Zone.RED and red.report.team_alerted
    [alert] = session.exec(select(Alert).where(Alert.patient_id == world.patient_a1.id)).all()
    assert alert.severity == "red" and alert.status == "open"


def test_a_red_reading_taken_before_a_newer_one_still_reaches_the_team(session, clock, world):
    """A device hub sends this morning's SpO2 86 after a normal reading taken later: the rules
    judge how the patient is now by the newer reading and fire nothing, but the red value is
    not silenced. The team gets a yellow alert, paged as yellow, saying when it was taken."""
    patient = world.patient_a1
    report(session, clock, patient, "spo2", {"spo2": 95}, "now")
    session.commit()
    late = reporting.report_measurement(
        session, clock, patient=patient, item_key="spo2", values={"spo2": 86}, idempotency_key="hub-morning",
        reported_by_account_id=None, actor_kind="system", source=ReportSource.DEVICE,
        measured_at=clock.now() - timedelta(hours=2))
    session.commit()
    assert late.zone == Zone.RED and late.report.team_alerted
    [alert] = session.exec(select(Alert).where(Alert.patient_id == patient.id)).all()
    assert (alert.rule_key, alert.severity, alert.status) == (reporting.EARLIER_RED_KEY, "yellow", "open")
    assert alert.last_report_id == late.report.id
    assert "07:00" in alert.explanation["nb"] and "nyere måling" in alert.explanation["nb"]
    assert session.exec(select(Notification).where(Notification.alert_id == alert.id)).all()  # paged

    # The same reading sent again stores and raises nothing more.
    again = reporting.report_measurement(
        session, clock, patient=patient, item_key="spo2", values={"spo2": 86}, idempotency_key="hub-morning",
        reported_by_account_id=None, actor_kind="system", source=ReportSource.DEVICE,
        measured_at=clock.now() - timedelta(hours=2))
    session.commit()
    assert again.replayed and len(session.exec(select(Alert)).all()) == 1


def test_a_normal_reading_taken_before_a_newer_one_raises_nothing(session, clock, world):
    patient = world.patient_a1
    report(session, clock, patient, "spo2", {"spo2": 95}, "now")
    reporting.report_measurement(
        session, clock, patient=patient, item_key="spo2", values={"spo2": 96}, idempotency_key="hub-morning",
        reported_by_account_id=None, actor_kind="system", source=ReportSource.DEVICE,
        measured_at=clock.now() - timedelta(hours=2))
    session.commit()
    assert session.exec(select(Alert)).all() == []

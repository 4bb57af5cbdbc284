"""Backtest over the patients on a plan template: which plan a template started is recorded on
the plan version and carried on, the cohort is exactly those patients, and the team admin's
page and the command line show what a rule version would have raised for them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from homefollow.db import make_engine
from homefollow.migrate import downgrade, upgrade
from homefollow.models import AuditEvent, CarePlan, PlanTemplate
from homefollow.outcomes.cohorts import templates_of
from homefollow.services import plan_templates, plans, reporting, rule_tools
from homefollow.services.audit import Actor
from homefollow.services.plan_changes import change_plan
from homefollow.services.rulebook import sync_defaults as sync_rules
from tests.factories import build_world, make_staff
from tests.webclient import WebClient, text_of


def _shared(session, key: str) -> PlanTemplate:
    return session.exec(select(PlanTemplate).where(PlanTemplate.team_id.is_(None), PlanTemplate.key == key)).one()


def _start(session, clock, world, patient, template) -> CarePlan:
    version = plans.current_content(session, patient.id)[1]
    return plan_templates.start_from_template(session, clock, patient=patient, template=template,
                                              actor=Actor(world.nurse_a.id, "staff"), reason="test",
                                              expected_version=version)


def _spo2(session, clock, patient, values, prefix):
    """One reading a day, ending now."""
    end = clock.now()
    for i, value in enumerate(values):
        clock.set(end - timedelta(days=len(values) - i))
        reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": value},
                                     idempotency_key=f"{prefix}{i}", reported_by_account_id=None,
                                     actor_kind="patient")
    clock.set(end)
    session.commit()


@pytest.fixture
def on_templates(session, clock, world):
    """a1 and b1 on the shared COPD template (a1 with low readings), a2 on heart failure."""
    sync_rules(session, clock)
    plan_templates.sync_defaults(session, clock)
    copd, heart = _shared(session, "copd"), _shared(session, "heart_failure")
    for patient, template in ((world.patient_a1, copd), (world.patient_b1, copd), (world.patient_a2, heart)):
        _start(session, clock, world, patient, template)
    _spo2(session, clock, world.patient_a1, [95, 86, 85, 95, 94, 86, 86, 95], "a")
    _spo2(session, clock, world.patient_b1, [86, 85, 86, 85], "b")
    return world, copd, heart


def test_the_template_is_kept_on_later_plan_versions_until_another_is_applied(session, clock, on_templates):
    world, copd, heart = on_templates
    patient = world.patient_a1
    content, _version = plans.current_content(session, patient.id)
    content.what_matters = "Å gå tur med hunden"
    change_plan(session, clock, patient=patient, content=content, author_account_id=world.nurse_a.id,
                reason="edited by hand", checked=False)
    assert plans.current_plan(session, patient.id).template_id == copd.id
    assert [p.id for p in rule_tools.patients_on_template(session, copd.id)] == [world.patient_a1.id,
                                                                                  world.patient_b1.id]
    assert rule_tools.patients_on_template(session, copd.id, team_ids=[world.team_a.id]) == [world.patient_a1]

    _start(session, clock, world, patient, heart)
    assert [p.id for p in rule_tools.patients_on_template(session, copd.id)] == [world.patient_b1.id]
    assert templates_of(session, [world.patient_a1.id, world.patient_a2.id]) == {world.patient_a1.id: heart.id,
                                                                                 world.patient_a2.id: heart.id}


def test_an_ended_patient_is_not_in_the_template_cohort(session, clock, on_templates):
    world, copd, _heart = on_templates
    world.patient_b1.status = "ended"
    session.add(world.patient_b1)
    session.commit()
    assert rule_tools.patients_on_template(session, copd.id) == [world.patient_a1]


def test_the_admin_backtests_a_rule_version_on_the_templates_patients_of_their_own_teams(app, session, clock,
                                                                                        on_templates):
    world, copd, _heart = on_templates
    admin = WebClient(app.test_client())
    admin.login_staff("admin.a@example.no")
    template_page = admin.get(f"/clinic/plan-templates/{copd.id}")
    url = f"/clinic/plan-templates/{copd.id}/backtest"
    assert f'href="{url}"' in template_page.get_data(as_text=True)
    form = admin.get(url)
    assert form.status_code == 200 and 'value="copd.spo2_low:2"' in form.get_data(as_text=True)

    expected = rule_tools.backtest_patient(session, clock, world.patient_a1, "copd.spo2_low", days=30)
    assert expected.alerts  # the low readings would have raised alerts
    result = admin.get(f"{url}?rule=copd.spo2_low:2&days=30")
    text = text_of(result)
    assert result.status_code == 200
    assert "1 pasient på malen" in text and f"{len(expected.alerts)} varsler i alt" in text
    assert world.patient_a1.name in text
    assert world.patient_b1.name not in text  # on the template, but in team B
    assert expected.alerts[0].first.explanation.nb.split(";")[0] in text
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "view.backtest")).all()
    assert [(a.patient_id, a.object_id, a.detail["rule"]) for a in audited] == [
        (world.patient_a1.id, copd.id, "copd.spo2_low")]


@pytest.mark.parametrize(("query", "message"), [
    ("rule=nope:1", "Velg en av regelversjonene i listen."),
    ("rule=", "Velg en av regelversjonene i listen."),
    ("rule=copd.spo2_low:2&days=5", "Velg en av periodene i listen."),
    ("rule=copd.spo2_low:2&days=x", "Velg en av periodene i listen."),
])
def test_bad_choices_get_a_clear_error_and_show_nothing(app, session, on_templates, query, message):
    _world, copd, _heart = on_templates
    admin = WebClient(app.test_client())
    admin.login_staff("admin.a@example.no")
    response = admin.get(f"/clinic/plan-templates/{copd.id}/backtest?{query}")
    assert response.status_code == 400
    assert "Sjekk dette" in text_of(response) and message in text_of(response)
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "view.backtest")).all()


def test_who_may_backtest_on_a_template(app, session, clock, on_templates):
    world, copd, _heart = on_templates
    team_copy = plan_templates.copy_to_team(session, clock, copd, team_id=world.team_a.id,
                                            actor=Actor(world.admin_a.id, "staff"))
    admin_b = make_staff(session, clock, "admin.b@example.no", "Bodil Admin", world.team_b, "team_admin")
    session.commit()
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")  # a member, not an admin
    assert nurse.get(f"/clinic/plan-templates/{copd.id}/backtest?rule=copd.spo2_low:2").status_code == 403
    other = WebClient(app.test_client())
    other.login_staff(admin_b.email)
    assert other.get(f"/clinic/plan-templates/{team_copy.id}/backtest").status_code == 404
    # Team B's admin sees the shared template's patients of team B only.
    result = other.get(f"/clinic/plan-templates/{copd.id}/backtest?rule=copd.spo2_low:2&days=30")
    assert world.patient_b1.name in text_of(result) and world.patient_a1.name not in text_of(result)
    assert {a.patient_id for a in session.exec(select(AuditEvent).where(AuditEvent.action == "view.backtest"))} \
        == {world.patient_b1.id}


def test_flask_rules_backtest_on_a_template(app, session, on_templates):
    world, copd, heart = on_templates
    runner = app.test_cli_runner()
    result = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--template", str(copd.id)])
    assert result.exit_code == 0, result.output
    assert "for 2 patients on the template 'KOLS'" in result.output
    assert world.patient_a1.name in result.output and world.patient_b1.name in result.output
    assert world.patient_a2.name not in result.output
    assert runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--template", str(heart.id)]) \
        .output.strip().endswith("for 1 patient.")
    both = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--template", str(copd.id),
                               "--patient", str(world.patient_a1.id)])
    assert both.exit_code == 2 and "not both" in both.output
    missing = runner.invoke(args=["rules", "backtest", "--rule", "copd.spo2_low", "--template", "99999"])
    assert missing.exit_code == 1 and "no plan template 99999" in missing.output


def test_the_migration_fills_in_the_template_from_the_audit_records(tmp_path, clock):
    """Plans started from a template before care_plan.template_id existed get it from the
    audit record "plan.template_applied", on that version and the ones after it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'backfill.sqlite'}")
    upgrade(engine)
    with Session(engine) as session:
        world = build_world(session, clock)
        sync_rules(session, clock)
        plan_templates.sync_defaults(session, clock)
        copd = _shared(session, "copd")
        clock.advance(minutes=1)
        _start(session, clock, world, world.patient_a1, copd)
        clock.advance(minutes=1)
        content, _version = plans.current_content(session, world.patient_a1.id)
        change_plan(session, clock, patient=world.patient_a1, content=content, author_account_id=world.nurse_a.id,
                    reason="later", checked=False)
        before = {(p.patient_id, p.version): p.template_id for p in session.exec(select(CarePlan))}
        ids = (world.patient_a1.id, copd.id)
        session.commit()  # the test is the edge: services flush, it commits
    assert sorted(v for v in before.values() if v) == [ids[1], ids[1]]
    downgrade(engine, "0009")
    upgrade(engine)
    with Session(engine) as session:
        after = {(p.patient_id, p.version): p.template_id for p in session.exec(select(CarePlan))}
    assert after == before
    assert [v for (pid, version), v in sorted(after.items()) if pid == ids[0]] == [None, ids[1], ids[1]]
    engine.dispose()

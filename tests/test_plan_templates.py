"""Plan templates: the shipped defaults, the team admins' pages and starting a plan from one."""

from __future__ import annotations

import io
import re

import pytest
from sqlmodel import select

from homefollow.models import CarePlan, PlanTemplate
from homefollow.services import plan_templates, plans
from homefollow.services.audit import Actor
from homefollow.services.rulebook import sync_defaults as sync_rules
from tests.factories import audit_events as _audit
from tests.factories import make_staff
from tests.webclient import WebClient, text_of


def _shared(session, key: str) -> PlanTemplate:
    return session.exec(select(PlanTemplate).where(PlanTemplate.team_id.is_(None), PlanTemplate.key == key)).one()


@pytest.fixture
def synced(world, session, clock):
    plan_templates.sync_defaults(session, clock)
    return world


@pytest.fixture
def admin(app, synced):
    web = WebClient(app.test_client())
    web.login_staff("admin.a@example.no")
    return web


def _team_copy(session, web, world, key="copd") -> PlanTemplate:
    shared = _shared(session, key)
    response = web.submit("/clinic/plan-templates", {"team_id": str(world.team_a.id)},
                          action=f"/clinic/plan-templates/{shared.id}/copy")
    assert response.status_code == 302
    return session.exec(select(PlanTemplate).where(PlanTemplate.team_id == world.team_a.id,
                                                   PlanTemplate.key == key)).one()


# --- shipped templates and sync ---------------------------------------------------------------


def test_every_shipped_template_is_a_valid_plan_whose_rules_resolve(session, clock):
    sync_rules(session, clock)
    shipped = {t.key: t for t in plan_templates.shipped_templates()}
    assert set(shipped) == {"copd", "heart_failure", "frail_elderly", "diabetes"}
    for template in shipped.values():
        plan_templates.check_rules(session, template.content)  # raises on an unknown rule or parameter
        assert template.content.measurements and template.content.rules
        for m in template.content.measurements:
            assert m.patient_actions.green, (template.key, m.item)
        # Every scheduled measurement has zone limits from the plan's rules, except a weekly weight.
        limits = plan_templates.current_limits(session, template.content)
        assert any(code in limits for m in template.content.measurements for code in ("spo2", "weight", "bp_systolic",
                                                                                       "glucose", "pulse", "temperature"))
    copd = plan_templates.current_limits(session, shipped["copd"].content)["spo2"]
    assert (copd.red_low, copd.yellow_low) == (92, 94)  # NEWS2 scale 1 and the BTS 94–98 % band


def test_sync_adds_the_shipped_templates_once_and_a_second_sync_changes_nothing(session, clock):
    first = plan_templates.sync_defaults(session, clock)
    assert sorted(first.added) == ["copd", "diabetes", "frail_elderly", "heart_failure"]
    before = [(t.id, t.name, t.content, t.updated_at) for t in plan_templates.shared_templates(session)]
    clock.advance(minutes=5)
    second = plan_templates.sync_defaults(session, clock)
    assert (second.added, second.updated, second.unchanged) == ([], [], 4)
    session.expire_all()
    assert [(t.id, t.name, t.content, t.updated_at) for t in plan_templates.shared_templates(session)] == before


def test_sync_restores_a_shared_template_to_the_shipped_file(session, clock):
    plan_templates.sync_defaults(session, clock)
    row = _shared(session, "diabetes")
    row.content = {"goals": ["changed by hand"]}
    session.add(row)
    session.commit()
    report = plan_templates.sync_defaults(session, clock)
    assert report.updated == ["diabetes"]
    assert plan_templates.content_of(_shared(session, "diabetes")).rules[0].key == "diabetes.glucose_red"


def test_yaml_problems_say_where_and_why():
    with pytest.raises(plan_templates.TemplateInvalid) as bad_yaml:
        plan_templates.parse_yaml_content("goals: [a\nmeasurements: x")
    assert bad_yaml.value.problems[0].startswith("line ")
    with pytest.raises(plan_templates.TemplateInvalid) as bad_item:
        plan_templates.parse_yaml_content("measurements:\n  - item: spo3\n")
    assert "measurements.0.item" in bad_item.value.problems[0] and "spo3" in bad_item.value.problems[0]
    with pytest.raises(plan_templates.TemplateInvalid):
        plan_templates.parse_yaml_content("- just a list")
    # A whole template file may be pasted as it is.
    assert plan_templates.parse_yaml_content("key: x\ncontent:\n  goals: [Gå tur]\n").goals == ["Gå tur"]


# --- the team admins' pages -----------------------------------------------------------------


def test_admin_sees_shared_templates_and_copies_one_into_the_team(session, admin, synced):
    page = admin.get("/clinic/plan-templates")
    assert page.status_code == 200
    text = text_of(page)
    assert "Planmaler" in text and "KOLS" in text and "Hjertesvikt" in text
    copy = _team_copy(session, admin, synced)
    assert copy.content == _shared(session, "copd").content and copy.is_active
    assert _audit(session, "plan_template.copy")[0].object_id == copy.id
    # A second copy gets its own key.
    _shared_id = _shared(session, "copd").id
    admin.submit("/clinic/plan-templates", {"team_id": str(synced.team_a.id)}, action=f"/clinic/plan-templates/{_shared_id}/copy")
    keys = sorted(session.exec(select(PlanTemplate.key).where(PlanTemplate.team_id == synced.team_a.id)))
    assert keys == ["copd", "copd_2"]


def _save_form(admin, url: str, changes: dict):
    """Post the template's form as shown, with `changes` by the names people know: a field's own
    name, schedule_<item> for a measurement's times, limit_<code>_<limit> for a limit."""
    _response, parsed = admin.page(url)
    fields = dict(next(f for f in parsed.forms if f["action"] == url)["fields"])
    rows = {}
    for name, value in fields.items():
        if m := re.fullmatch(r"schedules-(\d+)-item", name):
            rows[f"schedule_{value}"] = f"schedules-{m[1]}-times"
        elif m := re.fullmatch(r"limits-(\d+)-code", name):
            rows[f"limit_{value}_{fields[f'limits-{m[1]}-name']}"] = f"limits-{m[1]}-value"
    for key, value in changes.items():
        fields[rows.get(key, key)] = value
    return admin.client.post(url, data=fields)


def test_admin_changes_goals_times_and_limits_with_the_form(session, admin, synced):
    copy = _team_copy(session, admin, synced)
    url = f"/clinic/plan-templates/{copy.id}"
    response = _save_form(admin, url, {"name": "KOLS Tromsø", "description": "Vår variant", "what_matters": "",
                                       "goals": "Gå til butikken\nKortspill på torsdager",
                                       "schedule_spo2": "07:30, 19.00", "schedule_pulse": "08:00",
                                       "schedule_temperature": "", "limit_spo2_red_low": "93",
                                       "limit_spo2_yellow_low": "95", "limit_temperature_yellow_high": "37,8"})
    assert response.status_code == 302, text_of(response)
    session.expire_all()
    saved = session.get(PlanTemplate, copy.id)
    content = plan_templates.content_of(saved)
    assert saved.name == "KOLS Tromsø"
    assert content.goals == ["Gå til butikken", "Kortspill på torsdager"]
    assert [t.strftime("%H:%M") for t in content.measurement("spo2").schedule.times] == ["07:30", "19:00"]
    limits = plan_templates.current_limits(session, content)
    assert (limits["spo2"].red_low, limits["spo2"].yellow_low) == (93, 95)  # stricter than the safety net
    assert limits["temperature"].yellow_high == 37.8
    assert _audit(session, "plan_template.change")[0].detail["how"] == "form"


def test_a_form_shown_before_the_template_changed_is_refused_not_saved_into_other_rows(session, admin, synced):
    """The rows of the form are the template's measurements and limits in order: when another
    admin changed them meanwhile, the old form is not saved into rows it no longer matches."""
    copy = _team_copy(session, admin, synced)
    url = f"/clinic/plan-templates/{copy.id}"
    _response, parsed = admin.page(url)
    shown = dict(next(f for f in parsed.forms if f["action"] == url)["fields"])
    changed = dict(copy.content)
    changed["measurements"] = [m for m in changed["measurements"] if m["item"] != "spo2"]
    copy.content = changed
    session.add(copy)
    session.commit()
    response = admin.client.post(url, data={**shown, "name": "Gammelt skjema"})
    assert response.status_code == 409
    assert "Malen ble endret mens du redigerte den" in text_of(response)
    session.expire_all()
    saved = session.get(PlanTemplate, copy.id)
    assert saved.content == changed and saved.name != "Gammelt skjema"


@pytest.mark.parametrize("field, value", [
    ("limit_bp_systolic_yellow_high", "95"),  # below the default yellow below (101)
    ("limit_pulse_yellow_low", "120"),  # above the default yellow above (110): every pulse yellow
])
def test_a_limit_that_crosses_a_default_on_the_other_side_is_refused_in_norwegian(session, admin, synced, field,
                                                                                 value):
    """Only one side typed, the other left at the rule's default: the limits as they would be
    are checked, so a template cannot make every normal pulse yellow, nor fail at saving with
    the rule engine's English ("limits must be ordered"), as it did when a new user tried it."""
    copy = _team_copy(session, admin, synced, key="heart_failure")
    url = f"/clinic/plan-templates/{copy.id}"
    response = _save_form(admin, url, {field: value})
    assert response.status_code == 400
    page = text_of(response)
    assert "Grensene må stå i rekkefølge" in page and "must be ordered" not in page
    assert f'value="{value}"' in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(PlanTemplate, copy.id).content == _shared(session, "heart_failure").content


@pytest.mark.parametrize("field, value, message", [
    ("schedule_spo2", "klokka åtte", "Skriv klokkeslettene som 08:00"),
    ("limit_spo2_yellow_low", "nitti", "Skriv et tall"),
    ("limit_spo2_yellow_low", "80", "rekkefølge"),  # below the red limit 92
    ("limit_spo2_red_low", "70", "sikkerhetsgrensen"),
    ("name", "", "Gi malen et navn."),
])
def test_bad_form_input_is_refused_with_a_clear_error_and_kept(session, admin, synced, field, value, message):
    copy = _team_copy(session, admin, synced)
    url = f"/clinic/plan-templates/{copy.id}"
    data = {"name": "KOLS", "goals": "", "schedule_spo2": "08:00", "schedule_pulse": "08:00",
            "limit_spo2_red_low": "92", "limit_spo2_yellow_low": "94"}
    data[field] = value
    response = _save_form(admin, url, data)
    assert response.status_code == 400
    assert message in text_of(response)
    assert f'value="{value}"' in response.get_data(as_text=True) or not value
    session.expire_all()
    assert session.get(PlanTemplate, copy.id).content == _shared(session, "copd").content


def test_yaml_paste_and_upload_are_checked_as_a_plan(session, admin, synced):
    copy = _team_copy(session, admin, synced, key="diabetes")
    url = f"/clinic/plan-templates/{copy.id}"
    action = f"/clinic/plan-templates/{copy.id}/yaml"
    bad = admin.submit(url, {"content_yaml": "rules:\n  - key: no.such_rule\n"}, action=action)
    assert bad.status_code == 400
    assert "Dette er ikke en gyldig plan" in text_of(bad) and "no.such_rule" in text_of(bad)
    broken = admin.submit(url, {"content_yaml": "goals: [a"}, action=action)
    assert broken.status_code == 400 and "line 1" in text_of(broken)
    good = admin.submit(url, {"content_yaml": "goals: [Ingen føling]\nrules:\n  - key: diabetes.glucose_red\n"
                                              "    parameters: {red_low: 3.5}\n"}, action=action)
    assert good.status_code == 302
    session.expire_all()
    content = plan_templates.content_of(session.get(PlanTemplate, copy.id))
    assert content.goals == ["Ingen føling"] and content.rules[0].parameters == {"red_low": 3.5}
    upload = admin.submit(url, {"content_yaml": "", "upload": (io.BytesIO(b"goals: [Fra fil]\n"), "plan.yaml")},
                          action=action)
    assert upload.status_code == 302
    session.expire_all()
    assert plan_templates.content_of(session.get(PlanTemplate, copy.id)).goals == ["Fra fil"]
    not_text = admin.submit(url, {"content_yaml": "", "upload": (io.BytesIO(b"\xff\xfe\x00"), "x.yaml")}, action=action)
    assert not_text.status_code == 400


def test_deactivated_templates_are_not_offered_for_new_plans(session, admin, synced):
    copy = _team_copy(session, admin, synced)
    url = f"/clinic/plan-templates/{copy.id}"
    response = admin.submit(url, {"active": "0"}, action=f"{url}/active")
    assert response.status_code == 302
    session.expire_all()
    assert not session.get(PlanTemplate, copy.id).is_active
    assert _audit(session, "plan_template.deactivate")
    page = admin.get(f"/clinic/patients/{synced.patient_a1.id}/plan/from-template")
    assert f'value="{copy.id}"' not in page.get_data(as_text=True)
    assert f'value="{_shared(session, "copd").id}"' in page.get_data(as_text=True)


def test_no_template_is_chosen_before_the_nurse_chooses_one(session, admin, synced):
    """Starting a plan from a template: no radio button is checked until the nurse picks one
    (every one was written checked="None", which a browser reads as checked, so the last
    template was chosen for her); the one she picked stays checked beside its preview."""
    url = f"/clinic/patients/{synced.patient_a1.id}/plan/from-template"
    radios = re.findall(r"<input[^>]*type=\"radio\"[^>]*>", admin.get(url).get_data(as_text=True))
    assert radios and not any("checked" in radio for radio in radios)
    copd = _shared(session, "copd")
    radios = re.findall(r"<input[^>]*type=\"radio\"[^>]*>", admin.get(f"{url}?template={copd.id}").get_data(as_text=True))
    assert [r for r in radios if "checked" in r] == [r for r in radios if f'value="{copd.id}"' in r]


def test_who_may_keep_templates(app, session, clock, synced):
    admin_b = make_staff(session, clock, "admin.b@example.no", "Bodil Admin", synced.team_b, "team_admin")
    session.commit()
    admin_a = WebClient(app.test_client())
    admin_a.login_staff("admin.a@example.no")
    copy = _team_copy(session, admin_a, synced)
    shared = _shared(session, "copd")
    token = admin_a.csrf_token("/clinic/plan-templates")
    # A shared template cannot be changed, only copied.
    assert admin_a.client.post(f"/clinic/plan-templates/{shared.id}", data={"csrf_token": token, "name": "x"}).status_code == 403
    assert admin_a.client.post(f"/clinic/plan-templates/{shared.id}/active",
                               data={"csrf_token": token, "active": "0"}).status_code == 403

    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")  # a member, not an admin
    assert nurse.get("/clinic/plan-templates").status_code == 403
    assert nurse.get(f"/clinic/plan-templates/{copy.id}").status_code == 403

    other = WebClient(app.test_client())
    other.login_staff(admin_b.email)
    assert other.get("/clinic/plan-templates").status_code == 200
    assert "KOLS" in text_of(other.get(f"/clinic/plan-templates/{shared.id}"))
    assert other.get(f"/clinic/plan-templates/{copy.id}").status_code == 404
    token_b = other.csrf_token("/clinic/plan-templates")
    assert other.client.post(f"/clinic/plan-templates/{copy.id}", data={"csrf_token": token_b, "name": "x"}).status_code == 404
    assert other.client.post(f"/clinic/plan-templates/{copy.id}/yaml",
                             data={"csrf_token": token_b, "content_yaml": "goals: []"}).status_code == 404
    # Copying into a team one does not administer is refused.
    assert other.client.post(f"/clinic/plan-templates/{shared.id}/copy",
                             data={"csrf_token": token_b, "team_id": str(synced.team_a.id)}).status_code == 400
    assert other.get("/clinic/plan-templates/999999").status_code == 404
    session.expire_all()
    assert session.get(PlanTemplate, copy.id).name == "KOLS"

    patient = WebClient(app.test_client())
    patient.login_patient("+4791000001")
    assert patient.get("/clinic/plan-templates").status_code in (302, 403)


# --- starting a patient's plan from a template ----------------------------------------------


def test_nurse_starts_a_plan_from_a_template_keeping_the_patients_own_words(app, session, synced):
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    patient = synced.patient_a1
    before, version = plans.current_content(session, patient.id)
    heart = _shared(session, "heart_failure")
    url = f"/clinic/patients/{patient.id}/plan/from-template"
    assert f'href="{url}"' in nurse.get(f"/clinic/patients/{patient.id}").get_data(as_text=True)
    choose = nurse.get(url)
    assert choose.status_code == 200 and "Hjertesvikt" in text_of(choose)
    preview_url = f"{url}?template={heart.id}"
    preview = nurse.get(preview_url)
    assert preview.status_code == 200
    assert "Daglig vekt" in text_of(preview) and before.what_matters in text_of(preview)

    ids = {"template_id": str(heart.id), "plan_version": str(version)}  # hidden fields of the page's form
    missing = nurse.submit(preview_url, {**ids, "reason": "  "}, action=url)
    assert missing.status_code == 400 and "Si hvorfor planen endres." in text_of(missing)

    response = nurse.submit(preview_url, {**ids, "reason": "Innskrevet etter utskrivning"}, action=url)
    assert response.status_code == 302
    session.expire_all()
    after, new_version = plans.current_content(session, patient.id)
    assert new_version == version + 1
    assert after.what_matters == before.what_matters and after.goals == before.goals
    assert [m.item for m in after.measurements] == ["weight", "blood_pressure", "pulse"]
    assert {r.key for r in after.rules} >= {"hf.weight_gain_3d", "general.bp_red"}
    plan = session.exec(select(CarePlan).where(CarePlan.patient_id == patient.id, CarePlan.version == new_version)).one()
    assert plan.change_reason == "Innskrevet etter utskrivning"
    assert _audit(session, "plan.template_applied")[0].object_id == heart.id


def test_starting_from_a_template_refuses_what_it_must(app, session, clock, synced):
    patient = synced.patient_a1
    url = f"/clinic/patients/{patient.id}/plan/from-template"
    team_b_template = plan_templates.copy_to_team(session, clock, _shared(session, "copd"), team_id=synced.team_b.id,
                                                  actor=Actor(synced.nurse_b.id, "staff"))
    nurse = WebClient(app.test_client())
    nurse.login_staff("nurse.a@example.no")
    # Another team's template is neither shown nor accepted.
    assert nurse.get(f"{url}?template={team_b_template.id}").status_code == 400
    assert nurse.get(f"{url}?template=abc").status_code == 400
    token = nurse.csrf_token(url)
    assert nurse.client.post(url, data={"csrf_token": token, "template_id": str(team_b_template.id),
                                        "reason": "x"}).status_code == 400
    assert nurse.client.post(url, data={"csrf_token": token, "template_id": "x", "reason": "x"}).status_code == 400
    # The plan changed after the page was opened: nothing is saved, the nurse is told.
    copd = _shared(session, "copd")
    stale = nurse.client.post(url, data={"csrf_token": token, "template_id": str(copd.id), "plan_version": "0",
                                         "reason": "x"})
    assert stale.status_code == 400 and "endret av noen andre" in text_of(stale)
    assert plans.current_content(session, patient.id)[1] == 1

    other = WebClient(app.test_client())
    other.login_staff("nurse.b@example.no")
    assert other.get(url).status_code == 404
    token_b = other.csrf_token("/clinic/")
    assert other.client.post(url, data={"csrf_token": token_b, "template_id": str(copd.id), "reason": "x"}).status_code == 404
    assert _audit(session, "access.denied")
    assert plans.current_content(session, patient.id)[1] == 1


def test_the_sync_command_reports_what_it_did(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["templates", "sync"])
    assert first.exit_code == 0 and "Plan templates: 4 added, 0 updated, 0 unchanged." in first.output
    second = runner.invoke(args=["templates", "sync"])
    assert "Plan templates: 0 added, 0 updated, 4 unchanged." in second.output
    assert len(plan_templates.shared_templates(session)) == 4

"""The care team's plan pages: the editor (one section per page), versions and a print view.

Every page works without JavaScript: lists get "add another row" as a submit button that
re-renders the form with what was typed, and each section saves a new plan version with a
reason. Logic lives in homefollow.services.plan_editor.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Team
from homefollow.questionnaires import QUESTIONNAIRES
from homefollow.services import evaluation, plan_editor, plans, teams
from homefollow.services.access import Need, require_patient
from homefollow.web import current_actor, locale_code, signed_in_principal
from rules.measurements import ITEMS
from rules.schedule import local_date_of

from . import bp, plan_forms
from .views import staff_only


def _access(patient_id: int, need: Need, action: str):
    return require_patient(get_session(), get_clock(), signed_in_principal(), patient_id, need=need, action=action,
                           actor=current_actor())


@bp.app_template_global()
def rule_parameters_text(parameters: dict, tz: str) -> str:
    """'red lower limit 88, trial period from 26.10.2026' for the plan overview and print."""
    locale = locale_code()
    return ", ".join(f"{plan_editor.parameter_label(name, locale)} {plan_editor.parameter_text(value, locale, tz, name)}"
                     for name, value in parameters.items())


@bp.get("/patients/<int:patient_id>/plan/edit")
@staff_only
def plan_overview(patient_id: int):
    access = _access(patient_id, Need.VIEW, "view.plan_editor")
    db = get_session()
    plan = plans.current_plan(db, patient_id)
    content = plans.PlanContent.model_validate(plan.content) if plan else plans.PlanContent()
    locale = locale_code()
    return render_template("clinic/plan_edit.html", patient=access.patient, plan=plan, content=content,
                           sections=plan_editor.SECTIONS, ITEMS=ITEMS, QUESTIONNAIRES=QUESTIONNAIRES,
                           rules=plan_editor.active_rules(db), locale=locale,
                           problems=plan_editor.standing_problems(db, content, locale) if plan else [],
                           safety_limits=plan_editor.safety_limits(db, content),
                           parameter_text=plan_editor.parameter_text)


@bp.route("/patients/<int:patient_id>/plan/edit/<section>", methods=["GET", "POST"])
@staff_only
def plan_section(patient_id: int, section: str):
    if section not in plan_editor.SECTIONS:
        abort(404)
    posting = request.method == "POST"
    access = _access(patient_id, Need.REPORT if posting else Need.VIEW,
                     f"plan.edit.{section}" if posting else "view.plan_editor")
    db, clock, locale = get_session(), get_clock(), locale_code()
    patient = access.patient
    content, version = plans.current_content(db, patient.id)
    rules_ = plan_editor.active_rules(db)
    today = local_date_of(clock.now(), patient.time_zone)
    form_class = plan_forms.section_form(section, rules_)
    form = form_class() if posting else form_class(data=plan_editor.initial_data(section, content, rules_, locale))
    action = request.form.get("action", "save") if posting else "more"
    if action == "more":
        plan_forms.add_rows(form, current_user.name, today)
    saved, summary, preview = _act(action, form, patient, section, content, rules_, locale)
    if saved is not None:
        flash(_("Version %(version)s of the plan is saved. The patient sees it now.", version=saved.version), "success")
        return redirect(url_for("clinician.plan_overview", patient_id=patient.id))
    safety_limits = plan_editor.safety_limits(db, content) if section == "safety" else []
    plan_forms.prepare(form, section, content, rules_, plan_editor._limit_owners(content, rules_), safety_limits,
                       locale)
    return render_template(
        "clinic/plan_section.html", patient=patient, section=section, title=_(plan_editor.SECTIONS[section]),
        form=form, summary=summary, preview=preview, version=version, content=content, locale=locale,
        ITEMS=ITEMS, QUESTIONNAIRES=QUESTIONNAIRES,
        safety_limits=safety_limits, parameter_label=plan_editor.parameter_label,
        parameter_text=plan_editor.parameter_text), \
        400 if summary else 200


def _act(action: str, form, patient, section: str, content, rules_, locale: str):
    """Save or preview what the form holds: (the saved plan, or None; the problems' summary;
    the preview)."""
    if action not in ("save", "preview"):
        return None, [], None
    summary = plan_forms.refuse_hostile(form)
    if summary:
        return None, summary, None
    if action == "preview":
        return (None, *_preview(form, patient, content, rules_, locale)) if section == "rules" else (None, [], None)
    result = plan_editor.save_section(get_session(), get_clock(), patient=patient, section=section,
                                      data=plan_forms.values(form), author_account_id=current_user.id,
                                      locale=locale, base_version=plan_forms.base_version(form))
    if result.plan is not None:
        return result.plan, [], None
    return None, plan_forms.attach(form, result.outcome.problems), None


def _preview(form, patient, content, rules_, locale):
    """The rules' effect over the last 30 days, or the problems of the proposal."""
    db, data = get_session(), plan_forms.values(form)
    outcome = plan_editor.build("rules", content, data, rules_, locale)
    problems = outcome.problems or plan_editor.check_rules(db, outcome.content, data, rules_, locale)
    if problems:
        return plan_forms.attach(form, problems), None
    return [], plan_editor.preview_rules(db, get_clock(), patient, content, outcome.content, locale)


@bp.get("/patients/<int:patient_id>/plan/versions")
@staff_only
def plan_versions(patient_id: int):
    access = _access(patient_id, Need.VIEW, "view.plan_versions")
    versions = plan_editor.history(get_session(), patient_id, locale_code())
    return render_template("clinic/plan_versions.html", patient=access.patient, versions=versions)


@bp.get("/patients/<int:patient_id>/plan/print")
@staff_only
def plan_print(patient_id: int):
    access = _access(patient_id, Need.VIEW, "view.plan_print")
    db = get_session()
    patient = access.patient
    plan = plans.current_plan(db, patient.id)
    content = plans.PlanContent.model_validate(plan.content) if plan else plans.PlanContent()
    team = db.get(Team, patient.team_id)
    assert team is not None, "a patient's team exists (foreign key)"
    limits = evaluation.personal_zone_limits(evaluation.assigned_rules(db, content, strict=False))
    return render_template("clinic/plan_print.html", patient=patient, plan=plan, content=content, team=team,
                           members=teams.members(db, team.id), limits=limits, ITEMS=ITEMS,
                           QUESTIONNAIRES=QUESTIONNAIRES, rules=plan_editor.active_rules(db), locale=locale_code())

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
from homefollow.web import current_principal, locale_code
from rules.measurements import CATALOGUE, ITEMS
from rules.schedule import local_date_of

from . import bp
from .views import staff_only


def _access(patient_id: int, need: Need, action: str):
    return require_patient(get_session(), get_clock(), current_principal(), patient_id, need=need, action=action,
                           ip=request.remote_addr)


def _form_values() -> dict[str, str]:
    """The posted fields; a row's weekday checkboxes become one comma-separated value (each
    list starts with an empty hidden field, so unticking them all is seen)."""
    values = {}
    for key in request.form:
        if key in ("csrf_token", "action", "base_version"):
            continue
        if key.endswith(".weekdays"):
            values[key] = ",".join(v for v in request.form.getlist(key) if v)
        else:
            values[key] = request.form.get(key, "")
    return values


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
    errors, general, preview, status = {}, [], None, 200
    if not posting:
        values = plan_editor.initial_values(section, content, rules_, locale)
        values["reason"] = ""
        grow = True
    else:
        values = _form_values()
        action = request.form.get("action", "save")
        grow = action == "more"
        base = request.form.get("base_version", "")
        if action == "save":
            result = plan_editor.save_section(db, clock, patient=patient, section=section, values=values,
                                              author_account_id=current_user.id, locale=locale,
                                              base_version=int(base) if base.isdigit() else None)
            if result.plan is not None:
                flash(_("Version %(version)s of the plan is saved. The patient sees it now.",
                        version=result.plan.version), "success")
                return redirect(url_for("clinician.plan_overview", patient_id=patient.id))
            errors, general, status = result.outcome.errors, result.outcome.general, 400
        elif action == "preview" and section == "rules":
            outcome = plan_editor.build(section, content, values, rules_, locale)
            errors, general = outcome.errors, outcome.general
            if outcome.ok:
                errors, general = plan_editor.check_rules(db, outcome.content, values, rules_, locale)
            if errors or general:
                status = 400
            else:
                preview = plan_editor.preview_rules(db, clock, patient, content, outcome.content, locale)
    return render_template(
        "clinic/plan_section.html", patient=patient, section=section, title=_(plan_editor.SECTIONS[section]),
        values=values, errors=errors, general=general, preview=preview, grow=grow, version=version,
        content=content, rules=rules_, limit_owners=plan_editor._limit_owners(content, rules_),
        row_count=plan_editor.row_count, blank_rows=plan_editor.BLANK_ROWS, ITEMS=ITEMS, CATALOGUE=CATALOGUE,
        QUESTIONNAIRES=QUESTIONNAIRES, LIMIT_LABELS=plan_editor.LIMIT_LABELS, EVENT_FIELDS=plan_editor.EVENT_FIELDS,
        WEEKDAYS=plan_editor.WEEKDAY_NAMES, fmt_number=plan_editor.fmt_number,
        parameter_label=plan_editor.parameter_label, parameter_hint=plan_editor.parameter_hint,
        parameter_text=plan_editor.parameter_text, locale=locale,
        safety_limits=plan_editor.safety_limits(db, content) if section == "safety" else [],
        staff_name=current_user.name, today=local_date_of(clock.now(), patient.time_zone)), status


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
    limits = evaluation.personal_zone_limits(evaluation.assigned_rules(db, content, strict=False))
    return render_template("clinic/plan_print.html", patient=patient, plan=plan, content=content, team=team,
                           members=teams.members(db, team.id), limits=limits, ITEMS=ITEMS,
                           QUESTIONNAIRES=QUESTIONNAIRES, rules=plan_editor.active_rules(db), locale=locale_code())

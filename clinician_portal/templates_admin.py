"""Plan templates (kept by team admins), starting a patient's plan from one, and calibrating
a patient's personal limits after the trial period.

(Not named `templates`: that is the blueprint's folder of Jinja templates.)
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, RadioField, SelectField, StringField, \
    TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from homefollow import values
from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.form_errors import attach_errors, leaf_fields
from homefollow.input_guard import row_id
from homefollow.models import PlanTemplate, Role, Team
from homefollow.services import evaluation, plan_editor, plan_templates, plans
from homefollow.services.access import Need, require_patient
from homefollow.web import current_actor, locale_code, signed_in_principal
from rules import code_info
from rules.measurements import CATALOGUE, ITEMS
from rules.schedule import Schedule

from . import bp
from .views import staff_only

LIMIT_LABELS = {
    "red_low": _l("Red below"),
    "yellow_low": _l("Yellow below"),
    "yellow_high": _l("Yellow above"),
    "red_high": _l("Red above"),
}


def _strip(text):
    return text.strip() if isinstance(text, str) else text


# --- helpers -------------------------------------------------------------------------------


def _admin_team_ids() -> frozenset[int]:
    principal = signed_in_principal()
    return frozenset(t for t in principal.team_ids if principal.has_role(t, Role.TEAM_ADMIN.value))


def _template_for_admin(template_id: int, *, change: bool) -> PlanTemplate:
    """A template the signed-in team admin may see (shared or of a team they administer), or
    may change (only their team's own). Not an admin: 403; another team's template: 404."""
    admin_teams = _admin_team_ids()
    if not admin_teams:
        abort(403)
    template = get_session().get(PlanTemplate, template_id)
    if template is None or (template.team_id is not None and template.team_id not in admin_teams):
        abort(404)
    if change and template.team_id is None:
        abort(403)
    return template


def format_number(code: str, value: float | None) -> str:
    """A limit at the measurement's precision, in the reader's language ('92', '38,5')."""
    return values.format_number(value, locale_code(), code_info(code).decimals)


def format_stat(code: str, value: float) -> str:
    """A statistic (the spread) with two more decimals than a reading, so 0.75 is not shown as 1."""
    info = code_info(code)
    text = values.format_number(value, locale_code(), max_decimals=info.decimals + 2)
    return f"{text}{'' if info.unit == '%' else ' '}{info.unit}"


def limit_problem_message(code: str, problem: plan_templates.LimitProblem) -> str:
    info = code_info(code)
    if problem.kind == "range":
        return _("The limit must be between %(low)s and %(high)s.", low=format_number(code, info.minimum),
                 high=format_number(code, info.maximum))
    if problem.kind == "safety":
        return _("A red limit may not be more lenient than the safety limit %(value)s.",
                 value=format_number(code, problem.bound))
    return _("The limits must go from red below, yellow below, yellow above to red above, each higher than the one before.")


@bp.app_template_filter("tpl_item_name")
def _item_name(item: str) -> str:
    return ITEMS[item].name(locale_code())


@bp.app_template_filter("tpl_item_codes")
def _item_codes(item: str) -> tuple[str, ...]:
    return ITEMS[item].codes


@bp.app_template_filter("rule_title")
def _rule_title(key: str) -> str:
    """The active version's title of a rule, in the page's language; the key when unknown."""
    rules_ = g.get("active_rules")
    if rules_ is None:  # once per request, however many rules the page names
        rules_ = g.active_rules = plan_editor.active_rules(get_session())
    return rules_[key].title(locale_code()) if key in rules_ else key


@bp.app_template_filter("tpl_questionnaire_name")
def _questionnaire_name(key: str) -> str:
    from homefollow.questionnaires import QUESTIONNAIRES

    return _(QUESTIONNAIRES[key].title)


# --- forms ---------------------------------------------------------------------------------


class CopyForm(FlaskForm):
    team_id = SelectField(_l("Copy into the team"), coerce=int)


class ActiveForm(FlaskForm):
    active = HiddenField()


class TemplateYamlForm(FlaskForm):
    content_yaml = TextAreaField(_l("The template's content as YAML"), filters=[_strip],
                                 validators=[Length(max=plan_templates.MAX_YAML_CHARS,
                                                    message=_l("The text is too long."))])
    upload = FileField(_l("Or upload a YAML file"))


class ScheduleEntry(Form):
    """The times of day of one of the template's measurements (empty: when needed). `item` names
    the measurement, so that a row no longer matching the template (changed meanwhile) is seen."""

    item = HiddenField()
    times = StringField()


class LimitEntry(Form):
    """One limit (`name`: red_low … red_high) of one measurement that the template's zone rules hold."""

    code = HiddenField()
    name = HiddenField()
    value = StringField()


class TemplateForm(FlaskForm):
    """The structured form of a team's template: text, goals, each measurement's times and the
    limits its zone rules hold, one row each in the template's order (template_form)."""

    name = StringField(_l("Name"), filters=[_strip], validators=[
        DataRequired(_l("Give the template a name.")), Length(max=200, message=_l("At most 200 characters."))])
    description = TextAreaField(_l("Description"), filters=[_strip], validators=[
        Length(max=1000, message=_l("At most 1000 characters."))])
    what_matters = TextAreaField(_l("What matters to the patient"), filters=[_strip], validators=[
        Length(max=2000, message=_l("At most 2000 characters."))])
    goals = TextAreaField(_l("Goals, one per line"), filters=[_strip], validators=[
        Length(max=2000, message=_l("At most 2000 characters."))])
    schedules = FieldList(FormField(ScheduleEntry))
    limits = FieldList(FormField(LimitEntry))

    def fits(self, content: plans.PlanContent, slots: dict) -> bool:
        """Whether the rows are the template's measurements and limits, in its order."""
        return ([e.form.item.data for e in self.schedules] == [m.item for m in content.measurements]
                and [(e.form.code.data, e.form.name.data) for e in self.limits] == _limit_slots(slots))

    def label(self) -> None:
        """Each row's label from what it is: the measurement's name, the limit's name (rows that
        fit the template: template_form, or `fits` checked)."""
        for schedule in self.schedules:
            schedule.form.times.label.text = ITEMS[str(schedule.form.item.data)].name(locale_code())
        for limit in self.limits:
            limit.form.value.label.text = str(LIMIT_LABELS[str(limit.form.name.data)])

    def limit_groups(self) -> list[tuple[str, list[LimitEntry]]]:
        """The limit rows by measurement, in order (a fieldset each)."""
        groups: dict[str, list[LimitEntry]] = {}
        for limit in self.limits:
            groups.setdefault(str(limit.form.code.data), []).append(limit.form)
        return list(groups.items())


def _limit_slots(slots: dict) -> list[tuple[str, str]]:
    """(measurement code, limit name) of every limit the template's zone rules hold, in order."""
    return [(code, name) for code, names in slots.items() for name in plan_templates.LIMIT_NAMES if name in names]


def template_form(template: PlanTemplate, content: plans.PlanContent, slots: dict) -> TemplateForm:
    """The structured form as the template stands: text, goals, each measurement's times and the
    limits the template's zone rules hold."""
    overrides = {r.key: r.parameters for r in content.rules}

    def limit(code: str, name: str) -> str:
        keys = slots[code][name]
        return format_number(code, next((overrides[k][name] for k in keys if name in overrides.get(k, {})), None))

    form = TemplateForm(formdata=None, data={
        "name": template.name, "description": template.description, "what_matters": content.what_matters,
        "goals": "\n".join(content.goals),
        "schedules": [{"item": m.item, "times": values.format_times(m.schedule.times) if m.schedule else ""}
                      for m in content.measurements],
        "limits": [{"code": code, "name": name, "value": limit(code, name)} for code, name in _limit_slots(slots)]})
    form.label()
    return form


class FromTemplateForm(FlaskForm):
    template_id = HiddenField()
    plan_version = HiddenField()
    reason = TextAreaField(_l("Why the plan starts from this template"), filters=[_strip], validators=[
        DataRequired(_l("Say why the plan changes.")), Length(max=500, message=_l("At most 500 characters."))])


class ChooseTemplateForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that only chooses what to show

    template = RadioField(_l("Template"), coerce=str, validators=[InputRequired(_l("Choose a template."))])


class CalibrationBaseForm(FlaskForm):
    plan_version = HiddenField()
    reason = TextAreaField(_l("Why the limits change"), filters=[_strip], validators=[
        DataRequired(_l("Say why the limits change.")), Length(max=500, message=_l("At most 500 characters."))])


class LimitRowForm(Form):
    """One measurement's new limits; the template shows the limits its rules hold."""

    code = HiddenField()
    use = BooleanField(default=True)
    red_low = StringField(LIMIT_LABELS["red_low"])
    yellow_low = StringField(LIMIT_LABELS["yellow_low"])
    yellow_high = StringField(LIMIT_LABELS["yellow_high"])
    red_high = StringField(LIMIT_LABELS["red_high"])


class CalibrationForm(CalibrationBaseForm):
    codes = FieldList(FormField(LimitRowForm))


def _proposal(c: plan_templates.CodeCalibration) -> plan_templates.LimitProposal:
    """The proposal of one of the form's rows."""
    assert c.proposal is not None, "calibratable gives only the codes with a proposal"
    return c.proposal


def calibration_form(cal: plan_templates.Calibration, **kw) -> CalibrationForm:
    """A row per measurement the nurse decides on, each limit filled with its proposal."""
    codes = plan_templates.calibratable(cal)
    rows = [{"code": c.code, "use": True} | {n: format_number(c.code, getattr(_proposal(c).limits, n)) for n in c.names}
            for c in codes]
    form = CalibrationForm(data={"codes": rows}, **kw)
    # Posted rows may not match the codes (plan_templates reports rows_changed); label those that pair up.
    for c, entry in zip(codes, form.codes, strict=False):
        entry.form.use.label.text = _("Use these limits for %(name)s", name=CATALOGUE[c.code].name(locale_code()).lower())
    return form


# --- the team admins' templates ------------------------------------------------------------


@bp.get("/plan-templates")
@staff_only
def plan_templates_list():
    admin_teams = _admin_team_ids()
    if not admin_teams:
        abort(403)
    db = get_session()
    teams = [db.get(Team, t) for t in sorted(admin_teams)]
    teams.sort(key=lambda t: t.name)
    copy_form = CopyForm()
    copy_form.team_id.choices = [(t.id, t.name) for t in teams]
    return render_template("clinic/plan_templates.html", shared=plan_templates.shared_templates(db, active_only=False),
                           teams=[(t, plan_templates.team_templates(db, t.id)) for t in teams], copy_form=copy_form)


def _template_page(template: PlanTemplate, *, form=None, yaml_form=None, problems=None, status=200):
    db = get_session()
    content = plan_templates.content_of(template)
    slots = plan_templates.limit_slots(db, content)
    editable = template.team_id is not None
    if form is None and editable:
        form = template_form(template, content, slots)
    if yaml_form is None and editable:
        yaml_form = TemplateYamlForm(formdata=None, content_yaml=plan_templates.content_yaml(content))
    team = db.get(Team, template.team_id) if template.team_id else None
    copy_targets = [db.get(Team, t) for t in _admin_team_ids()]  # ids of existing teams: none is None
    copy_teams = sorted((t for t in copy_targets if t is not None), key=lambda t: t.name)
    active_form = ActiveForm(formdata=None, active="0" if template.is_active else "1")
    return render_template("clinic/plan_template.html", template=template, team=team, content=content,
                           limits=plan_templates.current_limits(db, content), slots=slots, form=form,
                           yaml_form=yaml_form, problems=problems or [], active_form=active_form,
                           editable=editable, copy_teams=copy_teams), status


@bp.get("/plan-templates/<int:template_id>")
@staff_only
def plan_template(template_id: int):
    return _template_page(_template_for_admin(template_id, change=False))


@bp.post("/plan-templates/<int:template_id>")
@staff_only
def plan_template_save(template_id: int):
    template = _template_for_admin(template_id, change=True)
    db, clock = get_session(), get_clock()
    content = plan_templates.content_of(template)
    slots = plan_templates.limit_slots(db, content)
    form = TemplateForm()
    if not form.fits(content, slots):  # the template was changed since this form was shown
        return _template_page(template, problems=[_("The template was changed while you edited it. "
                                                    "Check the form below and save again.")], status=409)
    form.label()
    ok = form.validate_on_submit()
    measurements = []
    for m, entry in zip(content.measurements, form.schedules, strict=True):
        field = entry.form.times
        try:
            times = values.parse_times(field.data)
        except values.BadValue:
            field.errors = [_("Write the times as 08:00, separated by commas, or leave empty for 'when needed'.")]
            ok = False
            continue
        weekdays = m.schedule.weekdays if m.schedule else Schedule.model_fields["weekdays"].default
        measurements.append(m.model_copy(update={"schedule": Schedule(times=times, weekdays=weekdays) if times else None}))
    chosen: dict[str, dict[str, float | None]] = {}
    for code, rows in form.limit_groups():
        limits: dict[str, float | None] = {}
        for row in rows:
            try:
                limits[str(row.name.data)] = values.optional_decimal(row.value.data)
            except values.BadValue:
                row.value.errors = [_("Write a number, like %(example)s, or leave empty for the rule's default.",
                                      example=format_number(code, code_info(code).minimum + 1))]
                ok = False
        chosen[code] = limits
    # The limits as they will be, defaults beside what was typed: a typed limit must not cross
    # a default one either.
    after = plan_templates.limits_after(db, content, slots, chosen)
    for code, rows in form.limit_groups():
        typed = [row for row in rows if chosen[code].get(str(row.name.data)) is not None]
        if any(row.value.errors for row in rows) or not typed:
            continue  # unreadable, or only defaults (not this form's doing)
        for problem in plan_templates.limit_problems(code, after[code]):
            field = next((row.value for row in typed if row.name.data == problem.name), typed[0].value)
            if not field.errors:
                field.errors = [limit_problem_message(code, problem)]
            ok = False
    if not ok:
        return _template_page(template, form=form, status=400)
    new_content = plan_templates.with_limits(content, slots, chosen).model_copy(update={
        "what_matters": form.what_matters.data or "",
        "goals": [g.strip() for g in (form.goals.data or "").splitlines() if g.strip()],
        "measurements": measurements,
    })
    try:
        new_content = plans.PlanContent.model_validate(new_content.model_dump(mode="json"))
        assert form.name.data, "validated: DataRequired"
        plan_templates.update_template(db, clock, template, name=form.name.data, description=form.description.data or "",
                                       content=new_content, actor=current_actor(), how="form",
                                       locale=locale_code())
    except plan_templates.TemplateInvalid as exc:
        db.rollback()
        return _template_page(template, form=form, problems=exc.problems, status=400)
    except ValueError as exc:  # pydantic: e.g. a goal too long for the plan
        db.rollback()
        return _template_page(template, form=form, problems=[str(exc)], status=400)
    flash(_("The template is saved."), "success")
    return redirect(url_for("clinician.plan_template", template_id=template.id))


@bp.post("/plan-templates/<int:template_id>/yaml")
@staff_only
def plan_template_yaml(template_id: int):
    template = _template_for_admin(template_id, change=True)
    db, clock = get_session(), get_clock()
    form = TemplateYamlForm()
    if not form.validate_on_submit():
        return _template_page(template, yaml_form=form, status=400)
    text = form.content_yaml.data or ""
    upload = form.upload.data
    if upload is not None and getattr(upload, "filename", None):
        raw = upload.read(plan_templates.MAX_YAML_CHARS * 4 + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            form.upload.errors = [_("The file is not a text file in UTF-8.")]
            return _template_page(template, yaml_form=form, status=400)
        form.content_yaml.data = text
    if not text.strip():
        form.content_yaml.errors = [_("Paste the content as YAML, or choose a file.")]
        return _template_page(template, yaml_form=form, status=400)
    try:
        content = plan_templates.parse_yaml_content(text)
        plan_templates.update_template(db, clock, template, name=template.name, description=template.description,
                                       content=content, actor=current_actor(), how="yaml",
                                       locale=locale_code())
    except plan_templates.TemplateInvalid as exc:
        db.rollback()
        form.content_yaml.errors = [_("This is not a valid plan. Nothing was saved. The problems are listed below.")]
        return _template_page(template, yaml_form=form, problems=exc.problems, status=400)
    flash(_("The template is saved."), "success")
    return redirect(url_for("clinician.plan_template", template_id=template.id))


@bp.post("/plan-templates/<int:template_id>/copy")
@staff_only
def plan_template_copy(template_id: int):
    template = _template_for_admin(template_id, change=False)
    admin_teams = _admin_team_ids()
    form = CopyForm()
    form.team_id.choices = [(t, str(t)) for t in sorted(admin_teams)]
    if not form.validate_on_submit():
        abort(400)
    copy = plan_templates.copy_to_team(get_session(), get_clock(), template, team_id=form.team_id.data,
                                       actor=current_actor())
    flash(_("The template is copied into your team. Adapt it here."), "success")
    return redirect(url_for("clinician.plan_template", template_id=copy.id))


@bp.post("/plan-templates/<int:template_id>/active")
@staff_only
def plan_template_active(template_id: int):
    template = _template_for_admin(template_id, change=True)
    form = ActiveForm()
    if not form.validate_on_submit() or form.active.data not in ("0", "1"):
        abort(400)
    active = form.active.data == "1"
    plan_templates.set_active(get_session(), get_clock(), template, active, actor=current_actor())
    flash(_("The template can be used again.") if active else
          _("The template is deactivated: it is no longer offered for new plans."), "success")
    return redirect(url_for("clinician.plan_template", template_id=template.id))


# --- a patient's plan from a template ------------------------------------------------------


def _patient_for_plan_change(patient_id: int, action: str):
    db, clock = get_session(), get_clock()
    return require_patient(db, clock, signed_in_principal(), patient_id, need=Need.REPORT, action=action,
                           actor=current_actor()).patient


@bp.route("/patients/<int:patient_id>/plan/from-template", methods=["GET", "POST"])
@staff_only
def plan_from_template(patient_id: int):
    posting = request.method == "POST"
    patient = _patient_for_plan_change(patient_id, "plan.from_template" if posting else "view.plan_from_template")
    db, clock = get_session(), get_clock()
    current, version = plans.current_content(db, patient.id)
    usable = plan_templates.usable_templates(db, patient.team_id)
    by_id = {str(t.id): t for t in usable}
    choose = ChooseTemplateForm(request.args)
    choose.template.choices = [(str(t.id), t.name) for t in usable]
    form = FromTemplateForm()
    chosen = None
    status = 200
    problems: list[str] = []
    if posting:
        chosen = by_id.get(form.template_id.data or "")
        if chosen is None:
            abort(400)
        if form.validate_on_submit():
            assert form.reason.data, "validated: DataRequired"
            posted_version = form.plan_version.data or ""
            try:
                plan = plan_templates.start_from_template(
                    db, clock, patient=patient, template=chosen, actor=current_actor(),
                    reason=form.reason.data,
                    expected_version=int(posted_version) if posted_version.isdigit() else None)
            except plan_templates.PlanChanged:
                problems = [_("The plan was changed by someone else while you were looking. Look at the template again and save once more.")]
                form.plan_version.data = str(version or "")
            except evaluation.PlanRulesInvalid as exc:
                problems = [f"{key} {name}: {reason}".replace("  ", " ") for key, name, reason in exc.problems]
            else:
                flash(_("The plan is now version %(version)s, started from the template %(name)s.",
                        version=plan.version, name=chosen.name), "success")
                return redirect(url_for("clinician.patient_detail", patient_id=patient.id))
        status = 400
    elif request.args.get("template"):
        if choose.validate() and choose.template.data in by_id:
            chosen = by_id[choose.template.data]
            form = FromTemplateForm(formdata=None, template_id=str(chosen.id), plan_version=str(version or ""))
        else:
            choose.template.errors = [_("Choose a template.")]
            status = 400
    preview = merged = None
    if chosen is not None:
        preview = plan_templates.content_of(chosen)
        merged = plan_templates.merged_with_patient(preview, current)
    return render_template("clinic/plan_from_template.html", patient=patient, current=current, version=version,
                           choose=choose, form=form, chosen=chosen, preview=merged,
                           limits=plan_templates.current_limits(db, merged) if merged else {},
                           kept=_kept(current), problems=problems), status


def _kept(current: plans.PlanContent) -> list[str]:
    kept = []
    if current.what_matters.strip():
        kept.append(_("what matters to the patient"))
    if current.goals:
        kept.append(_("goals"))
    if current.contacts:
        kept.append(_("contacts"))
    if current.next_review:
        kept.append(_("next review"))
    return kept


# --- baseline calibration ------------------------------------------------------------------


CALIBRATION_MESSAGES = {
    "rows_changed": _l("New readings have come in while you were looking. Check the limits again and save once more."),
    "none_ticked": _l("Tick at least one measurement whose limits should change."),
}


def calibration_problems(cal, problems) -> list[tuple[tuple, str]]:
    """Each problem worded, at its location; a number is asked for with the row's median."""
    examples = [format_number(c.code, _proposal(c).median) for c in plan_templates.calibratable(cal)]
    worded = []
    for loc, code, params in problems:
        example = examples[loc[1]] if len(loc) > 1 and loc[1] < len(examples) else "92"
        if code == "not_a_number" and params.get("reason") == "split_number":
            text = _("You wrote \"%(typed)s\" with a space inside the number. What did you mean? Write the number "
                     "again without the space, for example %(example)s.", typed=params["value"], example=example)
        elif code == "not_a_number":
            text = _("Write a number, like %(example)s, or leave empty to keep the limit as it is.", example=example)
        elif code.startswith("limit_"):
            problem = plan_templates.LimitProblem("", code.removeprefix("limit_"), params.get("bound"))
            text = limit_problem_message(params["code"], problem)
        else:
            text = str(CALIBRATION_MESSAGES[code])
        worded.append((loc, text))
    return worded


@bp.route("/patients/<int:patient_id>/plan/calibrate", methods=["GET", "POST"])
@staff_only
def plan_calibrate(patient_id: int):
    posting = request.method == "POST"
    patient = _patient_for_plan_change(patient_id, "plan.calibrate" if posting else "view.plan_calibration")
    db, clock = get_session(), get_clock()
    cal = plan_templates.calibration(db, clock, patient)
    if not posting:
        return _calibration_page(cal, calibration_form(cal, formdata=None, plan_version=str(cal.plan_version or "")))
    if not plan_templates.calibratable(cal):
        abort(400)
    form = calibration_form(cal)
    chosen, problems = plan_templates.check_calibration(cal, form.data["codes"])
    if not form.validate_on_submit() or problems:
        whole_form = [text for field_id, text in attach_errors(form, calibration_problems(cal, problems)) if not field_id]
        return _calibration_page(cal, form, whole_form, status=400)
    assert chosen is not None, "check_calibration gives the limits when it finds no problem"
    assert form.reason.data, "validated: DataRequired"
    try:
        plan = plan_templates.apply_calibration(
            db, clock, patient=patient, chosen=chosen, actor=current_actor(), reason=form.reason.data,
            expected_version=row_id(form.plan_version.data))
    except plan_templates.PlanChanged:
        cal = plan_templates.calibration(db, clock, patient)
        form.plan_version.data = str(cal.plan_version or "")
        return _calibration_page(cal, form, [_("The plan was changed by someone else while you were looking. Check "
                                               "the limits again and save once more.")], status=409)
    except evaluation.PlanRulesInvalid as exc:
        return _calibration_page(cal, form, [f"{key} {name}: {reason}" for key, name, reason in exc.problems],
                                 status=400)
    flash(_("The new limits are in the plan, version %(version)s. They apply from the next reading.",
            version=plan.version), "success")
    return redirect(url_for("clinician.patient_detail", patient_id=patient.id))


def _calibration_page(cal, form, problems=(), status=200):
    """`problems`: about the whole form, listed under the summary of the fields' problems."""
    # As above: the posted rows may not match the codes.
    rows = dict(zip((c.code for c in plan_templates.calibratable(cal)), (e.form for e in form.codes), strict=False))
    summary = [(f.id, e) for f in leaf_fields(form) for e in (f.errors or []) if f.type != "CSRFTokenField"]
    return render_template("clinic/plan_calibrate.html", cal=cal, patient=cal.patient, form=form, rows=rows,
                           calibratable=bool(rows), problems=list(problems), summary=summary,
                           limit_labels=LIMIT_LABELS, format_stat=format_stat), status

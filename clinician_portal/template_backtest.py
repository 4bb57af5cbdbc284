"""Backtest on a plan template's patients: "what would this rule version have raised for every
patient on this template over the last N days?" For team admins, who keep the templates; only
patients of the admin's own teams are shown, and each one shown is audited."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import InputRequired, ValidationError

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import RuleVersionStatus
from homefollow.services import audit, plan_templates, rule_tools, rulebook
from homefollow.web import current_actor, locale_code, signed_in_principal

from . import bp
from .templates_admin import _admin_team_ids, _template_for_admin
from .views import staff_only

DAYS = (7, 14, 30, 60, 90)
STATUS_LABELS = {RuleVersionStatus.ACTIVE.value: _l("active"), RuleVersionStatus.DRAFT.value: _l("draft"),
                 RuleVersionStatus.RETIRED.value: _l("retired")}


class ListedChoiceField(SelectField):
    """A select whose value must be one of its options, with a message that says so (the
    address can be edited by hand)."""

    def __init__(self, label, not_listed, **kwargs):
        super().__init__(label, **kwargs)
        self.not_listed = not_listed

    def process_formdata(self, valuelist) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:  # not a number where one is expected
            raise ValueError(self.not_listed) from None

    def pre_validate(self, form) -> None:
        if self.data not in {value for value, *_rest in self.iter_choices()}:
            raise ValidationError(self.not_listed)


class BacktestForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    rule = ListedChoiceField(_l("Rule version"), _l("Choose one of the rule versions in the list."),
                             validators=[InputRequired(_l("Choose one of the rule versions in the list."))])
    days = ListedChoiceField(_l("Period"), _l("Choose one of the periods in the list."), coerce=int, default=30,
                             choices=[SelectChoice(d, _l("The last %(num)s days", num=d)) for d in DAYS])


def _rule_choices(db, content) -> list[SelectChoice]:
    """Every version of each rule the template assigns, in the template's order, the active one first."""
    order = {assigned.key: i for i, assigned in enumerate(content.rules)}
    versions = rulebook.versions_of_rules(db, order)
    versions.sort(key=lambda v: (order[v.key], v.status != RuleVersionStatus.ACTIVE.value, -v.version))
    return [SelectChoice(f"{v.key}:{v.version}", _("%(title)s – version %(version)s (%(status)s)",
                                                     title=rulebook.definition_of(v).title.get(locale_code()),
                                                     version=v.version, status=STATUS_LABELS.get(v.status, v.status)))
            for v in versions]


@bp.get("/plan-templates/<int:template_id>/backtest")
@staff_only
def plan_template_backtest(template_id: int):
    template = _template_for_admin(template_id, change=False)
    db, clock = get_session(), get_clock()
    signed_in_principal()  # the guard's invariant, checked as before: no principal, a 401
    content = plan_templates.content_of(template)
    form = BacktestForm(request.args)
    form.rule.choices = _rule_choices(db, content)
    results = None
    asked = "rule" in request.args
    if asked and form.validate():
        key, _sep, version = form.rule.data.rpartition(":")
        patients = rule_tools.patients_on_template(db, template.id, team_ids=_admin_team_ids())
        results = rule_tools.backtest_cohort(db, clock, key, version=int(version), days=form.days.data,
                                             patients=patients)
        for r in results:  # each patient's readings are shown: audited like a look at the record
            audit.record(db, clock, actor=current_actor(),
                         action="view.backtest", patient_id=r.patient.id,
                         object_type="plan_template", object_id=template.id, rule=key, version=int(version),
                         days=form.days.data)
    return render_template("clinic/plan_template_backtest.html", template=template, form=form, results=results,
                           asked=asked), (400 if asked and results is None else 200)

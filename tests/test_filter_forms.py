"""The filter forms of the clinician lists (clinician_portal/filter_forms.py) and the macro
filter_form that renders them: what is dropped, what a page may refuse, and the markup."""

from __future__ import annotations

from flask import render_template_string
from wtforms import HiddenField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import AnyOf

from clinician_portal.filter_forms import FilterForm, FilterSelect, record_id, with_all


class TeamFilterForm(FilterForm):
    class Meta:
        id_prefix = "test"

    team = FilterSelect("Team", coerce=record_id)
    severity = FilterSelect("Severity", choices=with_all("Red and yellow", [("red", "Red"), ("yellow", "Yellow")]))
    days = FilterSelect("Period", coerce=int, default=90, choices=[SelectChoice(30, "30"), SelectChoice(90, "90")])
    sort = HiddenField(default="name", validators=[AnyOf(("name", "lace"))])


def _form(app, query: str) -> TeamFilterForm:
    with app.test_request_context(f"/?{query}"):
        form = TeamFilterForm()
    form.team.choices = with_all("All my teams", [(1, "Team A"), (2, "Team B")])
    return form


def test_a_valid_value_is_kept_and_a_blank_one_leaves_the_default(app):
    form = _form(app, "team=2&severity=+red+&days=&sort=lace")
    assert form.drop_invalid() == {}
    assert (form.team.data, form.severity.data, form.days.data, form.sort.data) == (2, "red", 90, "lace")


def test_an_invalid_value_falls_back_to_the_default_and_an_unknown_id_is_named(app):
    form = _form(app, "team=7&severity=blue&days=7&sort=drop")
    assert form.drop_invalid() == {"team": 7, "severity": "blue", "days": 7, "sort": "drop"}
    assert (form.team.data, form.severity.data, form.days.data, form.sort.data) == (None, None, 90, "name")
    assert not any(field.errors for field in form)
    # Not even an id (a word, zero, beyond an INTEGER column): nothing a page could refuse.
    for team in ("abc", "0", "9" * 30):
        assert _form(app, f"team={team}").drop_invalid() == {"team": None}


def test_the_macro_renders_labels_errors_and_hidden_fields(app):
    form = _form(app, "team=2&sort=lace")
    form.validate()
    form.days.errors = ["Choose one of the periods."]
    with app.test_request_context("/"):
        html = render_template_string('{% from "macros.html" import filter_form %}'
                                      '{{ filter_form(form, "/list", "Choose") }}', form=form)
    assert '<form class="filters panel" method="get" action="/list" aria-label="Choose">' in html
    assert '<label class="field__label" for="test-team">Team</label>' in html
    assert '<option selected value="2">Team B</option>' in html
    assert '<div class="field field--error">' in html and 'id="test-days-error"' in html
    assert 'aria-describedby="test-days-error" aria-invalid="true"' in html
    assert html.index('<input name="sort" type="hidden" value="lace">') > html.index('id="test-days"')

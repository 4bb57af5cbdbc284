"""The GET forms that narrow the clinician lists: the triage queue, the patient overview, the
figures, the pathway dashboard and the candidates. Each page declares its form beside its view;
this is what they share. The macro filter_form (homefollow/templates/macros.html) renders them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2


def record_id(value: Any) -> int:
    """A row's id from the address: a number that fits an INTEGER column, else not valid."""
    number = int(value)
    if not 0 < number < 2**31:
        raise ValueError(value)
    return number


def with_all(label: str, choices: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """A select's choices, first "" for all of them (`label`, such as "All my teams")."""
    return [SelectChoice("", label), *(SelectChoice(value, text) for value, text in choices)]


class FilterSelect(SelectField):
    """A select of a filter form. The choice "" is all (data None); a value left out of the
    address, or blank, leaves the field at its default."""

    def __init__(self, label: str, coerce: Callable[[Any], Any] = str, **kwargs: Any) -> None:
        super().__init__(label, coerce=lambda value: None if value == "" else coerce(value), **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and valuelist[0].strip():
            super().process_formdata([valuelist[0].strip()])

    def pre_validate(self, form: Any) -> None:
        if self.data is not None:  # None: nothing chosen, which is all
            super().pre_validate(form)

    def _value(self) -> str:
        """The value when the select is rendered as a hidden input (one team: nothing to choose)."""
        return "" if self.data is None else str(self.data)


class FilterForm(FlaskForm):
    """A form read from the query string. It changes nothing, so it has no CSRF token."""

    class Meta:
        csrf = False
        id_prefix = "filter"  # a page's own prefix keeps its ids as they were: filter-team, figures-team

        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            return unbound_field.bind(form=form, id=f"{self.id_prefix}-{options['name']}", **options)

    def __init__(self) -> None:
        super().__init__(request.args)

    def drop_invalid(self) -> dict[str, Any]:
        """Validate, and put every field whose value is not valid back to its default: a filter
        edited into the address never gives an error page. Returns the fields dropped, by name,
        with the value asked for: an id that is not among the choices (another team's, say), or
        None when the value was not even well formed (a word where a number is expected)."""
        self.validate()
        dropped = {}
        for field in self:
            if field.errors:
                dropped[field.name] = None if field.process_errors else field.data
                field.data, field.errors = field.default, []
        return dropped

"""One way to put domain problems on the WTForms fields they are about.

Forms are WTForms (FieldList(FormField) for rows); domain rules live in pydantic models or
service checks that report a problem by its *location*: the path of names and row indexes that
pydantic uses in `ValidationError.errors()[i]["loc"]`, e.g. ("rota", 2, "phone"). The same path
walks the form: form["rota"].entries[2].form["phone"]. So a model whose field names follow the
form's needs no per-form mapping code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

Location = Sequence[str | int]


def field_at(form, loc: Location):
    """The field a location names, or None when the form has no such field."""
    node = form
    for part in loc:
        if isinstance(part, int):
            entries = getattr(node, "entries", None)
            if entries is None or not 0 <= part < len(entries):
                return None
            node = entries[part]
        else:
            inner = getattr(node, "form", None) if getattr(node, "type", "") == "FormField" else node
            if inner is None:
                return None
            try:
                node = inner[part]
            except (KeyError, TypeError):
                return None
    if getattr(node, "type", "") == "FormField":
        return None
    return node if node is not form else None


def leaf_fields(form) -> Iterator:
    """Every input of a form, nested rows included ('steps-0-wait_red')."""
    for f in form:
        if f.type == "FieldList":
            for entry in f.entries:
                if entry.type == "FormField":
                    yield from leaf_fields(entry.form)
                else:
                    yield entry
        elif f.type == "FormField":
            yield from leaf_fields(f.form)
        else:
            yield f


def attach_errors(form, problems: Iterable[tuple[Location, str]]) -> list[tuple[str, str]]:
    """Shows each worded problem beside its field; returns (field id, text) for the error summary
    at the top of the page ('' as id for a problem about the whole form, shown only there)."""
    summary = []
    for loc, text in problems:
        target = field_at(form, loc) if loc else None
        if target is not None:
            target.errors = [*(target.errors or []), text]
        summary.append((target.id if target is not None else "", text))
    return summary


def validation_problems(error, words) -> list[tuple[tuple, str]]:
    """A pydantic ValidationError as (location, text); `words(error_dict)` words one error
    (custom errors carry their code in `type` and their values in `ctx`)."""
    return [(tuple(e["loc"]), words(e)) for e in error.errors()]

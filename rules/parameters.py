"""Rule parameters: defaults in the rule, overrides from the patient's plan, clear errors.

Parameters are addressed by flat names. A leaf kind uses its own names (``yellow_low``,
``amount``); ``n_of_m`` adds ``n``, ``m`` and ``within`` to the names of the condition it wraps;
``all_of`` / ``any_of`` prefix each child's names with the child's id (``swelling.at_least``).
Overrides may be written flat (``{"swelling.at_least": 1}``) or nested
(``{"swelling": {"at_least": 1}}``).

Every problem is reported as (parameter name, reason) so a form can show it next to the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .codes import code_info
from .measurements import CATALOGUE
from .model import (
    ChangeBaselineParams,
    ChangeSpec,
    ChangeWindowParams,
    CombineSpec,
    MissedCheckinSpec,
    MissedParams,
    NOfMParams,
    NOfMSpec,
    QuestionnaireParams,
    QuestionnaireSpec,
    RuleDefinition,
    ScoreBandsSpec,
    ScoreParams,
    Severity,
    SilenceParams,
    SilenceSpec,
    ZonesParams,
    ZonesSpec,
)
from .zones import ZoneLimits


class ParameterError(ValueError):
    """Invalid parameters. ``problems`` is a list of (parameter name, reason)."""

    def __init__(self, rule_key: str, problems: list[tuple[str, str]]):
        self.rule_key = rule_key
        self.problems = problems
        lines = "; ".join(f"parameter '{k}': {why}" for k, why in problems)
        super().__init__(f"rule {rule_key}: {lines}")


def _leaf_model(spec: BaseModel) -> type[BaseModel]:
    if isinstance(spec, ZonesSpec):
        return ZonesParams
    if isinstance(spec, ScoreBandsSpec):
        return ScoreParams
    if isinstance(spec, ChangeSpec):
        return ChangeWindowParams if spec.reference == "window" else ChangeBaselineParams
    if isinstance(spec, QuestionnaireSpec):
        return QuestionnaireParams
    if isinstance(spec, MissedCheckinSpec):
        return MissedParams
    if isinstance(spec, SilenceSpec):
        return SilenceParams
    raise TypeError(spec)


def parameter_names(spec: BaseModel) -> list[str]:
    """All flat parameter names a spec accepts."""
    if isinstance(spec, CombineSpec):
        return [f"{c.id}.{name}" for c in spec.of for name in parameter_names(c.spec)]
    if isinstance(spec, NOfMSpec):
        return list(NOfMParams.model_fields) + parameter_names(spec.of)
    return list(_leaf_model(spec).model_fields)


def _base_type(annotation: Any) -> type:
    """float for ``float | None``: the type a value of the parameter has when it is set."""
    present = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    base = present[0]
    found: type = get_origin(base) or base
    return found


def parameter_types(spec: BaseModel) -> dict[str, type]:
    """The type of each flat parameter name (float, int, timedelta, datetime, str, bool …), so a
    form can parse what a person typed before the rule validates it."""
    if isinstance(spec, CombineSpec):
        return {f"{c.id}.{name}": t for c in spec.of for name, t in parameter_types(c.spec).items()}
    if isinstance(spec, NOfMSpec):
        own = {name: _base_type(f.annotation) for name, f in NOfMParams.model_fields.items()}
        return {**own, **parameter_types(spec.of)}
    return {name: _base_type(f.annotation) for name, f in _leaf_model(spec).model_fields.items()}


def parameter_codes(spec: BaseModel) -> dict[str, str]:
    """The measurement or question code each flat parameter is about, where there is one."""
    if isinstance(spec, CombineSpec):
        return {f"{c.id}.{name}": code for c in spec.of for name, code in parameter_codes(c.spec).items()}
    if isinstance(spec, NOfMSpec):  # n, m and within count readings of the inner condition's code
        return {**{name: spec.of.code for name in NOfMParams.model_fields}, **parameter_codes(spec.of)}
    code = getattr(spec, "code", None)
    return {name: code for name in parameter_names(spec)} if isinstance(code, str) else {}


def _flatten(spec: BaseModel, raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested child dicts of all_of / any_of become dotted names; other values stay as given."""
    out: dict[str, Any] = {}
    children = {c.id: c.spec for c in spec.of} if isinstance(spec, CombineSpec) else {}
    for key, value in raw.items():
        key = str(key)
        if key in children and isinstance(value, Mapping):
            out.update(_flatten(children[key], value, f"{prefix}{key}."))
        elif "." in key and key.split(".", 1)[0] in children:
            head, rest = key.split(".", 1)
            out.update(_flatten(children[head], {rest: value}, f"{prefix}{head}."))
        else:
            out[prefix + key] = value
    return out


# -- turning pydantic errors into sentences a clinician can act on ---------------------------

_TYPE_WORDS = {
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "time_delta_parsing": "must be a duration such as PT2H (2 hours) or P3D (3 days)",
    "time_delta_type": "must be a duration such as PT2H (2 hours) or P3D (3 days)",
    "datetime_parsing": "must be a date and time with time zone, such as 2026-03-01T00:00:00+01:00",
    "datetime_type": "must be a date and time with time zone, such as 2026-03-01T00:00:00+01:00",
    "time_parsing": "must be a time of day such as 08:00",
    "missing": "is required",
    "extra_forbidden": "is not a known name here",
    "string_type": "must be text",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
}


def _reason(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "greater_than":
        text = f"must be greater than {ctx['gt']}"
    elif kind == "greater_than_equal":
        text = f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        text = f"must be at most {ctx['le']}"
    elif kind == "less_than":
        text = f"must be less than {ctx['lt']}"
    elif kind == "too_short":
        text = "must not be empty"
    elif kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}; the kinds are {ctx.get('expected_tags')}"
    elif kind == "value_error":
        text = str(ctx.get("error", err["msg"]))
    else:
        text = _TYPE_WORDS.get(kind, err["msg"])
    value = err.get("input")
    if kind not in ("missing", "value_error") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        text += f" (got {value!r})"
    return text


def describe_validation_error(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, reason) for each error in a pydantic ValidationError."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        problems.append((prefix + loc if loc else prefix.rstrip(".") or "(parameters)", _reason(err)))
    return problems


# -- building the validated parameter tree ---------------------------------------------------


def _zone_checks(spec: ZonesSpec, params: ZonesParams, severity: Severity,
                 prefix: str) -> tuple[ZoneLimits | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    limits = None
    try:
        limits = ZoneLimits(**params.model_dump())
    except ValidationError as exc:  # the order of the four limits: a problem of the set, not one field
        problems.append((prefix.rstrip(".") or "(parameters)", describe_validation_error(exc)[0][1]))
    if severity is Severity.RED and params.red_low is None and params.red_high is None:
        problems.append((prefix + "red_low", "a red rule needs red_low or red_high"))
    if severity is Severity.YELLOW and all(v is None for v in params.model_dump().values()):
        problems.append((prefix + "yellow_low", "set at least one limit"))
    if spec.code in CATALOGUE:
        info = code_info(spec.code)
        for name, value in params.model_dump().items():
            if value is not None and not info.minimum <= value <= info.maximum:
                problems.append(
                    (prefix + name,
                     f"{value:g} is outside the plausible range {info.minimum:g}–{info.maximum:g} {info.unit} "
                     f"for {info.name_en.lower()}")
                )
    return limits, problems


def _build(spec: BaseModel, flat: dict[str, Any], severity: Severity, prefix: str,
           problems: list[tuple[str, str]]) -> Any:
    """Validated parameter node for ``spec``: a params model, a (NOfMParams, child) pair or a dict."""
    if isinstance(spec, CombineSpec):
        node = {}
        for child in spec.of:
            head = child.id + "."
            sub = {k[len(head):]: v for k, v in flat.items() if k.startswith(head)}
            node[child.id] = _build(child.spec, sub, severity, prefix + head, problems)
        return node
    if isinstance(spec, NOfMSpec):
        own = {k: v for k, v in flat.items() if k in NOfMParams.model_fields}
        rest = {k: v for k, v in flat.items() if k not in NOfMParams.model_fields}
        try:
            counting = NOfMParams.model_validate(own)
        except ValidationError as exc:
            problems.extend(describe_validation_error(exc, prefix))
            counting = None
        return counting, _build(spec.of, rest, severity, prefix, problems)
    model = _leaf_model(spec)
    try:
        params = model.model_validate(flat)
    except ValidationError as exc:
        problems.extend(describe_validation_error(exc, prefix))
        return None
    if isinstance(spec, ZonesSpec):
        assert isinstance(params, ZonesParams)
        limits, more = _zone_checks(spec, params, severity, prefix)
        problems.extend(more)
        return limits
    return params


def _flat_values(spec: BaseModel, node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(spec, CombineSpec):
        for child in spec.of:
            for k, v in _flat_values(child.spec, node[child.id]):
                yield f"{child.id}.{k}", v
    elif isinstance(spec, NOfMSpec):
        counting, inner = node
        yield from ((k, getattr(counting, k)) for k in NOfMParams.model_fields)
        yield from _flat_values(spec.of, inner)
    else:
        yield from ((k, getattr(node, k)) for k in type(node).model_fields)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, timedelta):
        from pydantic import TypeAdapter

        return TypeAdapter(timedelta).dump_python(value, mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class Parameters(Mapping[str, Any]):
    """Validated parameters of one rule version for one patient (flat names → values)."""

    def __init__(self, rule_key: str, rule_version: int, node: Any, values: dict[str, Any], overridden: frozenset[str]):
        self.rule_key = rule_key
        self.rule_version = rule_version
        self.node = node  # the validated tree the engine reads
        self._values = values
        self.overridden = overridden  # names set by the patient's plan rather than the rule default
        self._fingerprint: tuple[Any, ...] | None = None

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        """A hashable summary of the values, e.g. for caching texts that depend on them."""
        if self._fingerprint is None:
            self._fingerprint = (self.rule_key, self.rule_version, tuple(sorted(self._values.items())))
        return self._fingerprint

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Parameters({self.rule_key} v{self.rule_version}, {self._values!r})"

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values, e.g. to show in the plan or store with an alert."""
        return {k: _jsonable(v) for k, v in self._values.items()}

    def overrides_json(self) -> dict[str, Any]:
        """Only the values the patient's plan set."""
        return {k: _jsonable(self._values[k]) for k in sorted(self.overridden)}


def resolve_parameters(rule: RuleDefinition, patient_overrides: Mapping[str, Any] | None = None) -> Parameters:
    """The rule's default parameters with the patient's overrides applied and validated.

    Raises ParameterError naming each offending key: unknown names, names the rule does not let
    a plan change (unless the value equals the default), and values that fail validation.
    """
    spec = rule.spec
    names = parameter_names(spec)
    known = set(names)
    problems: list[tuple[str, str]] = []

    defaults = _flatten(spec, rule.parameters or {})
    for key in defaults:
        if key not in known:
            problems.append((key, f"is not a parameter of a {spec.kind} rule; known: {', '.join(names)}"))
    for key in rule.overridable:
        if key not in known:
            problems.append((key, f"is listed as overridable but is not a parameter; known: {', '.join(names)}"))
    if problems:
        raise ParameterError(rule.key, problems)
    default_node = _build(spec, defaults, rule.severity, "", problems)
    if problems:
        raise ParameterError(rule.key, [(k, f"default {why}") for k, why in problems])
    default_values = dict(_flat_values(spec, default_node))
    if not patient_overrides:
        return Parameters(rule.key, rule.version, default_node, default_values, frozenset())

    overrides = _flatten(spec, patient_overrides)
    for key in overrides:
        if key not in known:
            problems.append((key, f"is not a parameter of rule {rule.key}; known: {', '.join(names)}"))
    if problems:
        raise ParameterError(rule.key, problems)
    node = _build(spec, {**defaults, **overrides}, rule.severity, "", problems)
    if problems:
        raise ParameterError(rule.key, problems)
    values = dict(_flat_values(spec, node))
    changed = frozenset(k for k in overrides if values[k] != default_values[k])
    locked = sorted(k for k in changed if k not in rule.overridable)
    if locked:
        allowed = ", ".join(rule.overridable) or "none"
        raise ParameterError(
            rule.key, [(k, f"cannot be changed per patient for this rule (adjustable: {allowed})") for k in locked]
        )
    return Parameters(rule.key, rule.version, node, values, changed)

"""Rule sets on disk, readable format errors, runnable examples and the activation gate.

Default rule sets live in ``rules/defaults/<name>.yaml``. Every rule there ships examples:
readings and the states expected at given times, run like ``promtool test rules``. A rule
version whose examples fail cannot be activated (``ensure_activatable``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .model import Example, EvaluationContext, RuleDefinition, RuleSet
from .parameters import ParameterError, describe_validation_error, resolve_parameters
from .replay import replay

DEFAULTS_DIR = Path(__file__).with_name("defaults")


class RuleFormatError(ValueError):
    """A rule or rule set that does not match the format. ``problems``: (field path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(f"{path}: {why}" for path, why in problems))


_M = TypeVar("_M", bound=BaseModel)


def _check(model: type[_M], data: Any, source: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RuleFormatError(source, describe_validation_error(exc)) from None


def parse_rule(data: Mapping[str, Any], source: str = "rule") -> RuleDefinition:
    """A RuleDefinition from JSON data (e.g. a database column), with readable errors."""
    return _check(RuleDefinition, data, source)


def parse_ruleset(data: Mapping[str, Any], source: str = "rule set") -> RuleSet:
    return _check(RuleSet, data, source)


def _read_yaml(name_or_path: str | Path) -> tuple[Any, Path]:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = DEFAULTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(default_ruleset_names())
        raise FileNotFoundError(f"no rule set '{name_or_path}' (default rule sets: {known})")
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh), path


def load_ruleset(name_or_path: str | Path) -> RuleSet:
    """A default rule set by name ('copd'), or a rule set YAML file by path."""
    data, path = _read_yaml(name_or_path)
    return parse_ruleset(data, path.name)


def load_rules(name_or_path: str | Path) -> list[RuleDefinition]:
    """The rules of a rule set (by name or file), or the one rule of a single-rule file."""
    data, path = _read_yaml(name_or_path)
    if isinstance(data, Mapping) and "rules" in data:
        return list(parse_ruleset(data, path.name).rules)
    return [parse_rule(data, path.name)]


def default_ruleset_names() -> list[str]:
    return sorted(p.stem for p in DEFAULTS_DIR.glob("*.yaml"))


def load_default_rulesets() -> dict[str, RuleSet]:
    sets = {name: load_ruleset(name) for name in default_ruleset_names()}
    seen: dict[str, str] = {}
    for name, rs in sets.items():
        for rule in rs.rules:
            if rule.key in seen:
                raise RuleFormatError(name, [(rule.key, f"rule key also used in rule set {seen[rule.key]}")])
            seen[rule.key] = name
    return sets


def default_rules() -> dict[str, RuleDefinition]:
    """Every default rule, by key."""
    return {r.key: r for rs in load_default_rulesets().values() for r in rs.rules}


# ---------------------------------------------------------------------------------------------
# Examples


@dataclass(frozen=True)
class ExampleResult:
    rule_key: str
    rule_version: int
    example: str
    passed: bool
    message: str

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark} {self.rule_key} v{self.rule_version} — {self.example}: {self.message}"


def run_example(rule: RuleDefinition, example: Example) -> ExampleResult:
    """Replay the example's readings and compare the states at the expected times."""

    def result(passed: bool, message: str) -> ExampleResult:
        return ExampleResult(rule.key, rule.version, example.name, passed, message)

    try:
        params = resolve_parameters(rule, example.parameters)
    except ParameterError as exc:
        return result(False, f"parameters rejected: {exc}")
    try:
        context = EvaluationContext(example.tz, dict(example.baselines), example.active_since)
        observations = [o.observation() for o in example.observations]
        expects = sorted(example.expect, key=lambda e: e.at)
        times = [e.at for e in expects]
        start = min([times[0], *(o.at for o in observations)])
        states = {}
        for t, ev in replay(rule, params, observations, start, times[-1], context, tick=None, checkpoints=times):
            states[t] = ev.state
        failures = []
        for e in expects:
            state = states.get(e.at)
            if state is None:  # pragma: no cover - replay always evaluates at checkpoints
                failures.append(f"no evaluation at {e.at.isoformat()}")
                continue
            if state.status is not e.status:
                failures.append(
                    f"at {e.at.isoformat()} expected {e.status.value}, got {state.status.value}"
                    + (f" ({state.summary.en})" if state.summary else "")
                )
                continue
            # Explanations use non-breaking spaces before units; examples are written with plain ones.
            text = f"{state.summary.nb}\n{state.summary.en}".replace("\u00a0", " ") if state.summary else ""
            for fragment in e.explanation_contains:
                if fragment.replace("\u00a0", " ") not in text:
                    failures.append(f"at {e.at.isoformat()} the explanation lacks {fragment!r}: {text!r}")
    except Exception as exc:  # noqa: BLE001 - an example that crashes must fail, not stop the run
        return result(False, f"error: {type(exc).__name__}: {exc}")
    if failures:
        return result(False, "; ".join(failures))
    return result(True, f"{len(expects)} expected state(s) matched")


def run_examples(target: RuleDefinition | RuleSet | Iterable[RuleDefinition]) -> list[ExampleResult]:
    """Run the examples of a rule, a rule set or several rules."""
    if isinstance(target, RuleDefinition):
        rules = [target]
    elif isinstance(target, RuleSet):
        rules = list(target.rules)
    else:
        rules = list(target)
    return [run_example(rule, ex) for rule in rules for ex in rule.examples]


class ActivationRefused(ValueError):
    def __init__(self, rule: RuleDefinition, problems: list[str]):
        self.rule_key = rule.key
        self.rule_version = rule.version
        self.problems = problems
        super().__init__(f"{rule.key} v{rule.version} cannot be activated: " + "; ".join(problems))


def activation_problems(rule: RuleDefinition) -> list[str]:
    """Why a rule version may not be activated; empty when it may."""
    return [str(r) for r in run_examples(rule) if not r.passed]


def ensure_activatable(rule: RuleDefinition) -> None:
    """Raise ActivationRefused when any of the rule's examples fails."""
    problems = activation_problems(rule)
    if problems:
        raise ActivationRefused(rule, problems)


__all__ = [
    "ActivationRefused",
    "DEFAULTS_DIR",
    "ExampleResult",
    "RuleFormatError",
    "activation_problems",
    "default_rules",
    "default_ruleset_names",
    "ensure_activatable",
    "load_default_rulesets",
    "load_ruleset",
    "parse_rule",
    "parse_ruleset",
    "run_example",
    "run_examples",
]

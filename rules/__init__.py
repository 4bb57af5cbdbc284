"""HomeFollow's rule engine: pure functions over typed inputs.

Nothing here may import Flask, SQLAlchemy or read the clock: every input, including "now",
is passed in. That keeps evaluation deterministic, fast and testable. See docs/rules.md.
"""

from .baseline import Baseline, LimitProposal, NotEnoughReadings, compute_baseline, propose_limits
from .codes import code_info, format_value
from .engine import ObservationIndex, evaluate, evaluate_all, rule_codes
from .limits import zone_limits
from .model import (
    Evaluation,
    EvaluationContext,
    Example,
    Finding,
    LocalText,
    Observation,
    RuleDefinition,
    RuleSet,
    RuleState,
    Severity,
    Status,
)
from .parameters import ParameterError, Parameters, parameter_names, resolve_parameters
from .replay import BacktestAlert, backtest, backtest_days, replay
from .ruleset import (
    ActivationRefused,
    ExampleResult,
    RuleFormatError,
    activation_problems,
    default_rules,
    default_ruleset_names,
    ensure_activatable,
    load_default_rulesets,
    load_rules,
    load_ruleset,
    parse_rule,
    parse_ruleset,
    run_examples,
)
from .schedule import Schedule
from .text import Text
from .zones import Zone, ZoneLimits

__all__ = [
    "ActivationRefused",
    "BacktestAlert",
    "Baseline",
    "Evaluation",
    "EvaluationContext",
    "Example",
    "ExampleResult",
    "Finding",
    "LimitProposal",
    "LocalText",
    "NotEnoughReadings",
    "Observation",
    "ObservationIndex",
    "ParameterError",
    "Parameters",
    "RuleDefinition",
    "RuleFormatError",
    "RuleSet",
    "RuleState",
    "Schedule",
    "Severity",
    "Status",
    "Text",
    "Zone",
    "ZoneLimits",
    "activation_problems",
    "backtest",
    "backtest_days",
    "code_info",
    "compute_baseline",
    "default_rules",
    "default_ruleset_names",
    "ensure_activatable",
    "evaluate",
    "evaluate_all",
    "format_value",
    "load_default_rulesets",
    "load_rules",
    "load_ruleset",
    "parameter_names",
    "parse_rule",
    "parse_ruleset",
    "propose_limits",
    "replay",
    "resolve_parameters",
    "rule_codes",
    "run_examples",
    "zone_limits",
]

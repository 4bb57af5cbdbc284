"""HomeFollow's rule engine: pure functions over typed inputs.

Nothing here may import Flask, SQLAlchemy or read the clock: every input, including "now",
is passed in. That keeps evaluation deterministic, fast and testable.
"""

from .codes import code_info, format_value
from .engine import ObservationIndex, evaluate, evaluate_all, rule_codes
from .model import (
    EvaluationContext,
    Evaluation,
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
from .zones import Zone

__all__ = [
    "Evaluation",
    "EvaluationContext",
    "Example",
    "Finding",
    "LocalText",
    "Observation",
    "ObservationIndex",
    "ParameterError",
    "Parameters",
    "RuleDefinition",
    "RuleSet",
    "RuleState",
    "Severity",
    "Status",
    "Zone",
    "code_info",
    "evaluate",
    "evaluate_all",
    "format_value",
    "parameter_names",
    "resolve_parameters",
    "rule_codes",
]

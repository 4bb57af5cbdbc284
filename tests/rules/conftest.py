"""Shared helpers for the rule engine tests: a fixed clock and small builders."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # so that `pytest` works without installing the package
    sys.path.insert(0, str(ROOT))

from rules.model import EvaluationContext, Observation, RuleDefinition  # noqa: E402

UTC = UTC
OSLO = ZoneInfo("Europe/Oslo")
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # a Monday, before the spring DST change


def at(hours: float = 0, days: float = 0, base: datetime = T0) -> datetime:
    return base + timedelta(days=days, hours=hours)


def oslo(*args: int) -> datetime:
    """A wall-clock time in Oslo as an aware datetime."""
    return datetime(*args, tzinfo=OSLO)


def obs(code: str, value: float, when: datetime, ref: str | None = None) -> Observation:
    return Observation(code, value, when, ref)


def make_rule(spec: dict, parameters: dict, severity: str = "yellow", **extra) -> RuleDefinition:
    data = {
        "key": extra.pop("key", "test.rule"),
        "version": extra.pop("version", 1),
        "title": {"nb": "Testregel", "en": "Test rule"},
        "severity": severity,
        "instruction_key": extra.pop("instruction_key", "test.yellow"),
        "spec": spec,
        "parameters": parameters,
        **extra,
    }
    return RuleDefinition.model_validate(data)


@pytest.fixture
def ctx() -> EvaluationContext:
    return EvaluationContext(tz="Europe/Oslo")

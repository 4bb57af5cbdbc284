"""Replaying a rule over a stretch of time: the shared core of examples and backtests.

The replay does what the running system does: evaluate when a reading arrives (at its time)
and when the scheduler comes back for a state's ``next_due_at``. With ``tick`` set, due work is
picked up at the next scheduler tick (as a sweep every 15 minutes would); with ``tick=None``
exactly at the due time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .engine import ObservationIndex, _evaluate_indexed, _params_for, _utc_now, rule_codes
from .codes import matches
from .model import Evaluation, EvaluationContext, Finding, Observation, RuleDefinition, RuleState, Severity, Status


def _on_tick(t: datetime, start: datetime, tick: timedelta | None) -> datetime:
    if tick is None:
        return t
    steps = -((start - t) // tick)  # ceiling division on timedeltas
    return start + steps * tick


def replay(
    rule: RuleDefinition,
    parameters: Mapping[str, Any] | None,
    observations: Sequence[Observation],
    start: datetime,
    end: datetime,
    context: EvaluationContext | None = None,
    tick: timedelta | None = timedelta(minutes=15),
    checkpoints: Sequence[datetime] = (),
    previous: RuleState | None = None,
) -> Iterator[tuple[datetime, Evaluation]]:
    """Yield (time, evaluation) in time order from ``start`` to ``end`` (inclusive)."""
    start, end = _utc_now(start), _utc_now(end)
    if end < start:
        raise ValueError("end must not be before start")
    if tick is not None and tick <= timedelta(0):
        raise ValueError("tick must be positive")
    context = context or EvaluationContext()
    params = _params_for(rule, parameters)
    index = ObservationIndex(observations)
    patterns = rule_codes(rule.spec)
    arrivals = sorted({o.at for o in observations if start < o.at <= end and any(matches(p, o.code) for p in patterns)})
    marks = sorted({_utc_now(c) for c in checkpoints if start < _utc_now(c) <= end})
    a = m = 0
    t = start
    state = previous
    while True:
        ev = _evaluate_indexed(rule, params, index, state, t, context)
        yield t, ev
        state = ev.state
        while a < len(arrivals) and arrivals[a] <= t:
            a += 1
        while m < len(marks) and marks[m] <= t:
            m += 1
        candidates = []
        if a < len(arrivals):
            candidates.append(arrivals[a])
        if m < len(marks):
            candidates.append(marks[m])
        if state.next_due_at is not None:
            candidates.append(_on_tick(state.next_due_at, start, tick))
        if not candidates:
            return
        t = min(candidates)
        if t > end:
            return


@dataclass(frozen=True)
class BacktestAlert:
    """One alert the rule version would have raised: from becoming firing until it stopped."""

    rule_key: str
    rule_version: int
    severity: Severity
    started_at: datetime  # when the system would have raised it
    ended_at: datetime | None  # when it would have stopped firing (None: still firing at the end)
    evaluations: int  # evaluations while firing
    first: Finding
    last: Finding


def backtest(
    rule: RuleDefinition,
    parameters: Mapping[str, Any] | None,
    observations: Sequence[Observation],
    start: datetime,
    end: datetime,
    context: EvaluationContext | None = None,
    tick: timedelta | None = timedelta(minutes=15),
) -> list[BacktestAlert]:
    """What this rule version would have raised for this patient between start and end.

    Readings are taken to arrive when they were measured; time-based changes (hold times,
    missed check-ins, staleness) are picked up at scheduler ticks of ``tick``.
    """
    alerts: list[BacktestAlert] = []
    open_: dict[str, Any] | None = None
    for t, ev in replay(rule, parameters, observations, start, end, context, tick):
        status = ev.state.status
        if status is Status.FIRING:
            finding = ev.findings[0]
            if open_ is None:
                open_ = {"started_at": t, "first": finding, "last": finding, "evaluations": 1}
            else:
                open_["last"] = finding
                open_["evaluations"] += 1
        elif status is not Status.RECOVERING and open_ is not None:
            alerts.append(BacktestAlert(rule.key, rule.version, rule.severity, ended_at=t, **open_))
            open_ = None
    if open_ is not None:
        alerts.append(BacktestAlert(rule.key, rule.version, rule.severity, ended_at=None, **open_))
    return alerts


def backtest_days(
    rule: RuleDefinition,
    parameters: Mapping[str, Any] | None,
    observations: Sequence[Observation],
    now: datetime,
    days: int,
    context: EvaluationContext | None = None,
    tick: timedelta | None = timedelta(minutes=15),
) -> list[BacktestAlert]:
    """``backtest`` over the last ``days`` days before ``now``."""
    now = _utc_now(now)
    return backtest(rule, parameters, observations, now - timedelta(days=days), now, context, tick)


__all__ = ["BacktestAlert", "backtest", "backtest_days", "replay"]

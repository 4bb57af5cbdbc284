"""Evaluations per second of the full default rule set for one patient with 90 days of readings.

Run by hand:  .venv/bin/python benchmarks/rules_bench.py [--seconds 3]

Two loops are timed in the same run, on the same readings:
- engine:   rules.evaluate_all(every default rule, …) with the states of the previous
            evaluation, as the reporting service and the scheduler sweep call it, once with the
            readings shuffled (the headline) and once in time order (as a database returns them);
- baseline: a bare Python loop over the same readings doing the same threshold comparisons
            (each reading against every limit the rule set has for its code), with no state,
            no explanations and no time logic — the least any evaluation must do.
The figure that matters is the ratio engine / baseline (aim: ≤ 5) and the engine's time per
patient (aim: < 1 ms). Each loop is timed as the best of many short rounds (see ``timed``).
Prints figures only; nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules.engine import evaluate_all  # noqa: E402
from rules.model import (  # noqa: E402
    ChangeSpec,
    CombineSpec,
    EvaluationContext,
    NOfMSpec,
    Observation,
    QuestionnaireSpec,
    ScoreBandsSpec,
    ZonesSpec,
)
from rules.ruleset import default_rules  # noqa: E402
from rules.zones import ZoneLimits  # noqa: E402

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS = 90


def patient_readings(seed: int = 1) -> list[Observation]:
    """A frail patient with COPD, heart failure and diabetes who reports every day."""
    rnd = random.Random(seed)
    out: list[Observation] = []
    start = NOW - timedelta(days=DAYS)
    n = 0

    def add(code: str, value: float, at: datetime) -> None:
        nonlocal n
        n += 1
        out.append(Observation(code, round(value, 1), at, f"m:{n}"))

    weight = 80.0
    for d in range(DAYS):
        morning = start + timedelta(days=d, hours=6, minutes=rnd.randint(0, 90))
        evening = morning + timedelta(hours=12)
        weight += rnd.uniform(-0.4, 0.45)
        add("weight", weight, morning)
        for at in (morning, evening):
            add("spo2", rnd.randint(88, 97), at)
            add("pulse", rnd.randint(60, 105), at)
            add("bp_systolic", rnd.randint(105, 150), at)
            add("bp_diastolic", rnd.randint(60, 90), at)
            add("glucose", rnd.uniform(4.0, 11.0), at)
        add("temperature", rnd.uniform(36.0, 38.3), morning)
        if d % 3 == 0:
            add("resp_rate", rnd.randint(12, 22), morning)
        checkin = morning + timedelta(hours=3)
        for topic in ("breathless", "swelling", "cough", "confusion", "general"):
            add(f"checkin.{topic}", 1 if rnd.random() < 0.05 else 0, checkin)
        if d % 7 == 0:
            add("cat.total", rnd.randint(8, 16), checkin)
    rnd.shuffle(out)  # the engine must not rely on the order it is given
    return out


def _limits_of(spec, node, out: dict[str, list[tuple[float | None, float | None]]]) -> None:
    """The (low, high) comparisons a rule's spec makes, by code, for the bare loop."""
    if isinstance(spec, ZonesSpec):
        lim: ZoneLimits = node
        for low, high in ((lim.red_low, lim.red_high), (lim.yellow_low, lim.yellow_high)):
            if low is not None or high is not None:
                out.setdefault(spec.code, []).append((low, high))
    elif isinstance(spec, NOfMSpec):
        _limits_of(spec.of, node[1], out)
    elif isinstance(spec, QuestionnaireSpec):
        if node.at_least is not None:
            out.setdefault(spec.code, []).append((None, node.at_least))
    elif isinstance(spec, ChangeSpec):
        out.setdefault(spec.code, []).append((None, node.amount))
    elif isinstance(spec, ScoreBandsSpec):
        for item in spec.items:
            for band in item.bands[:-1]:
                out.setdefault(item.code, []).append((None, band.max))
    elif isinstance(spec, CombineSpec):
        for child in spec.of:
            _limits_of(child.spec, node[child.id], out)


def bare_loop(observations, thresholds, now) -> int:
    hits = 0
    for o in observations:
        if o.at > now:
            continue
        for low, high in thresholds.get(o.code, ()):
            if (low is not None and o.value < low) or (high is not None and o.value > high):
                hits += 1
    return hits


def timed(label: str, fn, seconds: float, rounds_of: int = 20) -> float:
    """Seconds per call of fn: the best of rounds of ``rounds_of`` calls, run for about ``seconds``.

    The best round, as timeit advises, is what the code costs; slower rounds measure whatever
    else the machine was doing (on a shared VM, rounds vary by up to 2×).
    """
    fn()  # warm caches
    calls, spent, best, shown = 0, 0.0, float("inf"), 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        for _ in range(rounds_of):
            fn()
        took = time.perf_counter() - t0
        spent += took
        calls += rounds_of
        best = min(best, took / rounds_of)
        if spent - shown >= 0.5:
            shown = spent
            print(f"\r  {label}: {calls} evaluations, {spent:.1f} s", end="", flush=True)
    print(f" (mean {spent / calls * 1e3:.3f} ms, best round {best * 1e3:.3f} ms)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measured loop")
    args = parser.parse_args()

    print("loading the default rule sets …")
    rules = sorted(default_rules().values(), key=lambda r: r.key)
    params = {r.key: r.defaults for r in rules}
    print(f"  {len(rules)} rules")
    print(f"building {DAYS} days of readings …")
    readings = patient_readings()
    print(f"  {len(readings)} readings")
    context = EvaluationContext(tz="Europe/Oslo", active_since=NOW - timedelta(days=DAYS))
    first = evaluate_all(rules, params, readings, {}, NOW, context)
    states = {k: ev.state for k, ev in first.items()}
    firing = sorted(k for k, ev in first.items() if ev.findings)
    print(f"  firing now: {', '.join(firing) or 'none'}")
    thresholds: dict[str, list] = {}
    for r in rules:
        _limits_of(r.spec, r.defaults.node, thresholds)
    comparisons = sum(len(thresholds.get(o.code, ())) for o in readings)
    print(f"  bare loop: {comparisons} threshold comparisons per evaluation")

    in_order = sorted(readings, key=lambda o: o.at)  # as a query ORDER BY time returns them

    print("timing …")
    base = timed("baseline", lambda: bare_loop(readings, thresholds, NOW), args.seconds)
    engine = timed("engine (shuffled readings)", lambda: evaluate_all(rules, params, readings, states, NOW, context),
                   args.seconds)
    ordered = timed("engine (readings in time order)",
                    lambda: evaluate_all(rules, params, in_order, states, NOW, context), args.seconds)
    ratio = engine / base
    print(f"baseline:                 {1 / base:7.0f} evaluations/s ({base * 1e3:.3f} ms per patient)")
    print(f"engine, shuffled:         {1 / engine:7.0f} evaluations/s ({engine * 1e3:.3f} ms per patient, "
          f"{engine / len(rules) * 1e6:.1f} µs per rule)")
    print(f"engine, in time order:    {1 / ordered:7.0f} evaluations/s ({ordered * 1e3:.3f} ms per patient)")
    print(f"rules_bench: {len(rules)} rules, {len(readings)} readings over {DAYS} days: engine "
          f"{1 / engine:.0f}/s ({engine * 1e3:.3f} ms; {ordered * 1e3:.3f} ms in time order), "
          f"baseline {1 / base:.0f}/s, ratio {ratio:.2f}× "
          f"(aim ≤ 5×: {'met' if ratio <= 5 else 'not met'}; under 1 ms: {'yes' if engine < 1e-3 else 'no'})")


if __name__ == "__main__":
    main()

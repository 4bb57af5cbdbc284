"""The benchmark script still runs (a smoke test: it prints figures, nothing here checks timing)."""

import re
import runpy
import sys

from conftest import ROOT


def test_benchmark_runs_and_ends_with_a_one_line_summary(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["rules_bench.py", "--seconds", "0.01"])
    runpy.run_path(str(ROOT / "benchmarks" / "rules_bench.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.fullmatch(r"\s+\d+ readings", line) for line in lines)
    assert re.match(r"rules_bench: \d+ rules, \d+ readings over 90 days: engine \d+/s .* ratio [\d.]+×", lines[-1])
    assert "evaluations/s" in lines[-2]

"""The clinical hazard log: docs/safety/hazards.yaml (data) → docs/safety/hazard-log.md.

    .venv/bin/python -m tools.hazard_log            # render the markdown (make hazard-log)
    .venv/bin/python -m tools.hazard_log --check    # exit 1 if a control names no test or a test
                                                    # that does not exist, or the markdown is stale

The shape follows the NHS DCB0129 clinical risk management standard (and ISO 14971): each
hazard with its cause, the possible harm, severity and likelihood before and after its
controls, and every control with the tests that verify it. tests/test_hazard_log.py runs the
same checks in the suite, so a control can never lose its evidence unnoticed.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "safety" / "hazards.yaml"
RENDERED = ROOT / "docs" / "safety" / "hazard-log.md"

# DCB0129 scales and risk matrix: rating 1 (acceptable) … 5 (unacceptable).
SEVERITY = {1: "Minor", 2: "Significant", 3: "Considerable", 4: "Major", 5: "Catastrophic"}
LIKELIHOOD = {1: "Very low", 2: "Low", 3: "Medium", 4: "High", 5: "Very high"}
MATRIX = {  # likelihood → ratings by severity 1…5
    5: (3, 4, 4, 5, 5),
    4: (2, 3, 3, 4, 5),
    3: (2, 2, 3, 3, 4),
    2: (1, 2, 2, 3, 4),
    1: (1, 1, 2, 2, 3),
}
RATING = {1: "Acceptable", 2: "Acceptable where cost of further reduction outweighs benefit",
          3: "Undesirable: acceptable only with agreement", 4: "Unacceptable", 5: "Unacceptable"}


class Risk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: int = Field(ge=1, le=5)
    likelihood: int = Field(ge=1, le=5)

    @property
    def rating(self) -> int:
        return MATRIX[self.likelihood][self.severity - 1]

    def words(self) -> str:
        return f"{SEVERITY[self.severity]} × {LIKELIHOOD[self.likelihood]} → {self.rating}"


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")
    control: str = Field(min_length=10)
    tests: list[str] = Field(min_length=1)  # pytest node ids: tests/x.py::test_name

    @field_validator("tests")
    @classmethod
    def _node_ids(cls, v: list[str]) -> list[str]:
        for node in v:
            if "::" not in node or not node.startswith("tests/"):
                raise ValueError(f"{node!r} is not a test id such as tests/test_x.py::test_name")
        return v


class Hazard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^HAZ-\d{3}$")
    title: str
    cause: str
    harm: str
    source: str  # where it was found: an issue, a review
    before: Risk
    controls: list[Control] = Field(min_length=1)
    after: Risk
    status: Literal["closed", "open"]
    residual: str = ""  # what is left, and why it is accepted (or what is planned)


class HazardLog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hazards: list[Hazard]

    @field_validator("hazards")
    @classmethod
    def _unique(cls, v: list[Hazard]) -> list[Hazard]:
        ids = [h.id for h in v]
        if len(ids) != len(set(ids)):
            raise ValueError("hazard ids must be unique")
        return v


def load(path: Path = DATA) -> HazardLog:
    return HazardLog.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def _tests_in(path: Path) -> frozenset[str]:
    """Test functions of a file: module level, and Class::method."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            found.update(f"{node.name}::{n.name}" for n in node.body
                         if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return frozenset(found)


def missing_tests(log: HazardLog, root: Path = ROOT) -> list[str]:
    """'HAZ-001: tests/x.py::test_y does not exist' for every test a control names in vain."""
    problems = []
    for hazard in log.hazards:
        for control in hazard.controls:
            for node in control.tests:
                file, _sep, name = node.partition("::")
                name = name.split("[", 1)[0]  # a parametrised case names its function
                path = root / file
                if not path.is_file():
                    problems.append(f"{hazard.id}: {node}: no such file")
                elif name not in _tests_in(path):
                    problems.append(f"{hazard.id}: {node}: no such test")
    return problems


def render(log: HazardLog) -> str:
    lines = [
        "# Clinical hazard log",
        "",
        "Generated from [hazards.yaml](hazards.yaml) by `make hazard-log`; edit the YAML, not this file.",
        "The shape follows NHS DCB0129 (clinical risk management in the manufacture of health IT) and",
        "ISO 14971: each hazard with its cause, the possible harm, severity × likelihood before and after",
        "its controls, and for every control the tests that verify it. `tests/test_hazard_log.py` fails",
        "when a control names no test, or a test that does not exist, or when this file is stale.",
        "",
        "Severity: " + ", ".join(f"{k} {v}" for k, v in SEVERITY.items()) + ". "
        "Likelihood: " + ", ".join(f"{k} {v}" for k, v in LIKELIHOOD.items()) + ". "
        "Risk rating (DCB0129 matrix): " + "; ".join(f"{k} {v}" for k, v in RATING.items()) + ".",
        "",
        "| id | hazard | before | after | status |",
        "|---|---|---|---|---|",
    ]
    for h in log.hazards:
        lines.append(f"| [{h.id}](#{h.id.lower()}) | {h.title} | {h.before.rating} | {h.after.rating} | {h.status} |")
    for h in log.hazards:
        lines += ["", f"## {h.id}", "", f"**{h.title}**", "",
                  f"- **Cause:** {h.cause}", f"- **Possible harm:** {h.harm}", f"- **Found:** {h.source}",
                  f"- **Before controls:** {h.before.words()}", f"- **After controls:** {h.after.words()}",
                  f"- **Status:** {h.status}"]
        if h.residual:
            lines.append(f"- **Residual risk:** {h.residual}")
        lines += ["", "| control | verified by |", "|---|---|"]
        for c in h.controls:
            tests = "<br>".join(f"`{t}`" for t in c.tests)
            lines.append(f"| {c.control} | {tests} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    log = load()
    problems = missing_tests(log)
    text = render(log)
    if "--check" in argv:
        if RENDERED.read_text(encoding="utf-8") != text:
            problems.append(f"{RENDERED.relative_to(ROOT)} is stale: run make hazard-log")
    else:
        RENDERED.write_text(text, encoding="utf-8")
    for problem in problems:
        print(problem)
    controls = sum(len(h.controls) for h in log.hazards)
    print(f"hazard log: {len(log.hazards)} hazards, {controls} controls, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Supply chain: every installed package is pinned with its hashes, and what the code imports is named.

requirements.in and requirements-test.in list the direct dependencies; `make lock` (pip-tools'
pip-compile --generate-hashes) compiles them into requirements.txt and requirements-test.txt, which
are installed with `pip install --require-hashes`. See docs/security.md.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.txt", "requirements-test.txt", "requirements-lock.txt")
SOURCES = ("homefollow", "patient_portal", "clinician_portal", "rules")
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(\s*;[^\\]*)?$")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# pip, setuptools and wheel come with every venv; the lock venv pins them in requirements-lock.txt.
TOOLING = {"pip", "setuptools", "wheel"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> list[str]:
    """Requirement lines with their continuations joined and comments removed."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            lines.append(" ".join(current.split()))
        current = ""
    if current.strip():
        lines.append(" ".join(current.split()))
    return lines


def problems_in_lock(text: str) -> list[str]:
    """What makes a lock file unfit for `pip install --require-hashes`."""
    problems = []
    for line in logical_lines(text):
        requirement, _, options = line.partition(" --hash=")
        options = "--hash=" + options if options else ""
        if requirement.startswith("-"):
            problems.append(f"{line!r}: options and includes do not belong in a lock file")
        elif not PINNED.match(requirement.strip()):
            problems.append(f"{requirement!r}: not pinned with ==")
        elif not HASH.search(options):
            problems.append(f"{requirement!r}: no sha256 hash")
    return problems


def pins(path: str) -> dict[str, tuple[str, frozenset[str]]]:
    found = {}
    for line in logical_lines((ROOT / path).read_text(encoding="utf-8")):
        match = PINNED.match(line.partition(" --hash=")[0].strip())
        if match:
            found[normalise(match["name"])] = (match["version"], frozenset(HASH.findall(line)))
    return found


def direct_names(path: str) -> set[str]:
    names = set()
    for line in logical_lines((ROOT / path).read_text(encoding="utf-8")):
        if not line.startswith("-"):
            names.add(normalise(re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]))
    return names


def imported_modules(*folders: str) -> dict[str, str]:
    """Top-level modules imported (absolutely) by the code in `folders`: module -> first file."""
    modules: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    modules.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return modules


# ---- the checks themselves, tried on bad input first --------------------------------------------

def test_the_lock_check_finds_unpinned_and_hashless_lines():
    good = "flask==3.1.3 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r requirements.in\n"
    assert problems_in_lock(good) == []
    assert problems_in_lock("flask>=3.1\n")
    assert problems_in_lock("flask\n")
    assert problems_in_lock("flask==3.1.3\n")
    assert problems_in_lock("flask==3.1.3 --hash=md5:abc\n")
    assert problems_in_lock("-r requirements.txt\n")
    assert problems_in_lock("-e git+https://example.org/x.git#egg=x\n")
    assert problems_in_lock("https://example.org/x-1.0.whl\n")


# ---- the project's files ----------------------------------------------------------------------

@pytest.mark.parametrize("lock", LOCKS)
def test_every_line_of_the_lock_files_is_pinned_with_a_hash(lock):
    text = (ROOT / lock).read_text(encoding="utf-8")
    assert problems_in_lock(text) == [], f"{lock} is not fit for pip install --require-hashes; run `make lock`"
    assert "pip-compile" in text or "make lock" in text, f"{lock} was not written by `make lock`"


@pytest.mark.parametrize("source, lock", [("requirements.in", "requirements.txt"),
                                          ("requirements-test.in", "requirements-test.txt"),
                                          ("requirements-lock.in", "requirements-lock.txt")])
def test_every_direct_requirement_is_in_its_lock(source, lock):
    missing = direct_names(source) - set(pins(lock))
    assert not missing, f"{sorted(missing)} from {source} are not in {lock}; run `make lock`"


def test_the_test_lock_agrees_with_the_app_lock():
    app, test = pins("requirements.txt"), pins("requirements-test.txt")
    differ = {name: (app[name][0], test[name][0]) for name in set(app) & set(test) if app[name] != test[name]}
    assert not differ, f"versions or hashes differ between the locks: {differ}; run `make lock`"
    assert "-c requirements.txt" in (ROOT / "requirements-test.in").read_text(encoding="utf-8")


def test_every_module_the_code_imports_is_a_direct_requirement():
    direct = direct_names("requirements.in")
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(imported_modules(*SOURCES).items()):
        if module in sys.stdlib_module_names or module in SOURCES or module == "__future__":
            continue
        names = {normalise(d) for d in distributions.get(module, [])}
        if not names:
            missing.append(f"{module} (imported by {where}) is not installed from any distribution")
        elif not names & direct:
            missing.append(f"{module} (imported by {where}) comes from {sorted(names)}, not in requirements.in")
    assert not missing, "\n".join(missing)


def test_every_installed_package_is_locked_at_its_version():
    locked: dict[str, str] = {}
    for lock in ("requirements.txt", "requirements-test.txt"):
        locked.update({name: version for name, (version, _) in pins(lock).items()})
    unlocked = []
    for dist in importlib.metadata.distributions():
        name = normalise(dist.metadata["Name"])
        if name not in TOOLING and locked.get(name) != dist.version:
            unlocked.append(f"{name}=={dist.version} (lock: {locked.get(name, 'absent')})")
    assert not unlocked, f"installed but not locked at that version: {sorted(set(unlocked))}"


def test_every_documented_install_requires_hashes():
    places = [ROOT / "Makefile", ROOT / "README.md", ROOT / ".ci" / "run", *sorted((ROOT / "docs").rglob("*.md"))]
    unhashed = []
    for path in places:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ((re.search(r"pip install\b.*-r\s*requirements", line) or "$(PIP_INSTALL)" in line)
                    and "--require-hashes" not in line and "$(PIP_INSTALL)" not in line):
                unhashed.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unhashed, unhashed
    assert re.search(r"^PIP_INSTALL :=.*--require-hashes", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)

import subprocess
import sys

from conftest import ROOT


def test_import_rules_does_not_pull_in_web_or_database_libraries():
    code = (
        "import sys, rules, rules.engine, rules.ruleset, rules.replay, rules.baseline, rules.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'sqlmodel', 'werkzeug'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_has_no_clock_reads_or_eval():
    for path in (ROOT / "rules").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today(", "eval(", "exec("):
            assert forbidden not in text, f"{path.name} contains {forbidden}"

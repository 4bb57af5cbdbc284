"""Command line: ``python -m rules test [NAME|FILE ...]`` and ``python -m rules list``.

``test`` runs the examples of the default rule sets (or the named sets / YAML files), like
``promtool test rules``, and exits non-zero when any example fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .ruleset import RuleFormatError, default_ruleset_names, load_rules, load_ruleset, run_examples


def _test(names: Sequence[str]) -> int:
    failed = passed = 0
    for name in names or default_ruleset_names():
        try:
            rules = load_rules(name)
        except (RuleFormatError, FileNotFoundError) as exc:
            print(f"ERROR {name}: {exc}")
            failed += 1
            continue
        for result in run_examples(rules):
            print(result)
            passed += result.passed
            failed += not result.passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def _list() -> int:
    for name in default_ruleset_names():
        ruleset = load_ruleset(name)
        print(f"{name}: {ruleset.title.en}")
        for rule in ruleset.rules:
            print(f"  {rule.key} v{rule.version} [{rule.severity.value}, {rule.spec.kind}] {rule.title.en}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rules", description="HomeFollow rule engine")
    sub = parser.add_subparsers(dest="command", required=True)
    test = sub.add_parser("test", help="run the examples of rule sets (default: all default rule sets)")
    test.add_argument("names", nargs="*", help="rule set names (e.g. copd) or YAML files (a rule set or one rule)")
    sub.add_parser("list", help="list the default rule sets and their rules")
    args = parser.parse_args(argv)
    if args.command == "test":
        return _test(args.names)
    return _list()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

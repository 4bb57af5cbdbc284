"""The escalation modules are pure: no Flask, SQLAlchemy or SQLModel in their imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from homefollow.escalation import ROLES

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["homefollow.escalation", "homefollow.escalation.policy", "homefollow.escalation.oncall",
           "homefollow.notifications.sms_commands", "homefollow.notifications.texts"]

# homefollow/__init__.py builds the Flask app, so importing any homefollow.* module the usual
# way runs it. The probe puts a bare package in its place to see what our modules need.
PROBE = f"""
import json, sys, types
for name, path in (("homefollow", "homefollow"), ("homefollow.notifications", "homefollow/notifications")):
    package = types.ModuleType(name)
    package.__path__ = [{str(ROOT)!r} + "/" + path]
    sys.modules[name] = package
import importlib
for module in {MODULES!r}:
    importlib.import_module(module)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "sqlalchemy", "sqlmodel", "werkzeug"))))
"""


def test_modules_import_without_flask_sqlalchemy_or_sqlmodel():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_roles_match_the_models():
    from homefollow.models import Role

    assert tuple(r.value for r in Role) == ROLES

"""The nb and en catalogues are complete and in step with the source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "homefollow" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def key(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def catalogue(locale: str):
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", ["nb", "en"])
def test_every_string_is_translated_with_the_same_placeholders(locale):
    entries = [m for m in catalogue(locale) if m.id]
    assert entries
    for m in entries:
        # A plural entry has a tuple of ids (singular, plural) and one string per plural form.
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings), f"{locale}: untranslated {ids[0]!r}"
        assert "fuzzy" not in m.flags, f"{locale}: fuzzy {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, f"{locale}: placeholders in {ids[0]!r}"


def test_catalogues_contain_every_string_in_the_source(tmp_path):
    """Fails when a string was added to the code without `make messages` and a translation."""
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "t:2", "-k", "N_", "--no-location", "-o", str(pot), "homefollow", "patient_portal",
                    "clinician_portal", "rules"], cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as f:
        in_source = {key(m) for m in read_po(f) if m.id}
    for locale in ("nb", "en"):
        in_catalogue = {key(m) for m in catalogue(locale) if m.id}
        assert in_source - in_catalogue == set(), f"missing from {locale}: run `make messages` and translate"


def test_every_alert_event_kind_written_has_words_in_the_event_log(app):
    """The alert page's event log shows words, never an internal code like 'page_queued'."""
    from homefollow.web import event_label

    written = set()
    for path in [*ROOT.joinpath("homefollow").rglob("*.py"), *ROOT.joinpath("clinician_portal").rglob("*.py")]:
        source = path.read_text()
        written |= set(re.findall(r'add_event\(\s*\w+,\s*\w+,\s*[\w.]+,\s*"([a-z_]+)"', source))
        # add_events(session, clock, [(alert, "kind", {…}) …]): many at once
        written |= set(re.findall(r'add_events\(\s*\w+,\s*\w+,\s*\[\(\s*[\w.]+,\s*"([a-z_]+)"', source))
        # events.append((alert, "kind", {…})): collected for one add_events call
        written |= set(re.findall(r'events\.append\(\(\s*[\w.]+,\s*"([a-z_]+)"', source))
    assert {"opened", "page_queued", "ack_expired", "snoozed"} <= written
    with app.test_request_context("/"):
        unlabelled = {kind for kind in written if event_label(kind) == kind}
    assert unlabelled == set()

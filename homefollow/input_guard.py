"""One guard for hostile input on every form and query string (issue 19).

Runs before every request that is not the API (pydantic checks the API's JSON, see
homefollow/api/payloads.py) and not Twilio's webhooks (signed; the guard still refuses NUL there).
It refuses, with a translated 400 page that names the problem and changes nothing:

- a file where text is expected: any uploaded file except on the fields listed in FILE_FIELDS;
- NUL and other control characters (tab, line feed and carriage return are allowed: text areas
  are multi-line, and browsers send CR LF);
- a value longer than MAX_FIELD_CHARS;
- a date (YYYY-MM-DD at the start of a value) outside MIN_YEAR..MAX_YEAR, which Python, the
  database or a conversion to UTC cannot hold safely;
- a word made only of digits that are not 0-9 ("²", "①"): str.isdigit() says yes and int() then
  fails, a pattern many views use to read an id or a number.

Narrower limits (a note's length, a plausible pulse) remain each form's own validators. The
views in OWN_FIELD_ERRORS answer control characters, files and impossible dates with field
errors on their own form (each is tested: tests/test_units.py, test_message_queue.py,
test_pauses_web.py, test_whom_to_call.py, test_plan_templates.py, test_plan_editor.py); for them the guard checks
only the length, so that the person gets the field error next to the field. Of those, only the
views in OWN_FILE_ERRORS also answer a file in a text field themselves; the others get the
guard's 400 for a file (their forms' filters expect text: tests/test_hostile_input.py).
"""

from __future__ import annotations

import re
from datetime import datetime, UTC

from flask import request
from flask_babel import gettext as _

# (endpoint, field) pairs where a file is the expected answer.
FILE_FIELDS = {("clinician.plan_template_yaml", "upload")}
# Views that answer hostile values with their own field errors (see the module's docstring).
OWN_FIELD_ERRORS = {"patient.report", "patient.messages_page", "patient.away", "clinician.pause_follow_up",
                    "clinician.team_phones", "clinician.plan_template_yaml", "clinician.plan_section"}
# Of OWN_FIELD_ERRORS, the views that answer a file in a text field with a field error too
# (tests/test_units.py, test_plan_templates.py).
OWN_FILE_ERRORS = {"patient.report", "clinician.plan_template_yaml"}
# Views whose forms check a date's range themselves, next to the field, so that a mistyped year
# keeps everything else the person typed (tests/test_hostile_input.py).
OWN_DATE_ERRORS = {"patient.invite_relative"}
# The longest text any form takes: a plan template's YAML. MAX_CONTENT_LENGTH caps the body.
MAX_FIELD_CHARS = 200_000
MIN_YEAR, MAX_YEAR = 1900, 2200
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_PREFIX = re.compile(r"^\s*(\d{1,6})-(\d{1,2})-(\d{1,2})")
WORDS = re.compile(r"[\s,;]+")
# The largest id of a database row (an integer column); see web.IdConverter for ids in URLs.
MAX_ROW_ID = 2**31 - 1


class HostileInput(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def check_text(field: str, value: str, *, max_chars: int = MAX_FIELD_CHARS, only_length: bool = False,
               dates: bool = True) -> None:
    """Raise HostileInput for a value no field of the app can accept."""
    if len(value) > max_chars:
        raise HostileInput(field, _("The field is too long (at most %(n)d characters).", n=max_chars))
    if only_length:
        return
    if CONTROL.search(value):
        raise HostileInput(field, _("The field contains control characters. Remove them and try again."))
    if any(word.isdigit() and not word.isdecimal() for word in WORDS.split(value)):
        raise HostileInput(field, _("Write numbers with the digits 0 to 9."))
    match = DATE_PREFIX.match(value) if dates else None
    if match and not MIN_YEAR <= int(match.group(1)) <= MAX_YEAR:
        raise HostileInput(field, _("The date must be between the years %(low)d and %(high)d.",
                                    low=MIN_YEAR, high=MAX_YEAR))


def row_id(value) -> int | None:
    """The id of a database row a form or query string names, or None when it cannot be one
    (not digits 0-9, or too large for the database's integer column)."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


def in_range(value: datetime) -> datetime:
    """A datetime that converts to UTC and back without overflow; for pydantic validators."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    if value.tzinfo is not None:
        value.astimezone(UTC)  # cannot overflow inside the range above
    return value


def check_request() -> None:
    """Raise HostileInput for the first hostile value in the query string, form or files."""
    own = request.endpoint in OWN_FIELD_ERRORS
    for field, value in request.args.items(multi=True):
        check_text(field, value)
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    for field, _storage in request.files.items(multi=True):
        if request.endpoint not in OWN_FILE_ERRORS and (request.endpoint, field) not in FILE_FIELDS:
            raise HostileInput(field, _("A file was sent where text was expected."))
    for field, value in request.form.items(multi=True):
        check_text(field, value, only_length=own, dates=request.endpoint not in OWN_DATE_ERRORS)


def is_exempt() -> bool:
    return request.path == "/api" or request.path.startswith("/api/") or request.endpoint == "static"

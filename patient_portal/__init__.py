"""The patient portal: mobile web for patients and the relatives they let in."""

from flask import Blueprint

bp = Blueprint("patient", __name__, template_folder="templates")

from . import checkins, pages, pauses, relatives, signin, views  # noqa: E402,F401  (registers the routes)

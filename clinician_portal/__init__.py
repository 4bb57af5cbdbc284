"""The clinician portal: triage queue, alerts and patients for the care team."""

from flask import Blueprint

bp = Blueprint("clinician", __name__, template_folder="templates")

from . import candidates, figures, members, pathway, patients, pauses, plans, reports, sessions, signin, team_admin, template_backtest, templates_admin, triage, views  # noqa: E402,F401  (registers the routes)

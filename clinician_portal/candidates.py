"""Candidates for home follow-up: heavy users of hospital services in a team's catchment,
not yet enrolled, with the LACE index and why each is on the list (homefollow.outcomes)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import render_template, url_for
from flask_babel import lazy_gettext as _l
from sqlmodel import select
from wtforms import HiddenField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import AnyOf
from wtforms.widgets import HiddenInput

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.models import Team
from homefollow.outcomes.candidates import DEFAULT_MIN_ADMISSIONS, SORT_KEYS, team_candidates
from homefollow.services import audit
from homefollow.services.access import AccessDenied
from homefollow.web import current_actor, current_principal

from . import bp
from .filter_forms import FilterForm, FilterSelect, record_id
from .views import staff_only

MIN_CHOICES = (2, 3, 4, 5, 6, 8, 10, 12)
SORT_LABELS = {
    "name": _l("Name"), "admissions": _l("Admissions, 12 months"), "bed_days": _l("Bed-days, 12 months"),
    "emergency": _l("Emergency contacts, 6 months"), "last_admission": _l("Last admission"), "lace": _l("LACE"),
}
CONDITION_LABELS = {
    "myocardial_infarction": _l("myocardial infarction"), "heart_failure": _l("heart failure"),
    "peripheral_vascular": _l("peripheral vascular disease"), "cerebrovascular": _l("cerebrovascular disease"),
    "dementia": _l("dementia"), "chronic_pulmonary": _l("chronic lung disease"),
    "rheumatic": _l("rheumatic disease"), "peptic_ulcer": _l("peptic ulcer"), "mild_liver": _l("mild liver disease"),
    "diabetes": _l("diabetes"), "diabetes_complicated": _l("diabetes with complications"),
    "hemiplegia": _l("hemiplegia"), "renal": _l("kidney disease"), "malignancy": _l("cancer"),
    "severe_liver": _l("severe liver disease"), "metastatic": _l("metastatic cancer"), "aids": _l("AIDS"),
}


class CandidateFilterForm(FilterForm):
    class Meta:
        id_prefix = "candidates"

    team = FilterSelect(_l("Team"), coerce=record_id)  # no "all": one team's candidates, the first by default
    min_admissions = FilterSelect(_l("At least this many admissions in 12 months"), name="min", coerce=int,
                                  default=DEFAULT_MIN_ADMISSIONS, choices=[SelectChoice(n, str(n)) for n in MIN_CHOICES])
    sort = HiddenField(default="lace", validators=[AnyOf(SORT_KEYS)])


@bp.get("/candidates")
@staff_only
def candidates():
    principal = current_principal()
    db, clock = get_session(), get_clock()
    teams = list(db.exec(select(Team).where(Team.id.in_(principal.team_ids)).order_by(Team.name))) \
        if principal.team_ids else []
    form = CandidateFilterForm()
    form.team.choices = [SelectChoice(t.id, t.name) for t in teams]
    refused = form.drop_invalid().get("team")  # an id of another team, not a malformed one
    if refused is not None:
        audit.record_refusal(db, clock, actor=current_actor(), object_type="team", object_id=refused,
                             attempted="view.candidates")
        raise AccessDenied(refused)
    team = next((t for t in teams if t.id == form.team.data), teams[0] if teams else None)
    form.team.data = team.id if team else None
    if len(teams) < 2:
        form.team.widget = HiddenInput()  # one team: nothing to choose, it goes along with the form
    min_admissions, sort = form.min_admissions.data, form.sort.data
    today = clock.now().astimezone(ZoneInfo(team.time_zone if team else "Europe/Oslo")).date()
    rows = team_candidates(db, team.id, today, min_admissions=min_admissions, sort=sort) if team else []
    audit.record(db, clock, actor=current_actor(), action="view.candidates", object_type="team",
                 object_id=team.id if team else None, candidates=len(rows), min_admissions=min_admissions)

    def sort_url(column: str) -> str:
        return url_for("clinician.candidates", team=team.id if team else None, min=min_admissions, sort=column)

    return render_template("clinic/candidates.html", rows=rows, team=team, form=form, sort=sort, sort_url=sort_url,
                           sort_labels=SORT_LABELS, condition_labels=CONDITION_LABELS)

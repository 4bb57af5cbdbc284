"""Staff see where they are signed in and end their other sessions (issue 19)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.services import audit
from homefollow.services import sign_in_sessions as sis
from homefollow.web import current_actor, current_sign_in_id, session_max_age

from . import bp
from .views import staff_only


@bp.get("/account/sessions")
@staff_only
def my_sessions():
    db, clock = get_session(), get_clock()
    rows = sis.active(db, clock, current_user.id, session_max_age())
    audit.record(db, clock, actor=current_actor(), action="view.sign_in_sessions", object_type="account",
                 object_id=current_user.id)
    return render_template("clinic/sessions.html", rows=rows, current_id=current_sign_in_id())


@bp.post("/account/sessions/end")
@staff_only
def end_session():
    """End one of my own other sessions. Anyone else's, or an unknown id: 404 (audited)."""
    db, clock = get_session(), get_clock()
    session_id = (request.form.get("session_id") or "")[:64]
    current_id = current_sign_in_id()
    if session_id == current_id:
        return redirect(url_for("clinician.my_sessions"))  # this device signs out with "Sign out"
    try:
        sis.end_one(db, clock, current_actor(), session_id, current_id=current_id)
    except sis.NotYourSession:
        abort(404)
    flash(_("The session is ended. That device must sign in again."), "success")
    return redirect(url_for("clinician.my_sessions"))


@bp.post("/account/sessions/end-others")
@staff_only
def end_other_sessions():
    db, clock = get_session(), get_clock()
    count = sis.end_others(db, clock, current_actor(), current_id=current_sign_in_id())
    flash(_("Signed out everywhere else (%(count)s sessions ended). This device stays signed in.", count=count),
          "success")
    return redirect(url_for("clinician.my_sessions"))

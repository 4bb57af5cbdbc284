"""The patient decides who helps: inviting relatives, choosing what each may do, revoking.
And the patient's own settings (reminders, phone number). Changing any of this asks for the
password or a code again when the session was kept from an earlier visit ("remember me")."""

from __future__ import annotations

from datetime import time

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, fresh_login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; the stubs are 3.2
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.input_guard import MAX_YEAR, MIN_YEAR, row_id
from homefollow.models import Account, RelativeAccess
from homefollow.services import relatives as relatives_service
from homefollow.services import reminders
from homefollow.services.access import Need
from homefollow.web import current_actor, limiter
from rules.schedule import local_to_utc

from . import bp
from .forms import mobile_number
from .pauses import AwayForm
from .views import acting_patient, patient_side


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Write the name.")), Length(max=200)])
    phone = StringField(_l("Mobile number"), validators=[InputRequired(_l("Write the mobile number.")), mobile_number])
    relation = StringField(_l("Who is this to you?"), validators=[InputRequired(_l("Write for example: daughter.")),
                                                                  Length(max=100)])
    can_view = BooleanField(_l("May see my plan, measurements and messages"), default=True)
    can_report = BooleanField(_l("May report measurements and answers for me"))
    receives_alerts = BooleanField(_l("Gets an SMS when the team follows up a red measurement"))
    valid_until = DateField(_l("Until (you may leave this empty)"), validators=[Optional()])

    def validate_valid_until(self, field):
        if field.data is not None and not MIN_YEAR <= field.data.year <= MAX_YEAR:
            raise ValidationError(_l("The date must be between the years %(low)d and %(high)d.",
                                     low=MIN_YEAR, high=MAX_YEAR))


class RevokeForm(FlaskForm):
    grant_id = HiddenField()


class SettingsForm(FlaskForm):
    reminders = BooleanField(_l("Remind me by SMS when I have not measured in time"))
    delay = SelectField(_l("How long after the time"), coerce=int)
    quiet_start = SelectField(_l("No SMS after"), coerce=int)
    quiet_end = SelectField(_l("No SMS before"), coerce=int)

    def validate_quiet_end(self, field):
        # The same hour twice would mean either no quiet time or no SMS at all: ask instead of guessing.
        if field.data == self.quiet_start.data:
            raise ValidationError(_("Choose two different times: when the SMS stop in the evening, "
                                    "and when they may start again in the morning."))


def own_patient():
    """The signed-in patient's own record; relatives get 404 (only the patient decides who
    may help, and only the patient changes the patient's settings)."""
    access = acting_patient(Need.VIEW, "view.own_settings")
    if access.relation is not None:
        abort(404)
    return access


@bp.get("/relatives")
@patient_side
def relatives():
    access = own_patient()
    db = get_session()
    current = [(grant, account) for grant, account in relatives_service.grants_of(db, access.patient.id)
               if grant.revoked_at is None]
    names = relatives_service.invited_names(db, [grant.id for grant, _account in current])
    return render_template("patient/relatives.html", access=access, current=current, now=get_clock().now(),
                           names=names)


# Invitations each send an SMS to a number the patient types: a few a day is plenty for a
# family, and bounds both SMS cost and probing (issue 19).
INVITATIONS_PER_DAY = "5 per day"


def _inviter_key() -> str:
    return f"relative-invite:{getattr(current_user, 'id', None)}"


def _too_many_invitations(_limit):
    return make_response(render_template(
        "errors.html", code=429, title=_("Too many invitations"),
        message=_("You can invite at most 5 relatives a day. Please try again tomorrow, or call your care team.")),
        429)


@bp.route("/relatives/invite", methods=["GET", "POST"])
@limiter.limit(INVITATIONS_PER_DAY, key_func=_inviter_key, methods=["POST"],
               deduct_when=lambda _response: bool(g.get("invitation_sent")), on_breach=_too_many_invitations)
@patient_side
@fresh_login_required
def invite_relative():
    access = own_patient()
    form = InviteForm()
    if form.validate_on_submit():
        phone = form.phone.value
        if phone == access.patient.phone:
            form.phone.errors.append(_("This is your own number. Write your relative's number."))
        elif not (form.can_view.data or form.can_report.data or form.receives_alerts.data):
            form.can_view.errors.append(_("Choose at least one thing the relative may do."))
        else:
            clock = get_clock()
            until = (local_to_utc(form.valid_until.data, time(23, 59), access.patient.time_zone)
                     if form.valid_until.data else None)
            if until is not None and until <= clock.now():
                form.valid_until.errors.append(_("The date must be in the future."))
            else:
                _grant, replaced = relatives_service.invite(
                    get_session(), clock, patient=access.patient, name=form.name.data.strip(), phone=phone,
                    relation=form.relation.data.strip(), can_view=form.can_view.data,
                    can_report=form.can_report.data, receives_alerts=form.receives_alerts.data, valid_until=until,
                    actor=current_actor())
                g.invitation_sent = True
                if replaced:
                    flash(_("%(name)s already had access. What they may do is now changed to what you chose.",
                            name=form.name.data.strip()), "success")
                else:
                    flash(_("%(name)s can now sign in with their mobile number. We have sent them an SMS.",
                            name=form.name.data.strip()), "success")
                return redirect(url_for("patient.relatives"))
    return render_template("patient/invite.html", access=access, form=form), 400 if form.errors else 200


@bp.route("/relatives/revoke", methods=["GET", "POST"])
@patient_side
@fresh_login_required
def revoke_relative():
    """Ask first (a tap on a small screen is easily a mistake), then end the access at once."""
    access = own_patient()
    form = RevokeForm()
    db = get_session()
    grant_id = form.grant_id.data if request.method == "POST" else request.args.get("grant_id", "")
    grant = db.get(RelativeAccess, row_id(grant_id)) if row_id(grant_id) else None
    if grant is None or grant.patient_id != access.patient.id or grant.revoked_at is not None:
        abort(404)
    relative = db.get(Account, grant.relative_account_id)
    relative_name = relatives_service.invited_names(db, [grant.id]).get(grant.id, relative.name)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        relatives_service.revoke(db, get_clock(), grant, actor=current_actor())
        flash(_("The access is removed. %(name)s can no longer see or do anything for you.", name=relative_name),
              "success")
        return redirect(url_for("patient.relatives"))
    form.grant_id.data = grant.id
    return render_template("patient/revoke.html", access=access, form=form, grant=grant, relative=relative,
                           relative_name=relative_name)


HOURS = list(range(0, 24))
DELAYS = (30, 60, 120, 180)


@bp.route("/settings", methods=["GET", "POST"])
@patient_side
def settings():
    access = own_patient()
    patient = access.patient
    current = reminders.settings_of(patient)
    form = SettingsForm()
    form.delay.choices = [SelectChoice(d, _("%(n)s minutes", n=d)) for d in DELAYS]
    form.quiet_start.choices = form.quiet_end.choices = [SelectChoice(h, f"{h:02d}:00") for h in HOURS]
    if request.method == "GET":
        form.reminders.data = current.enabled
        form.delay.data = current.delay_minutes if current.delay_minutes in DELAYS else 60
        form.quiet_start.data, form.quiet_end.data = current.quiet_start.hour, current.quiet_end.hour
    if form.validate_on_submit():
        relatives_service.change_reminders(
            get_session(), get_clock(), patient, reminders.Settings(
                enabled=form.reminders.data, delay_minutes=form.delay.data,
                quiet_start=time(form.quiet_start.data), quiet_end=time(form.quiet_end.data)),
            actor=current_actor())
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("patient.settings"))
    return render_template("patient/settings.html", access=access, form=form,
                           away_form=AwayForm.for_patient(patient)), 400 if form.errors else 200

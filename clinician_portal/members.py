"""Team members, for the team's admins: the list, adding someone, and per member changing
roles, removing, resetting the second factor, deactivating and a set-password link.
Staff of other teams get 404, members who are not admins 403 (as the other team settings).
The domain rules live in homefollow.services.team_members."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Optional

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.services import audit
from homefollow.services import team_members as tm
from homefollow.services.access import AccessDenied
from homefollow.web import current_actor, limiter, role_label, signed_in_principal

from . import bp
from .forms import ActionForm
from .views import staff_only

LINK_KEY = "members_new_link"

MESSAGES = {
    "email_invalid": _l("Write an e-mail address like name@example.no."),
    "roles_missing": _l("Choose at least one role."),
    "not_staff": _l("This e-mail address belongs to an account that is not a staff account."),
    "inactive": _l("This account is deactivated and cannot be added."),
    "already_member": _l("%(name)s is already a member of the team. Change the roles on the member's page instead."),
    "name_missing": _l("There is no account with this e-mail address yet. Write the name to create one."),
    "name_long": _l("Write a name of at most 200 characters."),
    "phone_invalid": _l("Write a valid Norwegian phone number, for example 900 00 000 (you wrote %(value)s)."),
    "organisation_missing": _l("Choose the organisation the new member works for."),
    "last_admin": _l("The team must keep at least one team admin. Make someone else team admin first."),
    "self_roles": _l("You cannot change your own roles. Ask another team admin."),
    "self_remove": _l("You cannot remove yourself from the team. Ask another team admin."),
    "self_reset": _l("You cannot reset your own two-step sign-in. Ask another team admin."),
    "self_deactivate": _l("You cannot deactivate your own account. Ask another team admin."),
    "self_link": _l("You cannot make a set-password link for yourself. Ask another team admin."),
    "other_teams": _l("This person is also a member of a team you are not admin of. Remove them from your team "
                      "instead, or ask the other team's admin."),
    "password_short": _l("The password must be at least 12 characters."),
    "password_mismatch": _l("The two passwords are not the same."),
}


def message(error: tm.MemberError) -> str:
    return str(MESSAGES[error.code]) % error.params if error.params else str(MESSAGES[error.code])


class RolesField(SelectMultipleField):
    """Roles as checkboxes (rendered by the template in a fieldset)."""

    def pre_validate(self, form):  # unknown values are reported by the service, as one message
        pass


def _role_choices():
    return [(r, role_label(r)) for r in tm.ROLES]


class AddMemberForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[InputRequired(_l("Write the e-mail address."))])
    roles = RolesField(_l("Roles"))
    name = StringField(_l("Name"), validators=[Optional()])
    phone = StringField(_l("Mobile number"), validators=[Optional()])
    organisation = SelectField(_l("Organisation"), validators=[Optional()])


class RolesForm(FlaskForm):
    roles = RolesField(_l("Roles"))


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[InputRequired(_l("Write a password."))])
    repeat = PasswordField(_l("The same password again"), validators=[InputRequired(_l("Write the password again."))])


def _team(team_id: int, attempted: str):
    principal = signed_in_principal()
    db, clock = get_session(), get_clock()
    try:
        return principal, tm.admin_team(db, principal, team_id)
    except AccessDenied:
        tm.record_denied(db, clock, current_actor(), team_id, attempted)
        raise
    except tm.Forbidden:
        tm.record_denied(db, clock, current_actor(), team_id, attempted)
        abort(403)


def _add_form(form: AddMemberForm | None = None) -> AddMemberForm:
    form = form or AddMemberForm()
    form.roles.choices = _role_choices()
    form.organisation.choices = [("", _("Choose"))] + [(str(o.id), o.name) for o in tm.organisations(get_session())]
    return form


def _members_page(team, form: AddMemberForm, status: int = 200):
    rows = tm.members(get_session(), team.id)
    return render_template("clinic/members.html", team=team, rows=rows, form=form), status


@bp.route("/teams/<int:team_id>/members", methods=["GET", "POST"])
@staff_only
def team_members(team_id: int):
    _principal, team = _team(team_id, "team.members")
    db, clock = get_session(), get_clock()
    form = _add_form()
    if request.method == "GET":
        audit.record(db, clock, actor=current_actor(), action="view.team_members", object_type="team",
                     object_id=team.id)
        return _members_page(team, form)
    if not form.validate_on_submit():
        return _members_page(team, form, 400)
    try:
        organisation_id = int(form.organisation.data) if form.organisation.data else None
        account, created = tm.add_member(db, clock, team, current_actor(), email=form.email.data or "",
                                         roles=form.roles.data, name=form.name.data or "", phone=form.phone.data or "",
                                         organisation_id=organisation_id)
    except tm.MemberError as error:
        db.rollback()
        getattr(form, error.field or "email").errors.append(message(error))
        return _members_page(team, form, 400)
    if created:
        token = tm.password_link_token(db, clock, team, current_actor(), account, current_app.config["SECRET_KEY"])
        session[LINK_KEY] = {"account_id": account.id, "token": token}
        flash(_("%(name)s has an account now and is a member of the team.", name=account.name), "success")
    else:
        flash(_("%(name)s is now a member of the team.", name=account.name), "success")
    return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account.id))


def _member_page(team, row, roles_form: RolesForm | None = None, status: int = 200):
    if roles_form is None:
        roles_form = RolesForm(data={"roles": list(row.roles)})
    roles_form.roles.choices = _role_choices()
    link = session.get(LINK_KEY)
    new_link = None
    if link and link.get("account_id") == row.account.id:
        session.pop(LINK_KEY, None)  # shown once
        new_link = url_for("clinician.set_password", token=link["token"], _external=True)
    return render_template("clinic/member.html", team=team, row=row, roles_form=roles_form, action_form=ActionForm(),
                           new_link=new_link, is_self=row.account.id == signed_in_principal().account_id,
                           link_hours=tm.LINK_HOURS), status


@bp.get("/teams/<int:team_id>/members/<int:account_id>")
@staff_only
def team_member(team_id: int, account_id: int):
    _principal, team = _team(team_id, "team.member")
    return _member_page(team, tm.member(get_session(), team.id, account_id))


def _change(team_id: int, account_id: int, attempted: str, change, done: str):
    """Run one change on a member (a POST with only a CSRF token) and go back to the member."""
    principal, team = _team(team_id, attempted)
    db, clock = get_session(), get_clock()
    row = tm.member(db, team.id, account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        change(db, clock, team, principal, row.account)
    except tm.MemberError as error:
        db.rollback()
        flash(message(error), "warning")
        return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account_id))
    flash(done % {"name": row.account.name}, "success")
    return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account_id))


@bp.post("/teams/<int:team_id>/members/<int:account_id>/roles")
@staff_only
def team_member_roles(team_id: int, account_id: int):
    _principal, team = _team(team_id, "team.member_roles")
    db, clock = get_session(), get_clock()
    row = tm.member(db, team.id, account_id)
    form = RolesForm()
    form.roles.choices = _role_choices()
    if not form.validate_on_submit():
        return _member_page(team, row, form, 400)
    try:
        tm.set_roles(db, clock, team, current_actor(), row.account, form.roles.data)
    except tm.MemberError as error:
        db.rollback()
        form.roles.errors.append(message(error))  # type: ignore[attr-defined]  # a list once validated; the stubs say Sequence
        return _member_page(team, row, form, 400)
    flash(_("The roles of %(name)s are saved.", name=row.account.name), "success")
    return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account_id))


@bp.post("/teams/<int:team_id>/members/<int:account_id>/remove")
@staff_only
def team_member_remove(team_id: int, account_id: int):
    _principal, team = _team(team_id, "team.member_remove")
    db, clock = get_session(), get_clock()
    row = tm.member(db, team.id, account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        tm.remove(db, clock, team, current_actor(), row.account)
    except tm.MemberError as error:
        db.rollback()
        flash(message(error), "warning")
        return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account_id))
    flash(_("%(name)s is no longer a member of the team.", name=row.account.name), "success")
    return redirect(url_for("clinician.team_members", team_id=team.id))


@bp.post("/teams/<int:team_id>/members/<int:account_id>/reset-second-factor")
@staff_only
def team_member_reset(team_id: int, account_id: int):
    return _change(team_id, account_id, "team.member_totp_reset",
                   lambda db, clock, team, _principal, account: tm.reset_second_factor(db, clock, team,
                                                                                       current_actor(), account),
                   _("Two-step sign-in of %(name)s is reset: they set up the authenticator app again at the next "
                     "sign-in, and are signed out now."))


@bp.post("/teams/<int:team_id>/members/<int:account_id>/deactivate")
@staff_only
def team_member_deactivate(team_id: int, account_id: int):
    return _change(team_id, account_id, "team.member_deactivate",
                   lambda db, clock, team, principal, account: tm.deactivate(db, clock, team, principal, account,
                                                                             actor=current_actor()),
                   _("The account of %(name)s is deactivated: they cannot sign in any more."))


@bp.post("/teams/<int:team_id>/members/<int:account_id>/password-link")
@staff_only
def team_member_password_link(team_id: int, account_id: int):
    _principal, team = _team(team_id, "team.member_password_link")
    db, clock = get_session(), get_clock()
    row = tm.member(db, team.id, account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        token = tm.password_link_token(db, clock, team, current_actor(), row.account,
                                       current_app.config["SECRET_KEY"])
    except tm.MemberError as error:
        db.rollback()
        flash(message(error), "warning")
    else:
        session[LINK_KEY] = {"account_id": row.account.id, "token": token}
    return redirect(url_for("clinician.team_member", team_id=team.id, account_id=account_id))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def set_password(token: str):
    """The one-time link from a team admin: choose a password, then sign in (and set up the app)."""
    db, clock = get_session(), get_clock()
    account = tm.account_for_token(db, clock, token, current_app.config["SECRET_KEY"])
    if account is None:
        return render_template("clinic/set_password_invalid.html", link_hours=tm.LINK_HOURS), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            tm.set_password(db, clock, account, form.password.data or "", form.repeat.data or "",
                            actor=current_actor())
        except tm.MemberError as error:
            db.rollback()
            getattr(form, error.field or "password").errors.append(message(error))
        else:
            flash(_("Your password is saved. Sign in with it; the first time you also set up an authenticator app."),
                  "success")
            return redirect(url_for("clinician.login"))
    return render_template("clinic/set_password.html", form=form, account=account,
                           min_length=tm.MIN_PASSWORD_LENGTH), 400 if form.errors else 200

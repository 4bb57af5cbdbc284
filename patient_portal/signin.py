"""Signing in with a one-time code by SMS, for patients and relatives who cannot manage a
password (relatives invited by a patient have no password at all), and confirming a new
mobile number the same way.

The page says the same whether or not the number is registered, so nobody learns who is
followed up. Sending is limited per number and per address; checking is limited per number.
"""

from __future__ import annotations

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, fresh_login_required, login_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired

from homefollow.clock import get_clock
from homefollow.db import after_commit, get_engine, get_session
from homefollow.models import NotificationStatus
from homefollow.notifications.outbox import deliver_now
from homefollow.scheduler import senders_from_config
from homefollow.services import audit, login_codes
from homefollow.services.accounts import normalise_phone
from homefollow.web import failed_sign_ins_only, limiter, safe_next, sign_in_limits

from . import bp
from .forms import mobile_number
from .relatives import own_patient
from .views import PATIENT_SIDE, patient_side


class CodeRequestForm(FlaskForm):
    phone = StringField(_l("Mobile number"), validators=[InputRequired(_l("Write your mobile number."))])


class CodeForm(FlaskForm):
    code = StringField(_l("Code from the SMS"), validators=[InputRequired(_l("Write the code from the SMS."))])
    remember = BooleanField(_l("Keep me signed in on this phone"))


class NewPhoneForm(FlaskForm):
    phone = StringField(_l("New mobile number"), validators=[InputRequired(_l("Write your new mobile number.")),
                                                             mobile_number])


def _phone_key() -> str:
    return "code:" + (normalise_phone(request.form.get("phone", "")) or request.form.get("phone", "")[:40])



def _send_now(sms) -> None:
    """The user is waiting with the phone in hand: send once the request has committed, not at
    the next sweep. A failure leaves the SMS in the outbox for the sweep to retry."""
    if sms is None or sms.status != NotificationStatus.PENDING.value:
        return
    after_commit(lambda: _deliver(sms.id))


def _deliver(sms_id: int) -> None:
    try:
        deliver_now(get_engine(), get_clock(), senders_from_config(current_app.config), sms_id)
    except Exception:  # noqa: BLE001 - the outbox keeps it; never fail the page for this
        current_app.logger.exception("could not send a sign-in code at once")


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
@limiter.limit("3 per 10 minutes;6 per day", key_func=_phone_key, methods=["POST"])
def login_code():
    if current_user.is_authenticated and current_user.kind in PATIENT_SIDE:
        return redirect(url_for("patient.today"))
    form = CodeRequestForm()
    if form.validate_on_submit():
        phone = normalise_phone(form.phone.data)
        if phone is None:
            form.phone.errors.append(_("This is not a Norwegian mobile number. Write it like 912 34 567."))
        else:
            db = get_session()
            account = login_codes.patient_side_account(db, phone)
            if account is not None:
                _send_now(login_codes.send_code(db, get_clock(), account))
            session["code_phone"] = phone
            return redirect(url_for("patient.login_code_check", next=safe_next(request.args.get("next"), "") or None))
    return render_template("patient/login_code.html", form=form), 400 if form.errors else 200


def code_error(result: login_codes.CodeCheck) -> str:
    if result == login_codes.CodeCheck.MALFORMED:
        return _("The code is 6 digits, like 123 456. Write only the digits from the SMS.")
    if result == login_codes.CodeCheck.SPENT:
        return _("This code can no longer be used: it is too old, or it was typed wrong too many times. "
                 "Ask for a new code.")
    return _("The code is wrong. Check the SMS and try again.")


def sign_in_code_error(result: login_codes.CodeCheck) -> str:
    """Signing in, a wrong code and a spent one get the same answer: an unknown number has no
    code at all, so a different message for a known number's wrong code would tell which
    numbers are registered (issue 19). Only the format has its own message."""
    if result == login_codes.CodeCheck.MALFORMED:
        return code_error(result)
    return _("The code is wrong or can no longer be used. Check the SMS, or ask for a new code.")


@bp.route("/login/code/check", methods=["GET", "POST"])
@limiter.limit("60 per hour", methods=["POST"], deduct_when=failed_sign_ins_only)
@sign_in_limits(login_of=lambda: session.get("code_phone") or "")
def login_code_check():
    phone = session.get("code_phone")
    if phone is None:
        return redirect(url_for("patient.login_code"))
    form = CodeForm()
    if form.validate_on_submit():
        db, clock = get_session(), get_clock()
        account, result = login_codes.sign_in_with_code(db, clock, phone, form.code.data)
        if account is not None:
            session.pop("code_phone", None)
            session.pop("acting_patient_id", None)
            login_user(account, remember=form.remember.data)
            audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.login",
                         ip=get_remote_address(), method="sms_code")
            return redirect(safe_next(request.args.get("next"), url_for("patient.today")))
        # The wrong try counted against the code (login_codes.check_code) is kept with this
        # record: a wrong code is an answer, not a failure, so the request commits.
        audit.record(db, clock, actor_account_id=None, actor_kind="anonymous", action="auth.login_failed",
                     ip=get_remote_address(), login=phone[:200], step="sms_code", portal="patient",
                     reason=result.value)
        form.code.errors.append(sign_in_code_error(result))
    return render_template("patient/login_code_check.html", form=form, phone=phone), 400 if form.errors else 200


def _phone_changer_key() -> str:
    # The account, not the address: patients behind one address (a care home's network, a
    # mobile operator's) must not use up each other's tries.
    return f"change-phone:{getattr(current_user, 'id', None)}"


def _too_many_phone_changes(_limit):
    return make_response(render_template(
        "errors.html", code=429, title=_("Too many tries"),
        message=_("You have tried to change your number many times in the last hour. Please wait an hour, "
                  "or call your care team.")), 429)


# Each try may send an SMS, and a refusal says whether a number is someone else's: a few an
# hour per patient bounds both.
@bp.route("/settings/phone", methods=["GET", "POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=_phone_changer_key, on_breach=_too_many_phone_changes)
@patient_side
@fresh_login_required
def change_phone():
    """Step 1: the new number. A code goes to that number, to prove it is the patient's."""
    access = own_patient()
    form = NewPhoneForm()
    if form.validate_on_submit():
        phone = form.phone.value
        db = get_session()
        if phone == current_user.login:
            form.phone.errors.append(_("This is the number you have now."))
        elif not login_codes.number_is_free(db, phone):
            form.phone.errors.append(_("This number is already used by someone else. Call your care team."))
        else:
            _send_now(login_codes.send_code(db, get_clock(), current_user, purpose=login_codes.phone_purpose(phone),
                                            to_phone=phone))
            session["new_phone"] = phone
            return redirect(url_for("patient.change_phone_check"))
    return render_template("patient/change_phone.html", access=access, form=form), 400 if form.errors else 200


@bp.route("/settings/phone/check", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"], deduct_when=failed_sign_ins_only)
@patient_side
@fresh_login_required
def change_phone_check():
    """Step 2: the code from the SMS to the new number."""
    access = own_patient()
    phone = session.get("new_phone")
    if phone is None:
        return redirect(url_for("patient.change_phone"))
    form = CodeForm()
    del form.remember
    if form.validate_on_submit():
        db = get_session()
        try:
            changed = login_codes.change_phone(db, get_clock(), current_user, phone, form.code.data)
        except login_codes.PhoneTaken:
            session.pop("new_phone", None)
            flash(_("This number is already used by someone else. Call your care team."), "error")
            return redirect(url_for("patient.change_phone"))
        if changed == login_codes.CodeCheck.ACCEPTED:
            session.pop("new_phone", None)
            flash(_("Your mobile number is changed. Sign in with the new number from now on."), "success")
            return redirect(url_for("patient.settings"))
        form.code.errors.append(code_error(changed))
    return render_template("patient/change_phone_check.html", access=access, form=form, phone=phone), \
        400 if form.errors else 200

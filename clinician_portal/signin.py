"""Staff sign-in: the password, then a code from an authenticator app (TOTP).

Two pages. After the right password the session holds a half-signed-in state (staff_auth.Pending)
for five minutes; only a valid code signs the user in. Staff without an enabled second factor
are taken to enrolment instead (QR code, the secret as text, a first code). Code attempts are
throttled per account and per address, and every success and failure is audited.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

from homefollow.clock import get_clock
from homefollow.db import get_session
from homefollow.transactions import commit_now
from homefollow.models import AccountKind
from homefollow.services import audit, staff_auth
from homefollow.services.accounts import authenticate, normalise_login
from homefollow.services.staff_auth import CodeResult, Pending
from homefollow.web import failed_sign_ins_only, limiter, safe_next, sign_in_limits

from . import bp
from .forms import StaffLoginForm

PENDING_KEY = "staff_pending"
NEXT_KEY = "staff_pending_next"


class TotpForm(FlaskForm):
    code = StringField(_l("Code from the authenticator app"),
                       validators=[InputRequired(_l("Write the six-digit code from the authenticator app."))])


def _pending_account_key() -> str:
    """Code attempts count against the account being signed in, whichever address they come from."""
    pending = Pending.from_dict(session.get(PENDING_KEY))
    return f"totp:{pending.account_id if pending else 'none'}"


def _audit_throttled(_limit) -> None:
    pending = Pending.from_dict(session.get(PENDING_KEY))
    db = get_session()
    audit.record(db, get_clock(), actor_account_id=pending.account_id if pending else None, actor_kind="staff",
                 action="auth.totp_throttled", ip=get_remote_address(), step=request.endpoint)
    commit_now(db, "sign_in_throttled")


# Brute force needs the password first, and then has 3 good codes in a million per guess: a few
# wrong codes in a row is a typo, dozens a day is an attack.
CODE_LIMITS_PER_ACCOUNT = "5 per 5 minutes;20 per hour;50 per day"
CODE_LIMITS_PER_ADDRESS = "60 per hour"


def _code_limits(view):
    view = limiter.limit(CODE_LIMITS_PER_ADDRESS, methods=["POST"], deduct_when=failed_sign_ins_only,
                         on_breach=_audit_throttled)(view)
    return limiter.limit(CODE_LIMITS_PER_ACCOUNT, key_func=_pending_account_key, methods=["POST"],
                         deduct_when=failed_sign_ins_only, on_breach=_audit_throttled)(view)


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limits("email")
def login():
    if current_user.is_authenticated and current_user.is_staff:
        return redirect(url_for("clinician.queue"))
    form = StaffLoginForm()
    login_error = None
    if form.validate_on_submit():
        db, clock = get_session(), get_clock()
        account = authenticate(db, clock, form.email.data, form.password.data, kinds=(AccountKind.STAFF.value,))
        if account is not None:
            session[PENDING_KEY] = Pending.start(account, clock).to_dict()
            session[NEXT_KEY] = safe_next(request.args.get("next"), "") or None
            audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.password_ok",
                         ip=get_remote_address())
            if staff_auth.has_second_factor(account):
                return redirect(url_for("clinician.login_code"))
            return redirect(url_for("clinician.login_enrol"))
        audit.record(db, clock, actor_account_id=None, actor_kind="staff", action="auth.login_failed",
                     ip=get_remote_address(), login=normalise_login(form.email.data)[:200], step="password")
        login_error = _("The e-mail address or the password is wrong. Please try again.")
    return render_template("clinic/login.html", form=form, login_error=login_error)


def _pending_account():
    """The account half-way through signing in, or a redirect back to the password."""
    clock, db = get_clock(), get_session()
    pending = Pending.from_dict(session.get(PENDING_KEY))
    if pending is None:
        return None, redirect(url_for("clinician.login"))
    account = pending.account(db)
    if pending.expired(clock) or account is None:
        session.pop(PENDING_KEY, None)
        audit.record(db, clock, actor_account_id=pending.account_id, actor_kind="staff",
                     action="auth.login_failed", ip=get_remote_address(), step="code", reason="expired")
        flash(_("Signing in took more than 5 minutes. Please start again with your password."), "warning")
        return None, redirect(url_for("clinician.login"))
    return account, None


def _finish(account, method: str):
    db, clock = get_session(), get_clock()
    next_url = session.pop(NEXT_KEY, None)
    session.pop(PENDING_KEY, None)
    login_user(account)
    session["last_seen"] = clock.now().timestamp()
    audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.login",
                 ip=get_remote_address(), method=method)
    return redirect(safe_next(next_url, url_for("clinician.queue")))


def _code_error(form: TotpForm, result: CodeResult, account, step: str) -> None:
    db, clock = get_session(), get_clock()
    audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.login_failed",
                 ip=get_remote_address(), step=step, reason=result.value)
    # One answer for a wrong and a replayed code (issue 19): only the format, which says nothing
    # about the secret, gets its own message. The audit record keeps the reason.
    form.code.errors.append({  # type: ignore[attr-defined]  # a list once validated; the stubs say Sequence
        CodeResult.MALFORMED: _("The code is six digits. Write it like 123456."),
    }.get(result, _("The code is wrong or has been used already. Wait until the app shows a new code and "
                    "write that.")))


@bp.route("/login/code", methods=["GET", "POST"])
@_code_limits
def login_code():
    account, back = _pending_account()
    if back:
        return back
    if not staff_auth.has_second_factor(account):
        return redirect(url_for("clinician.login_enrol"))
    form = TotpForm()
    if form.validate_on_submit():
        result = staff_auth.check_code(get_session(), get_clock(), account, form.code.data)
        if result == CodeResult.ACCEPTED:
            return _finish(account, "totp")
        _code_error(form, result, account, "code")
    return render_template("clinic/login_code.html", form=form), 400 if form.errors else 200


@bp.route("/login/enrol", methods=["GET", "POST"])
@_code_limits
def login_enrol():
    account, back = _pending_account()
    if back:
        return back
    if staff_auth.has_second_factor(account):
        return redirect(url_for("clinician.login_code"))
    db, clock = get_session(), get_clock()
    secret = staff_auth.start_enrolment(db, account)
    form = TotpForm()
    if form.validate_on_submit():
        result = staff_auth.confirm_enrolment(db, clock, account, form.code.data)
        if result == CodeResult.ACCEPTED:
            audit.record(db, clock, actor_account_id=account.id, actor_kind=account.kind, action="auth.totp_enrolled",
                         object_type="account", object_id=account.id, ip=get_remote_address())
            flash(_("Two-step sign-in is set up. Next time, use the code from the app after your password."),
                  "success")
            return _finish(account, "totp_enrolment")
        _code_error(form, result, account, "enrolment")
    uri = staff_auth.provisioning_uri(account, secret)
    return render_template("clinic/login_enrol.html", form=form, account=account,
                           qr=staff_auth.qr_svg(uri, _("QR code for the authenticator app")),
                           secret=staff_auth.grouped(secret)), 400 if form.errors else 200

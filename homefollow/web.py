"""Web plumbing shared by both portals: extensions, sign-in, locale, errors, template helpers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from babel.dates import format_datetime as babel_format_datetime
from flask import Flask, Response, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import Babel, format_timedelta, get_locale
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, logout_user, user_logged_in
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from rules.measurements import CATALOGUE
from rules.text import Text, item_values, value_with_unit

from .db import DATABASE_UNAVAILABLE, database_unavailable, get_session, short_error
from . import input_guard
from .transactions import commit_now
from .i18n import LOCALES, TRANSLATIONS_DIR
from .services import pauses
from .services import sign_in_sessions
from .services.access import AccessDenied, AccessEnded, Principal, patients_of_relative, principal_for
from .form_errors import leaf_fields
from .services.accounts import display_phone, is_current, normalise_login
from .services.audit import Actor
from .services.reporting import report_summary, report_title
from .services.teams import WEEKDAY_KEYS
from .clock import get_clock

csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
talisman = Talisman()
limiter = Limiter(key_func=get_remote_address)

CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}

# Forms whose values are kept across an expired session: the user signs in again and finds
# the form filled in, instead of losing a measurement typed with shaky hands.
STASHABLE_ENDPOINTS = {"patient.report", "clinician.resolve"}
# Where the kept values are shown again, when that is not the page that was posted to.
STASH_RETURN = {"clinician.resolve": lambda: url_for("clinician.alert_detail", **(request.view_args or {}))}


# When the database is unavailable (db.DATABASE_UNAVAILABLE) a request gets the outage page,
# which needs no database, and this Retry-After.
RETRY_AFTER_SECONDS = 60
# Fields never written back into the outage page: passwords and one-time codes.
SECRET_FIELD = re.compile(r"password|code|otp|secret|token", re.IGNORECASE)


class IdConverter(IntegerConverter):
    """<int:…> in URLs: ids of database rows. A number too large for an integer column is
    simply not found (404) instead of an error from the database."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1, **kwargs)


def init_app(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:
        # Behind nginx or a load balancer the client's address is in X-Forwarded-For; without
        # this every user would share the proxy's address (and its sign-in limit).
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]  # Flask's way
    app.url_map.converters["int"] = IdConverter
    csrf.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    user_logged_in.connect(_session_started, app)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.needs_refresh_handler(_needs_refresh)
    talisman.init_app(
        app,
        force_https=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=CSP,
        referrer_policy="same-origin",
        frame_options="DENY",  # as strict as the CSP's frame-ancestors 'none'
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)

    app.before_request(_staff_inactivity_timeout)
    app.before_request(_reject_hostile_input)
    app.after_request(_no_store)
    app.register_error_handler(CSRFError, _csrf_error)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, _outage_response)
    app.register_error_handler(AccessDenied, lambda _e: _error_page(404))
    app.register_error_handler(AccessEnded, _access_ended)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_url_rule("/locale", "set_locale", _set_locale, methods=["POST"])
    app.context_processor(_template_globals)
    app.jinja_env.finalize = _without_control_characters
    app.jinja_env.filters["local_dt"] = format_local_datetime
    app.jinja_env.filters["leaf_fields"] = leaf_fields
    app.jinja_env.filters["local_date"] = format_local_date
    app.jinja_env.filters["long_date"] = format_long_date
    app.jinja_env.filters["pause_last_day"] = pauses.last_day
    app.jinja_env.filters["pause_reason"] = pause_reason_label
    app.jinja_env.filters["bilingual"] = bilingual
    app.jinja_env.filters["tel"] = tel_href
    app.jinja_env.filters["phone"] = display_phone
    app.jinja_env.filters["format_value"] = lambda value, code: value_with_unit(code, value, locale_code())
    app.jinja_env.filters["item_values"] = lambda values, item_key: item_values(item_key, values, locale_code())
    app.jinja_env.filters["since"] = time_since
    app.jinja_env.filters["event_label"] = event_label
    app.jinja_env.filters["failure_reason"] = failure_reason
    app.jinja_env.filters["measurement_name"] = lambda code: CATALOGUE[code].name(locale_code())
    app.jinja_env.filters["delivery_status"] = delivery_status
    app.jinja_env.filters["role_label"] = role_label
    app.jinja_env.filters["weekday_label"] = weekday_label
    app.jinja_env.filters["target_label"] = target_label
    app.jinja_env.filters["step_label"] = step_label
    app.jinja_env.filters["schedule_text"] = schedule_text
    app.jinja_env.filters["zone_limits_text"] = zone_limits_text
    app.jinja_env.filters["report_summary"] = lambda report, values: report_summary(report, values, locale_code())
    app.jinja_env.filters["report_title"] = lambda report, plan: report_title(report.kind, report.item_key, plan,
                                                                              locale_code())


# ---- who is signed in --------------------------------------------------------------------

def _load_user(user_id: str):
    """The id in the session and in the "keep me signed in" cookie is
    `<account id>:<session version>:<sign-in session token>`. Unless the token names an active
    sign-in session of that account (sign_in_sessions), the request is not signed in and the
    cookie's sign-in is forgotten at once."""

    account_part, _sep, token = user_id.rpartition(":")
    db, clock = get_session(), get_clock()
    try:
        account_id = int(account_part.split(":")[0])
    except ValueError:
        account_id = None
    found = None
    if account_id is not None and token:
        found = sign_in_sessions.signed_in(db, clock, account_id, token, session_max_age())
    if found is None or not is_current(found.account, account_part):
        _forget_sign_in()
        return None
    sign_in_sessions.touch(db, clock, found.row)  # at most once a minute
    g.sign_in_token = token
    g.own_patient = found.own_patient  # read with the sign-in; the principal holds it
    return found.account


def session_max_age() -> timedelta:
    """No sign-in session outlives the "keep me signed in" cookie."""
    return timedelta(days=current_app.config["PATIENT_SESSION_DAYS"])


def _forget_sign_in() -> None:
    """A cookie whose sign-in session was ended (or is unknown): clear the session but the
    language, delete the "keep me signed in" cookie, and say so on the sign-in page."""
    locale = session.get("locale")
    stashed = session.get("stashed_form")
    session.clear()
    if locale:
        session["locale"] = locale
    if stashed:
        session["stashed_form"] = stashed
    session["_remember"] = "clear"  # Flask-Login deletes the remember cookie and does not try it
    g.sign_in_ended = True


def _session_started(_app, user, **_extra) -> None:
    """Every login_user() starts a sign-in session: its token goes into the id that Flask-Login
    keeps in the session and writes into the "keep me signed in" cookie. A sign-in again on the
    same device (to make a kept session fresh) ends the one it replaces."""

    db, clock = get_session(), get_clock()
    g.pop("actor", None)
    previous = g.pop("sign_in_token", None)
    if previous:
        sign_in_sessions.revoke_token(db, clock, previous, "signed_in_again")
    token, _row = sign_in_sessions.start(db, clock, user, remember=session.get("_remember") == "set",
                                         user_agent=request.headers.get("User-Agent"), ip=get_remote_address())
    session["_user_id"] = f"{user.get_id()}:{token}"
    g.sign_in_token = token


def current_sign_in_id() -> str | None:
    """The id (digest) of this request's sign-in session, when signed in."""
    if not current_user.is_authenticated:
        return None
    token = g.get("sign_in_token")
    return sign_in_sessions.digest(token) if token else None


def current_principal() -> Principal | None:
    if not current_user.is_authenticated:
        return None
    if "principal" not in g:
        g.principal = principal_for(get_session(), current_user, own_patient=g.get("own_patient"))
    return g.principal


def current_actor() -> Actor:
    """Who this request acts for, how and from where: built once per request (again after a
    sign-in or a sign-out) and handed to the services."""
    if "actor" not in g:
        ip = get_remote_address()
        channel = "api" if _is_api() else "web"
        if current_user.is_authenticated:
            g.actor = Actor(current_user.id, current_user.kind, channel, ip)
        else:
            g.actor = Actor(None, "anonymous", channel, ip)
    return g.actor


def signed_in_principal() -> Principal:
    """The principal of a view that only signed-in users reach (staff_only, patient_only…)."""
    principal = current_principal()
    if principal is None:  # the view's guard lets no anonymous request through
        abort(401)
    return principal


def failed_sign_ins_only(response) -> bool:
    """Sign-in limits count failed attempts only (a success redirects)."""
    return response.status_code != 302


# Sign-in throttling (issue 19). The counters are shared by every sign-in form and channel
# (patient password, SMS code, staff password), so trying an account on the other portal or by
# the other channel does not get a fresh allowance: a limit's storage key is its scope, its key
# and the limit itself, the same on every route that uses these constants.
SIGN_IN_PER_ADDRESS = "100 per hour"
SIGN_IN_PER_ACCOUNT = "50 per hour"
SIGN_IN_PER_ACCOUNT_AND_ADDRESS = "10 per 15 minutes"


def _audit_sign_in_throttled(_limit) -> None:
    """A throttled sign-in attempt is a failed sign-in too: audited with the address and the
    identifier tried (never the password)."""
    from .services import audit

    db = get_session()
    audit.record(db, get_clock(), actor_account_id=None, actor_kind="anonymous",
                 action="auth.login_failed", ip=get_remote_address(), login=(g.get("sign_in_login") or "")[:200],
                 step=request.endpoint, reason="throttled")
    commit_now(db, "sign_in_throttled")


def sign_in_limits(login_field: str | None = None, login_of=None):
    """Throttling for a sign-in form: per account from one address (someone guessing), per
    account from anywhere (guessing spread over many addresses, high enough that a stranger
    cannot easily lock a patient out), and per address. The account is the normalised
    identifier in `login_field`, or what `login_of()` returns (the SMS code's number)."""

    def login():
        value = login_of() if login_of is not None else normalise_login(request.form.get(login_field, ""))
        g.sign_in_login = value or ""
        return g.sign_in_login

    def account():
        return "login:" + login()

    def account_and_address():
        return account() + "@" + (get_remote_address() or "")

    def decorate(view):
        view = limiter.shared_limit(SIGN_IN_PER_ADDRESS, scope="sign-in:address", methods=["POST"],
                                    on_breach=_audit_sign_in_throttled)(view)
        view = limiter.shared_limit(SIGN_IN_PER_ACCOUNT, scope="sign-in:account", key_func=account,
                                    methods=["POST"], deduct_when=failed_sign_ins_only,
                                    on_breach=_audit_sign_in_throttled)(view)
        return limiter.shared_limit(SIGN_IN_PER_ACCOUNT_AND_ADDRESS, scope="sign-in:account-address",
                                    key_func=account_and_address, methods=["POST"],
                                    deduct_when=failed_sign_ins_only, on_breach=_audit_sign_in_throttled)(view)

    return decorate


def sign_out() -> None:
    """End the session and forget "keep me signed in" on this device. Only the chosen
    language survives. (Clearing the session after logout_user would also drop Flask-Login's
    note to delete the remember cookie, and the phone would stay signed in.)"""

    token = g.pop("sign_in_token", None)
    if token:  # the copied cookie stops working too, not only this browser's
        sign_in_sessions.revoke_token(get_session(), get_clock(), token, "signed_out")
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    logout_user()
    g.pop("actor", None)


def _unauthorized():
    login_endpoint = "clinician.login" if request.blueprint == "clinician" else "patient.login"
    if request.method == "POST" and stash_form():
        flash(_("You were signed out. What you wrote is kept: sign in again to send it."), "warning")
        target = _return_path()
    elif g.get("sign_in_ended"):
        flash(_("You have been signed out. Please sign in again."), "info")
        target = request.full_path if request.method == "GET" else request.path
    else:
        flash(_("Please sign in to continue."), "info")
        target = request.full_path if request.method == "GET" else request.path
    return redirect(url_for(login_endpoint, next=_safe_next(target)))


def _needs_refresh():
    """A session kept from an earlier visit ("keep me signed in") may look, but changing who
    has access or the phone number asks for the password or a code again."""
    flash(_("For your safety, please sign in again before you change this."), "info")
    if request.method == "GET":
        target = request.full_path
    else:  # back to the page the form was on
        target = urlsplit(request.referrer or "").path or url_for("patient.today")
    return redirect(url_for("patient.login", next=_safe_next(target)))


def _staff_inactivity_timeout():
    """Staff sessions end after STAFF_SESSION_MINUTES without a request."""
    if _is_api():
        return None  # the API never looks at a session cookie (nor loads a user from one)
    if not current_user.is_authenticated or not current_user.is_staff:
        return None

    now = get_clock().now().timestamp()
    last = session.get("last_seen")
    limit = timedelta(minutes=current_app.config["STAFF_SESSION_MINUTES"]).total_seconds()
    if last is not None and now - last > limit:
        kept = request.method == "POST" and stash_form()
        token = g.pop("sign_in_token", None)
        if token:
            sign_in_sessions.revoke_token(get_session(), get_clock(), token, "inactivity")
        logout_user()
        session.pop("last_seen", None)
        flash(_("You were signed out after a period of inactivity. Please sign in again."), "info")
        return redirect(url_for("clinician.login", next=_safe_next(_return_path() if kept else request.path)))
    session["last_seen"] = now
    return None


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target.rstrip("?") or None


def safe_next(target: str | None, default: str) -> str:
    return _safe_next(target) or default


# ---- keeping form values across an expired session ---------------------------------------

def stash_form() -> bool:
    if request.endpoint not in STASHABLE_ENDPOINTS:
        return False
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    session["stashed_form"] = {"endpoint": request.endpoint, "view_args": request.view_args or {}, "values": values}
    return True


def _return_path() -> str:
    """Where kept form values are shown again: the form's own page."""
    make = STASH_RETURN.get(request.endpoint or "")
    return make() if make else request.path


def take_stashed_form(endpoint: str, view_args: dict) -> dict | None:
    stashed = session.get("stashed_form")
    if not stashed or stashed.get("endpoint") != endpoint or stashed.get("view_args") != view_args:
        return None
    session.pop("stashed_form", None)
    return stashed["values"]


def _csrf_error(error: CSRFError):
    if stash_form():
        if not current_user.is_authenticated:
            flash(_("You were signed out. What you wrote is kept: sign in again to send it."), "warning")
        # The form page shows the kept values with a notice (after sign-in if needed).
        return redirect(_return_path())
    return _error_page(400, message=_("The form had expired. Please go back, reload the page and try again."))


# ---- locale ------------------------------------------------------------------------------

def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    chosen = session.get("locale")
    return chosen if chosen in LOCALES else "nb"


def _set_locale():
    locale = request.form.get("locale")
    if locale in LOCALES:
        session["locale"] = locale
        if current_user.is_authenticated:
            current_user.locale = locale
            get_session().add(current_user)
    return redirect(safe_next(request.form.get("next"), url_for("patient.today")))


def locale_code() -> str:
    return str(get_locale() or "nb")


# ---- hostile input and caching (issue 19) -------------------------------------------------

def _reject_hostile_input():
    """The one guard for every form and query string (homefollow.input_guard); the API's JSON is
    checked by its pydantic payloads instead."""
    if input_guard.is_exempt() or request.path.startswith("/hooks/"):
        return None
    try:
        input_guard.check_request()
    except input_guard.HostileInput as exc:
        return _error_page(400, exc.reason)
    return None


def _without_control_characters(value):
    """Every value a template prints: an error that repeats what was typed ("you wrote …") never
    puts a NUL or another control character back into the page."""
    if isinstance(value, str) and input_guard.CONTROL.search(value):
        cleaned = input_guard.CONTROL.sub("", value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


def _no_store(response):
    """Nothing HomeFollow answers is cached by a browser or a proxy, except its static files:
    pages, the FHIR export, CSV downloads and API answers carry personal data."""
    if request.endpoint != "static" and not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


# ---- errors ------------------------------------------------------------------------------

def _error_page(code: int, message: str | None = None):
    titles = {
        400: _("Something in the request was not right"),
        403: _("You do not have access to this page"),
        404: _("We could not find that page"),
        405: _("That did not work"),
        413: _("That was too much data"),
        429: _("Too many attempts"),
        500: _("Something went wrong on our side"),
    }
    texts = {
        404: _("The page does not exist, or you do not have access to it."),
        429: _("For your safety we have paused sign-in for a little while. Please wait 15 minutes and try again."),
        500: _("Nothing you did caused this. Please try again in a moment."),
    }
    code = code if code in titles else 500
    try:
        return render_template("errors.html", code=code, title=titles[code], home_url=_portal_home(),
                               message=message or texts.get(code, "")), code
    except DATABASE_UNAVAILABLE as exc:  # the page's frame looks up the signed-in user
        return _outage_response(exc)


def _portal_home() -> str:
    """The start page of the portal this request is in: staff under /clinic never get a link
    into the patients' portal."""
    if request.path == "/clinic" or request.path.startswith("/clinic/"):
        return url_for("clinician.queue")
    return url_for("patient.today")


def _access_ended(error: AccessEnded):
    """A relative whose access ended while signed in: say so, whom to ask and how to sign out,
    instead of "page not found". Only the first name, which they knew (audited by
    access.require_patient: access.denied with grant_ended)."""

    try:
        others = bool(current_user.is_authenticated
                      and patients_of_relative(get_session(), get_clock(), current_user.id))
        return render_template("access_ended.html", first_name=error.first_name, others=others), 403
    except DATABASE_UNAVAILABLE as exc:
        return _outage_response(exc)


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _http_error(error: HTTPException):
    original = getattr(error, "original_exception", None)
    if original is not None and database_unavailable(original):  # raised inside another error handler
        return _outage_response(original)
    if _is_api():  # machines get problem+json, not a page
        from .api import http_problem

        return http_problem(error)
    if error.code == 429 and getattr(error, "response", None) is not None:
        return error.response  # a limit's own page (on_breach), e.g. too many invitations
    return _error_page(error.code or 500)


def _unexpected_error(error: Exception):
    if isinstance(error, HTTPException):  # pragma: no cover - handled by the HTTPException handler
        return _http_error(error)
    if database_unavailable(error):  # e.g. a service wrapped the driver's error in its own
        return _outage_response(error)
    current_app.logger.exception("unhandled error")
    if current_app.config.get("PROPAGATE_UNEXPECTED_ERRORS"):
        raise error
    if _is_api():
        from .api import problem

        return problem(500, "Something went wrong on our side. Nothing you sent caused it; try again later.")
    return _error_page(500)


# ---- the database is unavailable --------------------------------------------------------

def _outage_response(error: BaseException):
    """503 with Retry-After. People get a page that needs no database and that keeps what
    they typed, so one press sends it again; the API gets problem+json."""
    current_app.logger.error("database unavailable: %s %s: %s", request.method, request.path, short_error(error))
    if _is_api():
        from .api import database_unavailable as api_answer

        return api_answer(RETRY_AFTER_SECONDS)
    # From here on the request is anonymous: looking up the signed-in user (for the language,
    # the page's frame) would need the database again.
    g._login_user = login_manager.anonymous_user()
    g.pop("principal", None)
    try:
        html = _outage_page()
    except Exception:  # a last resort that needs nothing at all
        current_app.logger.exception("the outage page could not be rendered")
        html = OUTAGE_FALLBACK
    return Response(html, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, mimetype="text/html")


def _outage_page() -> str:
    """Rendered straight from the template, without the context processors: they may look
    things up in the database. The template stands alone for the same reason."""
    kept, resend = [], request.method == "POST" and not request.files
    if request.method == "POST":
        for name, value in request.form.items(multi=True):
            if name == "csrf_token":
                continue  # a fresh one is generated from the session cookie
            if SECRET_FIELD.search(name):
                resend = False  # the person types it again on the form's own page
                continue
            kept.append((name, value))
    query = request.query_string.decode("latin-1")
    url = request.script_root + "/" + request.path.lstrip("/") + ("?" + query if query else "")  # never //host
    template = current_app.jinja_env.get_template("outage.html")
    return template.render(locale=locale_code(), posted=request.method == "POST", resend=resend, kept=kept, url=url)


# Only when even the outage page cannot be rendered (no translations, no templates).
OUTAGE_FALLBACK = """<!doctype html>
<html lang="nb"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>HomeFollow virker ikke akkurat nå</title></head>
<body><h1>HomeFollow virker ikke akkurat nå</h1>
<p>Vent ett minutt og prøv igjen.</p>
<p>Hvis det haster, ring <a href="tel:113">113</a> eller legevakten på <a href="tel:116117">116 117</a>.</p>
</body></html>
"""


# ---- template helpers --------------------------------------------------------------------

def format_local_datetime(value: datetime | None, tz: str = "Europe/Oslo", pattern: str | None = None) -> str:
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    locale = locale_code()
    pattern = pattern or ("d. MMM yyyy 'kl.' HH:mm" if locale == "nb" else "d MMM yyyy, HH:mm")
    return babel_format_datetime(value.astimezone(ZoneInfo(tz)), pattern, locale=locale)


def format_local_date(value) -> str:
    """'14. mars 1942' / '14 Mar 1942'."""
    if value is None:
        return ""
    from babel.dates import format_date

    locale = locale_code()
    return format_date(value, "d. MMM yyyy" if locale == "nb" else "d MMM yyyy", locale=locale)


def format_long_date(value) -> str:
    """'søndag 20. desember 2026': a date as patients say it."""
    if value is None:
        return ""
    from babel.dates import format_date

    locale = locale_code()
    return format_date(value, "EEEE d. MMMM yyyy" if locale == "nb" else "EEEE d MMMM yyyy", locale=locale)


def pause_reason_label(reason: str | None) -> str:
    return _(pauses.REASONS[reason]) if reason in pauses.REASONS else (reason or "")


def bilingual(value: dict | Text | None) -> str:
    if not value:
        return ""
    if isinstance(value, Text):
        return value.get(locale_code())
    return value.get(locale_code()) or value.get("nb") or ""


def time_since(value: datetime | None) -> str:
    """'3 hours' since a moment, by the injectable clock."""

    if value is None:
        return ""
    return format_timedelta(get_clock().now() - value, threshold=1.5)


def role_label(role: str) -> str:
    return {"nurse": _("Nurse"), "coordinator": _("Coordinator"), "physician": _("Physician"), "gp": _("GP"),
            "team_admin": _("Team admin")}.get(role, role)


def weekday_label(key: str) -> str:
    return {"mon": _("Mon"), "tue": _("Tue"), "wed": _("Wed"), "thu": _("Thu"), "fri": _("Fri"), "sat": _("Sat"),
            "sun": _("Sun")}.get(key, key)


def target_label(target) -> str:
    kind = target.kind
    if kind == "queue_only":
        return _("the triage queue only")
    if kind == "on_call":
        return _("the %(role)s on call", role=role_label(target.role).lower())
    if kind == "role":
        return _("every %(role)s in the team", role=role_label(target.role).lower())
    if kind == "person":
        return _("a named person")
    return f"{target.label} {display_phone(target.number)}"


def step_label(step) -> str:
    when = {"always": _("at any time"), "in_opening_hours": _("in opening hours"),
            "outside_opening_hours": _("outside opening hours")}[step.when]
    severities = " / ".join({"red": _("red"), "yellow": _("yellow")}[s] for s in step.severities)
    channels = ", ".join(_("SMS") if c == "sms" else _("e-mail") for c in step.channels)
    waits = ", ".join(f"{_('red') if s == 'red' else _('yellow')} {getattr(step.wait, s)} min" for s in step.severities)
    text = _("%(severities)s alerts, %(when)s: %(target)s", severities=severities, when=when, target=target_label(step.target))
    if channels:
        text += f" ({channels})"
    return text + ". " + _("Next step after: %(waits)s.", waits=waits)


def schedule_text(schedule) -> str:
    """'every day at 08:00 and 20:00', 'Mondays at 09:00' — in the patient's own time zone."""
    if schedule is None:
        return _("when needed")
    times = [t.strftime("%H:%M") for t in schedule.times]
    at = times[0] if len(times) == 1 else _("%(first)s and %(last)s", first=", ".join(times[:-1]), last=times[-1])
    if schedule.is_daily:
        return _("every day at %(times)s", times=at)
    days = ", ".join(weekday_label(WEEKDAY_KEYS[d]) for d in schedule.weekdays)
    return _("%(days)s at %(times)s", days=days, times=at)


def zone_limits_text(limits, code: str, zone: str) -> str:
    """What values make a zone, for the plan page: 'Oxygen saturation under 88 %'."""
    locale = locale_code()

    def v(x):
        return value_with_unit(code, x, locale)

    def either(low, high):
        parts = ([_("under %(value)s", value=v(low))] if low is not None else []) + \
                ([_("over %(value)s", value=v(high))] if high is not None else [])
        return _("%(a)s or %(b)s", a=parts[0], b=parts[1]) if len(parts) == 2 else "".join(parts)

    if zone == "red":
        text = either(limits.red_low, limits.red_high)
    elif zone == "yellow":
        text = either(limits.yellow_low, limits.yellow_high)
    else:
        low, high = limits.yellow_low, limits.yellow_high
        if low is not None and high is not None:
            text = _("%(low)s to %(high)s", low=v(low), high=v(high))
        elif low is not None:
            text = _("%(value)s or more", value=v(low))
        elif high is not None:
            text = _("%(value)s or less", value=v(high))
        else:
            text = ""
    return f"{CATALOGUE[code].name(locale)} {text}" if text else ""


def delivery_status(notification) -> str:
    if notification.status == "sent":
        if notification.provider in ("log", "demo"):
            return _("Recorded, not sent (no SMS provider)")
        return _("Sent")
    return {"pending": _("Waiting to be sent"), "sending": _("Being sent"),
            "failed": _("Could not be sent")}.get(notification.status, notification.status)


def event_label(kind: str) -> str:
    labels = {
        "opened": _("Alert opened"),
        "repeated": _("Seen again"),
        "severity_raised": _("Severity raised"),
        "page_queued": _("Page queued"),
        "acknowledged": _("Acknowledged"),
        "ack_expired": _("Not resolved in time after acknowledgement: back in the queue"),
        "snoozed": _("Snoozed"),
        "assigned": _("Assigned"),
        "resolved": _("Resolved"),
        "condition_cleared": _("Condition no longer present"),
        "unit_asked": _("The patient was asked which unit was meant"),
        "page_failed": _("Page could not be delivered"),
        "red_repeating": _("Every step done, nobody acknowledged: the fallback is paged every 15 minutes "
                           "and the team admins are told"),
    }
    return labels.get(kind, kind)  # tests/test_i18n.py checks every kind written has a label


def failure_reason(error: str | None) -> str:
    """Why a page failed, in words, from the provider's reply kept on the outbox row."""
    error = error or ""
    reasons = (
        ("21610", _("the number has replied STOP to all SMS")),
        ("opted out", _("the number has replied STOP to all SMS")),
        ("21211", _("not a valid phone number")),
        ("21614", _("not a mobile number")),
        ("21612", _("the number cannot be reached")),
        ("21214", _("the number cannot be reached")),
        ("recipient refused", _("the e-mail address was refused")),
        ("gave up", _("the provider did not answer after many attempts")),
        ("undelivered", _("the phone did not receive it")),
        ("provider reported failed", _("the phone did not receive it")),
    )
    words = next((text for needle, text in reasons if needle in error), _("delivery failed"))
    return f"{words} ({error})" if error else words


def tel_href(number: str | None) -> str:
    return "tel:" + "".join(ch for ch in (number or "") if ch.isdigit() or ch == "+")


def _template_globals() -> dict:
    return {
        "locale": locale_code(),
        "locales": LOCALES,
        "principal": current_principal(),
    }

"""A thin layer over Flask's test client that behaves like a browser without JavaScript:
it reads the CSRF token from the page, submits forms, and holds every HTML page it sees to
a small quality gate (language set, one h1, unique ids, a label for every input)."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

from tests.factories import PASSWORD


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.lang = None
        self.h1 = 0
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.inputs: list[dict] = []
        self.forms: list[dict] = []
        self.title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "h1":
            self.h1 += 1
        if tag == "title":
            self.title = True
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea"):
            self.inputs.append({"tag": tag, **a})
            if self.forms and a.get("name"):
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(), "fields": {}})


def check_html(html: str) -> _PageParser:
    """The HTML quality gate every page rendered in a test passes."""
    p = _PageParser()
    p.feed(html)
    assert p.lang in ("nb", "en"), "the <html> element must carry lang"
    assert p.title, "the page needs a <title>"
    assert p.h1 == 1, f"a page has exactly one h1 (found {p.h1})"
    duplicates = {i for i in p.ids if p.ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {duplicates}"
    for field in p.inputs:
        if field.get("type") in ("hidden", "submit", "button"):
            continue
        assert field.get("id") in p.label_for or field.get("aria-label"), f"input without a label: {field}"
    return p


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class WebClient:
    def __init__(self, client):
        self.client = client

    def get(self, url: str, **kw):
        response = self.client.get(url, **kw)
        if response.mimetype == "text/html" and response.status_code < 300:
            check_html(response.get_data(as_text=True))
        return response

    def page(self, url: str) -> tuple[object, _PageParser]:
        response = self.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response, check_html(response.get_data(as_text=True))

    def form_fields(self, url: str) -> dict:
        """Fields of the page's own form (the one posting back to the page)."""
        _response, parsed = self.page(url)
        return next(f for f in parsed.forms if f["method"] == "post" and not f["action"])["fields"]

    def csrf_token(self, url: str) -> str:
        html = self.get(url, follow_redirects=True).get_data(as_text=True)
        match = CSRF_RE.search(html)
        assert match, f"no CSRF token on {url}"
        return match.group(1) or match.group(2)

    def submit(self, page_url: str, data: dict, action: str | None = None, follow_redirects: bool = False):
        """Load page_url, take its CSRF token and hidden fields, post `data` to the form."""
        response, parsed = self.page(page_url)
        forms = [f for f in parsed.forms if f["method"] == "post" and (action is None or f["action"] == action)]
        assert forms, f"no post form with action {action!r} on {page_url}"
        form = forms[0] if action is not None else next((f for f in forms if f["action"] in (None, "")), forms[0])
        fields = {k: v for k, v in form["fields"].items() if k in ("csrf_token", "idempotency_key", "next", "confirm_repeat")}
        fields.update(data)
        response = self.client.post(form["action"] or page_url, data=fields, follow_redirects=follow_redirects)
        if response.mimetype == "text/html" and response.status_code < 300:
            check_html(response.get_data(as_text=True))
        return response

    def login_patient(self, login: str, password: str = PASSWORD):
        response = self.submit("/login", {"login": login, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def login_staff(self, email: str, password: str = PASSWORD):
        """Password, then the authenticator code (computed from the account's secret at the app's clock)."""
        response = self.submit("/clinic/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.location.endswith("/clinic/login/code"), f"{email} has no enabled second factor"
        response = self.submit("/clinic/login/code", {"code": staff_code(self.client.application, email)})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


def staff_client(app, email: str) -> WebClient:
    """A test client signed in as this staff member (password and authenticator code)."""
    client = WebClient(app.test_client())
    client.login_staff(email)
    return client


def staff_code(app, email: str) -> str:
    """A valid, unused authenticator code for a staff account at the app's (fixed) clock.

    Tests sign the same account in many times at one fixed moment, while the app refuses a
    code whose time step was used already. So this takes the earliest unused step of the three
    the app accepts (the one before, now, the one after) and, when all three are used, forgets
    the last used step, as a test helper may. The replay guard itself is tested in
    tests/test_staff_signin.py."""
    from sqlmodel import Session, select

    from homefollow.models import Account
    from homefollow.services.staff_auth import STEP_SECONDS, time_step

    import pyotp

    now = app.extensions["homefollow.clock"].now()
    with Session(app.extensions["homefollow.engine"]) as db:
        account = db.exec(select(Account).where(Account.login == email.lower())).one()
        current = time_step(now)
        last = account.totp_last_step
        step = next((s for s in (current - 1, current, current + 1) if last is None or s > last), None)
        if step is None:
            account.totp_last_step = None
            db.add(account)
            db.commit()
            step = current - 1
        return pyotp.TOTP(account.totp_secret, interval=STEP_SECONDS).generate_otp(step)


def text_of(response) -> str:
    """Visible-ish text of a response, whitespace collapsed, for assertions on wording."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html))).strip()

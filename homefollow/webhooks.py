"""Webhooks from Twilio: delivery status of the SMS we sent, and SMS sent to us.

Both live under an unguessable path (TWILIO_WEBHOOK_SECRET) and are only believed when
Twilio's signature over the full URL and the form checks out with our auth token. A forged
request gets 403 and changes nothing.

Each request is applied once (issue 19): an inbound SMS by its MessageSid, a status callback by
its MessageSid and MessageStatus. The key is inserted into processed_webhook in the same
transaction as the request's effect; a replay (a retry by Twilio, or a captured request sent
again) gets the reply first given and changes nothing. Twilio's requests carry no timestamp that
its signature covers (only X-Twilio-Signature and I-Twilio-Idempotency-Token), so replay
protection is by these ids, not by age.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from . import transactions
from .clock import get_clock
from .input_guard import CONTROL
from .db import get_session
from .links import public_url
from .models import Notification, NotificationStatus, ProcessedWebhook
from .notifications import outbox
from .services import escalation, sms_inbox

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/hooks")


def status_callback_path(secret: str) -> str:
    return f"/hooks/twilio/status/{secret}"


def _check(secret: str) -> None:
    configured = current_app.config.get("TWILIO_WEBHOOK_SECRET")
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not configured or not token or not hmac.compare_digest(secret.encode(), configured.encode()):
        abort(404)
    url = public_url(request.full_path if request.query_string else request.path)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(url, request.form.to_dict(), signature):
        log.warning("rejected a Twilio webhook with a bad signature from %s", request.remote_addr)
        abort(403)


def _processed(db, key: str) -> ProcessedWebhook | None:
    return db.exec(select(ProcessedWebhook).where(ProcessedWebhook.key == key)).first()


def _once(db, key: str, apply, *, what: str) -> tuple[bool, str | None]:
    """Run apply() once per key: (True, its result), or (False, the reply first given) for a
    replay. The key is added before apply() runs, so it is committed with apply()'s effect."""
    if not key:  # Twilio always sends the sid; an unsigned-in-practice request is not deduplicated
        return True, transactions.run_in_transaction(db, apply, what=what)

    def guarded():
        done = _processed(db, key)
        if done is not None:
            return False, done.reply
        db.add(ProcessedWebhook(key=key[:120], received_at=get_clock().now()))
        db.flush()
        result = apply()
        row = _processed(db, key[:120])
        if row is None:  # apply() rolled back (and stored nothing): remember the request anyway
            row = ProcessedWebhook(key=key[:120], received_at=get_clock().now())
            db.add(row)
        row.reply = result[:2000] if isinstance(result, str) else None
        return True, result

    try:
        return transactions.run_in_transaction(db, guarded, what=what)
    except IntegrityError:  # the same request, concurrently: the other one applied it
        db.rollback()
        done = _processed(db, key[:120])
        return False, done.reply if done is not None else None


@bp.post("/twilio/status/<secret>")
def twilio_status(secret: str):
    _check(secret)
    db, clock = get_session(), get_clock()
    sid, status = request.form.get("MessageSid", ""), request.form.get("MessageStatus", "")

    def apply() -> None:
        # The lock order (homefollow.transactions): the page's alert before its outbox row.
        alert_id = db.exec(select(Notification.alert_id).where(Notification.provider_ref == sid)).first()
        alert = transactions.lock_alert(db, alert_id) if alert_id else None
        before = db.exec(select(Notification.status).where(Notification.provider_ref == sid)).first()
        notification = outbox.record_delivery_status(db, sid, status, request.form.get("ErrorCode"))
        if (alert is not None and notification is not None and before != NotificationStatus.FAILED.value
                and notification.status == NotificationStatus.FAILED.value):
            # An undelivered page moves on at once to the next channel or step (once: Twilio may
            # repeat a callback).
            escalation.record_failures(db, clock, [notification])
            escalation.escalate(db, clock, alert)

    _once(db, f"status:{sid}:{status}" if sid else "", apply, what="delivery status")
    return "", 204


@bp.post("/twilio/sms/<secret>")
def twilio_sms(secret: str):
    _check(secret)
    # A report or an acknowledgement that loses a race to the scheduler is run again: a report is
    # stored once by its message id, an acknowledgement once by its compare-and-set.
    db = get_session()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid", "")
    body = CONTROL.sub("", request.form.get("Body", ""))  # a NUL cannot be stored; no SMS needs one
    _applied, reply = _once(db, f"sms:{sid}" if sid else "", lambda: sms_inbox.handle(
        db, get_clock(), from_number=CONTROL.sub("", request.form.get("From", "")), body=body,
        message_id=sid), what="SMS from Twilio")
    response = MessagingResponse()
    if reply:  # a replay whose first reply is unknown gets an empty answer
        response.message(reply)
    return Response(str(response), mimetype="application/xml")

"""Webhooks from Twilio: delivery status of the SMS we sent, and SMS sent to us.

Both live under an unguessable path (TWILIO_WEBHOOK_SECRET) and are only believed when
Twilio's signature over the full URL and the form checks out with our auth token. A forged
request gets 403 and changes nothing.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, request
from sqlmodel import select
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from . import get_clock, transactions
from .db import get_session
from .links import public_url
from .models import Notification, NotificationStatus
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

    transactions.run_in_transaction(db, apply, what="delivery status")
    return "", 204


@bp.post("/twilio/sms/<secret>")
def twilio_sms(secret: str):
    _check(secret)
    # A report or an acknowledgement that loses a race to the scheduler is run again: a report is
    # stored once by its message id, an acknowledgement once by its compare-and-set.
    db = get_session()
    reply = transactions.run_in_transaction(db, lambda: sms_inbox.handle(
        db, get_clock(), from_number=request.form.get("From", ""), body=request.form.get("Body", ""),
        message_id=request.form.get("MessageSid", "")), what="SMS from Twilio")
    response = MessagingResponse()
    response.message(reply)
    return Response(str(response), mimetype="application/xml")

"""The scheduler process: one APScheduler clock that ticks and calls idempotent sweeps.

All timers are database rows with due times, so this process holds no state of its own:
it can be restarted at any time, and a second one started by mistake only finds nothing
left to claim. APScheduler's job store is in memory and never shared between processes.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Engine, delete
from sqlmodel import Session

from .clock import Clock
from .models import Heartbeat
from .notifications.email import LogEmailSender, SmtpEmailSender
from .notifications.outbox import DispatchResult, Senders, dispatch_due
from .notifications.sms import LogSmsSender, TwilioSmsSender
from .services.escalation import EscalationSweep, escalate_after_failures, sweep_due_escalations
from .services.evaluation import SweepResult, sweep_due_rules
from .services.pauses import PauseSweep, sweep_due_pauses
from .services.reminders import ReminderSweep, sweep_due_reminders

log = logging.getLogger(__name__)


def senders_from_config(config) -> Senders:
    """Twilio and SMTP when configured; otherwise log senders that record what would be sent."""
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN") and config.get("TWILIO_FROM_NUMBER"):
        sms = TwilioSmsSender(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], config["TWILIO_FROM_NUMBER"],
                              api_base_url=config.get("TWILIO_API_BASE_URL"))
    else:
        sms = LogSmsSender()
    if config.get("SMTP_HOST"):
        email = SmtpEmailSender(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_FROM"],
                                username=config.get("SMTP_USERNAME"), password=config.get("SMTP_PASSWORD"),
                                starttls=config.get("SMTP_STARTTLS", False))
    else:
        email = LogEmailSender()
    callback = None
    if config.get("TWILIO_WEBHOOK_SECRET") and config.get("PUBLIC_BASE_URL", "").startswith("https://"):
        from .webhooks import status_callback_path

        callback = config["PUBLIC_BASE_URL"].rstrip("/") + status_callback_path(config["TWILIO_WEBHOOK_SECRET"])
    return Senders(sms=sms, email=email, status_callback_url=callback)


def process_name(role: str = "scheduler") -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def beat(engine: Engine, clock: Clock, name: str, started_at: datetime, role: str = "scheduler") -> None:
    now = clock.now()
    with Session(engine) as session:
        session.merge(Heartbeat(name=name, role=role, host=socket.gethostname(), pid=os.getpid(),
                                started_at=started_at, beat_at=now))
        # Forget processes that have been gone for a week.
        session.execute(delete(Heartbeat).where(Heartbeat.beat_at < now - timedelta(days=7)))
        session.commit()


@dataclass
class SweepReport:
    rules: SweepResult = field(default_factory=SweepResult)
    escalations: EscalationSweep = field(default_factory=EscalationSweep)
    reminders: ReminderSweep = field(default_factory=ReminderSweep)
    pauses: PauseSweep = field(default_factory=PauseSweep)
    outbox: DispatchResult = field(default_factory=DispatchResult)


def run_sweeps(engine: Engine, clock: Clock, senders: Senders) -> SweepReport:
    """One pass over all due work. Safe to run concurrently in several processes.

    Pauses whose end has passed resume first (and the team is asked about pauses without an
    end). Then rules: a check-in missed a moment ago becomes an alert, its first page is planned
    at once, and it goes out in the same pass. A page that failed for good moves its escalation
    on before the pass ends."""
    report = SweepReport()
    with Session(engine, expire_on_commit=False) as session:
        report.pauses = sweep_due_pauses(session, clock)
        report.rules = sweep_due_rules(session, clock)
        report.escalations = sweep_due_escalations(session, clock)
        report.reminders = sweep_due_reminders(session, clock)
    report.outbox = dispatch_due(engine, clock, senders)
    if report.outbox.failed_ids:
        with Session(engine, expire_on_commit=False) as session:
            escalate_after_failures(session, clock, report.outbox.failed_ids)
        report.outbox.sent += dispatch_due(engine, clock, senders).sent
    return report


def settle_heap() -> None:
    """Move everything loaded at start (modules, schemas, the app) out of the garbage
    collector's sight. Those objects live as long as the process, yet every full collection
    would walk them again; a sweep that builds many short-lived objects then pays for them."""
    gc.collect()
    gc.freeze()


def run_forever(app: Flask) -> None:
    """`flask --app wsgi scheduler run`: tick until interrupted."""
    from . import db

    engine = app.extensions["homefollow.engine"]
    clock = app.extensions["homefollow.clock"]
    senders = senders_from_config(app.config)
    name = process_name()
    started_at = clock.now()
    interval = app.config["SCHEDULER_TICK_SECONDS"]

    def tick() -> None:
        try:
            beat(engine, clock, name, started_at)
            report = run_sweeps(engine, clock, senders)
            if report.rules.evaluated or report.rules.failed:
                log.info("rules: %s patients evaluated, %s failed", report.rules.evaluated, report.rules.failed)
            p = report.pauses
            if p.resumed or p.asked or p.failed:
                log.info("pauses: %s resumed, %s asked about, %s failed", p.resumed, p.asked, p.failed)
            o = report.outbox
            if o.sent or o.retried or o.failed or o.released:
                log.info("outbox: %s sent, %s retried, %s failed, %s leases released", o.sent, o.retried, o.failed,
                         o.released)
        except Exception:  # one bad tick must not stop the clock; the next tick retries
            log.exception("scheduler tick failed")

    db.ping(engine)
    settle_heap()
    scheduler = BlockingScheduler(timezone=timezone.utc)
    scheduler.add_job(tick, "interval", seconds=interval, next_run_time=datetime.now(timezone.utc),
                      max_instances=1, coalesce=True, id="tick")
    log.info("scheduler %s ticking every %s s (SMS via %s, e-mail via %s)", name, interval, senders.sms.name,
             senders.email.name)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler %s stopped", name)

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
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from .clock import Clock
from .transactions import unit_of_work
from .models import Heartbeat, Patient, Priority
from .notifications.email import EmailSender, LogEmailSender, SmtpEmailSender
from .notifications.outbox import DispatchResult, Senders, dispatch_due
from .notifications.sms import LogSmsSender, SmsSender, TwilioSmsSender
from .services.escalation import EscalationSweep, escalate_after_failures, sweep_due_escalations
from .services import adherence_days
from .services.evaluation import SweepResult, sweep_due_rules
from .services.pauses import PauseSweep, sweep_due_pauses
from .services.reminders import ReminderSweep, sweep_due_reminders

log = logging.getLogger(__name__)

MAX_FAILOVER_PASSES = 5  # nurse SMS → nurse e-mail → coordinator → fallback, with room to spare


def senders_from_config(config) -> Senders:
    """Twilio and SMTP when configured; otherwise log senders that record what would be sent."""
    timeout = float(config.get("SEND_TIMEOUT_SECONDS", 5.0))
    sms: SmsSender
    email: EmailSender
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN") and config.get("TWILIO_FROM_NUMBER"):
        sms = TwilioSmsSender(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], config["TWILIO_FROM_NUMBER"],
                              api_base_url=config.get("TWILIO_API_BASE_URL"), timeout=timeout)
    else:
        sms = LogSmsSender()
    if config.get("SMTP_HOST"):
        email = SmtpEmailSender(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_FROM"],
                                username=config.get("SMTP_USERNAME"), password=config.get("SMTP_PASSWORD"),
                                starttls=config.get("SMTP_STARTTLS", False), timeout=timeout)
    else:
        email = LogEmailSender()
    callback = None
    if config.get("TWILIO_WEBHOOK_SECRET") and config.get("PUBLIC_BASE_URL", "").startswith("https://"):
        from .webhooks import status_callback_path

        callback = config["PUBLIC_BASE_URL"].rstrip("/") + status_callback_path(config["TWILIO_WEBHOOK_SECRET"])
    # A pass takes new messages for half a tick; with one send timeout on top it ends before the
    # next tick, so a red page queued now goes out at the next tick whatever the providers do.
    tick = float(config.get("SCHEDULER_TICK_SECONDS", 15))
    return Senders(sms=sms, email=email, status_callback_url=callback, timeout=timeout,
                   concurrency=int(config.get("SEND_CONCURRENCY", 4)), pass_seconds=max(1.0, tick / 2))


def process_name(role: str = "scheduler") -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def beat(engine: Engine, clock: Clock, name: str, started_at: datetime, role: str = "scheduler") -> None:
    now = clock.now()
    with unit_of_work(engine) as session:
        session.merge(Heartbeat(name=name, role=role, host=socket.gethostname(), pid=os.getpid(),
                                started_at=started_at, beat_at=now))
        # Forget processes that have been gone for a week.
        session.execute(delete(Heartbeat).where(col(Heartbeat.beat_at) < now - timedelta(days=7)))


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
    report.outbox = send_due(engine, clock, senders)
    return report


ROLL_UP_DAYS = 90  # the figures page's default period; the page counts a longer one afresh
ROLL_UP_EVERY = timedelta(hours=1)  # a patient's day is counted within the hour after it ends


def roll_up_adherence(engine: Engine, clock: Clock, days: int = ROLL_UP_DAYS) -> int:
    """Count the days that have ended (services.adherence_days), so that the figures page finds
    them counted. Each batch of patients is its own short transaction, since it holds their
    locks: a report of one of them waits for that batch only. Returns how many patients were
    counted."""
    with Session(engine) as session:
        ids = list(session.exec(select(Patient.id).order_by(col(Patient.id))))
    counted = 0
    for start in range(0, len(ids), adherence_days.BATCH):
        with unit_of_work(engine) as session:
            patients = list(session.exec(select(Patient).where(col(Patient.id).in_(ids[start:start + adherence_days.BATCH]))))
            counted += adherence_days.roll_up(session, clock.now(), patients, days)
    return counted


def send_due(engine: Engine, clock: Clock, senders: Senders,
             max_priority: Priority = Priority.OTHER) -> DispatchResult:
    """Send what is due. A page that failed for good moves its alert on at once (next channel,
    next step, the fallback), in any pass: keep going while failures bring new pages, a bounded
    number of times."""
    result = dispatch_due(engine, clock, senders, max_priority=max_priority)
    failed = result.failed_ids
    for _pass in range(MAX_FAILOVER_PASSES):
        if not failed:
            break
        with Session(engine, expire_on_commit=False) as session:
            escalate_after_failures(session, clock, failed)
        again = dispatch_due(engine, clock, senders, max_priority=max_priority)
        for name in ("sent", "retried", "failed", "skipped", "released", "reconciled", "deferred"):
            setattr(result, name, getattr(result, name) + getattr(again, name))
        result.failed_ids.extend(again.failed_ids)
        failed = again.failed_ids
    return result


def send_red_pages(engine: Engine, clock: Clock, senders: Senders) -> DispatchResult:
    """The red lane: red pages only, on a job of their own beside the tick, so that a tick held
    up by a slow provider (or long sweeps) never holds back a red page queued meanwhile, e.g. by
    a patient's report through the web."""
    return send_due(engine, clock, senders, max_priority=Priority.RED)


def settle_heap() -> None:
    """Move everything loaded at start (modules, schemas, the app) out of the garbage
    collector's sight. Those objects live as long as the process, yet every full collection
    would walk them again; a sweep that builds many short-lived objects then pays for them."""
    gc.collect()
    gc.freeze()


def run_forever(app: Flask) -> None:
    """`flask --app wsgi scheduler run`: tick until SIGTERM or Ctrl-C (SIGINT).

    Four jobs on APScheduler's thread pool, each at most one at a time and coalesced: the
    heartbeat, the tick (sweeps and sending), the red lane (red pages only, three times a
    tick) and, hourly, the adherence roll-up for the figures page. A slow provider delays the tick only, never the heartbeat, so the process does not
    look dead, and never a red page queued meanwhile. While the database is away a failing
    beat or tick is logged and the next one tries again on a fresh connection.

    On SIGTERM or SIGINT no new job starts. A tick that is running (a send in progress) gets
    SCHEDULER_STOP_GRACE_SECONDS (8) to finish; after that, or at a second signal, it is
    abandoned, which the outbox's lease makes safe (its message goes back to the queue when the
    lease ends, and is looked up at the provider before it is sent again). The process then
    exits 0.
    """
    import signal
    import threading

    from . import db
    from .db import database_unavailable, short_error

    stop_grace_seconds = app.config["SCHEDULER_STOP_GRACE_SECONDS"]
    engine = app.extensions["homefollow.engine"]
    clock = app.extensions["homefollow.clock"]
    senders = senders_from_config(app.config)
    name = process_name()
    started_at = clock.now()
    interval = app.config["SCHEDULER_TICK_SECONDS"]
    ticking = threading.Lock()  # held while a tick runs
    sending_red = threading.Lock()  # held while the red lane runs
    stopping = senders.stop  # also tells the sending lanes to start no new send

    class Stop(Exception):
        """Raised in the main thread by SIGTERM or SIGINT."""

    def on_signal(signum, _frame) -> None:
        raise Stop(signal.Signals(signum).name)

    def heartbeat() -> None:
        if stopping.is_set():
            return
        try:
            beat(engine, clock, name, started_at)
        except Exception as exc:  # the next beat tries again
            if database_unavailable(exc):
                log.error("scheduler heartbeat failed: the database is unavailable (%s)", short_error(exc))
            else:
                log.exception("scheduler heartbeat failed")

    def tick() -> None:
        with ticking:
            if not stopping.is_set():
                _tick()

    def _tick() -> None:
        try:
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
        except Exception as exc:  # one bad tick must not stop the clock; the next tick retries
            if database_unavailable(exc):  # one line a tick while it lasts, not a traceback
                log.error("scheduler tick failed: the database is unavailable (%s)", short_error(exc))
            else:
                log.exception("scheduler tick failed")

    def roll_up() -> None:
        if stopping.is_set():
            return
        try:
            counted = roll_up_adherence(engine, clock)
            if counted:
                log.info("adherence: the days of %s patients counted", counted)
        except Exception as exc:  # the next run tries again; the figures page counts what it needs
            if database_unavailable(exc):
                log.error("adherence roll-up failed: the database is unavailable (%s)", short_error(exc))
            else:
                log.exception("adherence roll-up failed")

    def red_lane() -> None:
        with sending_red:
            if stopping.is_set():
                return
            try:
                o = send_red_pages(engine, clock, senders)
                if o.sent or o.retried or o.failed:
                    log.info("red lane: %s sent, %s retried, %s failed", o.sent, o.retried, o.failed)
            except Exception as exc:  # the next run tries again
                if database_unavailable(exc):
                    log.error("red lane failed: the database is unavailable (%s)", short_error(exc))
                else:
                    log.exception("red lane failed")

    try:
        db.ping(engine)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # Started before the database (a reboot, an outage): tick anyway, the ticks connect when it is back.
        log.error("the database is unavailable at start (%s); ticking anyway", short_error(exc))
    settle_heap()
    scheduler = BlockingScheduler(timezone=UTC)
    now = datetime.now(UTC)
    scheduler.add_job(heartbeat, "interval", seconds=interval, next_run_time=now, max_instances=1, coalesce=True,
                      id="heartbeat")
    scheduler.add_job(tick, "interval", seconds=interval, next_run_time=now, max_instances=1, coalesce=True,
                      id="tick")
    # Red pages also go on a lane of their own, three times a tick: never behind a slow tick.
    scheduler.add_job(red_lane, "interval", seconds=max(1, interval / 3), next_run_time=now, max_instances=1,
                      coalesce=True, id="red_lane")
    # Counting ended days only saves the figures page work: a minute after start, then hourly.
    scheduler.add_job(roll_up, "interval", seconds=ROLL_UP_EVERY.total_seconds(), next_run_time=now + timedelta(minutes=1),
                      max_instances=1, coalesce=True, id="adherence_roll_up")
    log.info("scheduler %s ticking every %s s (SMS via %s, e-mail via %s)", name, interval, senders.sms.name,
             senders.email.name)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    reason = "shutdown"
    try:
        scheduler.start()  # runs the jobs in its thread pool until a signal raises Stop here
    except Stop as received:
        reason = f"{received} received"
    log.info("scheduler %s: %s, stopping", name, reason)
    try:
        stopping.set()
        if scheduler.running:
            scheduler.shutdown(wait=False)  # no new job starts
        deadline = time.monotonic() + stop_grace_seconds
        finished = ticking.acquire(timeout=stop_grace_seconds)
        if finished and not sending_red.acquire(timeout=max(0.0, deadline - time.monotonic())):
            ticking.release()
            finished = False
    except Stop:  # a second signal: do not wait
        finished = False
    if finished:
        sending_red.release()
        ticking.release()
        log.info("scheduler %s stopped", name)
        return
    log.warning("scheduler %s stopped in the middle of a tick; a message being sent goes back to the queue when "
                "its lease ends", name)
    logging.shutdown()
    os._exit(0)  # the tick's thread would keep the interpreter alive until it ends

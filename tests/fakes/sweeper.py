"""A scheduler process for tests: `python -m tests.fakes.sweeper DB_URL TWILIO_BASE_URL SECONDS`
runs the real sweeps on the real clock against a database, sending SMS to the fake Twilio."""

import sys
import time

from homefollow.clock import SystemClock
from homefollow.db import make_engine
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.outbox import Senders
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.scheduler import run_sweeps
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

url, base, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
engine = make_engine(url)
senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=base), email=LogEmailSender())
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    run_sweeps(engine, SystemClock(), senders)
    time.sleep(0.02)

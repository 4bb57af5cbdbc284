"""Sending SMS and e-mail: sender interfaces, their implementations and the outbox."""

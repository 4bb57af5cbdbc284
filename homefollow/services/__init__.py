"""Use cases. Plain functions taking a session and a clock; they know nothing of requests."""

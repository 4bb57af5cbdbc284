"""Senders tell transient failures (try again later) from permanent ones (never will work)."""


class DeliveryError(Exception):
    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """The provider could not take the message now: timeout, 5xx, rate limit. Retry.

    `retry_after`: seconds the provider asked us to wait (429 Retry-After). `maybe_sent`: the
    request may have reached the provider (no answer in time), so look before sending again."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None,
                 maybe_sent: bool = False):
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentError(DeliveryError):
    """The message can never be delivered as addressed: invalid number, unsubscribed."""

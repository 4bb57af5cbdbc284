"""Senders tell transient failures (try again later) from permanent ones (never will work)."""


class DeliveryError(Exception):
    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.code = code


class TransientError(DeliveryError):
    """The provider could not take the message now: timeout, 5xx, rate limit. Retry."""


class PermanentError(DeliveryError):
    """The message can never be delivered as addressed: invalid number, unsubscribed."""

"""Retry policy: which outcomes to retry, how long to wait, and the caller's deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Deadline:
    """An absolute point on the monotonic clock after which no new attempt starts."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def in_seconds(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def from_remaining_ms(cls, remaining_ms: int, margin_s: float) -> Deadline:
        """In Lambda: `Deadline.from_remaining_ms(context.get_remaining_time_in_millis(), margin)`."""
        return cls.in_seconds(max(0.0, remaining_ms / 1000 - margin_s))

    def remaining(self) -> float:
        return self.at - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring `Retry-After`, bounded by a deadline.

    `max_attempts` counts attempts (1 = no retry). `default_budget_s` bounds a call made without a
    deadline, so no call can block for the 92 minutes Coveo's Python client can.
    """

    max_attempts: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 20.0
    default_budget_s: float = 120.0
    retryable_statuses: frozenset[int] = RETRYABLE_STATUSES

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt counts from 0)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return (rng or random).uniform(0, ceiling)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        # Coveo's Retry-After is the server's word on when to come back: wait at least that long.
        if retry_after is not None:
            return max(retry_after, 0.0)
        return self.backoff(attempt, rng)


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now(), 0.0)

"""When to try a request again, and how long to wait first. Pure functions, tested directly."""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from datetime import datetime, timezone

import attrs

from . import _constants as C
from ._http import SendError

__all__ = [
    "RetryPolicy",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

#: HTTP statuses worth another try for a read.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How reads (and money requests that provably never left) are retried.

    ``max_attempts`` counts the first try. Delays grow as ``backoff_base * 2**(n-1)`` up to
    ``backoff_max``, each spread by +/- ``jitter`` (a fraction). A ``Retry-After`` header is
    honoured up to ``retry_after_cap`` seconds. No retry starts that would end after
    ``deadline`` seconds from the call's start, and an attempt still running then is cancelled.
    """

    max_attempts: int = attrs.field(default=C.DEFAULT_MAX_ATTEMPTS)
    backoff_base: float = attrs.field(default=C.DEFAULT_BACKOFF_BASE, validator=_positive)
    backoff_max: float = attrs.field(default=C.DEFAULT_BACKOFF_MAX, validator=_positive)
    jitter: float = attrs.field(default=C.DEFAULT_JITTER, validator=_positive)
    retry_after_cap: float = attrs.field(default=C.DEFAULT_RETRY_AFTER_CAP, validator=_positive)
    #: Seconds one call may take in all, attempts and pauses included (None: no limit).
    deadline: float | None = attrs.field(default=C.DEFAULT_DEADLINE)

    @deadline.validator
    def _check_deadline(self, _: attrs.Attribute[float | None], value: float | None) -> None:
        if value is not None and not (value > 0 and not math.isinf(value)):
            raise ValueError(f"deadline must be a finite number > 0 or None, got {value!r}")

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"max_attempts must be >= 1, got {value!r}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A single attempt, no retries."""
        return cls(max_attempts=1)


def should_retry(
    policy: RetryPolicy,
    *,
    attempt: int,
    idempotent: bool,
    error: SendError | None = None,
    status_code: int | None = None,
) -> bool:
    """Decide whether attempt number ``attempt`` (1-based) that just failed gets another try.

    A request that was never sent may always be retried. Anything else is retried only for
    idempotent requests (reads): any network error after sending, 429 and 5xx answers.
    """
    if attempt >= policy.max_attempts:
        return False
    if error is not None:
        if not error.retryable:
            return False
        return idempotent or not error.sent
    if status_code is not None:
        return idempotent and status_code in RETRYABLE_STATUSES
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = now or datetime.now(timezone.utc)
        return max(0.0, (when - current).total_seconds())
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep after failed attempt ``attempt`` (1-based) before the next one."""
    if retry_after is not None:
        return min(retry_after, policy.retry_after_cap)
    base = min(policy.backoff_max, policy.backoff_base * 2.0 ** (attempt - 1))
    spread = base * policy.jitter * (2 * rand() - 1)
    return max(0.0, min(policy.backoff_max, base + spread))

"""``wait_for_status``: poll check-status until the answer is final, within a real deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from . import _constants as C
from . import _validation
from .errors import StatusTimeoutError
from .types.status import ResultCode, TransactionStatus

__all__ = ["keep_polling", "wait_for_status"]


def keep_polling(status: TransactionStatus, elapsed: float, not_found_grace: float) -> bool:
    """107 and NEW are not final; 102 is "not there yet" for a short grace period."""
    if not status.is_final:
        return True
    return status.result_code == ResultCode.INVOICE_NOT_FOUND and elapsed < not_found_grace


async def wait_for_status(
    fetch: Callable[[], Awaitable[TransactionStatus]],
    invoice_id: str,
    *,
    timeout: float = C.POLL_TIMEOUT,
    interval: float = C.POLL_INTERVAL,
    max_interval: float = C.POLL_MAX_INTERVAL,
    not_found_grace: float = C.POLL_NOT_FOUND_GRACE,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> TransactionStatus:
    """Call ``fetch`` until its answer is final; back off from ``interval`` to ``max_interval``.

    The whole wait, requests included, is bounded by ``timeout``: at the deadline the
    request in flight is cancelled and :class:`StatusTimeoutError` carries the last answer.
    """
    timeout = _validation.seconds(timeout, "timeout")
    interval = _validation.seconds(interval, "interval", allow_zero=True)
    max_interval = max(interval, _validation.seconds(max_interval, "max_interval", allow_zero=True))
    not_found_grace = _validation.seconds(not_found_grace, "not_found_grace", allow_zero=True)
    last: TransactionStatus | None = None
    started = anyio.current_time()
    delay = interval
    with anyio.move_on_after(timeout):
        while True:
            last = await fetch()
            if not keep_polling(last, anyio.current_time() - started, not_found_grace):
                return last
            await sleep(delay)
            delay = min(max_interval, delay * C.POLL_BACKOFF_FACTOR)
    raise StatusTimeoutError(invoice_id, last)

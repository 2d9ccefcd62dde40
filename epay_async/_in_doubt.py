"""The record of every money request whose outcome is unknown.

``EpayClient(on_outcome_unknown=callback)`` is called with an :class:`OutcomeUnknownError` for
each: those raised, and those cancelled or timed out by the caller after the request may have
left (the cancellation itself still propagates, unchanged). Each is also one WARNING line on
the ``epay_async`` logger. Nothing is recorded for a request that provably never left.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from . import _constants as C
from ._logs import logger
from ._shield import run_to_end
from .errors import OutcomeUnknownError

__all__ = ["OutcomeCallback", "report"]

#: Called with each in-doubt money request: sync, or async (run shielded, bounded).
OutcomeCallback = Callable[[OutcomeUnknownError], Awaitable[object] | object]


async def report(error: OutcomeUnknownError, callback: OutcomeCallback | None) -> None:
    """Log ``error`` and hand it to ``callback``. The callback runs shielded from the caller's
    cancellation, outside the call's deadline (already left), bounded by its own
    ``OUTCOME_CALLBACK_TIMEOUT`` (5 s: a database write, not a workflow); a failing callback is
    logged, never raised. A cancellation held off meanwhile is raised once it is done."""
    subject = error.invoice_id or error.transaction_id
    logger.warning(
        "outcome unknown: %s of %s (%s); reconcile it, do not resend",
        error.operation,
        f"invoice {subject}" if error.invoice_id else f"transaction {subject}",
        error.reason,
    )
    if callback is None:
        return
    done = False

    async def call_back() -> None:
        nonlocal done
        try:
            result = callback(error)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # the caller's own error, not ours to raise over theirs
            logger.error(
                "on_outcome_unknown failed for %s (%s): the in-doubt record may be lost",
                error.invoice_id or error.transaction_id,
                type(exc).__name__,
            )
        done = True

    # A cancellation that comes while the callback runs is held off, then ends the task: a
    # cancelled task ends cancelled, whatever error the call had to report.
    try:
        await run_to_end(call_back, C.OUTCOME_CALLBACK_TIMEOUT)
    finally:
        if not done:
            logger.error(
                "on_outcome_unknown took over %s s for %s: abandoned",
                C.OUTCOME_CALLBACK_TIMEOUT,
                error.invoice_id or error.transaction_id,
            )
    await anyio.lowlevel.checkpoint_if_cancelled()

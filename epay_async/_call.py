"""One public call's scope: its deadline and its in-doubt records.

Everything a public call does (token requests and waits for another caller's refresh, key
fetches, attempts, pauses, retries of an answer) shares one deadline, ``retry.deadline``
seconds from its start. Nested calls keep the outer deadline. Reaching it outside an exchange
raises :class:`TransportError` (nothing was sent by this call then); reaching it while an
exchange may have left makes a money request :class:`OutcomeUnknownError`.

Every money request left in doubt is reported (``on_outcome_unknown``, the log): one that
raises :class:`OutcomeUnknownError`, and one cancelled by the caller, or cut by an unforeseen
exception from below the library, while its exchange was under way; the cancellation or the
exception itself propagates unchanged. A cancellation arriving while those records are written
waits for them, then ends the call cancelled, whatever else ended it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import anyio

from ._in_doubt import OutcomeCallback, report
from ._logs import logger
from ._request import ApiRequest
from ._shield import cancellation_pending
from ._telemetry import NO_CALL_TELEMETRY, CallTelemetry
from .errors import OutcomeUnknownError, TransportError

__all__ = ["Call", "CallScope", "current_call", "deadline_failure"]


class Call:
    """The public call in progress in this task: its absolute deadline (anyio clock), and the
    request whose exchange is under way, if one is (it may have left this machine)."""

    __slots__ = ("after", "deadline", "exchange", "span")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.exchange: ApiRequest | None = None
        #: Work for the call's end, outside its deadline (the journal's outcome records): a
        #: deadline firing while they run would replace the call's own result.
        self.after: list[Callable[[], Awaitable[None]]] = []
        #: The call's span: the pipeline's, or one that records nothing.
        self.span: CallTelemetry = NO_CALL_TELEMETRY


_CALL: ContextVar[Call | None] = ContextVar("epay_async_call", default=None)


def current_call() -> Call | None:
    return _CALL.get()


def deadline_failure(request: ApiRequest, seconds: float | None) -> Exception:
    """What reaching the deadline during ``request``'s exchange means."""
    reason = f"no answer within the {seconds} s deadline"
    if request.idempotent:
        return TransportError(f"{request.operation}: {reason}")
    return request.outcome_unknown(reason)


class _AnyioDeadline:
    """The call's deadline as an anyio cancel scope (trio, and Python 3.10), entered when
    built."""

    __slots__ = ("_scope",)

    def __init__(self, deadline: float) -> None:
        self._scope = anyio.CancelScope(deadline=deadline)
        self._scope.__enter__()

    def leave(self, exc: BaseException | None) -> bool:
        """Leave the scope; True when its deadline cut the call (its cancellation absorbed)."""
        swallowed = self._scope.__exit__(
            type(exc) if exc else None, exc, exc.__traceback__ if exc else None
        )
        return bool(swallowed) and self._scope.cancelled_caught


if sys.version_info >= (3, 11):

    class _LoopDeadline:
        """The call's deadline as one event-loop timer that cancels the task: what
        ``asyncio.timeout_at`` does (the same cancel counting), without its state machine
        and its two coroutines, a third of a status call's bookkeeping. anyio's clock on
        asyncio is the loop's, so the deadline is the same."""

        __slots__ = ("_cancelling", "_expired", "_handle", "_task")

        def __init__(
            self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], deadline: float
        ) -> None:
            self._task = task
            #: Cancellations already pending when the call began (not the deadline's).
            self._cancelling = task.cancelling()
            self._expired = False
            self._handle: asyncio.TimerHandle | None = (
                loop.call_at(deadline, self._expire) if deadline != math.inf else None
            )

        def _expire(self) -> None:
            self._handle = None
            self._expired = True
            self._task.cancel()

        def leave(self, exc: BaseException | None) -> bool:
            """True only when the deadline's own cancellation ended the call: expired, the
            call ended cancelled, and no other cancellation (the caller's ``task.cancel()``,
            arriving with it) pending."""
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
                return False
            if not self._expired:
                return False
            # The deadline's cancellation is taken back, whatever ended the call.
            return self._task.uncancel() <= self._cancelling and isinstance(
                exc, asyncio.CancelledError
            )

    def _deadline_scope(seconds: float | None) -> tuple[float, _AnyioDeadline | _LoopDeadline]:
        """The absolute deadline ``seconds`` from now (``inf`` for none), and its scope,
        entered."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio
            loop = None
        task = asyncio.current_task(loop) if loop is not None else None
        if loop is None or task is None:
            deadline = anyio.current_time() + seconds if seconds else math.inf
            return deadline, _AnyioDeadline(deadline)
        # The loop's clock is anyio's on asyncio, read without asking which library runs.
        deadline = loop.time() + seconds if seconds else math.inf
        return deadline, _LoopDeadline(loop, task, deadline)

else:

    def _deadline_scope(seconds: float | None) -> tuple[float, _AnyioDeadline]:
        """The absolute deadline ``seconds`` from now (``inf`` for none), and its scope,
        entered."""
        deadline = anyio.current_time() + seconds if seconds else math.inf
        return deadline, _AnyioDeadline(deadline)


class CallScope:
    """``async with CallScope(...)``: the call's deadline scope and its in-doubt records."""

    __slots__ = ("_call", "_on_outcome_unknown", "_operation", "_reset", "_scope", "_seconds")

    def __init__(
        self,
        operation: str,
        deadline_seconds: float | None,
        on_outcome_unknown: OutcomeCallback | None,
    ) -> None:
        self._operation = operation
        self._seconds = deadline_seconds
        self._on_outcome_unknown = on_outcome_unknown
        self._call: Call | None = None

    async def __aenter__(self) -> None:
        if _CALL.get() is not None:
            return  # nested: the outer call's deadline holds
        deadline, self._scope = _deadline_scope(self._seconds)
        self._call = Call(deadline)
        self._reset = _CALL.set(self._call)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        call = self._call
        if call is None:
            return
        try:
            # The deadline is left first: the records below run outside it (each in its own
            # shielded, bounded time), so the deadline cannot fire through them.
            deadline_passed = self._scope.leave(exc)
        finally:
            _CALL.reset(self._reset)
        if exc is None and not deadline_passed and not call.after:
            return  # the common end: nothing to record, nothing to raise
        held: BaseException | None = None
        for job in call.after:  # each runs to its end; a cancellation meanwhile is held
            try:
                await job()
            except anyio.get_cancelled_exc_class() as cancelled:
                if cancellation_pending():
                    held = held or cancelled
                else:  # raised by the job itself (a store's own): its failure, not a cancel
                    logger.error(
                        "%s: a record of the call's end ended with a CancelledError of its own",
                        self._operation,
                    )
        failure: Exception | None = None
        if deadline_passed:
            failure = await self._deadline_passed(call)
        elif isinstance(exc, OutcomeUnknownError):
            # Not cut by the deadline (a cancellation that came with it is the caller's): the
            # exception propagates unchanged once its in-doubt record is written.
            call.span.mark_outcome_unknown()  # a held cancellation may take its place
            await report(exc, self._on_outcome_unknown)
        elif exc is not None and call.exchange is not None and not call.exchange.idempotent:
            # The caller gave up (a timeout, a closed connection, a shutdown), or something
            # below the library failed unforeseen (a custom transport's bug), while the request
            # may have reached the gateway: keep a record of it, as the journal does.
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                reason = "cancelled by the caller while the request was under way"
            else:
                reason = f"{type(exc).__name__} raised while the request was under way"
            call.span.mark_outcome_unknown()
            await report(call.exchange.outcome_unknown(reason), self._on_outcome_unknown)
        cancelled_call = isinstance(exc, anyio.get_cancelled_exc_class()) and not deadline_passed
        if held is not None and not cancelled_call:
            # Cancelled while the records were written: the task ends cancelled, whatever
            # else ended the call (its in-doubt record is written above). asyncio delivers a
            # cancellation once: an error raised in its place would lose it.
            raise held
        if failure is not None:
            raise failure

    async def _deadline_passed(self, call: Call) -> Exception:
        if call.exchange is not None:  # cut while an exchange was under way
            failure = deadline_failure(call.exchange, self._seconds)
            if isinstance(failure, OutcomeUnknownError):
                call.span.mark_outcome_unknown()  # a held cancellation may take its place
                await report(failure, self._on_outcome_unknown)
            return failure
        return TransportError(
            f"{self._operation}: the {self._seconds} s deadline passed before anything was sent"
        )

"""``reconcile``: check many invoices with bounded concurrency and memory.

A fixed pool of ``concurrency`` workers pulls ids one at a time from the (possibly endless,
possibly async) source and hands results to the consumer as they complete, in batches.
Nothing is created per id up front, so memory does not grow with the number of ids; one bad
invoice yields an error result and the batch goes on. Every id given is checked, copies
included: remembering the ids seen would make memory grow with them, so removing duplicates
is the caller's choice (``epay-async reconcile`` keeps a set of the ids of its run).
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
)
from decimal import Decimal
from types import TracebackType
from typing import Any

import anyio
import attrs
from anyio.abc import TaskGroup

from . import _validation
from .errors import EpayError, ValidationError
from .types.status import TransactionStatus

__all__ = ["ReconcileResult", "Reconciliation"]

Fetch = Callable[[str], Awaitable[TransactionStatus]]
_DONE = object()


@attrs.frozen
class ReconcileResult:
    """One invoice's outcome: its ``status``, or the ``error`` that prevented getting it."""

    invoice_id: str
    status: TransactionStatus | None = None
    error: EpayError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Source:
    """Hands out ids one at a time to concurrent workers, from a sync or async iterable."""

    def __init__(self, ids: Iterable[Any] | AsyncIterable[Any]) -> None:
        self._sync = iter(ids) if not isinstance(ids, AsyncIterable) else None
        self._async = aiter(ids) if isinstance(ids, AsyncIterable) else None
        self._lock = anyio.Lock()

    async def next(self) -> object:
        if self._sync is not None:
            return next(self._sync, _DONE)
        assert self._async is not None
        async with self._lock:  # an async generator cannot be advanced concurrently
            try:
                return await anext(self._async)
            except StopAsyncIteration:
                return _DONE


class Reconciliation:
    """Check-status for many invoices: ``async with`` owns the workers, the ``as`` target
    yields results as they complete::

        async with epay.reconcile(ids, concurrency=32) as results:
            async for result in results:
                ...

    Leaving the block, early or not, by ``break``, an exception or a cancellation, stops the
    workers there and then; nothing is left running. The results are not a generator, so
    nothing is left for the event loop to finalise in another task.
    """

    def __init__(
        self,
        fetch: Fetch,
        invoice_ids: Iterable[Any] | AsyncIterable[Any],
        concurrency: int,
        skip: Container[str] = (),
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError("concurrency", "must be a whole number >= 1")
        if isinstance(invoice_ids, str | bytes):
            raise ValidationError("invoice_ids", "must be an iterable of ids, not one string")
        self._fetch = fetch
        self._skip = skip
        self._source = _Source(invoice_ids)
        self._concurrency = concurrency
        self._task_group: TaskGroup | None = None
        self._results: _Results | None = None

    def __aiter__(self) -> AsyncIterator[ReconcileResult]:
        raise TypeError(
            "reconcile() is used as `async with epay.reconcile(ids) as results: "
            "async for result in results: ...`"
        )

    async def __aenter__(self) -> AsyncIterator[ReconcileResult]:
        if self._task_group is not None:
            raise RuntimeError("a Reconciliation runs once")
        results = self._results = _Results(self._concurrency)
        task_group = self._task_group = anyio.create_task_group()
        await task_group.__aenter__()
        for _ in range(self._concurrency):
            task_group.start_soon(self._worker, results)
        return results

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        assert self._results is not None
        self._task_group.cancel_scope.cancel()  # the workers stop there and then
        self._results.close()
        # The body's own exception (a break, the caller's error, the source's error) is not
        # handed to the task group, which would wrap it in an ExceptionGroup: it propagates
        # as it is once the workers are stopped.
        await self._task_group.__aexit__(None, None, None)

    async def _worker(self, sink: _Results) -> None:
        try:
            while True:
                try:
                    raw = await self._source.next()
                except Exception as exc:  # the caller's iterable failed: stop, raise it as it is
                    sink.source_error = sink.source_error or exc
                    return
                if raw is _DONE:
                    return
                readable = _readable_id(raw)
                invoice_id = str(raw).strip() if readable is None else readable
                if readable is not None and invoice_id in self._skip:  # done in an earlier run
                    continue
                try:
                    if readable is None:
                        raise ValidationError(
                            "invoice_id", f"is {str(raw)[:20]!r} ({type(raw).__name__})"
                        )
                    _validation.lookup_id(invoice_id)
                    result = ReconcileResult(invoice_id, status=await self._fetch(invoice_id))
                except EpayError as exc:
                    result = ReconcileResult(invoice_id, error=exc)
                if not await sink.put(result):  # the consumer has gone
                    return
        finally:
            sink.worker_done()


def _readable_id(raw: object) -> str | None:
    """An invoice id as text: text, or a whole number (a database's integer or NUMERIC
    column). None for anything else: an empty cell (None, a NaN) is that id's error, never
    the text "None" or "nan" sent to the gateway and answered "not found"."""
    if isinstance(raw, str):
        return raw.strip()
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        return str(int(raw))
    if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        return str(int(raw))
    return None


class _Results:
    """The results as they complete, handed over in batches: a worker appends to a buffer
    (waiting while it holds ``capacity`` results) and wakes the consumer only when it waits,
    so a burst of answers costs one task switch, not one per result. At the end, an error
    from the caller's iterable is raised."""

    def __init__(self, workers: int) -> None:
        self._buffer: deque[ReconcileResult] = deque()
        self._capacity = workers
        self._workers = workers
        self._closed = False
        self._data: anyio.Event | None = None  # set when the waiting consumer may go on
        self._space: anyio.Event | None = None  # set when waiting workers may append
        self.source_error: Exception | None = None

    async def put(self, result: ReconcileResult) -> bool:
        while len(self._buffer) >= self._capacity and not self._closed:
            if self._space is None:
                self._space = anyio.Event()
            await self._space.wait()
        if self._closed:
            return False
        self._buffer.append(result)
        self._wake_consumer()
        return True

    def worker_done(self) -> None:
        self._workers -= 1
        if self._workers == 0:
            self._wake_consumer()

    def close(self) -> None:
        self._closed = True
        if self._space is not None:
            self._space.set()

    def _wake_consumer(self) -> None:
        if self._data is not None:
            self._data.set()
            self._data = None

    def __aiter__(self) -> _Results:
        return self

    async def __anext__(self) -> ReconcileResult:
        while not self._buffer:
            if self._workers == 0 or self._closed:
                if self.source_error is not None:
                    raise self.source_error
                raise StopAsyncIteration
            self._data = anyio.Event()
            await self._data.wait()
        if self._space is not None:  # a worker waits for room
            self._space.set()
            self._space = None
        return self._buffer.popleft()

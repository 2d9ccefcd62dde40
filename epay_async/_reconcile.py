"""``reconcile``: check many invoices with bounded concurrency and memory.

A fixed pool of ``concurrency`` workers pulls ids one at a time from the (possibly endless,
possibly async) source and sends results to the consumer as they complete. Nothing is created
per id up front, so memory does not grow with the number of ids; one bad invoice yields an
error result and the batch goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import anyio
import attrs
from anyio.streams.memory import MemoryObjectSendStream

from . import _validation
from .errors import EpayError, ValidationError
from .types.status import TransactionStatus

__all__ = ["ReconcileResult", "reconcile"]

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


async def reconcile(
    fetch: Fetch,
    invoice_ids: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 16,
) -> AsyncIterator[ReconcileResult]:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError("concurrency", "must be a whole number >= 1")
    if isinstance(invoice_ids, str | bytes):
        raise ValidationError("invoice_ids", "must be an iterable of ids, not one string")
    source = _Source(invoice_ids)
    send, receive = anyio.create_memory_object_stream[ReconcileResult](concurrency)
    #: An exception from the caller's iterable: it stops the batch and is raised as it is.
    source_error: list[Exception] = []

    async def next_id() -> object:
        try:
            return await source.next()
        except Exception as exc:
            source_error.append(exc)
            return _DONE

    async def worker(results: MemoryObjectSendStream[ReconcileResult]) -> None:
        async with results:
            while (raw := await next_id()) is not _DONE:
                invoice_id = str(raw).strip()
                try:
                    _validation.invoice_id(invoice_id)
                    result = ReconcileResult(invoice_id, status=await fetch(invoice_id))
                except EpayError as exc:
                    result = ReconcileResult(invoice_id, error=exc)
                try:
                    await results.send(result)
                except anyio.BrokenResourceError:  # the consumer has gone
                    return

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker, send.clone())
        send.close()
        try:
            async for result in receive:
                yield result
        except GeneratorExit:
            pass  # the consumer stopped early: the workers are cancelled below
        finally:
            tg.cancel_scope.cancel()  # before closing the stream the workers send to
            receive.close()
    if source_error:
        raise source_error[0]

"""Work that must run to its end even when its caller is cancelled: the records of a money
request (the in-doubt callback, the journal's outcome)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["cancellation_pending", "run_to_end"]


def cancellation_pending() -> bool:
    """Whether this task has a cancellation pending. asyncio counts them from Python 3.11
    (``Task.cancelling``); on trio, and on asyncio under 3.10, a ``CancelledError`` is always
    taken for one."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # trio
        return True
    return task is None or not hasattr(task, "cancelling") or task.cancelling() > 0


async def run_to_end(job: Callable[[], Awaitable[None]], timeout: float) -> None:
    """Run ``job`` to its end (bounded by ``timeout``) whatever cancels the caller meanwhile,
    then raise the cancellation it held off. anyio's shield holds on trio; on asyncio a native
    ``task.cancel()`` (``asyncio.timeout``, a server dropping a request) would pass through
    it, so ``job`` runs in a task of its own that the caller waits for."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio
        with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
            await job()
        return

    async def bounded() -> None:
        with anyio.move_on_after(timeout):
            await job()

    task = asyncio.ensure_future(bounded())
    held: BaseException | None = None
    with anyio.CancelScope(shield=True):  # anyio's own cancellations wait outside
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError as exc:  # a native task.cancel()
                held = held or exc
    task.result()
    if held is not None:
        raise held

"""Memory stays flat across many failing calls, whatever way they fail."""

from __future__ import annotations

import gc
import tracemalloc

import anyio
import anyio.lowlevel
import httpx
import pytest

from epay_async import (
    ApiError,
    Environment,
    EpayClient,
    ReconcileResult,
    ResultCode,
    RetryPolicy,
    StatusError,
    TransactionStatus,
)
from epay_async._reconcile import Reconciliation

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Asyncio only: the figures measured are asyncio's (its timer heap)."""
    return "asyncio"


ENV = Environment.custom(
    token_url="https://auth.example.invalid/token", api_url="https://api.example.invalid"
)


def gateway(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/token":
        return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
    if request.url.path.endswith("0"):
        return httpx.Response(200, json={"resultCode": "106", "resultMessage": "terminal"})
    return httpx.Response(404, json={"code": 522, "message": "Record not found"})


@pytest.mark.slow
async def test_memory_is_flat_across_10000_failing_calls() -> None:
    transport = httpx.MockTransport(gateway)
    async with EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        transport=transport,
        retry=RetryPolicy.none(),
    ) as epay:

        async def fail(n: int) -> None:
            with pytest.raises((ApiError, StatusError)):
                await epay.get_status(f"{100000000 + n}")
            # A real request yields to the event loop; this mock does not. asyncio purges the
            # timers of finished deadlines on its next iteration, so let it iterate.
            await anyio.lowlevel.checkpoint()

        for n in range(500):  # warm up caches, the converter's generated code, the pool
            await fail(n)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(10_000):
                await fail(n)
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert growth < 256 * 1024, f"memory grew by {growth} bytes over 10 000 failing calls"


@pytest.mark.slow
async def test_memory_is_flat_over_100_000_ids() -> None:
    status = TransactionStatus(result_code=ResultCode.INVOICE_NOT_FOUND)

    async def fetch(invoice_id: str) -> TransactionStatus:
        await anyio.lowlevel.checkpoint()
        return status

    async def run(count: int) -> int:
        seen = 0
        ids = (str(100000000 + n) for n in range(count))
        async with Reconciliation(fetch, ids, 16) as results:
            async for result in results:
                seen += isinstance(result, ReconcileResult)
        return seen

    await run(1000)  # warm up
    gc.collect()
    tracemalloc.start()
    try:
        assert await run(100_000) == 100_000
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes while reconciling 100 000 ids"
    assert current < 256 * 1024

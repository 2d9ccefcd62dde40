"""Cancelling calls at any await point leaves the pool and the token state clean.

Real sockets: the sandbox is served on loopback, the client uses its own pool: httpx's (under
asyncio and trio) or aiohttp's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anyio
import httpx
import pytest

from epay_async import EpayClient, StatusName, TransportError
from epay_async._http.aiohttp_backend import AiohttpBackend
from epay_async._http.httpx_backend import HttpxBackend
from epay_async.testing import Fault, Sandbox

from ..conftest import FAST_RETRY, TRANSPORTS

pytestmark = pytest.mark.anyio


@pytest.fixture(params=TRANSPORTS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param).split("-")[0]


@pytest.fixture
def transport(anyio_backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["anyio_backend"]).split("-")[1]


@pytest.fixture
async def served() -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(key_bits=2048, latency=0.02)
    sandbox.add_transaction("123456789", status=StatusName.CHARGE)
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve)
        yield sandbox, f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def busy_connections(epay: EpayClient) -> list[object]:
    """Connections of the pool that are checked out (neither idle nor closed)."""
    backend = epay._backend
    if isinstance(backend, AiohttpBackend):
        connector = backend.session.connector
        assert isinstance(connector, aiohttp.BaseConnector)
        return list(connector._acquired)
    assert isinstance(backend, HttpxBackend)
    transport = backend.client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    pool = transport._pool
    return [c for c in pool.connections if not (c.is_idle() or c.is_closed())]


async def test_cancel_1000_in_flight_calls_then_100_more_succeed(
    served: tuple[Sandbox, str], transport: str
) -> None:
    sandbox, url = served
    async with EpayClient(
        client_id="test",
        client_secret=sandbox.gateway.merchant.client_secret,
        terminal_id=sandbox.terminal_id,
        environment=Sandbox.environment(url),
        retry=FAST_RETRY,
        transport=transport,
    ) as epay:
        finished = 0

        async def one() -> None:
            nonlocal finished
            await epay.get_status("123456789")
            finished += 1

        with anyio.move_on_after(0.1):
            async with anyio.create_task_group() as tg:
                for _ in range(1000):
                    tg.start_soon(one)
        assert finished < 1000, "the calls should still have been in flight"
        assert busy_connections(epay) == []
        tokens = epay._pipeline.tokens
        assert tokens._cache.flight is None

        results = []

        async def again() -> None:
            results.append(await epay.get_status("123456789"))

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(again)
        assert len(results) == 100
        assert all(r.status_name is StatusName.CHARGE for r in results)
        assert busy_connections(epay) == []
    assert len(sandbox.token_requests) <= 2


async def test_cancelled_retry_sleep_and_failures_leave_no_busy_connection(
    served: tuple[Sandbox, str], transport: str
) -> None:
    sandbox, url = served
    sandbox.fail("/check-status/", Fault.status(503), times=1000)
    async with EpayClient(
        client_id="test",
        client_secret=sandbox.gateway.merchant.client_secret,
        terminal_id=sandbox.terminal_id,
        environment=Sandbox.environment(url),
        timeout=httpx.Timeout(5.0, read=0.05),
        transport=transport,
    ) as epay:
        with anyio.move_on_after(0.3) as scope:  # cancelled while sleeping between retries
            await epay.get_status("123456789")
        assert scope.cancelled_caught
        sandbox.clear_faults()
        sandbox.fail("/check-status/", Fault.slow(0.5), times=3)
        with pytest.raises(TransportError, match="could not reach"):
            await epay.with_options(retry=FAST_RETRY).get_status("123456789")
        sandbox.fail("/check-status/", Fault.dropped(), times=3)
        with pytest.raises(TransportError, match="could not reach"):
            await epay.with_options(retry=FAST_RETRY).get_status("123456789")
        assert busy_connections(epay) == []

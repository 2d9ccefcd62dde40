"""The fault matrix again, for ``transport="aiohttp"``, over real loopback sockets.

The sandbox is served on 127.0.0.1 and the client sends through an aiohttp session. A served
sandbox cannot fail a connection that is already open, so the connect faults (refused, connect
and pool timeouts) are raised where aiohttp raises them, by the session's connector, before
anything is written; every other fault happens on the wire. Every cell must match the same
table as the default transport's (``matrix.EXPECTED``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import anyio
import httpx
import pytest
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace

from epay_async import EpayError
from epay_async.testing import TEST_CLIENT_SECRET, Fault, Sandbox
from epay_async.testing._faults import FaultKind

from ..conftest import FAST_RETRY
from .matrix import ENDPOINTS, FAULTS, Endpoint, Injected, expected

pytestmark = pytest.mark.anyio

#: Over sockets the timeout is real: long enough for a loaded machine's normal answer, and a
#: slow answer is four times as late.
SERVED_READ_TIMEOUT = 0.25


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


class FaultingConnector(aiohttp.TCPConnector):
    """Fails a connection as the sandbox's connect faults say, before anything is written."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(limit=100)
        self._sandbox = sandbox

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.connector.Connection:
        fault = self._sandbox.take_fault(req.method, req.url.path, unreached_only=True)
        if fault is None:
            return await super().connect(req, traces, timeout)
        if fault.kind is FaultKind.CONNECT_ERROR:
            raise aiohttp.ClientConnectorError(req.connection_key, OSError(111, "refused"))
        raise aiohttp.ConnectionTimeoutError(f"sandbox: {fault.kind.value}")


def on_the_wire(fault: Injected) -> Fault:
    if fault.fault.kind is FaultKind.SLOW:
        return Fault.slow(SERVED_READ_TIMEOUT * 4)
    return fault.fault


@pytest.fixture
async def served() -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(key_bits=2048)
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve)
        yield sandbox, f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_cell(
    endpoint: Endpoint,
    fault: Injected,
    served: tuple[Sandbox, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox, url = served
    outcome = expected(endpoint, fault)
    timeout = httpx.Timeout(5.0, read=SERVED_READ_TIMEOUT)
    async with (
        aiohttp.ClientSession(connector=FaultingConnector(sandbox)) as session,
        sandbox.client(
            transport=session,
            environment=Sandbox.environment(url),
            retry=FAST_RETRY,
            timeout=timeout,
        ) as epay,
    ):
        call = await endpoint.setup(sandbox, epay)
        before = len(sandbox.requests_to(endpoint.path))
        sandbox.fail(endpoint.path, on_the_wire(fault), times=fault.times)
        error: EpayError | None = None
        if outcome.error is None:
            await call()
        else:
            with pytest.raises(outcome.error) as info:
                await call()
            error = info.value
    reached = len(sandbox.requests_to(endpoint.path)) - before
    assert reached == outcome.reached, f"{reached} requests reached {endpoint.path}"
    shown = caplog.text + (f"{error!s}{error!r}" if error else "")
    for secret in [TEST_CLIENT_SECRET, *(t.value for t in sandbox.gateway.tokens.values())]:
        assert secret not in shown

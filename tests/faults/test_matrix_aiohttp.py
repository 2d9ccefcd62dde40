"""The fault matrix again, for ``transport="aiohttp"``, over real loopback sockets.

The sandbox is served on 127.0.0.1 and the client sends through an aiohttp session. A served
sandbox cannot fail a connection that is already open, so the connect faults (refused, connect
and pool timeouts) are raised where aiohttp raises them, by the session's connector, before
anything is written; every other fault happens on the wire. Every cell must match the same
table as the default transport's (``matrix.EXPECTED``).
"""

from __future__ import annotations

import logging

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace

from epay_async.testing import Fault, Sandbox
from epay_async.testing._faults import FaultKind

from ..conftest import FAST_RETRY, served
from .matrix import Endpoint, Injected, cell_id, cells, check_cell

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


# The aiohttp backend's own classification of each fault (sent or not, retryable or not) is
# what differs from httpx: each kind's representative meets every fault over real sockets.
@pytest.mark.parametrize("cell", cells(every_endpoint=False), ids=cell_id)
async def test_cell(cell: tuple[Endpoint, Injected], caplog: pytest.LogCaptureFixture) -> None:
    endpoint, fault = cell
    caplog.set_level(logging.DEBUG)
    sandbox = Sandbox(key_bits=2048)
    timeout = httpx.Timeout(5.0, read=SERVED_READ_TIMEOUT)
    async with (
        served(sandbox) as url,
        aiohttp.ClientSession(connector=FaultingConnector(sandbox)) as session,
        sandbox.client(
            transport=session,
            environment=Sandbox.environment(url),
            retry=FAST_RETRY,
            timeout=timeout,
        ) as epay,
    ):
        await check_cell(sandbox, epay, endpoint, fault, caplog, on_the_wire=on_the_wire(fault))

from __future__ import annotations

import contextlib
import functools
import socket
import weakref
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest

from epay_async import EpayClient, RetryPolicy
from epay_async._http.aiohttp_backend import AiohttpBackend
from epay_async._http.httpx_backend import HttpxBackend
from epay_async.testing import Sandbox

#: Fast retries for tests: same number of attempts as the default, no real waiting.
FAST_RETRY = RetryPolicy(backoff_base=0.0, backoff_max=0.0, jitter=0.0, retry_after_cap=0.0)


#: The event loops an async test runs under, unless its module says otherwise: trio where
#: cancel scopes, deadlines, locks and task groups live (a module sets
#: ``ANYIO_BACKENDS = BOTH_BACKENDS``), asyncio alone elsewhere.
BOTH_BACKENDS = ("asyncio", "trio")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "anyio_backend" not in metafunc.fixturenames:
        return
    if hasattr(metafunc.module, "anyio_backend"):  # the module's own fixture decides
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        if "anyio_backend" in str(marker.args[0]):
            return
    backends = getattr(metafunc.module, "ANYIO_BACKENDS", ("asyncio",))
    metafunc.parametrize("anyio_backend", backends)


@pytest.fixture
def anyio_backend() -> str:
    """Overridden by the parametrisation above."""
    return "asyncio"


#: Real-socket tests run each transport under each backend it supports (aiohttp: asyncio only).
TRANSPORTS = ["asyncio-httpx", "trio-httpx", "asyncio-aiohttp"]


@contextlib.asynccontextmanager
async def served(sandbox: Sandbox) -> AsyncIterator[str]:
    """``sandbox`` served on 127.0.0.1 for the block; its base URL."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(key_bits=2048)


@pytest.fixture
async def epay(sandbox: Sandbox) -> AsyncIterator[EpayClient]:
    async with sandbox.client(retry=FAST_RETRY) as client:
        yield client


@pytest.fixture(scope="session", autouse=True)
def no_connection_left_open() -> Iterator[None]:
    """After the whole suite, no HTTP connection opened by a library client is still open, and
    no aiohttp session the library made is left unclosed."""
    clients: weakref.WeakSet[httpx.AsyncClient] = weakref.WeakSet()
    sessions: weakref.WeakSet[AiohttpBackend] = weakref.WeakSet()
    original = EpayClient.__init__

    @functools.wraps(original)
    def tracking(self: EpayClient, **kwargs: object) -> None:
        original(self, **kwargs)  # type: ignore[arg-type]
        backend = self._backend
        if isinstance(backend, HttpxBackend):
            clients.add(backend.client)
        elif isinstance(backend, AiohttpBackend) and backend.owned:
            sessions.add(backend)

    EpayClient.__init__ = tracking  # type: ignore[method-assign]
    try:
        yield
    finally:
        EpayClient.__init__ = original  # type: ignore[method-assign]
    open_connections = [
        connection
        for client in clients
        if isinstance(client._transport, httpx.AsyncHTTPTransport)
        for connection in client._transport._pool.connections
        if not connection.is_closed()
    ]
    assert open_connections == [], f"{len(open_connections)} connections left open"
    open_sessions = [b for b in sessions if b._session is not None and not b._session.closed]
    assert open_sessions == [], f"{len(open_sessions)} aiohttp sessions left open"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

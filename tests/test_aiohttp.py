"""transport="aiohttp": faster at high concurrency, and still never pays twice (asyncio only)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import anyio
import httpx
import pytest

from epay_async import EpayClient, Order, OutcomeUnknownError, StatusName, TransportError
from epay_async._aiohttp import reclassify
from epay_async.testing import TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Fault, Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Asyncio only: aiohttp runs on asyncio only."""
    return "asyncio"


REQUEST = httpx.Request("POST", "http://127.0.0.1/payments/cards/auth")


def caused_by(exc: httpx.TransportError, cause: BaseException) -> httpx.TransportError:
    exc.__cause__ = cause
    return exc


def test_a_connection_lost_after_sending_is_not_called_never_sent() -> None:
    # httpx-aiohttp maps ClientConnectionError (ServerDisconnectedError, ClientOSError) to
    # ConnectTimeout; that would let a money request be sent again.
    for cause in (aiohttp.ServerDisconnectedError(), aiohttp.ClientOSError(104, "reset")):
        mapped = reclassify(caused_by(httpx.ConnectTimeout("x"), cause), REQUEST)
        assert isinstance(mapped, httpx.RemoteProtocolError)


def test_genuine_connect_failures_stay_never_sent() -> None:
    connector = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
    assert isinstance(
        reclassify(caused_by(httpx.ConnectTimeout("x"), connector), REQUEST), httpx.ConnectError
    )
    timeout = aiohttp.ConnectionTimeoutError()
    assert isinstance(
        reclassify(caused_by(httpx.TimeoutException("x"), timeout), REQUEST), httpx.ConnectTimeout
    )
    read = httpx.ReadTimeout("x")
    assert reclassify(caused_by(read, aiohttp.SocketTimeoutError()), REQUEST) is read


@pytest.fixture
async def served() -> AsyncIterator[tuple[Sandbox, EpayClient]]:
    sandbox = Sandbox(key_bits=2048, answer_any_invoice=True)
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve)
        async with EpayClient(
            client_id="test",
            client_secret=TEST_CLIENT_SECRET,
            terminal_id=TEST_TERMINAL_ID,
            transport="aiohttp",
            retry=FAST_RETRY,
            environment=Sandbox.environment(f"http://127.0.0.1:{port}"),
        ) as epay:
            yield sandbox, epay
        tg.cancel_scope.cancel()


async def test_status_and_payment_over_aiohttp(served: tuple[Sandbox, EpayClient]) -> None:
    sandbox, epay = served
    assert (await epay.get_status("100000007")).status_name is StatusName.AUTH
    card_id = sandbox.save_card("4405639704015096", account_id="a")
    order = Order(invoice_id="100000100", amount=Decimal("10.50"), description="x")
    assert (await epay.pay_with_saved_card(order, card_id)).status == "AUTH"


async def test_dropped_connection_after_a_payment_is_outcome_unknown(
    served: tuple[Sandbox, EpayClient],
) -> None:
    sandbox, epay = served
    card_id = sandbox.save_card("4405639704015096", account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.dropped())
    order = Order(invoice_id="100000101", amount=Decimal("10.50"), description="x")
    with pytest.raises(OutcomeUnknownError):
        await epay.pay_with_saved_card(order, card_id)
    assert len(sandbox.requests_to("/payments/cards/auth")) == 1
    assert (await epay.get_status("100000101")).is_paid


async def test_refused_connection_is_never_sent_and_retried() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="t",
        transport="aiohttp",
        retry=FAST_RETRY,
        environment=Sandbox.environment(f"http://127.0.0.1:{port}"),
    ) as epay:
        with pytest.raises(TransportError, match="could not reach"):
            await epay.get_status("100000001")

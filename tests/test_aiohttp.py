"""transport="aiohttp": an aiohttp session behind the library's seam, every guarantee kept.

Over real loopback sockets: a scripted server plays each way a connection can fail, and the
tests count what reached it. asyncio only: aiohttp runs on asyncio only.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import anyio
import attrs
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey

from epay_async import (
    Card,
    Environment,
    EpayClient,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    ProtocolError,
    RetryPolicy,
    StatusName,
    TransportError,
    ValidationError,
)
from epay_async._http.aiohttp_backend import classify
from epay_async.testing import TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Fault, Sandbox

from .conftest import FAST_RETRY, served
from .factories import order as make_order

pytestmark = pytest.mark.anyio

TOKEN = b'{"access_token": "tok-aiohttp-secret-1", "expires_in": 7200, "token_type": "Bearer"}'
STATUS = (
    b'{"resultCode": "100", "resultMessage": "SUCCESS", "transaction": {"id": '
    b'"8fe85c25-c4bb-44f3-b159-d1b810d4e301", "invoiceID": "100000001", "amount": 100, '
    b'"currency": "KZT", "terminal": "t", "statusName": "CHARGE", "createdDate": '
    b'"2026-01-01T10:00:00"}}'
)
CARD_ID = "8fe85c25-c4bb-44f3-b159-d1b810d4e302"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the classification, exception by exception ----------------------------------------------


def key() -> ConnectionKey:
    return ConnectionKey("127.0.0.1", 1, False, True, None, None, None)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectorError(key(), OSError(111, "refused")),
        aiohttp.ClientConnectorDNSError(key(), OSError(-2, "no such host")),
        aiohttp.ConnectionTimeoutError("connect"),
    ],
    ids=type,
)
def test_no_connection_is_never_sent(exc: BaseException) -> None:
    failure = classify(exc)
    assert failure is not None
    assert not failure.sent
    assert failure.retryable


def test_a_connection_closed_before_the_write_is_never_sent() -> None:
    # aiohttp re-raises the writer's error as ClientOSError, caused by the refusal to write.
    written = aiohttp.ClientConnectionResetError("Cannot write to closing transport")
    wrapped = aiohttp.ClientOSError(None, "Can not write request body")
    wrapped.__cause__ = written
    for exc in (written, wrapped):
        failure = classify(exc)
        assert failure is not None
        assert not failure.sent


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientConnectionResetError("Connection lost"),  # lost while draining the write
        aiohttp.SocketTimeoutError("read"),
        aiohttp.ClientPayloadError("cut"),
        asyncio.TimeoutError(),
    ],
    ids=type,
)
def test_anything_after_a_connection_may_have_been_sent(exc: BaseException) -> None:
    failure = classify(exc)
    assert failure is not None
    assert failure.sent


def test_other_errors_are_not_the_exchanges_to_classify() -> None:
    assert classify(ValueError("a bug")) is None


# -- a scripted server -------------------------------------------------------------------------

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@attrs.define
class Server:
    """Counts connections and the requests that arrived whole; ``script`` plays the rest."""

    script: Script
    connections: int = 0
    requests: list[bytes] = attrs.Factory(list)
    port: int = 0

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        request = head + (await reader.readexactly(length) if length else b"")
        self.requests.append(request)
        return request

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer(status: int, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def answering(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server, last: bytes
) -> None:
    """Answer tokens and statuses as the gateway would, and ``last`` to anything else."""
    while True:
        request = await server.read_request(reader)
        if b"/oauth2/token" in request:
            writer.write(answer(200, TOKEN, "Content-Type: application/json"))
        elif b"/check-status/" in request:
            writer.write(answer(200, STATUS, "Content-Type: application/json"))
        else:
            writer.write(last)
            await writer.drain()
            return
        await writer.drain()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Server:
        server = Server(script)
        listener = await asyncio.start_server(server._connection, "127.0.0.1", 0)
        server.port = listener.sockets[0].getsockname()[1]
        servers.append(listener)
        return server

    yield start
    for listener in servers:
        listener.close()


def client(port: int, **options: object) -> EpayClient:
    settings: dict[str, object] = {
        "client_id": "test",
        "client_secret": TEST_CLIENT_SECRET,
        "terminal_id": TEST_TERMINAL_ID,
        "transport": "aiohttp",
        "retry": FAST_RETRY,
        "environment": Sandbox.environment(f"http://127.0.0.1:{port}"),
    }
    settings.update(options)
    return EpayClient(**settings)  # type: ignore[arg-type]


def order(invoice_id: str = "100000001") -> Order:
    return make_order(invoice_id, "100.00", "x")


def payments(server: Server) -> int:
    return sum(b"/payments/cards/auth" in request for request in server.requests)


# -- never sent ---------------------------------------------------------------------------------


async def test_refused_connection_is_never_sent_and_retried() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client(port) as epay:
        with pytest.raises(TransportError, match=r"could not reach.*ClientConnectorError"):
            await epay.get_status("100000001")
        with pytest.raises(TransportError, match="could not reach"):
            await epay.pay_with_saved_card(order(), CARD_ID)


async def test_a_payment_connection_the_server_closed_unread_is_never_paid_twice(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    # The server closes the payment's connection before reading a byte. What aiohttp reports
    # depends on which event the loop sees first. When the refused write surfaces (seen on
    # Python 3.13), nothing of the payment was written: it is provably unsent, and tried again.
    # When only the disconnect does (ServerDisconnectedError, seen on 3.11), it proves nothing:
    # the payment is in doubt, and never sent again. Either way no payment reaches the server.
    async def token_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        if server.connections == 1:
            await server.read_request(reader)
            writer.write(answer(200, TOKEN, "Connection: close"))
            await writer.drain()

    server = await serve(token_then_close)

    async def wait_for_the_close(*_: object) -> None:
        await asyncio.sleep(0.05)  # the server's close arrives before the client writes

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_end.append(wait_for_the_close)
    async with (
        aiohttp.ClientSession(trace_configs=[tracing]) as session,
        client(server.port, transport=session) as epay,
    ):
        with pytest.raises((OutcomeUnknownError, TransportError)) as info:
            await epay.pay_with_saved_card(order(), CARD_ID)
    assert payments(server) == 0
    if isinstance(info.value, OutcomeUnknownError):
        assert "ServerDisconnectedError" in str(info.value)
        assert server.connections == 2  # the token's, then the payment's: not tried again
    else:
        assert "could not reach" in str(info.value)
        assert server.connections == 1 + FAST_RETRY.max_attempts  # unsent: tried again


async def test_waiting_for_a_pooled_connection_past_the_connect_timeout_is_never_sent(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    release, holding = anyio.Event(), anyio.Event()

    async def status_hangs(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        while True:
            request = await server.read_request(reader)
            if b"/check-status/" in request:
                holding.set()
                await release.wait()
                return
            writer.write(answer(200, TOKEN))
            await writer.drain()

    server = await serve(status_hangs)
    # Tokens by another host name: only the API's one connection is held.
    env = Environment.custom(
        token_url=f"http://localhost:{server.port}/oauth2/token",
        api_url=f"http://127.0.0.1:{server.port}",
    )
    timeout = httpx.Timeout(5.0, connect=0.1, pool=0.1)
    connector = aiohttp.TCPConnector(limit_per_host=1)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        client(server.port, transport=session, timeout=timeout, environment=env) as epay,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(epay.get_status, "100000001")  # holds the API's connection
        await holding.wait()
        with pytest.raises(TransportError, match=r"could not reach.*ConnectionTimeoutError"):
            await epay.pay_with_saved_card(order(), CARD_ID)
        release.set()
        tg.cancel_scope.cancel()
    assert payments(server) == 0


# -- may have been sent -------------------------------------------------------------------------


async def test_a_connection_closed_after_the_payment_was_written_is_outcome_unknown(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def close_after_the_payment(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await answering(reader, writer, server, last=b"")

    server = await serve(close_after_the_payment)
    records: list[OutcomeUnknownError] = []
    async with client(server.port, on_outcome_unknown=records.append) as epay:
        with pytest.raises(OutcomeUnknownError) as info:
            await epay.pay_with_saved_card(order(), CARD_ID)
    assert info.value.invoice_id == "100000001"
    assert payments(server) == 1
    assert records == [info.value]  # the in-doubt record


async def test_an_answer_cut_short_is_outcome_unknown_for_money_and_retried_for_reads(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"id": "12'  # a payload error

    async def cut_short(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        while True:
            request = await server.read_request(reader)
            writer.write(answer(200, TOKEN) if b"/oauth2/token" in request else cut)
            await writer.drain()
            if b"/oauth2/token" not in request:
                return

    server = await serve(cut_short)
    async with client(server.port) as epay:
        with pytest.raises(OutcomeUnknownError, match="answer cut short"):
            await epay.pay_with_saved_card(order(), CARD_ID)
        assert payments(server) == 1
        with pytest.raises(TransportError):
            await epay.get_status("100000001")
    statuses = sum(b"/check-status/" in request for request in server.requests)
    assert statuses == 3  # a read is tried again


async def test_no_answer_within_the_read_timeout_is_outcome_unknown(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def never_answer_the_payment(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await answering(reader, writer, server, last=b"")
        await asyncio.sleep(10)

    server = await serve(never_answer_the_payment)
    async with client(server.port, timeout=httpx.Timeout(5.0, read=0.2)) as epay:
        with pytest.raises(OutcomeUnknownError, match="SocketTimeoutError"):
            await epay.pay_with_saved_card(order(), CARD_ID)
    assert payments(server) == 1


async def test_the_call_deadline_cuts_a_hanging_exchange(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def hang(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await answering(reader, writer, server, last=b"")
        await asyncio.sleep(10)

    server = await serve(hang)
    async with client(server.port, retry=RetryPolicy(deadline=0.3)) as epay:
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError, match="deadline"):
            await epay.pay_with_saved_card(order(), CARD_ID)
        assert time.monotonic() - started < 2.0
    assert payments(server) == 1


# -- answers ----------------------------------------------------------------------------------


async def test_an_answer_over_the_size_cap_is_refused(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    big = b'{"x": "' + b"y" * (2 << 20) + b'"}'
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (big[: 1 << 20], big[1 << 20 :]))
        + b"0\r\n\r\n"
    )
    for last in (answer(200, big), chunked):
        server = await serve(
            lambda r, w, s, last=last: answering(r, w, s, last)  # type: ignore[misc]
        )
        async with client(server.port) as epay:
            with pytest.raises(OutcomeUnknownError, match="exceeds"):
                await epay.pay_with_saved_card(order(), CARD_ID)
            with pytest.raises(ProtocolError, match="exceeds"):
                await epay.list_cards("acct")


async def test_compressed_answers_are_read_and_a_bomb_is_capped(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    cards = gzip.compress(b"[]")
    bomb = gzip.compress(b" " * (8 << 20))
    for body, error in ((cards, None), (bomb, ProtocolError)):
        last = answer(200, body, "Content-Encoding: gzip", "Content-Type: application/json")
        server = await serve(
            lambda r, w, s, last=last: answering(r, w, s, last)  # type: ignore[misc]
        )
        async with client(server.port) as epay:
            if error is None:
                assert await epay.list_cards("acct") == []
            else:
                with pytest.raises(error, match="decompressed"):
                    await epay.list_cards("acct")


async def test_a_redirect_is_never_followed(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def elsewhere_script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server
    ) -> None:
        await server.read_request(reader)
        writer.write(answer(200, b"[]"))

    elsewhere = await serve(elsewhere_script)
    location = f"Location: http://127.0.0.1:{elsewhere.port}/cards/acct"
    redirect = answer(307, b"", location)
    server = await serve(
        lambda r, w, s: answering(r, w, s, redirect)  # type: ignore[misc]
    )
    async with client(server.port) as epay:
        with pytest.raises(ProtocolError, match="307 redirect"):
            await epay.list_cards("acct")
    assert elsewhere.connections == 0


# -- the sandbox, logs, sessions ----------------------------------------------------------------


@pytest.fixture
async def served_sandbox() -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(key_bits=2048, answer_any_invoice=True)
    async with served(sandbox) as url:
        yield sandbox, url


async def test_status_and_payment_over_aiohttp_with_a_debug_line_and_no_secret(
    served_sandbox: tuple[Sandbox, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="epay_async")
    sandbox, url = served_sandbox
    async with sandbox.client(transport="aiohttp", environment=Sandbox.environment(url)) as epay:
        assert (await epay.get_status("100000007")).status_name is StatusName.AUTH
        card_id = sandbox.save_card("4405639704015096", account_id="a")
        order = Order(invoice_id="100000100", amount=Decimal("10.50"), description="x")
        assert (await epay.pay_with_saved_card(order, card_id)).status == "AUTH"
    assert "GET /check-status/payment/transaction/100000007 -> 200" in caplog.text
    assert "POST /payments/cards/auth -> 200" in caplog.text
    for token in sandbox.gateway.tokens.values():
        assert token.value not in caplog.text
    assert TEST_CLIENT_SECRET not in caplog.text
    user_agents = {r.headers.get("user-agent") for r in sandbox.requests_to("/check-status/")}
    assert user_agents == {"epay-async"}


async def test_a_dropped_payment_over_the_sandbox_is_outcome_unknown_and_settled_by_status(
    served_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = served_sandbox
    async with sandbox.client(
        transport="aiohttp", environment=Sandbox.environment(url), retry=FAST_RETRY
    ) as epay:
        card_id = sandbox.save_card("4405639704015096", account_id="a")
        sandbox.fail("/payments/cards/auth", Fault.dropped())
        order = Order(invoice_id="100000101", amount=Decimal("10.50"), description="x")
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order, card_id)
        assert len(sandbox.requests_to("/payments/cards/auth")) == 1
        assert (await epay.get_status("100000101")).is_paid


async def test_a_lent_session_is_never_closed_and_the_own_one_is(
    served_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = served_sandbox
    env = Sandbox.environment(url)
    async with aiohttp.ClientSession() as session:
        async with sandbox.client(transport=session, environment=env) as epay:
            await epay.get_status("100000007")
        assert not session.closed
    own = sandbox.client(transport="aiohttp", environment=env)
    await own.get_status("100000007")
    await own.aclose()
    with pytest.raises(TransportError, match="closed"):
        await own.get_status("100000007")
    with pytest.raises(AttributeError, match="aiohttp"):
        _ = own.http_client


async def test_aclose_during_a_payment_is_outcome_unknown(
    served_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = served_sandbox
    sandbox.latency = 0.2
    card_id = sandbox.save_card("4405639704015096", account_id="a")
    epay = sandbox.client(transport="aiohttp", environment=Sandbox.environment(url))
    await epay.get_status("100000007")  # the session exists; the payment's token is next
    outcome: list[BaseException] = []

    async def pay() -> None:
        try:
            await epay.pay_with_saved_card(order("100000102"), card_id)
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(pay)
        await anyio.sleep(0.3)  # the token is in, the payment under way
        await epay.aclose()
    assert len(outcome) == 1
    assert isinstance(outcome[0], OutcomeUnknownError)


async def test_a_payment_cancelled_after_the_write_is_recorded_once(
    served_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = served_sandbox
    records: list[OutcomeUnknownError] = []
    card_id = sandbox.save_card("4405639704015096", account_id="a")
    async with sandbox.client(
        transport="aiohttp",
        environment=Sandbox.environment(url),
        retry=FAST_RETRY,
        on_outcome_unknown=records.append,
    ) as epay:
        sandbox.fail("/payments/cards/auth", Fault.slow(30))
        with anyio.move_on_after(0.5):
            await epay.pay_with_saved_card(order("600000010"), card_id)
        assert len(sandbox.requests_to("/payments/cards/auth")) == 1
        assert [r.invoice_id for r in records] == ["600000010"]
        # a cancellation during the token request sends nothing and records nothing
        sandbox.fail("/oauth2/token", Fault.slow(30))
        with anyio.move_on_after(0.3):
            await epay.pay_with_saved_card(order("600000011"), card_id)
        assert len(sandbox.requests_to("/payments/cards/auth")) == 1
        assert len(records) == 1


# -- a lent session never resends, rewrites or hides an answer -----------------------------------


def session(**options: Any) -> aiohttp.ClientSession:
    """A session as a merchant makes it; ``auth="basic"``: a BasicAuth (deprecated in aiohttp
    3.14, still taken)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if options.get("auth") == "basic":
            options["auth"] = aiohttp.BasicAuth("merchant", "pw")
        return aiohttp.ClientSession(**options)


async def resend_on_5xx(
    request: aiohttp.ClientRequest,
    handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
) -> aiohttp.ClientResponse:
    """A session middleware a merchant might have: call the handler again on a 5xx."""
    response = await handler(request)
    if response.status >= 500:
        response = await handler(request)
    return response


async def test_a_lent_sessions_middleware_never_sends_a_payment_twice(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while True:  # every payment is answered 502: a resend would reach the server
            request = await s.read_request(r)
            if b"/oauth2/token" in request:
                w.write(answer(200, TOKEN, "Content-Type: application/json"))
            else:
                w.write(answer(502, b"bad gateway"))
            await w.drain()

    server = await serve(script)
    async with (
        aiohttp.ClientSession(middlewares=(resend_on_5xx,)) as session,
        client(server.port, transport=session) as epay,
    ):
        with pytest.raises(OutcomeUnknownError, match="HTTP 502"):
            await epay.pay_with_saved_card(order(), CARD_ID)
    assert payments(server) == 1


async def test_a_lent_sessions_raise_for_status_never_hides_a_decline_or_a_401(
    served_sandbox: tuple[Sandbox, str],
) -> None:
    sandbox, url = served_sandbox
    locked = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        sandbox.client(
            transport=session, environment=Sandbox.environment(url), retry=FAST_RETRY
        ) as epay,
    ):
        with pytest.raises(PaymentDeclinedError) as info:
            await epay.pay_with_card(order("100000200"), locked)
        assert info.value.http_status == 400
        # a 401 on a read: the token is refreshed once, and the read answered
        assert (await epay.get_status("100000007")).status_name is StatusName.AUTH
        tokens = len(sandbox.requests_to("/oauth2/token"))
        sandbox.fail("/check-status/", Fault.status(401))
        assert (await epay.get_status("100000007")).status_name is StatusName.AUTH
        assert len(sandbox.requests_to("/oauth2/token")) == tokens + 1


@pytest.mark.parametrize(
    ("setting", "options"),
    [
        ("auth", {"auth": "basic"}),
        ("trust_env", {"trust_env": True}),
        ("Authorization", {"headers": {"Authorization": "Basic bWU6cHc="}}),
        ("Content-Encoding", {"headers": {"Content-Encoding": "gzip"}}),
        ("response_class", {"response_class": type("Mine", (aiohttp.ClientResponse,), {})}),
        ("request_class", {"request_class": type("Mine", (aiohttp.ClientRequest,), {})}),
    ],
)
async def test_a_lent_session_that_would_send_credentials_or_rewrite_is_refused(
    setting: str, options: dict[str, Any]
) -> None:
    async with session(**options) as lent:
        with pytest.raises(ValidationError, match=setting) as info:
            client(1, transport=lent)
    assert info.value.field == "transport"


async def test_a_lent_session_with_auth_never_puts_its_credentials_on_the_wire(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    # Refused before any I/O: no bare ValueError, and nothing reached the server.
    server = await serve(lambda r, w, s: answering(r, w, s, answer(200, STATUS)))
    async with session(auth="basic") as lent:
        with pytest.raises(ValidationError, match="auth"):
            client(server.port, transport=lent)
    assert server.requests == []
    # the settings that stay: default headers, cookies; only the bearer token is sent
    async with (
        aiohttp.ClientSession(headers={"X-Shop": "1"}) as shops,
        client(server.port, transport=shops) as epay,
    ):
        shops.cookie_jar.update_cookies({"shop": "c"})
        assert (await epay.get_status("100000001")).status_name is StatusName.CHARGE
    status = next(r for r in server.requests if b"/check-status/" in r)
    authorization = [
        line for line in status.split(b"\r\n") if line.lower().startswith(b"authorization:")
    ]
    assert authorization == [b"Authorization: Bearer tok-aiohttp-secret-1"]
    assert b"X-Shop: 1" in status
    token = next(r for r in server.requests if b"/oauth2/token" in r)
    assert b"authorization:" not in token.lower()


# -- gzip and deflate framing, on both transports ------------------------------------------------


def _deflate_raw(body: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(body) + packer.flush()


FRAMING = {
    "gzip without its trailer": ("gzip", gzip.compress(b"[]")[:-8]),
    "gzip with bytes after it": ("gzip", gzip.compress(b"[]") + b"[1]"),
    "gzip with a cut second member": ("gzip", gzip.compress(b"[]") + gzip.compress(b"")[:-3]),
    "zlib without its checksum": ("deflate", zlib.compress(b"[]")[:-4]),
    "zlib with bytes after it": ("deflate", zlib.compress(b"[]") + b"[1]"),
    "raw deflate cut short": ("deflate", _deflate_raw(b"[]" * 50)[:-1]),
    "raw deflate with bytes after it": ("deflate", _deflate_raw(b"[]") + b"[1]"),
}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("case", list(FRAMING))
async def test_a_compressed_answer_cut_short_or_with_bytes_after_it_is_refused(
    serve: Callable[[Script], Awaitable[Server]], transport: str, case: str
) -> None:
    encoding, body = FRAMING[case]
    last = answer(200, body, f"Content-Encoding: {encoding}", "Content-Type: application/json")
    server = await serve(lambda r, w, s: answering(r, w, s, last))
    async with client(server.port, transport=transport) as epay:
        with pytest.raises(ProtocolError, match=encoding):
            await epay.list_cards("acct")
    server = await serve(lambda r, w, s: answering(r, w, s, last))
    async with client(server.port, transport=transport) as epay:
        with pytest.raises(OutcomeUnknownError, match=encoding):
            await epay.pay_with_saved_card(order(), CARD_ID)
    assert payments(server) == 1


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_whole_compressed_answers_are_still_read(
    serve: Callable[[Script], Awaitable[Server]], transport: str
) -> None:
    for encoding, body in (
        ("gzip", gzip.compress(b"[") + gzip.compress(b"]")),  # two members: RFC 1952
        ("deflate", zlib.compress(b"[]")),
        ("deflate", _deflate_raw(b"[]")),
    ):
        last = answer(200, body, f"Content-Encoding: {encoding}", "Content-Type: application/json")
        server = await serve(lambda r, w, s, last=last: answering(r, w, s, last))  # type: ignore[misc]
        async with client(server.port, transport=transport) as epay:
            assert await epay.list_cards("acct") == []

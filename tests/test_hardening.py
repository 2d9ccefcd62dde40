"""The adversarial review's attacks, each kept as a test: hostile answers, inputs and shutdowns."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from epay_async import (
    ApiError,
    Environment,
    EpayClient,
    NotificationMismatchError,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    ProtocolError,
    RequestInFlightError,
    RetryPolicy,
    StatusName,
    TransportError,
    ValidationError,
    _validation,
)
from epay_async._converter import loads, structure, to_decimal
from epay_async._ops.notifications import mismatches
from epay_async._transport import Transport
from epay_async.notifications import MAX_NOTIFICATION_BYTES, parse_notification
from epay_async.testing import Sandbox
from epay_async.types.status import TransactionStatus

from .conftest import BOTH_BACKENDS, FAST_RETRY

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups

ENV = Environment.custom(token_url="https://oauth.test/token", api_url="https://api.test")
TX = "7943816b-58a8-47f6-a11e-67b63c4228c7"
CARD = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
TOKEN = {"access_token": "tok", "expires_in": 7200}
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def order(invoice_id: str = "123456789", amount: Any = "100.00") -> Order:
    return Order(invoice_id=invoice_id, amount=amount, description="x")


def client(handle: Handler, **kwargs: Any) -> EpayClient:
    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json=TOKEN)
        return await handle(request)

    options: dict[str, Any] = {"retry": FAST_RETRY, **kwargs}
    return EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="67e34d63-102f-4bd1-898e-370781d0074d",
        environment=ENV,
        transport=httpx.MockTransport(route),
        **options,
    )


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = iter(chunks)

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return next(self.chunks)
        except StopIteration:
            raise StopAsyncIteration from None


class Streaming(httpx.AsyncBaseTransport):
    """Answers as a socket does: the body is streamed, not read (and decoded) beforehand,
    as httpx.MockTransport does."""

    def __init__(self, body: bytes, **headers: str) -> None:
        self.body = body
        self.headers = headers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json=TOKEN)
        chunks = [self.body[i : i + 65536] for i in range(0, len(self.body), 65536)]
        return httpx.Response(200, headers=self.headers, stream=_Chunks(chunks))


def streaming(body: bytes, **headers: str) -> EpayClient:
    return EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        transport=Streaming(body, **headers),
        retry=FAST_RETRY,
    )


def raw_client(handle: Handler, **kwargs: Any) -> EpayClient:
    """A client whose every request, the token's included, goes to ``handle``."""
    options: dict[str, Any] = {"retry": FAST_RETRY, **kwargs}
    return EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        transport=httpx.MockTransport(handle),
        **options,
    )


def answering(body: bytes, status: int = 200, **headers: str) -> Handler:
    async def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return handle


PAID = {
    "id": TX,
    "invoiceID": "123456789",
    "amount": 100,
    "currency": "KZT",
    "code": 0,
    "status": "AUTH",
}


# -- 1. numbers that would block the event loop -----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"resultCode": 1e999999, "resultMessage": "x"}',
        b'{"resultCode": 1e9999999, "resultMessage": "x"}',
        b'{"resultCode": "100", "transaction": {"amount": 1e999999}}',
        b'{"resultCode": ' + b"9" * 4000 + b"}",
    ],
)
async def test_huge_numbers_in_a_status_answer_fail_fast(body: bytes) -> None:
    started = time.perf_counter()
    async with client(answering(body)) as epay:
        with pytest.raises(ProtocolError):
            await epay.get_status("123456789")
    assert time.perf_counter() - started < 5  # seconds, not the minutes it took before


async def test_a_huge_code_in_a_payment_answer_is_outcome_unknown() -> None:
    async with client(answering(b'{"id": "x", "code": 1e999999}')) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order(), CARD)


def test_the_parser_bounds_every_number() -> None:
    assert loads(b'{"a": 12.22, "b": 100}') == {"a": Decimal("12.22"), "b": 100}
    for text in (b"1e41", b"1e-41", b"1" + b"0" * 41, b"0." + b"0" * 40 + b"1"):
        with pytest.raises(ProtocolError):
            loads(text)
    assert loads(b"1e40") == Decimal("1e40")
    with pytest.raises(ProtocolError):
        to_decimal("1e999999")


def test_to_decimal_refuses_booleans() -> None:
    for value in (True, False):
        with pytest.raises(ProtocolError):
            to_decimal(value)


# -- 2. compressed answers ----------------------------------------------------------------------


async def test_identity_is_asked_for() -> None:
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    async with client(handle) as epay:
        await epay.get_status("123456789")
    assert seen == ["identity"]


async def test_a_compressed_answer_is_still_read() -> None:
    body = json.dumps({"resultCode": "102", "resultMessage": "not found"}).encode()
    raw_deflate = zlib.compressobj(wbits=-15)
    for encoding, packed in (
        ("gzip", gzip.compress(body)),
        ("deflate", zlib.compress(body)),
        ("deflate", raw_deflate.compress(body) + raw_deflate.flush()),
        ("gzip, gzip", gzip.compress(gzip.compress(body))),
    ):
        async with streaming(packed, **{"Content-Encoding": encoding}) as epay:
            assert (await epay.get_status("123456789")).result_message == "not found"


@pytest.mark.parametrize("layers", [1, 2])
async def test_a_compression_bomb_stops_at_the_cap(layers: int) -> None:
    bomb = b"{" + b" " * (64 << 20) + b"}"  # 64 MiB of JSON whitespace
    for _ in range(layers):
        bomb = gzip.compress(bomb, compresslevel=9)
    assert len(bomb) < 100_000
    encoding = ", ".join(["gzip"] * layers)
    async with streaming(bomb, **{"Content-Encoding": encoding}) as epay:
        with pytest.raises(ProtocolError, match="decompressed"):
            await epay.get_status("123456789")


async def test_an_unknown_encoding_is_refused() -> None:
    async with streaming(b"\x00\x01", **{"Content-Encoding": "br"}) as epay:
        with pytest.raises(ProtocolError, match="Content-Encoding"):
            await epay.get_status("123456789")


# Cut short, httpx's own stream generators are finalised by the garbage collector, which trio
# reports: a warning about httpx internals, not a leak (the response is closed).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_streamed_answer_without_length_is_capped() -> None:
    async with streaming(b" " * (2 << 20)) as epay:  # no Content-Length, 2 MiB
        with pytest.raises(ProtocolError, match="exceeds"):
            await epay.get_status("123456789")


# -- 3. operation answers that are refusals -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": "-1", "message": "error"}',
        b'{"code": "1", "message": "insufficient funds"}',
        b'{"code": -1.0}',
        b'{"code": 100, "message": ""}',
    ],
)
@pytest.mark.parametrize("operation", ["charge", "cancel", "refund"])
async def test_an_error_code_in_a_200_is_a_refusal(body: bytes, operation: str) -> None:
    async with client(answering(body)) as epay:
        with pytest.raises(ApiError):
            await getattr(epay, operation)(TX)


@pytest.mark.parametrize("body", [b'{"code": "ok"}', b'{"code": [1]}', b"[1]"])
async def test_an_unreadable_code_is_outcome_unknown(body: bytes) -> None:
    async with client(answering(body)) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.refund(TX)


@pytest.mark.parametrize("body", [b"", b'{"code": 0}', b'{"code": "0", "message": "ok"}'])
async def test_success_answers_of_operations(body: bytes) -> None:
    async with client(answering(body)) as epay:
        assert (await epay.charge(TX)).transaction_id == TX


# -- 5. one deadline per public call --------------------------------------------------------------


async def test_waiters_on_a_hanging_token_share_one_deadline_and_one_request() -> None:
    token_requests = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal token_requests
        if request.url.path == "/token":
            token_requests += 1
            await anyio.sleep(30)
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    ended: list[float] = []
    epay = raw_client(handle, retry=RetryPolicy(deadline=0.5, backoff_base=0, jitter=0))
    started = anyio.current_time()

    async def one() -> None:
        with pytest.raises(TransportError, match="deadline"):
            await epay.get_status("123456789")
        ended.append(anyio.current_time() - started)

    async with epay, anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert len(ended) == 5
    assert max(ended) < 2.0  # all at about 0.5 s, not 0.5, 1.0, 1.5, 2.0, 2.5
    # One refresh for all five; a waiter whose deadline is a hair later than the refresher's
    # may start the next one as the first is cut, and is cut itself at once.
    assert token_requests <= 2


async def test_a_payments_token_and_exchange_share_one_deadline() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.4 if request.url.path == "/token" else 30)
        return httpx.Response(200, json=TOKEN)

    epay = raw_client(handle, retry=RetryPolicy(deadline=0.6))
    started = anyio.current_time()
    async with epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order(), CARD)
    assert anyio.current_time() - started < 1.2  # one 0.6 s deadline, not two


async def test_a_failing_token_endpoint_is_asked_once_per_refresh() -> None:
    token_requests = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal token_requests
        if request.url.path == "/token":
            token_requests += 1
            await anyio.sleep(0.05)
            return httpx.Response(401, json={"error": "invalid_client"})
        raise AssertionError("never reached")

    epay = raw_client(handle, retry=FAST_RETRY)
    failures: list[BaseException] = []

    async def one() -> None:
        try:
            await epay.get_status("123456789")
        except Exception as exc:
            failures.append(exc)

    async with epay, anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one)
    assert len(failures) == 20
    assert token_requests == 1


# -- 7. aclose() with calls in flight -----------------------------------------------------------


async def test_aclose_during_calls_gives_typed_errors() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.2)
        if request.url.path == "/token":
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    epay = raw_client(handle, retry=FAST_RETRY)
    errors: list[BaseException] = []

    async def call(coro: Callable[[], Awaitable[object]]) -> None:
        try:
            await coro()
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, lambda: epay.get_status("123456789"))
        tg.start_soon(call, lambda: epay.pay_with_saved_card(order(), CARD))
        await anyio.sleep(0.05)
        await epay.aclose()
    assert len(errors) == 2
    assert all(isinstance(e, TransportError) for e in errors), errors  # nothing was sent


# -- 8. ids that would escape the path ----------------------------------------------------------


@pytest.mark.parametrize("value", ["..", ".", "a/b", "x" * 100_000, "", "%2e%2e", " "])
async def test_path_ids_are_checked_before_anything_is_sent(value: str) -> None:
    sent: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json=[])

    async with client(handle) as epay:
        for call in (
            lambda: epay.list_cards(value),
            lambda: epay.deactivate_card(value),
            lambda: epay.charge(value),
            lambda: epay.refund(value),
        ):
            with pytest.raises(ValidationError):
                await call()
    assert sent == []


async def test_ids_of_the_documented_shape_go_through(sandbox: Sandbox, epay: EpayClient) -> None:
    assert await epay.list_cards("user.42@shop-1") == []
    with pytest.raises(ApiError):
        await epay.deactivate_card("00000000-0000-4000-8000-00000000dead")


# -- 9. amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("1.0000000000000000000000000001"),
        Decimal("100.001"),
        "1_000",
        "١٠٠",
        "1e3",
        " 12.5.0",
        Decimal("-1"),
        Decimal("NaN"),
        Decimal("1e13"),
        10**13,
        1.5,
    ],
)
def test_amounts_refused(amount: Any) -> None:
    with pytest.raises(ValidationError) as info:
        order(amount=amount)
    assert info.value.field == "amount"


def test_trailing_zeros_are_sent_with_two_decimals() -> None:
    assert str(order(amount="100.000").amount) == "100.00"
    assert str(order(amount=Decimal("7.50000")).amount) == "7.50"
    assert order(amount="12.5").amount == Decimal("12.5")


async def test_a_refund_under_the_minimum_is_refused_locally() -> None:
    async with client(answering(b"")) as epay:
        with pytest.raises(ValidationError, match="10"):
            await epay.refund(TX, Decimal("9.99"))
        assert (await epay.refund(TX, Decimal(10))).amount == Decimal(10)


# -- 10. tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        {"access_token": "тoken", "expires_in": 7200},
        {"access_token": "a\r\nX-Injected: 1", "expires_in": 7200},
        {"access_token": "a\x00b", "expires_in": 7200},
        {"access_token": "   ", "expires_in": 7200},
        {"access_token": "", "expires_in": 7200},
        {"access_token": "ok", "token_type": "mac", "expires_in": 7200},
    ],
)
async def test_unusable_tokens_are_refused_and_nothing_is_sent(token: dict[str, Any]) -> None:
    payments = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal payments
        if request.url.path == "/token":
            return httpx.Response(200, json=token)
        payments += 1
        return httpx.Response(200, json=PAID)

    epay = raw_client(handle, retry=FAST_RETRY)
    async with epay:
        with pytest.raises(ProtocolError):  # not OutcomeUnknownError: nothing left
            await epay.pay_with_saved_card(order(), CARD)
    assert payments == 0


async def test_a_short_lived_token_is_reused_for_half_its_life() -> None:
    tokens = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal tokens
        if request.url.path == "/token":
            tokens += 1
            return httpx.Response(200, json={"access_token": "t", "expires_in": 30})
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    epay = raw_client(handle)
    async with epay:
        for _ in range(10):
            await epay.get_status("123456789")
    assert tokens == 1


# -- 11. answers that are not a success ---------------------------------------------------------


@pytest.mark.parametrize("status", ["REJECT", "FAILED", "3D"])
async def test_a_refused_status_in_a_200_is_a_decline(status: str) -> None:
    body = json.dumps({**PAID, "status": status}).encode()
    async with client(answering(body)) as epay:
        with pytest.raises(PaymentDeclinedError):
            await epay.pay_with_saved_card(order(), CARD)


@pytest.mark.parametrize("http_status", [201, 202, 302])
async def test_an_unexpected_success_status_is_outcome_unknown(http_status: int) -> None:
    async with client(answering(json.dumps(PAID).encode(), http_status)) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order(), CARD)


async def test_one_money_request_per_invoice_at_a_time() -> None:
    arrived = 0

    async def handle(_: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        await anyio.sleep(0.2)
        return httpx.Response(200, json=PAID)

    outcomes: list[object] = []

    async def pay(epay: EpayClient) -> None:
        try:
            outcomes.append(await epay.pay_with_saved_card(order(), CARD))
        except RequestInFlightError as exc:
            outcomes.append(exc)

    async with client(handle) as epay, anyio.create_task_group() as tg:
        tg.start_soon(pay, epay)
        tg.start_soon(pay, epay.with_options(timeout=5))  # a clone shares the guard
    assert arrived == 1
    assert sum(isinstance(o, RequestInFlightError) for o in outcomes) == 1
    async with client(handle) as epay:  # and once the first is done, the next may go
        await epay.pay_with_saved_card(order(), CARD)
        await epay.pay_with_saved_card(order(), CARD)


async def test_verify_notification_takes_an_expected_currency(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.add_transaction(
        "123456780", amount=Decimal(100), currency="USD", status=StatusName.CHARGE
    )
    note = parse_notification(
        {"code": "ok", "invoiceId": "123456780", "amount": 100, "currency": "USD"}
    )
    await epay.verify_notification(note)
    with pytest.raises(NotificationMismatchError, match="currency"):
        await epay.verify_notification(note, expected_currency="KZT")


# -- 13. the transport's own guarantees ---------------------------------------------------------


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.ConnectError, httpx.ConnectTimeout])
async def test_an_answer_cut_short_is_outcome_unknown_for_money(
    error: type[httpx.TransportError],
) -> None:
    """Once an answer has begun the request was sent, whatever the transport calls the
    failure: a lent client's transport (httpx-aiohttp, for one) may report a connection lost
    mid-body as a connect error, which would otherwise read as "never sent" and be paid again."""
    sent = 0

    class CutShort(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"id": "'
            raise error("connection lost")

    async def handle(_: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        return httpx.Response(200, stream=CutShort())

    async with client(handle) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order(), CARD)
    assert sent == 1


async def test_no_retry_starts_that_would_end_at_the_deadline() -> None:
    transport = Transport(
        httpx.AsyncClient(),
        RetryPolicy(backoff_base=1.0, jitter=0.0),
        sleep=lambda _: anyio.lowlevel.checkpoint(),
        rand=lambda: 0.5,
        clock=lambda: 100.0,
    )
    assert not await transport.pause("x", 1, None, "HTTP 503", deadline=101.0)  # ends at it
    assert await transport.pause("x", 1, None, "HTTP 503", deadline=101.001)
    await transport.backend.aclose()


# -- 13. more of the guarantees the mutation run found untested ----------------------------------


def test_verify_notification_checks_the_invoice_and_the_terminal_on_their_own() -> None:
    status = structure(
        {
            "resultCode": "100",
            "resultMessage": "SUCCESS",
            "transaction": {
                "id": TX,
                "invoiceID": "123456789",
                "amount": 100,
                "currency": "KZT",
                "statusName": "CHARGE",
                "terminal": "98120001",
                "terminalID": "terminal-uuid",
            },
        },
        TransactionStatus,
        what="status",
    )
    good = {"code": "ok", "id": TX, "invoiceId": "123456789", "amount": 100, "currency": "KZT"}
    assert mismatches(parse_notification(good), status, terminal_id="terminal-uuid") == []
    other_invoice = parse_notification({**good, "invoiceId": "123456780"})
    assert mismatches(other_invoice, status, terminal_id="terminal-uuid") == ["invoice id differs"]
    other_terminal = parse_notification({**good, "terminal": "99999999"})
    assert mismatches(other_terminal, status, terminal_id="terminal-uuid") == ["terminal differs"]
    assert mismatches(parse_notification({**good, "terminal": "98120001"}), status,
                      terminal_id="terminal-uuid") == []  # fmt: skip


def test_the_notification_size_limit_is_exact() -> None:
    head = b'{"code": "ok", "invoiceId": "123456789", "pad": "'
    tail = b'"}'
    fits = head + b"x" * (MAX_NOTIFICATION_BYTES - len(head) - len(tail)) + tail
    assert len(fits) == MAX_NOTIFICATION_BYTES
    assert parse_notification(fits).invoice_id == "123456789"
    too_big = head + b"x" * (MAX_NOTIFICATION_BYTES + 1 - len(head) - len(tail)) + tail
    with pytest.raises(ValidationError) as info:
        parse_notification(too_big)
    assert info.value.field == "body"


def test_text_and_card_number_checks_hold_at_their_bounds() -> None:
    with pytest.raises(ValidationError):
        _validation.text(123, "x")
    with pytest.raises(ValidationError):
        _validation.text("\ud800", "x")
    assert _validation.text("ok", "x") == "ok"
    shortest, longest = "000000000000", "0000000000000000000"  # 12 and 19 digits, Luhn-valid
    assert _validation.pan(shortest) == shortest
    assert _validation.pan(longest) == longest
    for wrong in ("00000000000", "00000000000000000000"):  # 11 and 20 digits
        with pytest.raises(ValidationError, match="12 to 19"):
            _validation.pan(wrong)

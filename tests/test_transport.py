from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import respx
import trio
from trio.testing import MockClock

from epay_async import (
    ApiError,
    AuthenticationError,
    EpayError,
    Order,
    OutcomeUnknownError,
    ProtocolError,
    RetryPolicy,
    TransportError,
)
from epay_async._call import CallScope, current_call
from epay_async._http import Answer, BodyTooLarge, ClientClosed, SendError
from epay_async._secret import Secret
from epay_async._transport import ApiRequest, Attempts, Transport
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS
from .factories import CARD_ID, mock_client, mock_order

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups

URL = "https://api.example.invalid/thing"
POLICY = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=8.0, jitter=0.25)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def read(**kwargs: object) -> ApiRequest:
    return ApiRequest("GET", URL, operation="read", idempotent=True, **kwargs)  # type: ignore[arg-type]


def money() -> ApiRequest:
    return ApiRequest(
        "POST", URL, operation="pay", idempotent=False, invoice_id="123456", content=b"{}"
    )


def transport(http: httpx.AsyncClient, sleeps: Sleeps, policy: RetryPolicy = POLICY) -> Transport:
    return Transport(http, policy, sleep=sleeps, rand=lambda: 0.5)


async def test_503_then_success_is_retried_with_backoff() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json={})]
        )
        async with httpx.AsyncClient() as http:
            response = await transport(http, sleeps).send(read())
    assert response.status_code == 200
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


async def test_429_honours_retry_after() -> None:
    sleeps = Sleeps()
    with respx.mock:
        respx.get(URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "3"}),
                httpx.Response(200, json={}),
            ]
        )
        async with httpx.AsyncClient() as http:
            await transport(http, sleeps).send(read())
    assert sleeps == [3.0]


async def test_read_gives_up_with_api_error_after_max_attempts() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(URL).respond(502)
        async with httpx.AsyncClient() as http:
            with pytest.raises(ApiError) as info:
                await transport(http, sleeps).send(read())
    assert info.value.http_status == 502
    assert route.call_count == 3


async def test_read_network_errors_retry_then_raise_transport_error() -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
        async with httpx.AsyncClient() as http:
            with pytest.raises(TransportError):
                await transport(http, sleeps).send(read())
    assert route.call_count == 3


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("lost"),
        httpx.WriteTimeout("half"),
        httpx.RemoteProtocolError("drop"),
        httpx.ReadError("reset"),
    ],
)
async def test_money_request_is_sent_once_when_it_may_have_left(error: Exception) -> None:
    sleeps = Sleeps()
    with respx.mock:
        route = respx.post(URL).mock(side_effect=error)
        async with httpx.AsyncClient() as http:
            with pytest.raises(OutcomeUnknownError) as info:
                await transport(http, sleeps).send(money())
    assert route.call_count == 1
    assert info.value.invoice_id == "123456"
    assert sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_money_request_5xx_is_outcome_unknown_and_not_resent(status: int) -> None:
    with respx.mock:
        route = respx.post(URL).respond(status)
        async with httpx.AsyncClient() as http:
            with pytest.raises(OutcomeUnknownError):
                await transport(http, Sleeps()).send(money())
    assert route.call_count == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy")],
)
async def test_money_request_that_never_left_is_retried(error: Exception) -> None:
    with respx.mock:
        route = respx.post(URL).mock(side_effect=[error, httpx.Response(200, json={})])
        async with httpx.AsyncClient() as http:
            response = await transport(http, Sleeps()).send(money())
    assert response.status_code == 200
    assert route.call_count == 2


async def test_money_request_that_never_left_raises_transport_error_when_attempts_run_out() -> None:
    with respx.mock:
        route = respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
        async with httpx.AsyncClient() as http:
            with pytest.raises(TransportError):
                await transport(http, Sleeps()).send(money())
    assert route.call_count == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_statuses_raise_authentication_error(status: int) -> None:
    with respx.mock:
        respx.get(URL).respond(status)
        async with httpx.AsyncClient() as http:
            with pytest.raises(AuthenticationError) as info:
                await transport(http, Sleeps()).send(read())
    assert info.value.http_status == status


async def test_client_errors_are_returned_for_the_operation_to_read() -> None:
    with respx.mock:
        respx.get(URL).respond(400, json={"code": 487, "message": "Not permitted to merchant"})
        async with httpx.AsyncClient() as http:
            response = await transport(http, Sleeps()).send(read())
    assert response.status_code == 400


async def test_oversized_body_is_refused() -> None:
    big = b"x" * (1024 * 1024 + 1)
    with respx.mock:
        respx.get(URL).respond(200, content=big)
        respx.post(URL).respond(200, content=big)
        async with httpx.AsyncClient() as http:
            with pytest.raises(ProtocolError):
                await transport(http, Sleeps()).send(read())
            with pytest.raises(OutcomeUnknownError):
                await transport(http, Sleeps()).send(money())


async def test_bearer_token_and_json_headers_are_sent() -> None:
    with respx.mock:
        route = respx.post(URL).respond(200, json={})
        async with httpx.AsyncClient() as http:
            request = ApiRequest(
                "POST", URL, operation="pay", idempotent=False, content=b'{"a":1}', token="tok"
            )
            await transport(http, Sleeps()).send(request)
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer tok"
    assert sent.headers["content-type"] == "application/json"
    assert sent.content == b'{"a":1}'
    assert "tok" not in repr(request)


async def test_no_retry_starts_past_the_deadline() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=5, retry_after_cap=60.0, deadline=5.0)
    with respx.mock:
        route = respx.get(URL).respond(503, headers={"Retry-After": "10"})
        async with httpx.AsyncClient() as http:
            with pytest.raises(ApiError):
                await transport(http, sleeps, policy).send(read())
    assert route.call_count == 1  # waiting 10 s would end past the 5 s deadline
    assert sleeps == []


async def test_a_hanging_attempt_is_cut_at_the_deadline() -> None:
    sandbox = Sandbox(key_bits=2048)
    sandbox.add_transaction("123456789")
    policy = RetryPolicy(backoff_base=0.0, deadline=0.2)
    async with sandbox.client(retry=policy, timeout=30.0) as epay:
        await epay.get_status("123456789")  # the token, outside the fault
        sandbox.fail("/check-status/", Fault.slow(5.0))
        started = anyio.current_time()
        with pytest.raises(TransportError, match="deadline"):
            await epay.get_status("123456789")
        assert anyio.current_time() - started < 3.0  # 0.2 s deadline; slack for a loaded CI
        card = sandbox.save_card("4405639704015096", account_id="a")
        sandbox.fail("/payments/cards/auth", Fault.slow(5.0))
        order = Order(invoice_id="123456780", amount=1, description="x")
        with pytest.raises(OutcomeUnknownError, match="deadline"):
            await epay.pay_with_saved_card(order, card)
    assert len(sandbox.requests_to("/payments/cards/auth")) == 1


async def test_with_options_shares_pool_and_tokens() -> None:
    sandbox = Sandbox(key_bits=2048)
    sandbox.add_transaction("123456789")
    async with sandbox.client(retry=RetryPolicy.none()) as epay:
        await epay.get_status("123456789")
        patient = epay.with_options(retry=RetryPolicy(backoff_base=0.0), timeout=2.0)
        assert patient.http_client is epay.http_client
        sandbox.fail("/check-status/", Fault.status(503))
        assert (await patient.get_status("123456789")).transaction is not None
        sandbox.fail("/check-status/", Fault.status(503))
        with pytest.raises(ApiError):
            await epay.get_status("123456789")
        await patient.aclose()
        assert not epay.http_client.is_closed
    assert len(sandbox.token_requests) == 1


async def test_with_options_retry_governs_the_token_requests_too() -> None:
    sandbox = Sandbox(key_bits=2048)
    async with sandbox.client(retry=RetryPolicy(backoff_base=0.0, jitter=0.0)) as epay:
        once = epay.with_options(retry=RetryPolicy(max_attempts=1))
        sandbox.fail("/oauth2/token", Fault.status(503), times=10)
        with pytest.raises(EpayError):
            await once.get_status("123456789")
        assert len(sandbox.token_requests) == 1
        sandbox.clear_faults()
        sandbox.add_transaction("123456789")
        await once.get_status("123456789")
        await epay.get_status("123456789")  # the copy's token is the original's too
        assert len(sandbox.token_requests) == 2


async def test_with_options_can_clear_and_replace_the_callback() -> None:
    sandbox = Sandbox(key_bits=2048)
    first: list[object] = []
    second: list[object] = []
    async with sandbox.client(on_outcome_unknown=first.append) as epay:
        card = sandbox.save_card("4405639704015096", account_id="u")
        sandbox.fail("/payments/cards/auth", Fault.read_timeout())
        cleared = epay.with_options(on_outcome_unknown=None)
        with pytest.raises(OutcomeUnknownError):
            await cleared.pay_with_saved_card(
                Order(invoice_id="123456781", amount=1, description="x"), card
            )
        sandbox.fail("/payments/cards/auth", Fault.read_timeout())
        other = cleared.with_options(on_outcome_unknown=second.append)
        with pytest.raises(OutcomeUnknownError):
            await other.pay_with_saved_card(
                Order(invoice_id="123456782", amount=1, description="x"), card
            )
    assert first == []
    assert [e.invoice_id for e in second] == ["123456782"]  # type: ignore[attr-defined]


def test_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=0)
    assert RetryPolicy(deadline=None).deadline is None


# The retry rule over a scripted backend: what the backend is handed, the deadline under trio's
# mock clock (exact times, no waiting), the log lines and each network failure's meaning.


class Scripted:
    """A backend answering from a script: an ``Answer``, a ``SendError`` to raise, or a number
    of seconds to sleep first (then the next item)."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str, httpx.Headers, bytes | None, httpx.Timeout | None]] = []
        self.is_closed = False

    async def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> Answer:
        self.calls.append((method, url, httpx.Headers(headers), content, timeout))
        item = self.script.pop(0) if self.script else ok()
        while isinstance(item, float):
            await anyio.sleep(item)
            item = self.script.pop(0) if self.script else ok()
        if isinstance(item, SendError):
            raise item
        assert isinstance(item, Answer)
        return item

    async def aclose(self) -> None:
        self.is_closed = True


def ok(status: int = 200, **headers: str) -> Answer:
    return Answer(status, httpx.Headers(headers), b"{}", 0.0)


def on_mock_clock(test: Callable[[], Awaitable[None]]) -> None:
    """Run ``test`` under trio with a clock that jumps to the next deadline at once."""
    trio.run(test, clock=MockClock(autojump_threshold=0))


async def test_the_backend_gets_the_headers_body_query_and_timeout() -> None:
    backend = Scripted()
    timeout = httpx.Timeout(3.0)
    http = Transport(backend, POLICY, timeout=timeout)
    request = ApiRequest(
        "POST", URL, operation="pay", idempotent=False, content=b'{"a":1}', token="own"
    )
    await http.send(request, token="given")
    await http.send(request)
    form = ApiRequest(
        "POST",
        URL,
        operation="token",
        idempotent=True,
        form={"grant_type": "x y", "scope": Secret("s"), "n": 2},  # type: ignore[dict-item]
    )
    await http.send(form)
    await http.send(read(params={"page": "2", "q": "a b"}, accept="text/html"))
    (method, url, headers, content, given) = backend.calls[0]
    assert (method, url, content, given) == ("POST", URL, b'{"a":1}', timeout)
    assert headers["Authorization"] == "Bearer given"
    assert headers["Accept"] == "application/json"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["Content-Type"] == "application/json"
    assert backend.calls[1][2]["Authorization"] == "Bearer own"
    (_, _, headers, content, _) = backend.calls[2]
    assert content == b"grant_type=x+y&scope=s&n=2"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in headers
    (method, url, headers, content, _) = backend.calls[3]
    assert (method, url, content) == ("GET", f"{URL}?page=2&q=a+b", None)
    assert "Content-Type" not in headers
    assert headers["Accept"] == "text/html"


async def test_a_closed_backend_sends_nothing() -> None:
    backend = Scripted()
    await backend.aclose()
    with pytest.raises(TransportError) as info:
        await Transport(backend, POLICY).send(read())
    assert str(info.value) == "read: the client is closed; nothing was sent"
    assert backend.calls == []


@pytest.mark.parametrize(
    ("error", "request_of", "expected", "message"),
    [
        (ClientClosed("mid-air", sent=True), read, TransportError, "read: the client was closed"),
        (ClientClosed("mid-air", sent=False), money, TransportError, "pay: the client was closed"),
        (
            ClientClosed("mid-air", sent=True),
            money,
            OutcomeUnknownError,
            "the client was closed while the request was under way",
        ),
        (BodyTooLarge("answer over 1 MiB"), read, ProtocolError, "read: answer over 1 MiB"),
        (BodyTooLarge("answer over 1 MiB"), money, OutcomeUnknownError, "answer over 1 MiB"),
        (
            SendError("ReadTimeout", "slow", sent=True, retryable=False),
            read,
            TransportError,
            "read: could not reach the gateway (ReadTimeout)",
        ),
        (
            SendError("ConnectError", "refused", sent=False, retryable=False),
            money,
            TransportError,
            "pay: could not reach the gateway (ConnectError)",
        ),
        (
            SendError("ReadTimeout", "slow", sent=True, retryable=False),
            money,
            OutcomeUnknownError,
            "ReadTimeout: slow",
        ),
    ],
)
async def test_what_each_network_failure_means(
    error: SendError, request_of: Callable[[], ApiRequest], expected: type, message: str
) -> None:
    backend = Scripted(error)
    with pytest.raises(expected) as info:
        await Transport(backend, POLICY, sleep=Sleeps()).send(request_of())
    assert type(info.value) is expected
    if isinstance(info.value, OutcomeUnknownError):
        assert info.value.reason == message
        assert info.value.invoice_id == "123456"
    else:
        assert str(info.value).startswith(message)
    if isinstance(error, ClientClosed) and expected is TransportError:
        assert str(info.value) == f"{message} (ClientClosed: mid-air)"
    assert len(backend.calls) == 1


async def test_retries_are_logged_with_the_operation_the_reason_and_the_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = Scripted(ok(503), SendError("ConnectError", "refused", sent=False))
    caplog.set_level(logging.INFO, logger="epay_async")
    response = await Transport(backend, POLICY, sleep=Sleeps(), rand=lambda: 0.5).send(read())
    assert response.status_code == 200
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries == [
        "retrying read in 0.50 s after HTTP 503 (attempt 1 of 3)",
        "retrying read in 1.00 s after ConnectError (attempt 2 of 3)",
    ]


async def test_each_attempt_is_logged_at_debug_with_its_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="epay_async")
    backend = Scripted(ok(503), SendError("ReadTimeout", "slow", sent=True), ok(201))
    attempts = Attempts()
    timeout = httpx.Timeout(4.0)
    request = read(params={"id": "1"}, content=b"{}")
    http = Transport(backend, POLICY, sleep=Sleeps(), timeout=timeout)
    response = await http.send(request, token="tok", attempts=attempts)
    assert response.status_code == 201
    assert (attempts.count, attempts.answer) == (3, response)
    for method, url, headers, content, given in backend.calls:
        assert (method, url, content, given) == ("GET", f"{URL}?id=1", b"{}", timeout)
        assert headers["Authorization"] == "Bearer tok"
        assert headers["Content-Type"] == "application/json"
    lines = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert [line.split(" in ")[0] for line in lines] == [
        "GET /thing -> 503",
        "GET /thing -> error",
        "GET /thing -> 201",
    ]
    assert [line.split(" ms ")[1] for line in lines] == [
        "(read, attempt 1)",
        "(read, attempt 2)",
        "(read, attempt 3)",
    ]


def test_the_debug_line_shows_the_exchanges_own_time(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="epay_async")

    async def main() -> None:
        await anyio.sleep(1.0)  # the clock is not at zero when the exchange starts
        await Transport(Scripted(0.25, ok()), POLICY).send(read())

    on_mock_clock(main)
    (line,) = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert line == "GET /thing -> 200 in 250.0 ms (read, attempt 1)"


def test_without_a_call_an_attempt_is_cut_at_the_policys_deadline() -> None:
    policy = RetryPolicy(deadline=2.0)

    async def main() -> None:
        backend = Scripted(5.0, 5.0)
        with pytest.raises(TransportError) as info:
            await Transport(backend, policy).send(read())
        assert str(info.value) == "read: no answer within the 2.0 s deadline"
        with pytest.raises(OutcomeUnknownError) as unknown:
            await Transport(backend, policy).send(money())
        assert unknown.value.reason == "no answer within the 2.0 s deadline"

    on_mock_clock(main)


def test_the_deadline_counts_from_the_start_of_the_request() -> None:
    policy = RetryPolicy(deadline=5.0, retry_after_cap=60.0, jitter=0.0)

    async def main() -> None:
        # 2 s for the first answer, then Retry-After 3: the retry would start at 5 s, the
        # deadline: not sent.
        backend = Scripted(2.0, ok(503, **{"Retry-After": "3"}))
        with pytest.raises(ApiError):
            await Transport(backend, policy).send(read())
        assert len(backend.calls) == 1
        # The same after a network error whose retry would end at the deadline.
        backend = Scripted(2.0, SendError("ConnectError", sent=False), 0.0)
        http = Transport(backend, RetryPolicy(deadline=5.0, backoff_base=3.0, jitter=0.0))
        with pytest.raises(TransportError):
            await http.send(read())
        assert len(backend.calls) == 1
        # Within a call, its own deadline holds, not a new one from the policy.
        backend = Scripted(ok(503, **{"Retry-After": "3"}))
        async with CallScope("read", 2.0, None):
            with pytest.raises(ApiError):
                await Transport(backend, policy).send(read())
        assert len(backend.calls) == 1

    on_mock_clock(main)


def test_no_deadline_means_retries_are_bounded_by_the_attempts_alone() -> None:
    policy = RetryPolicy(deadline=None, retry_after_cap=600.0, jitter=0.0)

    async def main() -> None:
        backend = Scripted(ok(503, **{"Retry-After": "500"}), 100.0)
        assert (await Transport(backend, policy).send(read())).status_code == 200
        assert len(backend.calls) == 2

    on_mock_clock(main)


async def test_a_pause_that_would_end_at_the_deadline_is_not_taken() -> None:
    policy = RetryPolicy(backoff_base=1.0, jitter=0.0, deadline=100.0)
    sleeps = Sleeps()
    http = Transport(Scripted(), policy, sleep=sleeps, clock=lambda: 10.0)
    assert not await http.pause("read", 1, None, "HTTP 503", deadline=11.0)
    assert await http.pause("read", 1, None, "HTTP 503", deadline=11.5)
    assert sleeps == [1.0]


async def test_a_pause_within_a_call_keeps_to_the_calls_deadline() -> None:
    policy = RetryPolicy(retry_after_cap=60.0, jitter=0.0, deadline=100.0)
    sleeps = Sleeps()
    http = Transport(Scripted(), policy, sleep=sleeps)
    async with CallScope("read", 1.0, None):
        assert not await http.pause("read", 1, 5.0, "HTTP 503")
    assert sleeps == []
    assert await http.pause("read", 1, 5.0, "HTTP 503")  # no call: the policy's 100 s
    assert sleeps == [5.0]


async def test_an_exchange_is_marked_on_the_call_while_it_is_under_way() -> None:
    seen: list[object] = []

    class Watching(Scripted):
        async def exchange(self, *args: Any) -> Answer:
            call = current_call()
            assert call is not None
            seen.append(call.exchange)
            return await super().exchange(*args)

    request = money()
    async with CallScope("pay", 30.0, None):
        await Transport(Watching(), POLICY).send(request)
        call = current_call()
        assert call is not None
        assert call.exchange is None
    assert seen == [request]


# -- an answer cut short, and the deadline-cut check, through a client -------------------


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

    async with mock_client(handle) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)
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

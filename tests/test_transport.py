from __future__ import annotations

import anyio
import httpx
import pytest
import respx

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
from epay_async._transport import ApiRequest, Transport
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS

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

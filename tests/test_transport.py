from __future__ import annotations

import httpx
import pytest
import respx

from epay_async import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    ProtocolError,
    RetryPolicy,
    TransportError,
)
from epay_async._transport import ApiRequest, Transport

pytestmark = pytest.mark.anyio

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

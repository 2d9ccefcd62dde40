from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal

import anyio
import httpx
import pytest
import respx

from epay_async import (
    ApiError,
    Environment,
    EpayClient,
    ProtocolError,
    RetryPolicy,
    StatusName,
    TransportError,
    ValidationError,
)
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import CARD_ID, CREDENTIALS, MOCK_TOKEN, mock_order, raw_mock_client

pytestmark = pytest.mark.anyio

ENV = Environment.custom(
    token_url="https://auth.example.invalid/token", api_url="https://api.example.invalid/api/"
)
STATUS_URL = "https://api.example.invalid/api/check-status/payment/transaction/123456"


def make(**kwargs: object) -> EpayClient:
    options: dict[str, object] = {
        "client_id": "test",
        "client_secret": TEST_CLIENT_SECRET,
        "terminal_id": "term",
        "environment": ENV,
        "retry": FAST_RETRY,
    }
    options.update(kwargs)
    return EpayClient(**options)  # type: ignore[arg-type]


def test_documented_environments() -> None:
    assert Environment.TEST.token_url == "https://testoauth.homebank.kz/epay2/oauth2/token"
    assert Environment.TEST.api_url == "https://testepay.homebank.kz/api"
    assert Environment.TEST.public_key_url == "https://testepay.homebank.kz/api/public.rsa"
    assert Environment.PROD.token_url == "https://epay-oauth.homebank.kz/oauth2/token"
    assert Environment.PROD.api_url == "https://epay-api.homebank.kz"
    assert Environment.PROD.public_key_url == "https://epay-api.homebank.kz/public.rsa"
    assert Environment.TEST_EPAYMENT_KZ.api_url == "https://test-epay-api.epayment.kz"
    assert ENV.api_url == "https://api.example.invalid/api"
    assert ENV.public_key_url == "https://api.example.invalid/api/public.rsa"


def test_repr_never_shows_the_secret() -> None:
    client = make()
    assert TEST_CLIENT_SECRET not in repr(client)
    assert "client_id='test'" in repr(client)
    assert "terminal_id='term'" in repr(client)


@pytest.mark.parametrize("field", ["client_id", "client_secret", "terminal_id"])
def test_missing_credentials_are_refused(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(**{field: ""})
    assert info.value.field == field


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        EpayClient("test", "secret", "term")  # type: ignore[misc]


def test_from_env() -> None:
    environ = {
        "EPAY_CLIENT_ID": "id",
        "EPAY_CLIENT_SECRET": "sec",
        "EPAY_TERMINAL_ID": "term",
        "EPAY_ENVIRONMENT": "PROD",
    }
    client = EpayClient.from_env(environ=environ)
    assert client.client_id == "id"
    assert client.environment is Environment.PROD
    assert (
        EpayClient.from_env(
            environ={**environ, "EPAY_ENVIRONMENT": ""}.copy() | {"EPAY_ENVIRONMENT": "test"}
        ).environment
        is Environment.TEST
    )
    with pytest.raises(ValidationError) as info:
        EpayClient.from_env(environ={**environ, "EPAY_ENVIRONMENT": "staging"})
    assert info.value.field == "EPAY_ENVIRONMENT"
    del environ["EPAY_CLIENT_SECRET"]
    with pytest.raises(ValidationError) as info:
        EpayClient.from_env(environ=environ)
    assert info.value.field == "EPAY_CLIENT_SECRET"


def test_aiohttp_transport_without_the_extra_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert make(transport="aiohttp") is not None  # the extra is installed: the client builds
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not: import fails
    monkeypatch.delitem(sys.modules, "epay_async._http.aiohttp_backend")
    with pytest.raises(ValidationError, match="aiohttp extra"):
        make(transport="aiohttp")
    with pytest.raises(ValidationError, match=r"an aiohttp\.ClientSession"):
        make(transport="curl")


async def test_owned_client_is_closed_borrowed_one_is_not(sandbox: Sandbox) -> None:
    async with sandbox.client() as owned:
        pass
    assert owned.http_client.is_closed
    async with sandbox.http_client() as borrowed:
        async with sandbox.client(http_client=borrowed) as epay:
            assert epay.http_client is borrowed
        assert not borrowed.is_closed
        sandbox.add_transaction("123456789", status=StatusName.AUTH)
        async with sandbox.client(http_client=borrowed) as again:
            assert (await again.get_status("123456789")).is_paid


async def test_a_lent_clients_auth_never_reaches_the_gateway(sandbox: Sandbox) -> None:
    # httpx auth would replace the bearer token (a 401 blamed on the token), and send the
    # owner's credentials with the token request: it is turned off for the library's requests.
    sent: list[tuple[str, str | None]] = []

    async def hook(request: httpx.Request) -> None:
        sent.append((request.url.path, request.headers.get("authorization")))

    lent = sandbox.http_client(auth=("shop", "password"), event_hooks={"request": [hook]})
    async with lent, sandbox.client(http_client=lent) as epay:
        sandbox.add_transaction("123456789", status=StatusName.AUTH)
        assert (await epay.get_status("123456789")).is_paid
    (token_path, token_auth), (status_path, status_auth) = sent
    assert token_path.endswith("/oauth2/token")
    assert token_auth is None
    assert status_path.endswith("/check-status/payment/transaction/123456789")
    assert status_auth is not None
    assert status_auth.startswith("Bearer ")


async def test_a_lent_clients_default_query_and_cookies_never_reach_the_gateway(
    sandbox: Sandbox,
) -> None:
    # A default `amount` query would turn a full refund into a partial one; the owner's
    # cookies (a session of another service) are not the gateway's.
    sent: list[httpx.Request] = []

    async def hook(request: httpx.Request) -> None:
        sent.append(request)

    lent = sandbox.http_client(
        params={"amount": "10"}, cookies={"sso": "s3ssion"}, event_hooks={"request": [hook]}
    )
    async with lent, sandbox.client(http_client=lent) as epay:
        sandbox.add_transaction("123456789", status=StatusName.CHARGE, amount="1500.00")
        transaction = (await epay.get_status("123456789")).transaction
        assert transaction is not None
        await epay.refund(transaction.id)
    assert sandbox.requests_to("/refund")[0].query == {}
    assert sandbox.transaction("123456789").refunded == Decimal("1500.00")
    assert all(not request.url.query for request in sent)
    assert all("cookie" not in request.headers for request in sent)
    assert lent.params["amount"] == "10"  # the owner's client is left as it was


@pytest.mark.parametrize("header", ["Authorization", "cookie", "Content-Length", "Host"])
def test_a_lent_client_whose_defaults_carry_a_credential_or_framing_is_refused(
    header: str,
) -> None:
    lent = httpx.AsyncClient(headers={header: "1"})
    with pytest.raises(ValidationError) as info:
        make(http_client=lent)
    assert info.value.field == "http_client"
    assert info.value.message.endswith("lend one without")
    assert header.lower() in info.value.message.lower()


async def test_default_timeout_and_limits_are_explicit() -> None:
    client = make()
    assert client.http_client.timeout == httpx.Timeout(30.0, connect=5.0)
    await client.aclose()
    client = make(timeout=2.0)
    assert client.http_client.timeout == httpx.Timeout(2.0)
    await client.aclose()


async def test_closed_client_raises_a_typed_error(sandbox: Sandbox) -> None:
    epay = sandbox.client()
    await epay.aclose()
    with pytest.raises(TransportError):
        await epay.get_status("123456789")


def token_route() -> None:
    respx.post("https://auth.example.invalid/token").respond(
        json={"access_token": "tok", "expires_in": "1200"}
    )


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html><body>Bad gateway</body></html>"),
        httpx.Response(200, content=b'{"resultCode": "100", "transac'),
        httpx.Response(200, content=b""),
        httpx.Response(200, json=["resultCode", "100"]),
        httpx.Response(200, json={"resultCode": "100", "transaction": None}),
        httpx.Response(200, json={"resultCode": "100", "transaction": {"amount": 1}}),
        httpx.Response(200, json={"resultCode": {"nested": 1}}),
    ],
)
async def test_malformed_status_responses_are_protocol_errors(response: httpx.Response) -> None:
    with respx.mock:
        token_route()
        respx.get(STATUS_URL).mock(return_value=response)
        async with make() as epay:
            with pytest.raises(ProtocolError):
                await epay.get_status("123456")


async def test_4xx_with_gateway_error_body_is_an_api_error() -> None:
    with respx.mock:
        token_route()
        respx.get(STATUS_URL).respond(404, json={"code": 404, "message": "no route"})
        async with make() as epay:
            with pytest.raises(ApiError) as info:
                await epay.get_status("123456")
    assert info.value.http_status == 404
    assert info.value.code == 404
    assert info.value.invoice_id == "123456"


async def test_400_with_a_status_envelope_is_read_as_a_status() -> None:
    with respx.mock:
        token_route()
        respx.get(STATUS_URL).respond(
            400, json={"resultCode": "101", "resultMessage": "reject", "transaction": None}
        )
        async with make() as epay:
            status = await epay.get_status("123456")
    assert status.result_code == 101


# -- aclose() with calls in flight ----------------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_aclose_during_calls_gives_typed_errors() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.2)
        if request.url.path == "/token":
            return httpx.Response(200, json=MOCK_TOKEN)
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    epay = raw_mock_client(handle, retry=FAST_RETRY)
    errors: list[BaseException] = []

    async def call(coro: Callable[[], Awaitable[object]]) -> None:
        try:
            await coro()
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, lambda: epay.get_status("123456789"))
        tg.start_soon(call, lambda: epay.pay_with_saved_card(mock_order(), CARD_ID))
        await anyio.sleep(0.05)
        await epay.aclose()
    assert len(errors) == 2
    assert all(isinstance(e, TransportError) for e in errors), errors  # nothing was sent


# -- from_env -------------------------------------------------------------------------------------


async def test_from_env_passes_every_other_option_to_the_constructor() -> None:
    sandbox = Sandbox(key_bits=2048)
    records: list[object] = []
    epay = EpayClient.from_env(
        environ={
            "EPAY_CLIENT_ID": TEST_CLIENT_ID,
            "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
            "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
        },
        environment=Sandbox.environment(),
        transport=sandbox.transport,
        retry=RetryPolicy.none(),
        on_outcome_unknown=records.append,
    )
    async with epay:
        sandbox.fail("/check-status/", Fault.status(503), times=5)
        with pytest.raises(ApiError):
            await epay.get_status("123456789")
    assert len(sandbox.requests_to("/check-status/")) == 1  # retry=RetryPolicy.none()
    with pytest.raises(TypeError):
        EpayClient.from_env(environ=CREDENTIALS, retyr=None)  # type: ignore[call-arg]

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
import respx

from epay_async import ApiError, AuthenticationError, Environment, EpayClient, ProtocolError
from epay_async._constants import SERVICE_SCOPE
from epay_async._tokens import Credentials, OperationGrant, TokenAcquirer
from epay_async._transport import Transport
from epay_async.testing import TEST_CLIENT_SECRET, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import CARD_ID, PAID, mock_order, raw_mock_client

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # locks, worker threads and cancellation under both loops

TOKEN_URL = "https://auth.example.invalid/oauth2/token"
CREDS = Credentials("test", TEST_CLIENT_SECRET, "67e34d63-102f-4bd1-898e-370781d0074d")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_json(value: str = "tok", expires_in: object = 7200) -> dict[str, object]:
    return {"access_token": value, "expires_in": expires_in, "scope": "x", "token_type": "Bearer"}


def form_of(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


async def test_read_token_request_fields() -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(json=token_json())
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.read_token() == "tok"
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "grant_type": "client_credentials",
        "scope": SERVICE_SCOPE,
        "client_id": "test",
        "client_secret": TEST_CLIENT_SECRET,
        "terminal": "67e34d63-102f-4bd1-898e-370781d0074d",
    }


async def test_operation_token_is_bound_to_the_invoice_and_never_cached() -> None:
    grant = OperationGrant(
        scope="payment",
        invoice_id="000000001",
        amount=Decimal("100.10"),
        currency="KZT",
        post_link="https://shop.example/post",
        failure_post_link="https://shop.example/fail",
        secret_hash="s3cr3t-hash",
    )
    with respx.mock:
        route = respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}")) for i in range(2)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            first = await tokens.operation_token(grant)
            second = await tokens.operation_token(grant)
    assert (first, second) == ("t0", "t1")
    assert route.call_count == 2
    form = form_of(route.calls.last.request)
    assert form["scope"] == "payment"
    assert form["invoiceID"] == "000000001"
    assert form["amount"] == "100.10"
    assert form["currency"] == "KZT"
    assert form["terminal"] == CREDS.terminal_id
    assert form["postLink"] == "https://shop.example/post"
    assert form["failurePostLink"] == "https://shop.example/fail"
    assert form["secret_hash"] == "s3cr3t-hash"


async def test_transfer_scope_and_optional_links_left_out() -> None:
    grant = OperationGrant(
        scope="transfer", invoice_id="12321312312", amount=Decimal(100), currency="KZT"
    )
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(json=token_json())
        async with httpx.AsyncClient() as http:
            await TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS).operation_token(
                grant
            )
    form = form_of(route.calls.last.request)
    assert form["scope"] == "transfer"
    assert form["amount"] == "100"
    assert "postLink" not in form
    assert "secret_hash" not in form


async def test_200_concurrent_status_calls_make_one_token_request() -> None:
    sandbox = Sandbox(key_bits=2048, latency=0.001)
    sandbox.add_transaction("123456789")
    async with sandbox.client(retry=FAST_RETRY) as epay, anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(epay.get_status, "123456789")
    assert len(sandbox.token_requests) == 1
    assert len(sandbox.requests_to("/check-status/")) == 200


@pytest.mark.parametrize("expires_in", [7200, "7200", "1200.0"])
async def test_expiry_margin_is_honoured(expires_in: object) -> None:
    clock = FakeClock()
    lifetime = float(str(expires_in))
    with respx.mock:
        route = respx.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(200, json=token_json(f"t{i}", expires_in)) for i in range(3)
            ]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=60.0, clock=clock
            )
            assert await tokens.read_token() == "t0"
            clock.now += lifetime - 61.0
            assert await tokens.read_token() == "t0"
            clock.now += 1.0  # now inside the margin: refreshed early
            assert await tokens.read_token() == "t1"
    assert route.call_count == 2


async def test_missing_or_garbage_expires_in_falls_back_to_a_short_lifetime() -> None:
    clock = FakeClock()
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(200, json=token_json("a", "soon")),
                httpx.Response(200, json=token_json("b")),
            ]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS, clock=clock)
            assert await tokens.read_token() == "a"
            clock.now += 1200
            assert await tokens.read_token() == "b"


async def test_reuse_can_be_switched_off() -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(json=token_json())
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, reuse_read_tokens=False
            )
            await tokens.read_token()
            await tokens.read_token()
    assert route.call_count == 2


async def test_401_on_a_read_reacquires_exactly_once() -> None:
    api = "https://api.example.invalid"
    env = Environment.custom(token_url=TOKEN_URL, api_url=api)
    status_body = {"resultCode": "102", "resultMessage": "not found", "transaction": None}
    with respx.mock:
        token = respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}")) for i in range(4)]
        )
        status = respx.get(f"{api}/check-status/payment/transaction/123456").mock(
            side_effect=[
                httpx.Response(401),
                httpx.Response(200, json=status_body),
                httpx.Response(401),
                httpx.Response(401),
            ]
        )
        async with EpayClient(
            client_id="test", client_secret="s", terminal_id="t", environment=env, retry=FAST_RETRY
        ) as epay:
            result = await epay.get_status("123456")
            assert result.result_code == 102
            with pytest.raises(AuthenticationError):
                await epay.get_status("123456")
    assert token.call_count == 3
    assert status.call_count == 4
    authorizations = [c.request.headers["authorization"] for c in status.calls]
    assert authorizations == ["Bearer t0", "Bearer t1", "Bearer t1", "Bearer t2"]


async def test_bad_credentials_raise_authentication_error(sandbox: Sandbox) -> None:
    async with sandbox.client(client_secret="wrong", retry=FAST_RETRY) as epay:
        with pytest.raises(AuthenticationError) as info:
            await epay.get_status("123456789")
    assert info.value.http_status == 401
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"expires_in": 7200}),
        httpx.Response(200, json={"access_token": "", "expires_in": 7200}),
        httpx.Response(200, json={"access_token": ["x"]}),
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(200, content=b""),
    ],
)
async def test_malformed_token_response_is_a_protocol_error(response: httpx.Response) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=response)
        async with httpx.AsyncClient() as http:
            with pytest.raises(ProtocolError):
                await TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS).read_token()


def test_acquirer_repr_hides_the_secret() -> None:
    tokens = TokenAcquirer(Transport(httpx.AsyncClient(), FAST_RETRY), TOKEN_URL, CREDS)
    assert TEST_CLIENT_SECRET not in repr(tokens)
    assert TEST_CLIENT_SECRET not in repr(CREDS)


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_token_endpoint_answering_another_4xx_is_an_authentication_error(
    status: int,
) -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(status, json={"error": "invalid_request"})
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            with pytest.raises(AuthenticationError) as info:
                await tokens.read_token()
    assert info.value.http_status == status
    assert f"(HTTP {status})" in str(info.value)
    assert "'test'" in str(info.value)
    assert route.call_count == 1  # a 4xx is not retried


async def test_a_3xx_token_answer_is_not_mistaken_for_a_refusal() -> None:
    """Below 400 the body is read as a token answer (here not one): a ProtocolError."""
    with respx.mock:
        respx.post(TOKEN_URL).respond(399, json={"error": "x"})
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            with pytest.raises(ProtocolError):
                await tokens.read_token()


@pytest.mark.parametrize("expires_in", [0, -5, "0", "-7200"])
async def test_expires_in_not_above_zero_falls_back_to_the_short_lifetime(
    expires_in: object,
) -> None:
    clock = FakeClock()
    with respx.mock:
        route = respx.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(200, json=token_json(f"t{i}", expires_in)) for i in range(2)
            ]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=60.0, clock=clock
            )
            assert await tokens.read_token() == "t0"
            clock.now += 1200 - 61  # the fallback lifetime, 1200 s, less the margin
            assert await tokens.read_token() == "t0"
            clock.now += 1.0
            assert await tokens.read_token() == "t1"
    assert route.call_count == 2


async def test_a_short_lifetime_is_refreshed_at_half_of_it_not_never() -> None:
    """expires_in under the margin: the token is kept for half its life."""
    clock = FakeClock()
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}", 100)) for i in range(2)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=60.0, clock=clock
            )
            assert await tokens.read_token() == "t0"
            clock.now += 49.0
            assert await tokens.read_token() == "t0"
            clock.now += 1.0
            assert await tokens.read_token() == "t1"


@pytest.mark.parametrize("token_type", ["bearer", "BEARER", None])
async def test_a_bearer_token_in_any_casing_or_without_a_type_is_taken(
    token_type: str | None,
) -> None:
    body: dict[str, object] = {"access_token": "tok", "expires_in": 7200}
    if token_type is not None:
        body["token_type"] = token_type
    with respx.mock:
        respx.post(TOKEN_URL).respond(json=body)
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.read_token() == "tok"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"access_token": "tok", "token_type": "MAC" * 20}, "token_type"),
        ({"access_token": "to ken"}, "access_token"),
        ({"access_token": "t" * 4097}, "access_token"),
    ],
)
async def test_an_unusable_token_names_the_field(body: dict[str, object], field: str) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(json=body)
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            with pytest.raises(ProtocolError) as info:
                await tokens.read_token()
    assert info.value.field == field
    assert "MAC" * 7 not in str(info.value)  # the type is quoted cut to 20 characters


async def test_the_longest_printable_token_is_taken() -> None:
    token = "!" + "A" * 4094 + "~"
    with respx.mock:
        respx.post(TOKEN_URL).respond(json={"access_token": token})
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.read_token() == token


async def test_password_token_sends_the_cabinet_user_and_no_terminal() -> None:
    with respx.mock:
        route = respx.post(TOKEN_URL).respond(json=token_json("pw"))
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.password_token("merchant@shop", "hunter2") == "pw"
            assert await tokens.password_token("merchant@shop", "hunter2") == "pw"
    assert route.call_count == 2  # never cached
    assert form_of(route.calls.last.request) == {
        "grant_type": "password",
        "scope": SERVICE_SCOPE,
        "client_id": "test",
        "client_secret": TEST_CLIENT_SECRET,
        "username": "merchant@shop",
        "password": "hunter2",
    }


async def test_a_twin_over_another_transport_shares_the_read_token() -> None:
    clock = FakeClock()
    with respx.mock:
        route = respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}")) for i in range(3)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=60.0, clock=clock
            )
            twin = tokens.using(Transport(http, FAST_RETRY))
            assert await tokens.read_token() == "t0"
            assert await twin.read_token() == "t0"
            clock.now += 7200 - 61
            assert await twin.read_token() == "t0"  # the same margin and clock
            clock.now += 1.0
            assert await twin.read_token() == "t1"
            fresh = tokens.using(Transport(http, FAST_RETRY), reuse_read_tokens=False)
            assert await fresh.read_token() == "t2"
            assert await tokens.read_token() == "t1"
            assert repr(twin) == "TokenAcquirer(client_id='test')"
    assert route.call_count == 3


async def test_invalidate_forgets_only_the_token_it_names() -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}")) for i in range(2)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.read_token() == "t0"
            tokens.invalidate("some-older-token")
            assert await tokens.read_token() == "t0"
            tokens.invalidate("t0")
            assert await tokens.read_token() == "t1"


async def test_waiters_share_a_failed_refresh() -> None:
    """Callers that arrive during a failing refresh see its error; the endpoint is asked once."""
    release = anyio.Event()
    calls = 0

    async def slow_refusal(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await release.wait()
        return httpx.Response(401)

    errors: list[BaseException] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow_refusal)) as http:
        tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)

        async def call() -> None:
            try:
                await tokens.read_token()
            except AuthenticationError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert calls == 1
    assert len(errors) == 3
    assert all(e.http_status == 401 for e in errors)  # type: ignore[attr-defined]


async def test_a_twin_keeps_the_margin_it_was_given() -> None:
    clock = FakeClock()
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}")) for i in range(2)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=600.0, clock=clock
            )
            twin = tokens.using(Transport(http, FAST_RETRY))
            assert await twin.read_token() == "t0"
            clock.now += 7200 - 600  # inside a 600 s margin, outside the default 60 s one
            assert await twin.read_token() == "t1"


async def test_the_invoice_link_token_request_is_named_in_the_retry_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="epay_async")
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(503), httpx.Response(200, json=token_json("pw"))]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            assert await tokens.password_token("merchant@shop", "hunter2") == "pw"
    assert "token (invoice link)" in caplog.text
    assert "hunter2" not in caplog.text


def test_an_amount_in_exponent_form_is_sent_as_plain_digits() -> None:
    grant = OperationGrant(
        scope="payment", invoice_id="000001", amount=Decimal("1E+2"), currency="KZT"
    )
    assert grant.form()["amount"] == "100"


@pytest.mark.parametrize("reuse", [True, False])
async def test_a_token_endpoint_down_is_named_with_the_operation(reuse: bool) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).respond(503)
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, reuse_read_tokens=reuse
            )
            with pytest.raises(ApiError) as info:
                await tokens.read_token()
    assert str(info.value).startswith("token (read): gateway unavailable")
    assert info.value.invoice_id is None


async def test_an_operation_token_endpoint_down_names_the_invoice() -> None:
    grant = OperationGrant(
        scope="payment", invoice_id="000000001", amount=Decimal(5), currency="KZT"
    )
    with respx.mock:
        respx.post(TOKEN_URL).respond(503)
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS)
            with pytest.raises(ApiError) as info:
                await tokens.operation_token(grant)
    assert str(info.value).startswith("token (payment): gateway unavailable")
    assert info.value.invoice_id == "000000001"


async def test_a_lifetime_of_one_second_is_kept_not_replaced() -> None:
    clock = FakeClock()
    with respx.mock:
        respx.post(TOKEN_URL).mock(
            side_effect=[httpx.Response(200, json=token_json(f"t{i}", 1)) for i in range(2)]
        )
        async with httpx.AsyncClient() as http:
            tokens = TokenAcquirer(
                Transport(http, FAST_RETRY), TOKEN_URL, CREDS, margin=60.0, clock=clock
            )
            assert await tokens.read_token() == "t0"
            clock.now += 0.5  # half of its one second
            assert await tokens.read_token() == "t1"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, content=b""), "token response: empty response body"),
        (httpx.Response(200, json={"expires_in": 1}), "malformed token: required field missing"),
        (
            httpx.Response(200, json={"access_token": "a b"}),
            "token response has an empty or unusable access_token",
        ),
        (
            httpx.Response(200, json={"access_token": "t", "token_type": "mac"}),
            "token response is not a bearer token ('mac')",
        ),
    ],
)
async def test_a_malformed_token_answer_says_what_is_wrong(
    response: httpx.Response, message: str
) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=response)
        async with httpx.AsyncClient() as http:
            with pytest.raises(ProtocolError) as info:
                await TokenAcquirer(Transport(http, FAST_RETRY), TOKEN_URL, CREDS).read_token()
    assert str(info.value).startswith(message)


# -- unusable tokens, short lifetimes, a failing endpoint -----------------------------------------


async def test_a_failing_token_endpoint_is_asked_once_per_refresh() -> None:
    token_requests = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal token_requests
        if request.url.path == "/token":
            token_requests += 1
            await anyio.sleep(0.05)
            return httpx.Response(401, json={"error": "invalid_client"})
        raise AssertionError("never reached")

    epay = raw_mock_client(handle, retry=FAST_RETRY)
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

    epay = raw_mock_client(handle, retry=FAST_RETRY)
    async with epay:
        with pytest.raises(ProtocolError):  # not OutcomeUnknownError: nothing left
            await epay.pay_with_saved_card(mock_order(), CARD_ID)
    assert payments == 0


async def test_a_short_lived_token_is_reused_for_half_its_life() -> None:
    tokens = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal tokens
        if request.url.path == "/token":
            tokens += 1
            return httpx.Response(200, json={"access_token": "t", "expires_in": 30})
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    epay = raw_mock_client(handle)
    async with epay:
        for _ in range(10):
            await epay.get_status("123456789")
    assert tokens == 1

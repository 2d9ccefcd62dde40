"""How the gateway's answers map to results and errors (``_answers``): the status classes,
a 4xx ``{code, message}`` refusal, a 200 whose ``code`` is not 0, and unreadable bodies."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from epay_async import ApiError, AuthenticationError, OutcomeUnknownError, ProtocolError
from epay_async._answers import check_status, gateway_error, json_body, refuse_error_code
from epay_async._http import Answer
from epay_async._request import ApiRequest
from epay_async.testing import Sandbox


class Declined(ApiError):
    """An operation's own refusal class."""


def read() -> ApiRequest:
    return ApiRequest("GET", "https://gw.test/x", operation="look", idempotent=True, invoice_id="7")


def money(*, redirect_is_answer: bool = False) -> ApiRequest:
    return ApiRequest(
        "POST",
        "https://gw.test/x",
        operation="pay",
        idempotent=False,
        invoice_id="123456",
        transaction_id="tx-1",
        redirect_is_answer=redirect_is_answer,
    )


def answer(status: int, body: object = b"", **headers: str) -> Answer:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, httpx.Headers(headers), content, 0.01)


@pytest.mark.parametrize("status", [200, 204, 299, 400, 404, 499])
def test_statuses_an_operation_reads_are_returned(status: int) -> None:
    given = answer(status)
    assert check_status(read(), given) is given
    assert check_status(money(), given) is given


def test_a_redirect_is_an_error_naming_only_its_host() -> None:
    given = answer(302, Location="https://evil.example:8443/steal?card=4405")
    with pytest.raises(ProtocolError) as info:
        check_status(read(), given)
    assert str(info.value) == "look: HTTP 302 redirect to evil.example:8443, not followed"
    assert info.value.http_status == 302
    with pytest.raises(OutcomeUnknownError) as unknown:
        check_status(money(), given)
    assert unknown.value.reason == "HTTP 302 redirect to evil.example:8443, not followed"
    assert unknown.value.operation == "pay"
    assert unknown.value.invoice_id == "123456"
    assert unknown.value.transaction_id == "tx-1"


@pytest.mark.parametrize("status", [300, 301, 399])
def test_every_3xx_is_an_error_unless_the_operation_reads_redirects(status: int) -> None:
    given = answer(status)
    with pytest.raises(ProtocolError, match=f"^look: HTTP {status} redirect to nowhere, not"):
        check_status(read(), given)
    assert check_status(money(redirect_is_answer=True), given) is given


def test_a_redirects_host_is_cut_to_100_characters() -> None:
    host = "h" * 150 + ".example"
    with pytest.raises(ProtocolError) as info:
        check_status(read(), answer(307, Location=f"https://{host}/"))
    assert str(info.value) == f"look: HTTP 307 redirect to {host[:100]}, not followed"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_an_authentication_error(status: int) -> None:
    for request in (read(), money()):
        with pytest.raises(AuthenticationError) as info:
            check_status(request, answer(status))
        assert str(info.value) == (
            f"{request.operation}: the gateway refused the token (HTTP {status})"
        )
        assert info.value.http_status == status


@pytest.mark.anyio
async def test_refused_credentials_say_which_to_check() -> None:
    """The token request carries the credentials: a 401 there is not a refused token."""
    sandbox = Sandbox(key_bits=2048)
    async with sandbox.client(client_secret="not-the-secret") as epay:
        with pytest.raises(AuthenticationError) as info:
            await epay.get_status("123456789")
    assert str(info.value) == (
        "token (read): the gateway refused the credentials: check the client id, secret and"
        " terminal id (HTTP 401)"
    )
    assert "not-the-secret" not in repr(info.value)


@pytest.mark.parametrize("status", [429, 500, 503, 599])
def test_unavailable_is_an_api_error_for_a_read_and_in_doubt_for_money(status: int) -> None:
    with pytest.raises(ApiError) as info:
        check_status(read(), answer(status))
    assert type(info.value) is ApiError
    assert info.value.message == "look: gateway unavailable"
    assert info.value.http_status == status
    assert info.value.invoice_id == "7"
    with pytest.raises(OutcomeUnknownError) as unknown:
        check_status(money(), answer(status))
    assert unknown.value.reason == f"HTTP {status}"


def test_a_gateway_refusal_keeps_its_code_message_and_class() -> None:
    given = answer(400, {"code": 487, "message": "  Not permitted to merchant "})
    error = gateway_error(money(), given, Declined)
    assert type(error) is Declined
    assert error.message == "Not permitted to merchant"
    assert (error.code, error.http_status, error.invoice_id) == (487, 400, "123456")
    plain = gateway_error(read(), given)
    assert type(plain) is ApiError
    assert plain.invoice_id == "7"


@pytest.mark.parametrize("message", [None, "", "   "])
def test_a_refusal_without_a_message_says_refused(message: str | None) -> None:
    error = gateway_error(read(), answer(404, {"code": 1, "message": message}))
    assert isinstance(error, ApiError)
    assert error.message == "refused"
    assert error.code == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>oops</html>", {"message": "no code"}, {"code": "487"}, {"code": True}, [1, 2]],
)
def test_a_4xx_without_a_gateway_error_body_is_unreadable(body: object) -> None:
    given = answer(404, body)
    error = gateway_error(read(), given)
    assert type(error) is ProtocolError
    assert str(error) == "look: HTTP 404 without a gateway error body"
    assert error.http_status == 404
    unknown = gateway_error(money(), given)
    assert isinstance(unknown, OutcomeUnknownError)
    assert unknown.reason == "HTTP 404 without a gateway error body"


@pytest.mark.parametrize("code", [None, "", 0, "0", 0.0, "-0"])
def test_a_zero_or_missing_code_is_no_refusal(code: object) -> None:
    refuse_error_code({"code": code, "message": "fine"}, ApiError, 200)
    refuse_error_code({"message": "no code at all"}, ApiError, 200)
    refuse_error_code(["not", "a", "mapping"], ApiError, 200)


@pytest.mark.parametrize(
    ("code", "number"), [(-1, -1), ("1", 1), (Decimal("-1.0"), -1), (" 5 ", 5)]
)
def test_a_non_zero_code_is_a_refusal(code: object, number: int) -> None:
    with pytest.raises(Declined) as info:
        refuse_error_code(
            {"code": code, "message": " Insufficient funds "}, Declined, 200, invoice_id="42"
        )
    assert info.value.message == "Insufficient funds"
    assert (info.value.code, info.value.http_status, info.value.invoice_id) == (number, 200, "42")


@pytest.mark.parametrize("message", [None, "", "  "])
def test_a_refusal_code_without_a_message_says_refused(message: str | None) -> None:
    with pytest.raises(ApiError) as info:
        refuse_error_code({"code": 1, "message": message}, ApiError, 201)
    assert info.value.message == "refused"


def test_a_code_that_is_not_a_number_is_unreadable() -> None:
    with pytest.raises(ProtocolError):
        refuse_error_code({"code": "XXXX"}, ApiError, 200)


def test_json_bodies_are_read_with_money_as_decimal() -> None:
    body = json_body(answer(200, b'{"amount": 10.50}'), what="status")
    assert body == {"amount": Decimal("10.50")}
    assert isinstance(body["amount"], Decimal)
    with pytest.raises(ProtocolError) as empty:
        json_body(answer(502, b"  \n"), what="status")
    assert str(empty.value) == "status: empty response body"
    assert empty.value.http_status == 502
    with pytest.raises(ProtocolError) as broken:
        json_body(answer(200, b"{nope"), what="status")
    assert str(broken.value).startswith("status: ")
    assert len(str(broken.value)) > len("status: ")
    assert broken.value.http_status == 200

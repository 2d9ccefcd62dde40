from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
import respx

from epay_async import (
    CRYPTOGRAM_FIELD_CYRILLIC,
    ApplePayPayment,
    Card,
    CryptogramPadding,
    Environment,
    EpayClient,
    GooglePayToken,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    StatusName,
    ValidationError,
)
from epay_async.testing import TEST_TERMINAL_ID, Fault, Sandbox
from epay_async.testing._keys import public_pem

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import CARD_ID, PAID, VISA, answering, mock_client, mock_order, sandbox_token

pytestmark = pytest.mark.anyio

MC_3DS = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
LOCKED = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")
FIXTURES = Path(__file__).parent / "fixtures" / "googlepay"
GOOGLE = {
    "apiVersionMinor": 0,
    "apiVersion": 2,
    "paymentMethodData": {
        "description": "Visa •••• 1111",
        "tokenizationData": {
            "type": "PAYMENT_GATEWAY",
            "token": '{"signature":"MEQ\\u003d","protocolVersion":"ECv2",'
            '"signedMessage":"{\\"encryptedMessage\\":\\"5XrI\\"}"}',
        },
        "type": "CARD",
        "info": {"cardNetwork": "VISA", "cardDetails": "1111"},
    },
}


def make_order(invoice_id: str = "10101112", **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "invoice_id": invoice_id,
        "amount": Decimal("100"),
        "description": "test",
        "name": "TEST TEST",
        "invoice_id_alt": "8564546",
        "account_id": "uuid000001",
        "email": "parkhomchik@gmail.com",
        "phone": "77472261170",
        "back_link": "https://testmerchant/order/1123",
        "failure_back_link": "https://testmerchant/order/1123/fail",
        "post_link": "https://testmerchant/order/1123",
        "failure_post_link": "https://testmerchant/order/1123/fail",
        "language": "rus",
    }
    fields.update(changes)
    return Order(**fields)


def token_form(sandbox: Sandbox, index: int = -1) -> dict[str, str]:
    body = sandbox.token_requests[index].body.decode()
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def body_of(sandbox: Sandbox, path: str) -> dict[str, Any]:
    requests = sandbox.requests_to(path)
    assert len(requests) == 1
    return json.loads(requests[0].body)


async def test_saved_card_payment_matches_seed_001(sandbox: Sandbox, epay: EpayClient) -> None:
    card_id = sandbox.save_card("4405639704015096", account_id="uuid000001")
    result = await epay.pay_with_saved_card(make_order(), card_id)
    body = body_of(sandbox, "/payments/cards/auth")
    assert body == {
        "amount": 100,
        "currency": "KZT",
        "name": "TEST TEST",
        "terminalId": TEST_TERMINAL_ID,
        "invoiceId": "10101112",
        "invoiceIdAlt": "8564546",
        "description": "test",
        "accountId": "uuid000001",
        "email": "parkhomchik@gmail.com",
        "phone": "77472261170",
        "backLink": "https://testmerchant/order/1123",
        "failureBackLink": "https://testmerchant/order/1123/fail",
        "postLink": "https://testmerchant/order/1123",
        "failurePostLink": "https://testmerchant/order/1123/fail",
        "language": "rus",
        "paymentType": "cardId",
        "cardId": {"id": card_id},
    }
    assert (
        sandbox.requests_to("/payments/cards/auth")[0]
        .headers["authorization"]
        .startswith("Bearer ")
    )
    form = token_form(sandbox)
    assert form["invoiceID"] == "10101112"
    assert form["amount"] == "100"
    assert form["currency"] == "KZT"
    assert form["terminal"] == TEST_TERMINAL_ID
    assert form["postLink"] == "https://testmerchant/order/1123"
    assert form["failurePostLink"] == "https://testmerchant/order/1123/fail"
    assert result.status == "AUTH"
    assert result.card_id == card_id
    assert result.secure3d is None
    assert not result.requires_3ds


async def test_card_payment_sends_a_cryptogram_and_decimal_amount(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    order = make_order("80000148", amount=Decimal("150.10"), card_save=True)
    result = await epay.pay_with_card(order, VISA)
    raw = sandbox.requests_to("/payment/cryptopay")[0].body
    assert b'"amount":150.10' in raw
    body = json.loads(raw)
    assert set(body) >= {
        "amount",
        "currency",
        "terminalId",
        "invoiceId",
        "description",
        "cardSave",
        "useBonus",
        "cryptogram",
    }
    assert body["cardSave"] is True
    assert body["useBonus"] is False
    assert "4405639704015096" not in raw.decode()
    # The CVC travels only inside the cryptogram (whose base64 may hold "321" by chance).
    assert all("321" not in json.dumps(v) for k, v in body.items() if k != "cryptogram")
    assert result.amount == Decimal("150.10")
    assert result.card_id
    assert (await epay.get_status("80000148")).status_name is StatusName.AUTH


async def test_google_pay_matches_seed_000(sandbox: Sandbox, epay: EpayClient) -> None:
    await epay.pay_with_google_pay(make_order("80000148"), GooglePayToken.from_payment_data(GOOGLE))
    body = body_of(sandbox, "/payment/cryptopay")
    assert body["paymentType"] == "googlePay"
    assert body["googlePay"] == GOOGLE  # passed through untouched
    assert body["invoiceId"] == "80000148"
    assert body["cardSave"] is False


async def test_apple_pay_matches_seed_004(sandbox: Sandbox, epay: EpayClient) -> None:
    payment = ApplePayPayment.from_decrypted({"paymentData": {"onlinePaymentCryptogram": "AbC="}})
    await epay.pay_with_apple_pay(make_order("163637162556226"), payment)
    body = body_of(sandbox, "/payment/cryptopay")
    assert body["paymentType"] == "ApplePay"
    assert body["cryptogramApplePay"] == "AbC="
    assert body["invoiceID"] == "163637162556226"
    assert isinstance(body["cryptogram"], str)
    assert "AbC=" not in repr(payment)


def test_seed_000s_own_google_pay_data_is_taken() -> None:
    """The documentation's PaymentData (seed 000, a real ECv2 token), not one made here."""
    data = json.loads((FIXTURES / "seed000_payment_data.json").read_text(encoding="utf-8"))
    token = GooglePayToken.from_payment_data(data)
    assert token.payment_data == data


def test_wallet_payloads_are_checked() -> None:
    with pytest.raises(ValidationError):
        GooglePayToken.from_payment_data({"apiVersion": 2})
    for not_googles in ("garbage", '{"signature":"MEQ="}', "[]", "[" * 100_000):
        method = {**GOOGLE["paymentMethodData"], "tokenizationData": {"token": not_googles}}  # type: ignore[dict-item]
        with pytest.raises(ValidationError, match="not Google's payment token"):
            GooglePayToken.from_payment_data({**GOOGLE, "paymentMethodData": method})
    with pytest.raises(ValidationError):
        ApplePayPayment.from_decrypted({"paymentData": {}})


async def test_the_cyrillic_cryptogram_key_can_be_chosen(sandbox: Sandbox) -> None:
    async with sandbox.client(cryptogram_field=CRYPTOGRAM_FIELD_CYRILLIC) as epay:
        await epay.pay_with_card(make_order(), VISA)
    body = body_of(sandbox, "/payment/cryptopay")
    assert "\u0441ryptogram" in body
    assert "cryptogram" not in body


@pytest.mark.parametrize("padding", list(CryptogramPadding))
async def test_sandbox_terminal_accepts_only_its_padding(padding: CryptogramPadding) -> None:
    sandbox = Sandbox(key_bits=2048, padding=padding)
    async with sandbox.client(cryptogram_padding=padding) as epay:
        assert (await epay.pay_with_card(make_order("100000001"), VISA)).status == "AUTH"
    other = next(p for p in CryptogramPadding if p is not padding)
    async with sandbox.client(cryptogram_padding=other) as epay:
        with pytest.raises(PaymentDeclinedError) as info:
            await epay.pay_with_card(make_order("100000002"), VISA)
    assert info.value.code == 477


async def test_locked_card_is_declined_with_487(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_card(make_order(), LOCKED)
    assert info.value.code == 487
    assert info.value.message == "Not permitted to merchant"
    assert info.value.http_status == 400
    assert info.value.invoice_id == "10101112"
    assert info.value.is_final
    assert (await epay.get_status("10101112")).status_name is StatusName.REJECT


async def test_wrong_cvc_and_unknown_card_are_declined(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_card(
            make_order("100000001"),
            Card(pan="4405639704015096", exp_month=1, exp_year=27, cvc="999"),
        )
    assert info.value.code == 466
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_card(
            make_order("100000002"),
            Card(pan="4111111111111111", exp_month=1, exp_year=30, cvc="123"),
        )
    assert info.value.code == 471


async def test_lost_answer_raises_outcome_unknown_after_exactly_one_post(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.fail("/payment/cryptopay", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as info:
        await epay.pay_with_card(make_order(), VISA)
    assert info.value.invoice_id == "10101112"
    assert len(sandbox.requests_to("/payment/cryptopay")) == 1
    reconciled = await epay.wait_for_status(info.value.invoice_id, interval=0.001)
    assert reconciled.is_paid


@pytest.mark.parametrize(
    "fault",
    [
        Fault.write_timeout(),
        Fault.dropped(),
        Fault.status(502),
        Fault.status(500, processed=True),
        Fault.status(200, b"<html>gateway</html>", processed=True),
        Fault.status(400, b"<html>proxy</html>"),
    ],
)
async def test_ambiguous_failures_never_resend(
    sandbox: Sandbox, epay: EpayClient, fault: Fault
) -> None:
    sandbox.fail("/payments/cards/auth", fault)
    card_id = sandbox.save_card("4405639704015096", account_id="uuid000001")
    with pytest.raises(OutcomeUnknownError):
        await epay.pay_with_saved_card(make_order(), card_id)
    assert len(sandbox.requests_to("/payments/cards/auth")) == 1


async def test_connect_error_is_retried_and_pays_once(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.fail("/payment/cryptopay", Fault.connect_error(), times=2)
    result = await epay.pay_with_card(make_order(), VISA)
    assert result.status == "AUTH"
    assert len(sandbox.requests_to("/payment/cryptopay")) == 1
    assert len(sandbox.token_requests) == 1


async def test_public_key_is_fetched_once_under_50_concurrent_payments() -> None:
    sandbox = Sandbox(key_bits=2048, latency=0.001)
    async with sandbox.client(retry=FAST_RETRY) as epay, anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(epay.pay_with_card, make_order(f"{100000000 + n}"), VISA)
    assert len(sandbox.requests_to("/public.rsa")) == 1
    assert len(sandbox.requests_to("/payment/cryptopay")) == 50
    assert len(sandbox.token_requests) == 50


async def test_pinned_public_key_is_never_fetched(sandbox: Sandbox) -> None:
    pem = public_pem(sandbox.gateway.private_key)
    async with sandbox.client(public_key_pem=pem) as epay:
        await epay.pay_with_card(make_order(), VISA)
    assert sandbox.requests_to("/public.rsa") == []


async def test_bad_arguments_never_reach_the_network(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.pay_with_card("10101112", VISA)  # type: ignore[arg-type]
    assert info.value.field == "order"
    with pytest.raises(ValidationError) as info:
        await epay.pay_with_card(make_order(), "4405639704015096")  # type: ignore[arg-type]
    assert info.value.field == "card"
    with pytest.raises(ValidationError) as info:
        await epay.pay_with_saved_card(make_order(), "")
    assert info.value.field == "card_id"
    assert sandbox.requests == []


async def test_payment_tokens_are_single_use_and_bound(sandbox: Sandbox) -> None:
    env = Sandbox.environment()
    async with sandbox.http_client() as http:
        token = await sandbox_token(http, invoiceID="100000001", amount="100", currency="KZT")
        headers = {"Authorization": f"Bearer {token}"}
        card_id = sandbox.save_card("4405639704015096", account_id="a")
        body = {
            "amount": 200,
            "currency": "KZT",
            "invoiceId": "100000001",
            "terminalId": TEST_TERMINAL_ID,
            "description": "x",
            "paymentType": "cardId",
            "cardId": {"id": card_id},
        }
        mismatch = await http.post(f"{env.api_url}/payments/cards/auth", json=body, headers=headers)
        assert mismatch.status_code == 400
        assert mismatch.json()["code"] == 469
        reused = await http.post(
            f"{env.api_url}/payments/cards/auth", json={**body, "amount": 100}, headers=headers
        )
        assert reused.status_code == 401


async def test_the_sandbox_declines_a_google_pay_token_that_is_not_googles(
    sandbox: Sandbox,
) -> None:
    env = Sandbox.environment()
    async with sandbox.http_client() as http:
        token = await sandbox_token(http, invoiceID="100000002", amount="100", currency="KZT")
        method = {**GOOGLE["paymentMethodData"], "tokenizationData": {"token": "garbage"}}  # type: ignore[dict-item]
        body = {
            "amount": 100,
            "currency": "KZT",
            "invoiceId": "100000002",
            "terminalId": TEST_TERMINAL_ID,
            "description": "x",
            "paymentType": "googlePay",
            "googlePay": {**GOOGLE, "paymentMethodData": method},
        }
        answer = await http.post(
            f"{env.api_url}/payment/cryptopay",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert (answer.status_code, answer.json()["code"]) == (400, 477)
    assert sandbox.transaction("100000002").status is StatusName.REJECT
    assert not [n for n in sandbox.notifications if n.payload.get("code") == "ok"]


SEED_004_NO_3DS = {
    "id": "7943816b-58a8-47f6-a11e-67b63c4228c7",
    "amount": 100,
    "currency": "KZT",
    "invoiceID": "938290483290",
    "accountId": "uuid000001",
    "phone": "77777777777",
    "email": "jj@example.com ",
    "description": "test payment",
    "link": "114537489258",
    "language": "rus",
}
SEED_004_3DS = {
    "id": "7943816b-58a8-47f6-a11e-67b63c4228c7",
    "AccountId": "",
    "amount": 100,
    "accumtBonus": 0,
    "currency": "KZT",
    "description": "Order payment 938290483290",
    "email": "",
    "InvoiceID": "938290483290",
    "invoiceIdAlt": "8564546",
    "language": "RU",
    "phone": "",
    "reference": "",
    "intReference": "",
    "secure3D": {
        "paReq": "eyJtZXNzYWdl",
        "md": "MjAxYmQ5ZmsadasdtY2IzNWE1NjFhM2Mw",
        "action": "https://epay-proxy.homebank.kz/",
    },
    "cardID": "",
    "fee": 0,
}
SEED_001_OK = {
    "id": "75890cc5-157a-4cce-9624-16b227c2b9ec",
    "accountId": "",
    "amount": 100,
    "amountBonus": 0,
    "currency": "KZT",
    "description": "payment",
    "email": "test@example.com",
    "invoiceID": "938290483290",
    "invoiceIdAlt": "8564546",
    "language": "RU",
    "phone": "77777777777",
    "reference": "099467918563",
    "intReference": "C3B673466V9600X3",
    "secure3D": None,
    "cardID": "22f2c5db-64d8-475f-8066-af3de3dc8233",
    "code": 0,
    "status": "AUTH",
}
ENV = Environment.custom(
    token_url="https://auth.example.invalid/token", api_url="https://api.example.invalid"
)


async def pay_against(response: httpx.Response) -> Any:
    with respx.mock:
        respx.post(ENV.token_url).respond(json={"access_token": "t", "expires_in": 7200})
        route = respx.post(f"{ENV.api_url}/payments/cards/auth").mock(return_value=response)
        async with EpayClient(
            client_id="test", client_secret="s", terminal_id="t", environment=ENV, retry=FAST_RETRY
        ) as epay:
            try:
                return await epay.pay_with_saved_card(make_order("938290483290"), "card")
            finally:
                assert route.call_count == 1


@pytest.mark.parametrize("seed", [SEED_004_NO_3DS, SEED_004_3DS, SEED_001_OK])
async def test_every_documented_answer_shape_parses(seed: dict[str, Any]) -> None:
    result = await pay_against(httpx.Response(200, json=seed))
    assert result.id == seed["id"]
    assert result.invoice_id == "938290483290"
    assert result.amount == Decimal(100)
    assert result.requires_3ds is (seed is SEED_004_3DS)
    if seed is SEED_004_3DS:
        assert result.secure3d.md == "MjAxYmQ5ZmsadasdtY2IzNWE1NjFhM2Mw"
        assert result.extra["accumtBonus"] == 0


async def test_seed_failure_answer_is_a_decline() -> None:
    failure = {
        "code": 487,
        "message": " Not permitted to merchant",
        "invoiceId": "8161284658525",
        "id": "",
        "reference": "",
        "accountId": "uuid000001",
    }
    with pytest.raises(PaymentDeclinedError) as info:
        await pay_against(httpx.Response(400, json=failure))
    assert info.value.code == 487
    assert info.value.message == "Not permitted to merchant"
    with pytest.raises(PaymentDeclinedError) as info:
        await pay_against(httpx.Response(400, json={"code": -1, "message": "error message"}))
    assert info.value.code == -1


async def test_200_with_a_nonzero_code_is_a_decline() -> None:
    with pytest.raises(PaymentDeclinedError) as info:
        await pay_against(
            httpx.Response(200, json={**SEED_001_OK, "code": 454, "message": "check the status"})
        )
    assert info.value.code == 454
    assert not info.value.is_final


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={**SEED_001_OK, "invoiceID": "111111111"}),
        httpx.Response(200, json={**SEED_001_OK, "id": ""}),
        httpx.Response(200, json={**SEED_001_OK, "amount": "lots"}),
        httpx.Response(200, json=[SEED_001_OK]),
        httpx.Response(200, content=b'{"id": "75890cc5"'),
        httpx.Response(200, content=b""),
        httpx.Response(302, headers={"location": "https://epay.homebank.kz/"}),
    ],
)
async def test_unreadable_or_inconsistent_answers_are_outcome_unknown(
    response: httpx.Response,
) -> None:
    with pytest.raises(OutcomeUnknownError) as info:
        await pay_against(response)
    assert info.value.invoice_id == "938290483290"


# -- payment answers that are not a success -------------------------------------------------------


@pytest.mark.parametrize("status", ["REJECT", "FAILED", "3D"])
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_a_refused_status_in_a_200_is_a_decline(status: str) -> None:
    body = json.dumps({**PAID, "status": status}).encode()
    async with mock_client(answering(body)) as epay:
        with pytest.raises(PaymentDeclinedError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)


@pytest.mark.parametrize("http_status", [201, 202, 302])
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_an_unexpected_success_status_is_outcome_unknown(http_status: int) -> None:
    async with mock_client(answering(json.dumps(PAID).encode(), http_status)) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)

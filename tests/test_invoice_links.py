"""Invoice links (the documentation's invoice-link page): a password-grant token, the
documented snake_case body, and the money rules."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from epay_async import (
    ApiError,
    AuthenticationError,
    CabinetLogin,
    EpayClient,
    InvoiceLink,
    OutcomeUnknownError,
    ValidationError,
)
from epay_async.testing import (
    TEST_CABINET_PASSWORD,
    TEST_CABINET_USERNAME,
    TEST_CLIENT_SECRET,
    Fault,
    Sandbox,
)

pytestmark = pytest.mark.anyio

LOGIN = CabinetLogin(TEST_CABINET_USERNAME, TEST_CABINET_PASSWORD)
SHOP = "04f25a4b-d2bd-4dd8-b3a7-9390be4774c4"


def link(invoice_id: str = "900000001", **fields: object) -> InvoiceLink:
    options: dict[str, object] = {
        "shop_id": SHOP,
        "account_id": "0003413423",
        "invoice_id": invoice_id,
        "amount": Decimal("100.50"),
        "description": "Order 17",
        "recipient_contact": "payer@example.kz",
        "post_link": "https://shop.example.kz/epay/post",
    }
    options.update(fields)
    return InvoiceLink(**options)  # type: ignore[arg-type]


async def test_an_invoice_link_sends_the_documented_body_with_a_password_token(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    result = await epay.create_invoice_link(link(), login=LOGIN)
    assert result.invoice_id == "900000001"
    assert result.answer["status"] == "NEW"
    [request] = sandbox.requests_to("/invoice")
    assert json.loads(request.body) == {
        "shop_id": SHOP,
        "account_id": "0003413423",
        "invoice_id": "900000001",
        "amount": 100.50,
        "language": "rus",
        "description": "Order 17",
        "expire_period": "1d",
        "recipient_contact": "payer@example.kz",
        "recipient_contact_sms": "",
        "notifier_contact_sms": "",
        "currency": "KZT",
        "post_link": "https://shop.example.kz/epay/post",
        "failure_post_link": "",
        "back_link": "",
        "failure_back_link": "",
    }
    assert b'"amount":100.50' in request.body  # exact, never a float
    token = parse_qs(sandbox.token_requests[-1].body.decode())
    assert token["grant_type"] == ["password"]
    assert token["username"] == [TEST_CABINET_USERNAME]
    assert "terminal" not in token
    assert sandbox.gateway.invoice_links.sent["900000001"].amount == Decimal("100.50")


async def test_a_wrong_cabinet_password_is_an_authentication_error(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    with pytest.raises(AuthenticationError):
        await epay.create_invoice_link(link(), login=CabinetLogin(TEST_CABINET_USERNAME, "no"))
    assert sandbox.requests_to("/invoice") == []


async def test_a_refused_invoice_is_an_api_error_and_a_lost_answer_is_in_doubt(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    await epay.create_invoice_link(link(), login=LOGIN)
    with pytest.raises(ApiError) as refused:
        await epay.create_invoice_link(link(), login=LOGIN)  # the same invoice id again
    assert refused.value.code == 469
    sandbox.fail("/invoice", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as info:
        await epay.create_invoice_link(link("900000002"), login=LOGIN)
    assert info.value.invoice_id == "900000002"
    assert len(sandbox.requests_to("/invoice")) == 3  # never sent twice


async def test_bad_input_is_refused_before_any_request(sandbox: Sandbox, epay: EpayClient) -> None:
    for field, fields in (
        ("shop_id", {"shop_id": "shop-1"}),
        ("amount", {"amount": 0}),
        ("expire_period", {"expire_period": "tomorrow"}),
        ("recipient_contact", {"recipient_contact": None}),
        ("recipient_contact_sms", {"recipient_contact_sms": "call me"}),
        ("back_link", {"back_link": "ftp://x"}),
        ("language", {"language": "de"}),
    ):
        with pytest.raises(ValidationError) as info:
            link(**fields)
        assert info.value.field == field, field
    with pytest.raises(ValidationError) as info:
        await epay.create_invoice_link(link(), login=("user", "pass"))  # type: ignore[arg-type]
    assert info.value.field == "login"
    assert sandbox.requests == []


def test_the_cabinet_password_is_never_shown() -> None:
    assert TEST_CABINET_PASSWORD not in repr(LOGIN)
    assert TEST_CLIENT_SECRET not in repr(link())
    assert "payer@example.kz" not in repr(link())

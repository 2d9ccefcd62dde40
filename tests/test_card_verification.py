"""Card verification (the documentation's saved-card pages): 0 USD, the card saved."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from epay_async import (
    Card,
    CardVerification,
    EpayClient,
    Order,
    PaymentDeclinedError,
    ValidationError,
)
from epay_async.testing import Sandbox

from .factories import VISA

pytestmark = pytest.mark.anyio

LOCKED = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="000")


def verification(invoice_id: str = "800000001") -> CardVerification:
    return CardVerification(invoice_id=invoice_id, account_id="customer-7")


async def test_a_card_is_verified_for_0_usd_and_saved(sandbox: Sandbox, epay: EpayClient) -> None:
    result = await epay.verify_card(verification(), VISA)
    assert result.card_id
    token = parse_qs(sandbox.token_requests[-1].body.decode())
    assert (token["amount"], token["currency"], token["invoiceID"]) == (
        ["0.00"],
        ["USD"],
        ["800000001"],
    )
    body = json.loads(sandbox.requests_to("/payment/cryptopay")[-1].body)
    assert (body["amount"], body["currency"], body["cardSave"]) == (0, "USD", True)
    assert body["accountId"] == "customer-7"
    # the saved card pays later, by its id
    [saved] = await epay.list_cards("customer-7")
    assert saved.id == result.card_id
    paid = await epay.pay_with_saved_card(
        Order(invoice_id="800000002", amount=Decimal("10.00"), description="x"), result.card_id
    )
    assert paid.status == "AUTH"


async def test_a_locked_card_fails_verification(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(PaymentDeclinedError):
        await epay.verify_card(verification(), LOCKED)


async def test_verification_is_for_0_and_an_order_is_not(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    with pytest.raises(ValidationError) as info:
        CardVerification(invoice_id="800000001", amount=Decimal("1.00"))
    assert info.value.field == "amount"
    with pytest.raises(ValidationError) as info:
        Order(invoice_id="800000001", amount=0, description="x")
    assert info.value.field == "amount"
    with pytest.raises(ValidationError) as info:
        await epay.verify_card(  # type: ignore[arg-type]
            Order(invoice_id="800000001", amount=1, description="x"), VISA
        )
    assert info.value.field == "verification"
    assert sandbox.requests == []
    assert CardVerification(invoice_id="800000003").amount == 0

"""Payouts (the bank's SDK): AFT and OCT with the P2P body and a ``transfer`` token."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from epay_async import (
    CardPan,
    EpayClient,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    PhoneRecipient,
    SavedCardRef,
    StatusName,
    ValidationError,
)
from epay_async.testing import Fault, Sandbox

from .factories import order as make_order

pytestmark = pytest.mark.anyio

SENDER = CardPan(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321", name="A B")
RECEIVER = CardPan(pan="5578342710750560")
BY_PHONE = PhoneRecipient(phone="+7 701 123 45 67", iin="900101300123")


def order(invoice_id: str = "700000001") -> Order:
    return make_order(invoice_id, "2500.50", "payout")


@pytest.mark.parametrize(
    ("kind", "path"), [("aft", "/chdebit/transfer"), ("oct", "/chpayment/transfer")]
)
async def test_a_payout_sends_the_p2p_body_to_its_path_with_a_transfer_token(
    sandbox: Sandbox, epay: EpayClient, kind: str, path: str
) -> None:
    result = await epay.payout(order(), kind=kind, sender=SENDER, receiver=RECEIVER)  # type: ignore[arg-type]
    assert result.order_id == "700000001"
    assert result.status is StatusName.AUTH
    assert result.amount == Decimal("2500.50")
    [request] = sandbox.requests_to(path)
    body = json.loads(request.body)
    assert body["order"]["id"] == "700000001"
    assert body["card"]["sender"]["transferType"] == "TYPEPAN"
    assert body["card"]["receiver"] == {
        "save": False,
        "id": "",
        "transferType": "TYPEPAN",
        "cardCred": "5578342710750560",
    }
    assert sandbox.requests_to("/p2p/transfer") == []
    token = parse_qs(sandbox.token_requests[-1].body.decode())
    assert token["scope"] == ["transfer"]
    assert token["invoiceID"] == ["700000001"]
    assert token["amount"] == ["2500.50"]
    status = await epay.get_status("700000001", kind="p2p")
    assert status.is_paid


async def test_an_oct_payout_by_phone_sends_the_phone_and_iin(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    await epay.payout(order(), kind="oct", sender=SENDER, receiver=BY_PHONE)
    body = json.loads(sandbox.requests_to("/chpayment/transfer")[0].body)
    assert body["card"]["receiver"] == {
        "save": False,
        "id": "",
        "transferType": "TYPEPHONE",
        "cardCred": "",
        "phone": "+77011234567",
        "iin": "900101300123",
    }


async def test_a_receiver_by_phone_is_refused_before_any_request_except_for_oct(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.payout(order(), kind="aft", sender=SENDER, receiver=BY_PHONE)
    assert info.value.field == "receiver"
    with pytest.raises(ValidationError) as info:
        await epay.transfer(order(), sender=SENDER, receiver=BY_PHONE)  # type: ignore[arg-type]
    assert info.value.field == "receiver"
    with pytest.raises(ValidationError) as info:
        await epay.payout(order(), kind="sepa", sender=SENDER, receiver=RECEIVER)  # type: ignore[arg-type]
    assert info.value.field == "kind"
    assert sandbox.requests == []


def test_a_phone_recipient_is_validated_and_never_shown() -> None:
    assert "77011234567" not in repr(BY_PHONE)
    assert "900101300123" not in repr(BY_PHONE)
    with pytest.raises(ValidationError) as info:
        PhoneRecipient(phone="+77011234567", iin="12345")
    assert info.value.field == "iin"
    with pytest.raises(ValidationError) as info:
        PhoneRecipient(phone="call me", iin="900101300123")
    assert info.value.field == "phone"


async def test_a_payout_from_a_saved_card_and_a_declined_sender(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    card_id = sandbox.save_card(SENDER.pan, account_id="acct")
    result = await epay.payout(
        order(), kind="aft", sender=SavedCardRef(card_id=card_id), receiver=RECEIVER
    )
    assert result.sender_card_id == card_id
    locked = CardPan(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="000")
    with pytest.raises(PaymentDeclinedError):
        await epay.payout(order("700000002"), kind="oct", sender=locked, receiver=RECEIVER)


async def test_a_payout_whose_answer_is_lost_is_in_doubt_and_never_sent_again(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.fail("/chpayment/transfer", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as info:
        await epay.payout(order(), kind="oct", sender=SENDER, receiver=RECEIVER)
    assert info.value.invoice_id == "700000001"
    assert len(sandbox.requests_to("/chpayment/transfer")) == 1
    assert (await epay.get_status("700000001", kind="p2p")).is_paid

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
    ResultCode,
    SavedCardRef,
    StatusName,
    ValidationError,
)
from epay_async.testing import TEST_TERMINAL_ID, Fault, Sandbox

pytestmark = pytest.mark.anyio

SENDER = CardPan(
    pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321", name="Sergey Frolov"
)
RECEIVER = CardPan(pan="5578342710750560")


def order(invoice_id: str = "123456787538") -> Order:
    return Order(
        invoice_id=invoice_id,
        amount=Decimal(100),
        description="TEST p2p",
        email="armanali@epay.kz",
        back_link="https://epay.homebank.kz/demo/success.html",
        post_link="https://epay.homebank.kz/payform",
    )


async def test_transfer_matches_seed_003(sandbox: Sandbox, epay: EpayClient) -> None:
    result = await epay.transfer(order(), sender=SENDER, receiver=RECEIVER)
    body = json.loads(sandbox.requests_to("/p2p/transfer")[0].body)
    assert body == {
        "order": {
            "amount": 100,
            "currency": "KZT",
            "description": "TEST p2p",
            "merchantIdForSavingCards": "",
            "id": "123456787538",
            "senderIP": "",
            "senderEmail": "armanali@epay.kz",
            "foreign": False,
            "terminalId": TEST_TERMINAL_ID,
            "backLink": "https://epay.homebank.kz/demo/success.html",
            "postLink": "https://epay.homebank.kz/payform",
        },
        "card": {
            "sender": {
                "save": False,
                "transferType": "TYPEPAN",
                "address": "",
                "cvc": "321",
                "cardCred": "4405639704015096",
                "expire": {"month": "01", "year": "27"},
                "name": "Sergey Frolov",
                "number": "",
            },
            "receiver": {
                "save": False,
                "id": "",
                "transferType": "TYPEPAN",
                "cardCred": "5578342710750560",
            },
        },
    }
    form = {k: v[0] for k, v in parse_qs(sandbox.token_requests[-1].body.decode()).items()}
    assert form["scope"] == "transfer"
    assert form["invoiceID"] == "123456787538"
    assert form["amount"] == "100"
    assert result.order_id == "123456787538"
    assert result.status == "AUTH"
    assert result.sender_card_pan == "4405********5096"
    status = await epay.get_status("123456787538", kind="p2p")
    assert status.status_name is StatusName.AUTH
    assert (await epay.get_status("123456787538")).result_code is ResultCode.INVOICE_NOT_FOUND


async def test_saved_cards_and_international_receiver(sandbox: Sandbox, epay: EpayClient) -> None:
    card_id = sandbox.save_card("4405639704015096", account_id="a1")
    receiver = CardPan(
        pan="5522042705066736", first_name="Ivan", last_name="Petrov", country_code="UZ"
    )
    await epay.transfer(order(), sender=SavedCardRef(card_id), receiver=receiver)
    body = json.loads(sandbox.requests_to("/p2p/transfer")[0].body)
    assert body["order"]["foreign"] is True
    assert body["card"]["sender"]["transferType"] == "TYPECARDID"
    assert body["card"]["sender"]["cardCred"] == card_id
    assert body["card"]["receiver"] == {
        "save": False,
        "id": "",
        "transferType": "TYPEPAN",
        "cardCred": "5522042705066736",
        "firstName": "Ivan",
        "lastName": "Petrov",
        "countryCode": "UZ",
    }
    await epay.transfer(order("123456787539"), sender=SENDER, receiver=SavedCardRef(card_id))
    receiver_wire = json.loads(sandbox.requests_to("/p2p/transfer")[1].body)["card"]["receiver"]
    assert receiver_wire["transferType"] == "TYPECARDID"
    assert receiver_wire["id"] == card_id


async def test_incomplete_parties_are_refused_before_io(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.transfer(order(), sender=RECEIVER, receiver=RECEIVER)
    assert info.value.field == "sender"
    with pytest.raises(ValidationError) as info:
        await epay.transfer(
            order(), sender=SENDER, receiver=CardPan(pan="5578342710750560", country_code="UZ")
        )
    assert info.value.field == "receiver"
    with pytest.raises(ValidationError):
        await epay.transfer(order(), sender=SENDER, receiver="5578342710750560")  # type: ignore[arg-type]
    assert sandbox.requests == []


async def test_declined_sender(sandbox: Sandbox, epay: EpayClient) -> None:
    locked = CardPan(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.transfer(order(), sender=locked, receiver=RECEIVER)
    assert info.value.code == 487


async def test_a_declined_transfer_is_rejected_and_notified_as_a_declined_payment_is(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    locked = CardPan(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")
    declined = Order(
        invoice_id="123456787539",
        amount=Decimal(100),
        description="TEST p2p",
        post_link="https://shop.example/epay/paid",
        failure_post_link="https://shop.example/epay/failed",
    )
    with pytest.raises(PaymentDeclinedError):
        await epay.transfer(declined, sender=locked, receiver=RECEIVER)
    (delivery,) = sandbox.notifications
    assert delivery.url == "https://shop.example/epay/failed"
    assert (delivery.payload["code"], delivery.payload["invoiceId"]) == ("error", "123456787539")
    status = await epay.get_status("123456787539", kind="p2p")
    assert status.status_name is StatusName.REJECT
    # A declined order may be tried again, as a declined card payment may.
    transfer = await epay.transfer(declined, sender=SENDER, receiver=RECEIVER)
    assert transfer.order_id == "123456787539"
    assert (await epay.get_status("123456787539", kind="p2p")).status_name is StatusName.AUTH


async def test_a_transfer_from_a_locked_saved_card_is_rejected_and_notified(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    """As a saved-card payment: a locked card saved earlier is declined (487), recorded."""
    card_id = sandbox.save_card("4003032704547597", account_id="user-1")
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.transfer(order("123456787540"), sender=SavedCardRef(card_id), receiver=RECEIVER)
    assert info.value.code == 487
    assert (await epay.get_status("123456787540", kind="p2p")).status_name is StatusName.REJECT
    assert [n.payload["code"] for n in sandbox.notifications] == ["error"]


async def test_lost_transfer_answer_is_not_resent(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.fail("/p2p/transfer", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as info:
        await epay.transfer(order(), sender=SENDER, receiver=RECEIVER)
    assert info.value.invoice_id == "123456787538"
    assert len(sandbox.requests_to("/p2p/transfer")) == 1
    status = await epay.wait_for_status("123456787538", kind="p2p", interval=0.001)
    assert status.status_name is StatusName.AUTH


async def test_transfer_with_3ds_through_confirm(sandbox: Sandbox, epay: EpayClient) -> None:
    sender = CardPan(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
    result = await epay.transfer(order(), sender=sender, receiver=RECEIVER)
    assert result.requires_3ds
    assert result.secure3d is not None
    assert result.status == "NEW"
    status = await epay.get_status("123456787538", kind="p2p")
    assert status.status_name is StatusName.NEW
    pa_res = sandbox.complete_3ds(result.secure3d.md)
    confirmed = await epay.confirm_3ds(result.id, pa_res=pa_res, md=result.secure3d.md)
    assert confirmed.success
    final = await epay.wait_for_status("123456787538", kind="p2p", interval=0.001)
    assert final.status_name is StatusName.AUTH

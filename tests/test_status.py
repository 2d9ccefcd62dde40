from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from epay_async import (
    ApiError,
    Card,
    EpayClient,
    Order,
    PaymentDeclinedError,
    PaymentState,
    ProtocolError,
    ResultCode,
    StatusError,
    StatusName,
    Transaction,
    TransactionStatus,
    ValidationError,
)
from epay_async._http import Answer
from epay_async._ops.status import parse_status
from epay_async._validation import lookup_id
from epay_async.testing import Sandbox

pytestmark = pytest.mark.anyio


async def test_paid_invoice(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("205218074", amount=Decimal("12.22"), status=StatusName.CHARGE)
    status = await epay.get_status("205218074")
    assert status.result_code is ResultCode.SUCCESS
    assert status.is_final
    assert status.is_paid
    assert status.transaction is not None
    assert status.transaction.amount == Decimal("12.22")
    assert status.transaction.status_name is StatusName.CHARGE
    request = sandbox.requests_to("/check-status/")[-1]
    assert request.method == "GET"
    assert request.path == "/check-status/payment/transaction/205218074"


async def test_p2p_kind_uses_the_p2p_path(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456787538", kind="p2p", status=StatusName.AUTH)
    assert (await epay.get_status("123456787538")).result_code is ResultCode.INVOICE_NOT_FOUND
    status = await epay.get_status("123456787538", kind="p2p")
    assert status.status_name is StatusName.AUTH
    assert sandbox.requests[-1].path == "/check-status/p2p/transaction/123456787538"


@pytest.mark.parametrize(
    "code", [ResultCode.REJECT, ResultCode.IN_PROGRESS, ResultCode.INVOICE_NOT_FOUND]
)
async def test_codes_returned_as_status(
    sandbox: Sandbox, epay: EpayClient, code: ResultCode
) -> None:
    sandbox.add_transaction("123456789")
    sandbox.queue_status("123456789", code)
    status = await epay.get_status("123456789")
    assert status.result_code is code
    assert status.transaction is None
    assert status.is_final is (code != ResultCode.IN_PROGRESS)


@pytest.mark.parametrize(
    "code",
    [
        ResultCode.TERMINAL_ABSENT_IN_TOKEN,
        ResultCode.INCORRECT_TERMINAL,
        ResultCode.TERMINAL_NOT_OWNED,
    ],
)
async def test_configuration_codes_raise(
    sandbox: Sandbox, epay: EpayClient, code: ResultCode
) -> None:
    sandbox.add_transaction("123456789")
    sandbox.queue_status("123456789", code)
    with pytest.raises(StatusError) as info:
        await epay.get_status("123456789")
    assert info.value.result_code == code
    assert info.value.invoice_id == "123456789"


async def test_wrong_terminal_is_answered_106_by_the_gateway(sandbox: Sandbox) -> None:
    async with sandbox.client(terminal_id="00000000-0000-0000-0000-000000000000") as epay:
        with pytest.raises(StatusError) as info:
            await epay.get_status("123456789")
    assert info.value.result_code == ResultCode.INCORRECT_TERMINAL


async def test_103_is_retried_then_answered(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456789", status=StatusName.AUTH)
    sandbox.queue_status("123456789", ResultCode.RETRY_OR_SUPPORT, ResultCode.RETRY_OR_SUPPORT)
    status = await epay.get_status("123456789")
    assert status.status_name is StatusName.AUTH
    assert len(sandbox.requests_to("/check-status/")) == 3


async def test_103_raises_when_it_persists(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456789")
    sandbox.queue_status("123456789", *[ResultCode.RETRY_OR_SUPPORT] * 5)
    with pytest.raises(StatusError) as info:
        await epay.get_status("123456789")
    assert info.value.result_code == ResultCode.RETRY_OR_SUPPORT
    assert len(sandbox.requests_to("/check-status/")) == 3


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("",), "invoice_id"),
        (("1" * 65,), "invoice_id"),
        (("12345 a",), "invoice_id"),
        (("../../x",), "invoice_id"),
    ],
)
async def test_bad_input_never_reaches_the_network(
    sandbox: Sandbox, epay: EpayClient, args: tuple[str], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.get_status(*args)
    assert info.value.field == field
    assert sandbox.requests == []


async def test_bad_kind_is_refused(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.get_status("123456789", kind="refund")  # type: ignore[arg-type]
    assert info.value.field == "kind"
    assert sandbox.requests == []


def _answer(code: int, name: str | None, *, with_transaction: bool = True) -> TransactionStatus:
    transaction = (
        Transaction(id="t", invoice_id="000001", amount=Decimal("1.00"), currency="KZT")
        if with_transaction
        else None
    )
    if transaction is not None and name is not None:
        transaction = attrs.evolve(transaction, status_name=StatusName(name))
    return TransactionStatus(result_code=ResultCode(code), transaction=transaction)


@pytest.mark.parametrize(
    ("code", "name", "state"),
    [
        (100, "AUTH", PaymentState.PAID),
        (100, "CHARGE", PaymentState.PAID),
        (100, None, PaymentState.PAID),  # a P2P answer carries no statusName
        (100, "NEW", PaymentState.PENDING),
        (107, None, PaymentState.PENDING),
        (102, None, PaymentState.NOT_FOUND),
        (101, "REJECT", PaymentState.FAILED),
        (100, "FAILED", PaymentState.FAILED),
        (100, "3D", PaymentState.FAILED),
        (100, "CANCEL", PaymentState.CANCELLED),
        (100, "CANCEL_OLD", PaymentState.CANCELLED),
        (100, "REFUND", PaymentState.REFUNDED),
        (100, "FINGERPRINT", PaymentState.UNKNOWN),  # a status name seen once, not documented
        (105, None, PaymentState.UNKNOWN),
    ],
)
def test_state_is_the_merchant_level_answer(code: int, name: str | None, state: str) -> None:
    status = _answer(code, name)
    assert status.state is state
    assert status.state.is_settled == (state in {"paid", "failed", "cancelled", "refunded"})
    assert status.is_paid == (state is PaymentState.PAID)


def test_not_found_is_final_but_never_settles_an_order() -> None:
    status = _answer(102, None, with_transaction=False)
    assert status.is_final  # the gateway will not change this answer by itself...
    assert status.state is PaymentState.NOT_FOUND
    assert not status.state.is_settled  # ...but a payment may still arrive


def test_success_without_a_transaction_is_unknown() -> None:
    assert _answer(100, None, with_transaction=False).state is PaymentState.UNKNOWN


# -- ids this library did not make: any id of the safe path alphabet ----------------------


@pytest.mark.parametrize("invoice_id", ["12-1738952601", "000000001350768", "A_b-1", "7" * 64])
async def test_read_paths_accept_an_id_made_elsewhere(
    sandbox: Sandbox, epay: EpayClient, invoice_id: str
) -> None:
    await epay.get_status(invoice_id)
    assert sandbox.requests_to("/check-status/")[-1].path == (
        f"/check-status/payment/transaction/{invoice_id}"
    )


@pytest.mark.parametrize(
    "invoice_id",
    ["", "12/34", "..", "1%2F2", "12?x=1", "12#x", "12 34", "12\n", "１２３", "12\ud800", "7" * 65],
)
async def test_an_id_that_could_change_the_path_is_refused_before_any_request(
    sandbox: Sandbox, epay: EpayClient, invoice_id: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.get_status(invoice_id)
    assert info.value.field == "invoice_id"
    with pytest.raises(ValidationError) as info:
        await epay.wait_for_status(invoice_id, timeout=1)
    assert info.value.field == "invoice_id"
    assert sandbox.requests == []


def test_lookup_id_names_the_callers_field() -> None:
    assert lookup_id("12-1738952601", "invoice") == "12-1738952601"
    assert lookup_id(1350768) == "1350768"
    with pytest.raises(ValidationError) as info:
        lookup_id("../x", "invoice")
    assert info.value.field == "invoice"


async def test_paying_a_paid_invoice_is_a_469_whose_message_and_advice_reach_the_merchant(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    order = Order(invoice_id="469000001", amount=Decimal("100"), description="test")
    card = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
    await epay.pay_with_card(order, card)
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_card(order, card)
    declined = info.value
    assert isinstance(declined, ApiError)  # why the README says to catch it first
    assert declined.code == 469
    gateway_says = "Invalid transaction: the invoice has already been paid"
    assert declined.message == gateway_says
    assert gateway_says in str(declined)
    assert "get_status" in declined.reason
    assert (await epay.get_status("469000001")).state is PaymentState.PAID


@pytest.mark.parametrize("body", [b'{"": {"code": 1}}', b'{"": {"p2p": {}}, "resultCode": "100"}'])
def test_an_empty_key_in_a_check_status_answer_is_a_protocol_error(body: bytes) -> None:
    # It once reached a bare KeyError in reading the P2P envelope.
    with pytest.raises(ProtocolError):
        parse_status(Answer(200, {}, body, 0.0), "123456", "p2p")

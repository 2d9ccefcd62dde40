"""P2P check-status in both envelopes: the documented one (``result`` + ``transaction.p2p``)
and the payment one, through get_status, wait_for_status and reconcile."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from epay_async import (
    Environment,
    EpayClient,
    ProtocolError,
    ResultCode,
    StatusError,
    StatusName,
)
from epay_async.testing import Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

ENV = Environment.custom(token_url="https://oauth.test/token", api_url="https://api.test")
ORDER_ID = "12345678937780"

#: The answer of the documentation's "P2P check status" page (English and Kazakh versions).
DOCUMENTED = {
    "result": {"code": "100", "message": "SUCCESS"},
    "transaction": {
        "p2p": {
            "id": "55dd8788-f222-479c-a318-fb06ad2fc090",
            "createdDate": "2021-12-27T14:47:12.214471+06:00",
            "invoiceID": ORDER_ID,
            "amount": 200,
            "amountBonus": 0,
            "payoutAmount": 0,
            "currency": "KZT",
            "cardType": "VISA",
            "terminal": "98151552",
            "terminalID": "c36b282f-6819-4d4f-85df-a4bdc8a8f703",
            "accountID": "123",
            "description": "TEST p2p",
            "language": "",
            "reference": "136114212311",
            "senderCardPAN": "440563...5096",
        }
    },
}


def flat(answer: dict[str, Any]) -> dict[str, Any]:
    """The same answer in the payment envelope (resultCode, a flat transaction)."""
    transaction = answer["transaction"]
    return {
        "resultCode": answer["result"]["code"],
        "resultMessage": answer["result"]["message"],
        "transaction": None if transaction is None else transaction["p2p"],
    }


def with_code(code: int, *, transaction: bool = False) -> dict[str, Any]:
    answer = copy.deepcopy(DOCUMENTED)
    answer["result"] = {"code": str(code), "message": "x"}
    if not transaction:
        answer["transaction"] = None
    return answer


def gateway(answers: list[dict[str, Any]]) -> tuple[httpx.MockTransport, list[str]]:
    """A gateway that answers check-status with ``answers`` in turn (the last one repeats)."""
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
        paths.append(request.url.path)
        answer = answers[min(len(paths), len(answers)) - 1]
        return httpx.Response(200, content=json.dumps(answer).encode())

    return httpx.MockTransport(handle), paths


def client(transport: httpx.MockTransport) -> EpayClient:
    return EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id="c36b282f-6819-4d4f-85df-a4bdc8a8f703",
        environment=ENV,
        transport=transport,
        retry=FAST_RETRY,
    )


ENVELOPES: list[Callable[[dict[str, Any]], dict[str, Any]]] = [lambda a: a, flat]


@pytest.mark.parametrize("envelope", ENVELOPES, ids=["documented", "flat"])
async def test_documented_answer_reads_as_a_paid_transfer(
    envelope: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    transport, paths = gateway([envelope(DOCUMENTED)])
    async with client(transport) as epay:
        status = await epay.get_status(ORDER_ID, kind="p2p")
    assert paths == [f"/check-status/p2p/transaction/{ORDER_ID}"]
    assert status.result_code is ResultCode.SUCCESS
    assert status.result_message == "SUCCESS"
    assert status.transaction is not None
    assert status.transaction.amount == Decimal(200)
    assert status.transaction.reference == "136114212311"
    assert status.transaction.extra == {"senderCardPAN": "440563...5096"}
    # No statusName in the documented answer: 100 with the transfer is a completed transfer.
    assert status.status_name is None
    assert status.is_final
    assert status.is_paid


@pytest.mark.parametrize("envelope", ENVELOPES, ids=["documented", "flat"])
@pytest.mark.parametrize(
    ("name", "paid", "final"),
    [
        (StatusName.CHARGE, True, True),
        (StatusName.AUTH, True, True),
        (StatusName.REJECT, False, True),
        (StatusName.NEW, False, False),
    ],
)
async def test_a_status_name_when_present_decides(
    envelope: Callable[[dict[str, Any]], dict[str, Any]],
    name: StatusName,
    paid: bool,
    final: bool,
) -> None:
    answer = copy.deepcopy(DOCUMENTED)
    answer["transaction"]["p2p"]["statusName"] = name.value
    transport, _ = gateway([envelope(answer)])
    async with client(transport) as epay:
        status = await epay.get_status(ORDER_ID, kind="p2p")
    assert status.status_name is name
    assert (status.is_paid, status.is_final) == (paid, final)


@pytest.mark.parametrize("envelope", ENVELOPES, ids=["documented", "flat"])
@pytest.mark.parametrize(
    "code", [ResultCode.REJECT, ResultCode.INVOICE_NOT_FOUND, ResultCode.IN_PROGRESS]
)
async def test_codes_returned(
    envelope: Callable[[dict[str, Any]], dict[str, Any]], code: ResultCode
) -> None:
    transport, _ = gateway([envelope(with_code(int(code)))])
    async with client(transport) as epay:
        status = await epay.get_status(ORDER_ID, kind="p2p")
    assert status.result_code is code
    assert not status.is_paid
    assert status.is_final is (code is not ResultCode.IN_PROGRESS)


@pytest.mark.parametrize("envelope", ENVELOPES, ids=["documented", "flat"])
@pytest.mark.parametrize("code", [104, 106, 109])
async def test_configuration_codes_raised(
    envelope: Callable[[dict[str, Any]], dict[str, Any]], code: int
) -> None:
    transport, paths = gateway([envelope(with_code(code))])
    async with client(transport) as epay:
        with pytest.raises(StatusError) as caught:
            await epay.get_status(ORDER_ID, kind="p2p")
    assert caught.value.result_code == code
    assert len(paths) == 1


@pytest.mark.parametrize("envelope", ENVELOPES, ids=["documented", "flat"])
async def test_103_retried_then_raised_or_recovered(
    envelope: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    transport, paths = gateway([envelope(with_code(103))])
    async with client(transport) as epay:
        with pytest.raises(StatusError):
            await epay.get_status(ORDER_ID, kind="p2p")
    assert len(paths) == FAST_RETRY.max_attempts
    transport, paths = gateway([envelope(with_code(103)), envelope(DOCUMENTED)])
    async with client(transport) as epay:
        assert (await epay.get_status(ORDER_ID, kind="p2p")).is_paid
    assert len(paths) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"result": "100", "transaction": None},
        {"result": {"message": "SUCCESS"}, "transaction": None},
        {"result": {"code": "100"}, "transaction": {"p2p": "x"}},
        {"result": {"code": "100"}, "transaction": None},
        {"result": {"code": "100"}, "transaction": {"p2p": {"id": "x"}}},
    ],
)
async def test_malformed_envelopes_are_protocol_errors(answer: dict[str, Any]) -> None:
    transport, _ = gateway([answer])
    async with client(transport) as epay:
        with pytest.raises(ProtocolError):
            await epay.get_status(ORDER_ID, kind="p2p")


async def test_another_orders_transfer_is_refused() -> None:
    answer = copy.deepcopy(DOCUMENTED)
    answer["transaction"]["p2p"]["invoiceID"] = "999999999"
    transport, _ = gateway([answer])
    async with client(transport) as epay:
        with pytest.raises(ProtocolError, match="invoice"):
            await epay.get_status(ORDER_ID, kind="p2p")


async def test_a_payment_without_status_name_is_refused() -> None:
    transport, _ = gateway([flat(DOCUMENTED)])
    async with client(transport) as epay:
        with pytest.raises(ProtocolError, match="statusName"):
            await epay.get_status(ORDER_ID)


async def test_wait_for_status_polls_through_107() -> None:
    transport, paths = gateway([with_code(107), with_code(107), DOCUMENTED])
    async with client(transport) as epay:
        status = await epay.wait_for_status(ORDER_ID, kind="p2p", interval=0.001)
    assert status.is_paid
    assert len(paths) == 3


async def test_reconcile_reads_the_documented_envelope() -> None:
    transport, _ = gateway([DOCUMENTED])
    async with (
        client(transport) as epay,
        epay.reconcile([ORDER_ID, "not-an-id"], kind="p2p") as reconciliation,
    ):
        results = [r async for r in reconciliation]
    by_id = {r.invoice_id: r for r in results}
    assert by_id[ORDER_ID].status is not None
    assert by_id[ORDER_ID].status.is_paid
    assert by_id["not-an-id"].error is not None


async def test_sandbox_answers_p2p_in_the_documented_envelope(sandbox: Sandbox) -> None:
    sandbox.add_transaction(ORDER_ID, kind="p2p", status=StatusName.CHARGE)
    async with sandbox.client(retry=FAST_RETRY) as epay:
        status = await epay.get_status(ORDER_ID, kind="p2p")
        missing = await epay.get_status("123123123", kind="p2p")
        token = sandbox.requests_to("/check-status/p2p/")[0].bearer()
        raw = await epay.http_client.get(
            f"{epay.environment.api_url}/check-status/p2p/transaction/{ORDER_ID}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert status.is_paid
    assert missing.result_code is ResultCode.INVOICE_NOT_FOUND
    wire = raw.json()
    assert set(wire) == {"result", "transaction"}
    assert wire["result"] == {"code": "100", "message": "SUCCESS"}
    assert set(wire["transaction"]) == {"p2p"}
    assert wire["transaction"]["p2p"]["invoiceID"] == ORDER_ID

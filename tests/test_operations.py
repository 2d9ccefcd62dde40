from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx

from epay_async import (
    ApiError,
    Environment,
    EpayClient,
    Order,
    OutcomeUnknownError,
    ProtocolError,
    StatusName,
    ValidationError,
)
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import TX, VISA, answering, mock_client, sandbox_token

pytestmark = pytest.mark.anyio


async def paid(epay: EpayClient, invoice_id: str = "100000001", amount: str = "1000") -> str:
    order = Order(
        invoice_id=invoice_id,
        amount=Decimal(amount),
        description="op",
        account_id="acc-1",
        card_save=True,
    )
    return (await epay.pay_with_card(order, VISA)).id


async def status_of(epay: EpayClient, invoice_id: str = "100000001") -> StatusName | None:
    return (await epay.get_status(invoice_id)).status_name


async def amounts_of(
    epay: EpayClient, invoice_id: str = "100000001"
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """``amount``, ``payout_amount`` and ``org_amount`` of the invoice's status."""
    transaction = (await epay.get_status(invoice_id)).transaction
    assert transaction is not None
    return transaction.amount, transaction.payout_amount, transaction.org_amount


async def test_auth_charge_refund(sandbox: Sandbox, epay: EpayClient) -> None:
    payment_id = await paid(epay)
    assert await status_of(epay) is StatusName.AUTH
    charged = await epay.charge(payment_id, Decimal("800.50"))
    assert charged.amount == Decimal("800.50")
    assert await status_of(epay) is StatusName.CHARGE
    assert sandbox.requests_to("/charge")[0].query == {"amount": "800.50"}
    # No refund yet: payoutAmount (the register's documentation: the refund amount) is 0.
    assert await amounts_of(epay) == (Decimal("1000"), Decimal(0), Decimal("1000"))
    await epay.refund(payment_id, Decimal("300"), external_id="rf-1")
    assert sandbox.requests_to("/refund")[0].query == {"amount": "300", "externalID": "rf-1"}
    assert await status_of(epay) is StatusName.REFUND
    # Seed 002's REFUND: amount what is left, payoutAmount what went back, orgAmount the order's.
    amounts = await amounts_of(epay)
    assert amounts == (Decimal("500.50"), Decimal("300"), Decimal("1000"))
    await epay.refund(payment_id)  # the rest: 500.50
    assert await amounts_of(epay) == (Decimal(0), Decimal("800.50"), Decimal("1000"))
    with pytest.raises(ApiError) as info:
        await epay.refund(payment_id, Decimal("10"))
    assert info.value.code == 469
    assert info.value.http_status == 400


async def test_a_transaction_put_on_the_books_as_refunded_was_refunded_in_full(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.add_transaction("100000077", status=StatusName.REFUND, amount="990.00")
    assert await amounts_of(epay, "100000077") == (0, Decimal("990.00"), Decimal("990.00"))


async def test_the_sandbox_takes_a_charge_amount_in_the_body_as_documented(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    """The documentation gives a partial charge's amount in the query or in a JSON body
    (equal when both are sent); refund and cancel document only the query."""
    charged_by_body, charged_by_both, refunded = (
        await paid(epay, "100000011", "2500"),
        await paid(epay, "100000012", "2500"),
        await paid(epay, "100000013", "2500"),
    )
    env = Sandbox.environment()
    async with sandbox.http_client() as http:
        token = await sandbox_token(http)

        async def operate(payment_id: str, operation: str, **request: object) -> httpx.Response:
            return await http.post(
                f"{env.api_url}/operation/{payment_id}/{operation}",
                headers={"Authorization": f"Bearer {token}"},
                **request,  # type: ignore[arg-type]
            )

        for written in (b'{"amount": 1e2}', b'{"amount": 100.000}'):  # not plainly written
            answer = await operate(charged_by_both, "charge", content=written)
            assert (answer.status_code, answer.json()["code"]) == (400, 470)
        differ = await operate(
            charged_by_both, "charge", params={"amount": "300"}, json={"amount": 2400}
        )
        assert (differ.status_code, differ.json()["code"]) == (400, 470)
        assert (await operate(charged_by_body, "charge", json={"amount": 2400})).status_code == 200
        assert (
            await operate(charged_by_both, "charge", params={"amount": "300"}, json={"amount": 300})
        ).status_code == 200
        await operate(refunded, "charge")
        by_body = await operate(refunded, "refund", json={"amount": 100})
        assert (by_body.status_code, by_body.json()["code"]) == (400, 470)
        assert "query" in by_body.json()["message"]
        # Never read as "the whole": any casing of the key, a body that is not a JSON object,
        # an amount that is not a plain number of at most two places.
        for refused, code in (
            ({"json": {"Amount": 100}}, 470),
            ({"content": b"[100]"}, 477),
            ({"content": b"amount=100"}, 477),
            ({"content": b'{"amount": 1e999}'}, 477),
            ({"params": {"amount": "1_0"}}, 470),
            ({"params": {"amount": "1e2"}}, 470),
            ({"params": {"amount": "10.001"}}, 470),
            ({"json": {"amount": None}}, 470),  # not "the whole"
        ):
            answer = await operate(refunded, "refund", **refused)
            assert (answer.status_code, answer.json()["code"]) == (400, code), refused
    refunds = [
        await amounts_of(epay, invoice) for invoice in ("100000011", "100000012", "100000013")
    ]
    assert await status_of(epay, "100000013") is StatusName.CHARGE  # nothing was given back
    assert [amount for amount, _, _ in refunds] == [Decimal(2500)] * 3
    await epay.refund(charged_by_body)  # what the body charged: 2400
    assert await amounts_of(epay, "100000011") == (0, Decimal(2400), Decimal(2500))
    await epay.refund(charged_by_both)
    assert await amounts_of(epay, "100000012") == (0, Decimal(300), Decimal(2500))


async def test_auth_cancel(sandbox: Sandbox, epay: EpayClient) -> None:
    payment_id = await paid(epay)
    result = await epay.cancel(payment_id)
    assert result.operation == "cancel"
    assert sandbox.requests_to("/cancel")[0].path == f"/operation/{payment_id}/cancel"
    assert await status_of(epay) is StatusName.CANCEL
    with pytest.raises(ApiError):
        await epay.charge(payment_id)


async def test_state_machine_refusals(sandbox: Sandbox, epay: EpayClient) -> None:
    payment_id = await paid(epay)
    with pytest.raises(ApiError) as info:
        await epay.refund(payment_id)  # not charged yet
    assert info.value.code == 469
    with pytest.raises(ApiError) as info:
        await epay.charge(payment_id, Decimal("1000.01"))
    assert info.value.code == 470
    await epay.charge(payment_id)
    refunds_before = len(sandbox.requests_to("/refund"))
    with pytest.raises(ValidationError) as refused:
        await epay.refund(payment_id, Decimal("9.99"))  # below the 10 KZT minimum: never sent
    assert refused.value.field == "amount"
    assert len(sandbox.requests_to("/refund")) == refunds_before
    with pytest.raises(ApiError):
        await epay.cancel(payment_id)
    with pytest.raises(ApiError) as info:
        await epay.charge("00000000-0000-0000-0000-000000000000")
    assert info.value.code == 522


async def test_one_step_terminal_charges_at_once() -> None:
    sandbox = Sandbox(key_bits=2048, two_step=False)
    async with sandbox.client(retry=FAST_RETRY) as epay:
        payment_id = await paid(epay)
        assert await status_of(epay) is StatusName.CHARGE
        await epay.refund(payment_id, Decimal("10"))


async def test_bad_arguments(sandbox: Sandbox, epay: EpayClient) -> None:
    for call in (
        epay.charge("../../x"),
        epay.refund("abc", Decimal("1.001")),
        epay.refund("abc", 5.0),
    ):  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            await call
    assert sandbox.requests == []


async def test_lost_operation_answer_is_not_resent(sandbox: Sandbox, epay: EpayClient) -> None:
    payment_id = await paid(epay)
    sandbox.fail("/charge", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as info:
        await epay.charge(payment_id)
    assert info.value.transaction_id == payment_id
    assert len(sandbox.requests_to("/charge")) == 1
    assert await status_of(epay) is StatusName.CHARGE


async def test_saved_cards(sandbox: Sandbox, epay: EpayClient) -> None:
    assert await epay.list_cards("acc-1") == []
    await paid(epay)
    cards = await epay.list_cards("acc-1")
    assert len(cards) == 1
    assert cards[0].card_mask == "440563...5096"
    assert cards[0].payment_available is True
    assert cards[0].account_id == "acc-1"
    await epay.deactivate_card(cards[0].id)
    assert await epay.list_cards("acc-1") == []
    with pytest.raises(ApiError) as info:
        await epay.deactivate_card("00000000-0000-4000-8000-00000000dead")
    assert info.value.code == 522


ENV = Environment.custom(
    token_url="https://auth.example.invalid/token", api_url="https://api.example.invalid"
)
OP_URL = "https://api.example.invalid/operation/7943816b-58a8-47f6-a11e-67b63c4228c7/charge"


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (httpx.Response(200), None),
        (httpx.Response(200, json={"code": 0, "message": ""}), None),
        (httpx.Response(200, json={"code": 476, "message": "No action taken"}), ApiError),
        (httpx.Response(400, json={"code": 100, "message": ""}), ApiError),
        (httpx.Response(200, text="<html>maintenance</html>"), OutcomeUnknownError),
        (httpx.Response(200, json=[1, 2]), OutcomeUnknownError),
        (httpx.Response(500), OutcomeUnknownError),
    ],
)
async def test_operation_answers(response: httpx.Response, outcome: type[Exception] | None) -> None:
    with respx.mock:
        respx.post(ENV.token_url).respond(json={"access_token": "t", "expires_in": 7200})
        route = respx.post(OP_URL).mock(return_value=response)
        async with EpayClient(
            client_id="test", client_secret="s", terminal_id="t", environment=ENV, retry=FAST_RETRY
        ) as epay:
            if outcome is None:
                assert (await epay.charge(TX)).transaction_id == TX
            else:
                with pytest.raises(outcome):
                    await epay.charge(TX)
    assert route.call_count == 1


async def test_card_list_shapes() -> None:
    entry = {
        "ID": "c1",
        "TransactionId": "t",
        "MerchantID": "m",
        "CardHash": "h",
        "CardMask": "4405...2283",
        "PayerName": "A",
        "Reference": "",
        "IntReference": "",
        "Token": "tok",
        "Terminal": "98120001",
        "CreatedDate": "2024-01-02T03:04:05+05:00",
        "PaymentAvailable": True,
        "AccountID": "acc",
        "NewField": 1,
    }
    with respx.mock:
        respx.post(ENV.token_url).respond(json={"access_token": "t", "expires_in": 7200})
        route = respx.get("https://api.example.invalid/cards/acc").mock(
            side_effect=[
                httpx.Response(200, json=[entry]),
                httpx.Response(200, json={"code": 1373, "message": "no cards"}),
                httpx.Response(200, json={"cards": []}),
            ]
        )
        async with EpayClient(
            client_id="test", client_secret="s", terminal_id="t", environment=ENV, retry=FAST_RETRY
        ) as epay:
            cards = await epay.list_cards("acc")
            assert cards[0].id == "c1"
            assert cards[0].extra == {"NewField": 1}
            assert "tok" not in repr(cards[0])
            assert await epay.list_cards("acc") == []
            with pytest.raises(ProtocolError, match="JSON array"):
                await epay.list_cards("acc")
    assert route.call_count == 3


# -- operation answers that are refusals, and the refund minimum ----------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": "-1", "message": "error"}',
        b'{"code": "1", "message": "insufficient funds"}',
        b'{"code": -1.0}',
        b'{"code": 100, "message": ""}',
    ],
)
@pytest.mark.parametrize("operation", ["charge", "cancel", "refund"])
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_an_error_code_in_a_200_is_a_refusal(body: bytes, operation: str) -> None:
    async with mock_client(answering(body)) as epay:
        with pytest.raises(ApiError):
            await getattr(epay, operation)(TX)


@pytest.mark.parametrize("body", [b'{"code": "ok"}', b'{"code": [1]}', b"[1]"])
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_an_unreadable_code_is_outcome_unknown(body: bytes) -> None:
    async with mock_client(answering(body)) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.refund(TX)


@pytest.mark.parametrize("body", [b"", b'{"code": 0}', b'{"code": "0", "message": "ok"}'])
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_success_answers_of_operations(body: bytes) -> None:
    async with mock_client(answering(body)) as epay:
        assert (await epay.charge(TX)).transaction_id == TX


@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_a_refund_under_the_minimum_is_refused_locally() -> None:
    async with mock_client(answering(b"")) as epay:
        with pytest.raises(ValidationError, match="10"):
            await epay.refund(TX, Decimal("9.99"))
        assert (await epay.refund(TX, Decimal(10))).amount == Decimal(10)

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from epay_async import (
    Card,
    EpayClient,
    NotificationMismatchError,
    Order,
    PaymentDeclinedError,
    StatusName,
    ValidationError,
)
from epay_async._converter import structure
from epay_async._ops.notifications import mismatches
from epay_async.notifications import MAX_NOTIFICATION_BYTES, parse_notification
from epay_async.testing import Sandbox
from epay_async.types.status import PaymentState, TransactionStatus

from .conftest import BOTH_BACKENDS
from .factories import TX

pytestmark = pytest.mark.anyio

SUCCESS: dict[str, Any] = {
    "accountId": "uuid000001",
    "amount": 100,
    "approvalCode": "170243",
    "cardId": "e8a09f98-04b4-71a6-e053-1d1a000aa0d2",
    "cardMask": "440563...5096",
    "cardType": "VISA",
    "code": "ok",
    "currency": "KZT",
    "data": '{"deal":1}',
    "dateTime": "2024-03-01T12:34:56.123+06:00",
    "description": "order 1",
    "email": "a@b.kz",
    "id": "af2089fe-43b1-47eb-a61f-c78dd196e18d",
    "invoiceId": "205218074",
    "ip": "46.148.239.182",
    "ipCity": "",
    "ipCountry": "KZ",
    "ipDistrict": "",
    "ipLatitude": 43.25,
    "ipLongitude": 76.92,
    "ipRegion": "",
    "issuer": "Halyk Bank",
    "language": "rus",
    "name": "TEST",
    "phone": "",
    "reason": "Approved",
    "reasonCode": 0,
    "reference": "231951411351",
    "secure": "yes",
    "secureDetails": "",
    "terminal": "98120001",
    "secret_hash": "hash-1",
}
FAILURE: dict[str, Any] = {
    "id": "af2089fe",
    "dateTime": "2024-03-01T12:34:56+06:00",
    "invoiceId": "205218074",
    "invoiceIdAlt": "",
    "amount": "100.00",
    "currency": "KZT",
    "terminal": "98120001",
    "accountId": "",
    "description": "x",
    "language": "rus",
    "cardMask": "400303...9821",
    "cardType": "VISA",
    "issuer": "",
    "reference": "",
    "secure": "no",
    "secureDetails": "",
    "tokenRecipient": "",
    "code": "error",
    "reason": "Not sufficient funds",
    "reasonCode": "484",
    "name": "",
    "email": "",
    "phone": "",
    "ip": "",
    "ipCountry": "",
    "ipCity": "",
    "ipRegion": "",
    "ipDistrict": "",
    "ipLongitude": "",
    "ipLatitude": "",
}


def test_success_payload() -> None:
    note = parse_notification(json.dumps(SUCCESS).encode())
    assert note.is_success
    assert note.invoice_id == "205218074"
    assert note.amount == Decimal(100)
    assert note.reason_code == "0"
    assert note.secure is True
    assert note.card_id == SUCCESS["cardId"]
    assert note.date_time is not None
    assert note.date_time.utcoffset() == timedelta(hours=6)
    assert note.secret_hash == "hash-1"
    assert "hash-1" not in repr(note)
    assert note.extra["ipLatitude"] == Decimal("43.25")


def test_failure_payload_and_other_casings() -> None:
    note = parse_notification(
        {**FAILURE, "InvoiceID": FAILURE["invoiceId"], "invoiceId": None}
        | {"invoiceId": "205218074"}
    )
    assert not note.is_success
    assert note.amount == Decimal("100.00")
    assert note.reason_code == "484"
    assert note.secure is False
    assert note.extra["tokenRecipient"] == ""
    assert parse_notification(json.dumps({"InvoiceID": "1", "CODE": "OK"})).is_success


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"not json", "body"),
        (b"\xff\xfe\x00", "body"),
        (b"[1, 2]", "body"),
        (b'"ok"', "body"),
        (b'{"code": "ok"}', "invoice_id"),
        (b'{"code": "ok", "invoiceId": ""}', "invoice_id"),
        (b'{"code": "ok", "invoiceId": {"$ne": 1}}', "invoice_id"),
        (b'{"code": "ok", "invoiceId": [1]}', "invoice_id"),
        (b'{"invoiceId": "1"}', "code"),
        (b'{"code": "ok", "invoiceId": "1", "amount": "lots"}', "amount"),
        (b'{"code": "ok", "invoiceId": "1", "amount": 1e400}', "body"),  # refused by the parser
        (b'{"code": "ok", "invoiceId": "1", "amount": "1e400"}', "amount"),
        (b'{"code": "ok", "invoiceId": "1", "amount": -5}', "amount"),
        (b'{"code": "ok", "invoiceId": "1", "amount": ' + b"9" * 5000 + b"}", "body"),
        (b'{"code": "ok", "invoiceId": "1", "secure": {"a": [1]}}', "secure"),
        (b'{"code": "ok", "invoiceId": "1", "dateTime": 12}', "date_time"),
        (b'{"code": "ok", "invoiceId": "1", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "body"),
        (b'{"code": "ok", "invoiceId": "1", "pad": "' + b"x" * 1_000_000 + b'"}', "body"),
    ],
)
def test_hostile_bodies_raise_validation_error(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_notification(body)
    assert info.value.field == field


def test_wrong_input_type() -> None:
    with pytest.raises(ValidationError):
        parse_notification(12)  # type: ignore[arg-type]


VISA = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
LOCKED = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")


def order(invoice_id: str = "205218074", **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "invoice_id": invoice_id,
        "amount": Decimal("100.00"),
        "description": "order",
        "post_link": "https://shop.example/post",
        "secret_hash": "hash-1",
    }
    return Order(**{**fields, **changes})


async def delivered(sandbox: Sandbox, epay: EpayClient, card: Card = VISA) -> dict[str, Any]:
    with contextlib.suppress(PaymentDeclinedError):
        await epay.pay_with_card(order(), card)
    assert len(sandbox.notifications) == 1
    return dict(sandbox.notifications[0].payload)


async def test_a_genuine_notification_verifies(sandbox: Sandbox, epay: EpayClient) -> None:
    await delivered(sandbox, epay)
    assert sandbox.notifications[0].url == "https://shop.example/post"
    status = await epay.verify_notification(
        parse_notification(sandbox.notifications[0].body),
        expected_amount=Decimal("100.00"),
        secret_hash="hash-1",
    )
    assert status.status_name is StatusName.AUTH


async def test_a_genuine_failure_notification_verifies(sandbox: Sandbox, epay: EpayClient) -> None:
    payload = await delivered(sandbox, epay, LOCKED)
    assert payload["code"] == "error"
    status = await epay.verify_notification(parse_notification(payload))
    assert status.status_name is StatusName.REJECT


@pytest.mark.parametrize(
    ("change", "kwargs", "why"),
    [
        ({"amount": Decimal("1.00")}, {}, "amount"),
        ({}, {"expected_amount": Decimal("99.00")}, "order's"),
        ({"currency": "USD"}, {}, "currency"),
        ({"invoiceId": "999999999"}, {}, "no such transaction"),
        ({"id": "00000000-forged"}, {}, "transaction id"),
        ({"terminal": "00000000"}, {}, "terminal"),
        ({}, {"secret_hash": "another"}, "secret_hash"),
        ({"secret_hash": None}, {"secret_hash": "hash-1"}, "secret_hash"),
    ],
)
async def test_forged_notifications_never_verify(
    sandbox: Sandbox, epay: EpayClient, change: dict[str, Any], kwargs: dict[str, Any], why: str
) -> None:
    payload = {**await delivered(sandbox, epay), **change}
    with pytest.raises(NotificationMismatchError) as info:
        await epay.verify_notification(parse_notification(payload), **kwargs)
    assert any(why in m for m in info.value.mismatches)


async def test_success_claimed_while_the_gateway_says_reject(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    payload = await delivered(sandbox, epay, LOCKED)
    forged = {**payload, "code": "ok", "reasonCode": 0}
    with pytest.raises(NotificationMismatchError) as info:
        await epay.verify_notification(parse_notification(forged))
    assert "REJECT" in str(info.value)


async def test_a_notification_for_an_unfinished_payment_does_not_verify(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    payload = await delivered(sandbox, epay)
    sandbox.in_progress("205218074", polls=1)
    with pytest.raises(NotificationMismatchError, match="not finished"):
        await epay.verify_notification(parse_notification(payload))


async def test_verify_refuses_raw_input(epay: EpayClient) -> None:
    with pytest.raises(ValidationError):
        await epay.verify_notification({"invoiceId": "1"})  # type: ignore[arg-type]


async def test_delivery_through_callback_and_http_client(sandbox: Sandbox) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    async def callback(url: str, body: dict[str, Any]) -> None:
        received.append((url, body))

    sandbox.send_notifications_to(callback=callback)
    async with sandbox.client() as epay:
        await epay.pay_with_card(order(), VISA)
        with pytest.raises(PaymentDeclinedError):
            await epay.pay_with_card(order("205218075", failure_post_link=None), LOCKED)
    assert [r[1]["code"] for r in received] == ["ok", "error"]
    assert received[1][0] == "https://shop.example/post"  # no failurePostLink: postLink

    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(500)

    other = Sandbox(key_bits=2048)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as shop_client:
        other.send_notifications_to(http_client=shop_client)
        async with other.client() as epay:
            await epay.pay_with_card(order(), VISA)
    assert json.loads(bodies[0])["amount"] == 100.00
    assert other.notifications[0].status == 500
    with pytest.raises(ValueError, match="exactly one"):
        other.send_notifications_to()


# -- amounts from a decoded mapping (await request.json()) and from bytes ------------------

AMOUNT_SHAPES = [
    ("12.22", Decimal("12.22")),
    ("1500.00", Decimal("1500.00")),
    ("1", Decimal("1")),
    ("0.1", Decimal("0.1")),
    ("100.10", Decimal("100.10")),
    ("999999999999.99", Decimal("999999999999.99")),
    ("99999999999999", Decimal("99999999999999")),
    ("1e2", Decimal("100")),
    ("0", Decimal("0")),
]


@pytest.mark.parametrize(("literal", "expected"), AMOUNT_SHAPES)
def test_amount_parses_from_bytes_and_from_a_decoded_mapping(
    literal: str, expected: Decimal
) -> None:
    raw = b'{"invoiceId": "000000001350768", "code": "ok", "amount": ' + literal.encode() + b"}"
    from_bytes = parse_notification(raw)
    from_mapping = parse_notification(json.loads(raw))
    assert from_bytes.amount == expected
    assert from_mapping.amount == expected
    assert isinstance(from_mapping.amount, Decimal)


def test_a_float_amount_is_its_shortest_repr_not_its_binary_value() -> None:
    note = parse_notification({"invoiceId": "000123", "code": "ok", "amount": 12.22})
    assert str(note.amount) == "12.22"
    note = parse_notification({"invoiceId": "000123", "code": "ok", "amount": 1500.0})
    assert str(note.amount) == "1500.0"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), True, False])
def test_nan_infinity_and_bool_amounts_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_notification({"invoiceId": "000123", "code": "ok", "amount": bad})
    assert info.value.field == "amount"


def test_a_huge_amount_is_exact_from_bytes_and_refused_as_an_inexact_float() -> None:
    raw = b'{"invoiceId": "000123", "code": "ok", "amount": 99999999999999.99}'
    assert parse_notification(raw).amount == Decimal("99999999999999.99")
    # json.loads gives 99999999999999.98: the digits the sender wrote are already gone.
    with pytest.raises(ValidationError) as info:
        parse_notification(json.loads(raw))
    assert info.value.field == "amount"


def test_the_amount_digit_limit() -> None:
    ok = parse_notification({"invoiceId": "000123", "code": "ok", "amount": 999999999999999})
    assert ok.amount == Decimal(999999999999999)
    for too_big in (10**15, 1e15, "1000000000000000"):
        with pytest.raises(ValidationError) as info:
            parse_notification({"invoiceId": "000123", "code": "ok", "amount": too_big})
        assert info.value.field == "amount"


# -- captured production shapes (epay-api.md §10b), literal payloads -------------------------

CAPTURED = (
    b'{"id":"b2ee1b33-dbd2-4c9d-a9a7-0a4d1a6c12f1","dateTime":"2025-02-07T23:30:19.123456789+05:00",'
    b'"invoiceId":"000000001350768","invoiceIdAlt":null,"amount":12.22,"currency":"KZT",'
    b'"terminal":"67e34d63-102f-4bd1-898e-370781d0074d","accountId":null,"description":"Order",'
    b'"language":"RUS","cardMask":"552204...6736","cardType":"MC","issuer":"HALYK BANK",'
    b'"reference":"503823441513","secure":"no","tokenRecipient":null,"code":"ok",'
    b'"reason":"Success","reasonCode":0,"name":null,"email":null,"phone":null,'
    b'"cardId":null,"issuerBankCountry":"KZ","secret_hash":null}'
)


@pytest.mark.parametrize("decode", [False, True])
def test_a_captured_production_notification_parses(decode: bool) -> None:
    note = parse_notification(json.loads(CAPTURED) if decode else CAPTURED)
    assert note.date_time is not None
    assert note.date_time.utcoffset() == timedelta(hours=5)
    assert (note.date_time.hour, note.date_time.microsecond) == (23, 123456)
    assert note.language == "RUS"
    assert note.card_id is None
    assert note.name is None
    assert note.invoice_id_alt is None
    assert note.extra["issuerBankCountry"] == "KZ"
    assert note.card_mask == "552204...6736"
    assert note.secure is False
    assert note.reason_code == "0"
    assert note.amount == Decimal("12.22")


def test_an_unknown_status_name_is_kept_and_never_paid() -> None:
    body = {
        "resultCode": "100",
        "resultMessage": "",
        "transaction": {
            "id": "b2ee1b33-dbd2-4c9d-a9a7-0a4d1a6c12f1",
            "invoiceID": "000000001350768",
            "amount": 50,
            "currency": "KZT",
            "statusName": "FINGERPRINT",
        },
    }
    status = structure(body, TransactionStatus, what="status")
    assert status.transaction is not None
    assert "FINGERPRINT" in str(status.transaction.status_name)
    assert not status.is_paid
    assert status.state == PaymentState.UNKNOWN


@pytest.mark.parametrize("field", ["invoiceId", "code", "reason", "cardMask"])
def test_a_lone_surrogate_in_a_notification_is_a_validation_error(field: str) -> None:
    payload: dict[str, Any] = {"invoiceId": "000123", "code": "ok", "amount": 1}
    payload[field] = "12\ud800"
    with pytest.raises(ValidationError):
        parse_notification(payload)


# -- bonus-assisted payments and card verification, against literal check-status answers ------

TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"


def check_status(**transaction: Any) -> TransactionStatus:
    body = {
        "resultCode": "100",
        "resultMessage": "",
        "transaction": {
            "id": "b2ee1b33-dbd2-4c9d-a9a7-0a4d1a6c12f1",
            "invoiceID": "000000001350768",
            "amount": 15,
            "currency": "KZT",
            "statusName": "CHARGE",
            "terminal": TERMINAL,
            **transaction,
        },
    }
    return structure(body, TransactionStatus, what="status")


def bonus_note(amount: object) -> Any:
    return parse_notification(
        {
            "id": "b2ee1b33-dbd2-4c9d-a9a7-0a4d1a6c12f1",
            "invoiceId": "000000001350768",
            "code": "ok",
            "amount": amount,
            "currency": "KZT",
        }
    )


def test_a_bonus_assisted_payment_is_refused_by_default_and_says_why() -> None:
    status = check_status(amountBonus=35)
    found = mismatches(bonus_note(15), status, terminal_id=TERMINAL, expected_amount=Decimal(50))
    assert len(found) == 1
    assert "bonuses" in found[0]
    assert "accept_bonus=True" in found[0]


def test_a_bonus_assisted_payment_is_accepted_when_asked_and_card_plus_bonus_is_the_order() -> None:
    status = check_status(amountBonus=35)
    assert status.transaction is not None
    assert (status.transaction.amount, status.transaction.amount_bonus) == (
        Decimal(15),
        Decimal(35),
    )
    assert status.transaction.total_amount == Decimal(50)
    for noted in (15, 50):
        assert (
            mismatches(
                bonus_note(noted),
                status,
                terminal_id=TERMINAL,
                expected_amount=Decimal(50),
                accept_bonus=True,
            )
            == []
        )
    # Never less money than the order: card plus bonus must make the whole amount.
    assert mismatches(
        bonus_note(15), status, terminal_id=TERMINAL, expected_amount=Decimal(60), accept_bonus=True
    ) == ["the gateway's amount is not the order's"]


def test_a_float_amount_verifies_by_value() -> None:
    status = check_status(amount="1500.00")
    assert mismatches(bonus_note(1500.0), status, terminal_id=TERMINAL) == []


async def test_accept_bonus_must_be_a_bool(sandbox: Sandbox, epay: EpayClient) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.verify_notification(bonus_note(15), accept_bonus="yes")  # type: ignore[arg-type]
    assert info.value.field == "accept_bonus"
    assert sandbox.requests == []


def test_a_card_verification_notification_without_card_id_reads_it_from_check_status() -> None:
    note = parse_notification(
        b'{"invoiceId":"000000001350768","code":"ok","amount":0,"currency":"USD",'
        b'"cardId":null,"cardMask":"552204...6736","paymentType":"cardVerification"}'
    )
    assert note.card_id is None
    status = check_status(amount=0, currency="USD", cardId="e8a09f98-04b4-71a6-e053-1d1a000aa0d2")
    assert mismatches(note, status, terminal_id=TERMINAL) == []
    assert status.transaction is not None
    assert status.transaction.card_id == "e8a09f98-04b4-71a6-e053-1d1a000aa0d2"


@pytest.mark.parametrize("zero", [0, "0", "0.00", Decimal("0.00")])
def test_an_amount_of_zero_is_read_not_refused(zero: object) -> None:
    """A declined or card-verification notification may carry 0; only a negative one is out."""
    note = parse_notification({"invoiceId": "000123", "code": "error", "amount": zero})
    assert note.amount == 0
    raw = b'{"invoiceId": "000123", "code": "error", "amount": 0}'
    assert parse_notification(raw).amount == 0


def test_the_amount_digit_limit_counts_the_integer_part() -> None:
    """15 digits before the point, any cents, are taken; a 16th digit is refused."""
    raw = b'{"invoiceId": "000123", "code": "ok", "amount": 999999999999999.99}'
    assert parse_notification(raw).amount == Decimal("999999999999999.99")
    with pytest.raises(ValidationError) as info:
        parse_notification(b'{"invoiceId": "000123", "code": "ok", "amount": 1000000000000000.5}')
    assert (info.value.field, info.value.message) == ("amount", "is out of range")
    with pytest.raises(ValidationError) as info:
        parse_notification({"invoiceId": "000123", "code": "ok", "amount": Decimal("-0.01")})
    assert (info.value.field, info.value.message) == ("amount", "is out of range")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_a_body_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not(kind: type) -> None:
    core = b'{"invoiceId": "000123", "code": "ok"}'
    exact = core + b" " * (MAX_NOTIFICATION_BYTES - len(core))

    def as_kind(raw: bytes) -> Any:
        return raw.decode() if kind is str else kind(raw)

    assert parse_notification(as_kind(exact)).invoice_id == "000123"
    with pytest.raises(ValidationError) as info:
        parse_notification(as_kind(exact + b" "))
    assert info.value.field == "body"
    assert info.value.message == f"is larger than {MAX_NOTIFICATION_BYTES} bytes"


def test_a_str_body_is_measured_in_utf8_bytes() -> None:
    core = '{"invoiceId": "000123", "code": "ok", "description": "%s"}'
    # Half as many characters as the limit, each two bytes in UTF-8: over the limit.
    text = core % ("ж" * (MAX_NOTIFICATION_BYTES // 2))
    assert len(text) < MAX_NOTIFICATION_BYTES
    with pytest.raises(ValidationError) as info:
        parse_notification(text)
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "is not JSON"),
        (b"[]", "must be a JSON object"),
        ({"invoiceId": "  ", "code": "ok"}, "is empty"),
    ],
)
def test_the_messages_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_notification(body)
    assert info.value.message == message


def test_a_malformed_field_is_named_without_the_path_suffix() -> None:
    with pytest.raises(ValidationError) as info:
        parse_notification({"invoiceId": "000123", "code": "ok", "amount": "lots"})
    assert info.value.field == "amount"
    assert " (at " not in info.value.message
    assert info.value.message.startswith("malformed notification")
    with pytest.raises(ValidationError) as info:
        parse_notification(12)  # type: ignore[arg-type]
    assert (info.value.field, info.value.message) == ("body", "must be bytes, str or a mapping")


def test_a_lone_surrogate_in_a_str_body_is_replaced_not_a_crash() -> None:
    note = parse_notification('{"invoiceId": "000123", "code": "ok", "name": "a\ud800"}')
    assert note.name == "a?"


@pytest.mark.parametrize("field", ["invoiceId", "name", "description"])
def test_a_lone_surrogate_in_a_mapping_names_its_field(field: str) -> None:
    payload: dict[str, Any] = {"invoiceId": "000123", "code": "ok", field: "12\ud800"}
    with pytest.raises(ValidationError) as info:
        parse_notification(payload)
    assert info.value.field == {"invoiceId": "invoice_id"}.get(field, field)
    assert info.value.message == "is not valid Unicode text"


class Hostile(Mapping[str, Any]):
    """A mapping that fails when read: what a caller's own decoder might hand over."""

    def __getitem__(self, key: str) -> Any:
        raise TypeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise TypeError("unreadable")

    def __len__(self) -> int:
        return 1


def test_a_mapping_that_cannot_be_read_is_a_validation_error_of_the_body() -> None:
    with pytest.raises(ValidationError) as info:
        parse_notification(Hostile())
    assert info.value.field == "body"


# -- verification against check-status, and the size limit ----------------------------------------


@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_verify_notification_takes_an_expected_currency(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.add_transaction(
        "123456780", amount=Decimal(100), currency="USD", status=StatusName.CHARGE
    )
    note = parse_notification(
        {"code": "ok", "invoiceId": "123456780", "amount": 100, "currency": "USD"}
    )
    await epay.verify_notification(note)
    with pytest.raises(NotificationMismatchError, match="currency"):
        await epay.verify_notification(note, expected_currency="KZT")


def test_verify_notification_checks_the_invoice_and_the_terminal_on_their_own() -> None:
    status = structure(
        {
            "resultCode": "100",
            "resultMessage": "SUCCESS",
            "transaction": {
                "id": TX,
                "invoiceID": "123456789",
                "amount": 100,
                "currency": "KZT",
                "statusName": "CHARGE",
                "terminal": "98120001",
                "terminalID": "terminal-uuid",
            },
        },
        TransactionStatus,
        what="status",
    )
    good = {"code": "ok", "id": TX, "invoiceId": "123456789", "amount": 100, "currency": "KZT"}
    assert mismatches(parse_notification(good), status, terminal_id="terminal-uuid") == []
    other_invoice = parse_notification({**good, "invoiceId": "123456780"})
    assert mismatches(other_invoice, status, terminal_id="terminal-uuid") == ["invoice id differs"]
    other_terminal = parse_notification({**good, "terminal": "99999999"})
    assert mismatches(other_terminal, status, terminal_id="terminal-uuid") == ["terminal differs"]
    assert mismatches(parse_notification({**good, "terminal": "98120001"}), status,
                      terminal_id="terminal-uuid") == []  # fmt: skip


def test_the_notification_size_limit_is_exact() -> None:
    head = b'{"code": "ok", "invoiceId": "123456789", "pad": "'
    tail = b'"}'
    fits = head + b"x" * (MAX_NOTIFICATION_BYTES - len(head) - len(tail)) + tail
    assert len(fits) == MAX_NOTIFICATION_BYTES
    assert parse_notification(fits).invoice_id == "123456789"
    too_big = head + b"x" * (MAX_NOTIFICATION_BYTES + 1 - len(head) - len(tail)) + tail
    with pytest.raises(ValidationError) as info:
        parse_notification(too_big)
    assert info.value.field == "body"

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from epay_async import ProtocolError, ResultCode, StatusName, TransactionStatus
from epay_async._converter import dumps, loads, structure, to_datetime

SEED_002 = b"""{
"resultCode": "100",
"resultMessage": "SUCCESS",
"transaction": {
"id": "af2089fe-43b1-47eb-a61f-c78dd196e18d",
"createdDate": "2022-11-15T03:52:17.289853+06:00",
"invoiceID": "205218074",
"amount": 12.22,
"amountBonus": 0,
"payoutAmount": 10,
"orgAmount":22.22,
"approvalCode": "170243",
"data": "{\\"custom_id\\":\\"2023.03.10-15:03:58\\",\\"sum\\":33900}",
"currency": "KZT",
"terminal": "98120001",
"terminalID":"67e34d63-102f-4bd1-898e-370781d0074d",
"accountID": "",
"description": "order 205218074",
"language": "RU",
"cardMask": "400303...9821",
"cardType": "VISA",
"issuer": "Kazkommertsbank",
"reference": "231951411351",
"reason": "Successfully",
"reasonCode": "00",
"intReference": "67140D7DE97139A7",
"secure": false,
"secureDetails":"F",
"statusID": "5bbb7dd5-4691-41ee-a6a5-755a3d23a218",
"statusName": "REFUND",
"name": "Tester Petrov",
"email": "epay@halykbank.kz",
"phone": "",
"cardID": "e8a09f98-04b4-71a6-e053-1d1a000aa0d2",
"xlsRRN": "",
"ip": "46.148.239.182",
"ipCountry": "Kazakhstan",
"ipCity": "",
"ipRegion": "",
"ipDistrict": "",
"ipLatitude": 55.7386,
"ipLongitude": 37.6068
}
}"""


def parse(raw: bytes | str) -> TransactionStatus:
    return structure(loads(raw), TransactionStatus, what="check-status response")


def test_seed_002_parses_every_documented_field() -> None:
    status = parse(SEED_002)
    assert status.result_code is ResultCode.SUCCESS
    assert status.result_message == "SUCCESS"
    tx = status.transaction
    assert tx is not None
    assert tx.id == "af2089fe-43b1-47eb-a61f-c78dd196e18d"
    assert tx.invoice_id == "205218074"
    assert tx.amount == Decimal("12.22")
    assert isinstance(tx.amount, Decimal)
    assert tx.org_amount == Decimal("22.22")
    assert tx.payout_amount == Decimal(10)
    assert tx.status_name is StatusName.REFUND
    assert tx.terminal_id == "67e34d63-102f-4bd1-898e-370781d0074d"
    assert tx.terminal == "98120001"
    assert tx.card_id == "e8a09f98-04b4-71a6-e053-1d1a000aa0d2"
    assert tx.xls_rrn == ""
    assert tx.reason_code == "00"
    assert tx.secure is False
    assert tx.ip_latitude == Decimal("55.7386")
    assert tx.created_date == datetime(
        2022, 11, 15, 3, 52, 17, 289853, tzinfo=timezone(timedelta(hours=6))
    )
    assert tx.extra == {}


def test_money_is_never_a_float() -> None:
    status = parse(
        b'{"resultCode":"100","transaction":{"id":"1","invoiceID":"123456",'
        b'"amount":100.10,"currency":"KZT","statusName":"AUTH"}}'
    )
    assert status.transaction is not None
    assert str(status.transaction.amount) == "100.10"
    assert dumps({"amount": Decimal("100.10")}) == b'{"amount":100.10}'
    with pytest.raises(TypeError):
        dumps({"amount": 100.10})


def test_unknown_fields_are_kept_in_extra() -> None:
    raw = SEED_002.replace(b'"ipLongitude": 37.6068', b'"ipLongitude": 37.6068, "newThing": [1]')
    status = parse(raw.replace(b'"resultMessage"', b'"traceId": "x", "resultMessage"'))
    assert status.transaction is not None
    assert status.transaction.extra == {"newThing": [1]}
    assert status.extra == {"traceId": "x"}


def test_keys_are_matched_case_insensitively() -> None:
    status = parse(
        b'{"ResultCode":"100","TRANSACTION":{"Id":"1","InvoiceId":"123456",'
        b'"AMOUNT":"7.50","currency":"KZT","statusname":"CHARGE","CardId":"c"}}'
    )
    assert status.transaction is not None
    assert status.transaction.invoice_id == "123456"
    assert status.transaction.amount == Decimal("7.50")
    assert status.transaction.card_id == "c"


def test_unknown_codes_and_status_names_are_preserved() -> None:
    status = parse(b'{"resultCode":"555","resultMessage":"new","transaction":null}')
    assert status.result_code == 555
    assert not status.result_code.is_known
    status = parse(
        b'{"resultCode":100,"transaction":{"id":"1","invoiceID":"123456",'
        b'"amount":1,"currency":"KZT","statusName":"PARTIAL_REFUND"}}'
    )
    assert status.status_name == "PARTIAL_REFUND"
    assert status.status_name is not None
    assert not status.status_name.is_known


def test_naive_timestamps_become_aware() -> None:
    status = parse(
        b'{"resultCode":"100","transaction":{"id":"1","invoiceID":"123456",'
        b'"amount":1,"currency":"KZT","statusName":"AUTH",'
        b'"createdDate":"2024-05-01T10:00:00.123"}}'
    )
    assert status.transaction is not None
    created = status.transaction.created_date
    assert created is not None
    assert created.utcoffset() == timedelta(hours=5)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"[]", "$"),
        (b'"ok"', "$"),
        (b'{"resultMessage":"x"}', "$.result_code"),
        (b'{"resultCode":"abc"}', "$.result_code"),
        (b'{"resultCode":true}', "$.result_code"),
        (b'{"resultCode":"100","transaction":[1]}', "$.transaction"),
        (b'{"resultCode":"100","transaction":{"id":"1"}}', "$.transaction.invoice_id"),
        (
            b'{"resultCode":"100","transaction":{"id":"1","invoiceID":"123456","amount":"x",'
            b'"currency":"KZT","statusName":"AUTH"}}',
            "$.transaction.amount",
        ),
        (
            b'{"resultCode":"100","transaction":{"id":"1","invoiceID":{"a":1},"amount":1,'
            b'"currency":"KZT","statusName":"AUTH"}}',
            "$.transaction.invoice_id",
        ),
        (
            b'{"resultCode":"100","transaction":{"id":"1","invoiceID":"1","amount":1,'
            b'"currency":"KZT","statusName":"AUTH","createdDate":"yesterday"}}',
            "$.transaction.created_date",
        ),
    ],
)
def test_wrong_shapes_raise_protocol_error_naming_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert info.value.field == field


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html>502</html>",
        b'{"resultCode": "100"',
        b"NaN",
        b'{"amount": Infinity}',
        b"[" * 100_000,
    ],
)
def test_invalid_json_raises_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        loads(raw)


def test_dumps_is_compact_and_keeps_unicode() -> None:
    payload: dict[str, Any] = {"a": "Оплата", "b": [True, None, 3], "c": {"d": Decimal("1E+2")}}
    assert dumps(payload).decode() == '{"a":"Оплата","b":[true,null,3],"c":{"d":100}}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2025-02-07T23:30:19.123456789+05:00",
            datetime(2025, 2, 7, 23, 30, 19, 123456, tzinfo=timezone(timedelta(hours=5))),
        ),
        (
            "2025-02-07T23:30.5+05:00",  # no seconds: Python 3.10's fromisoformat refuses it
            datetime(2025, 2, 7, 23, 30, 0, 500000, tzinfo=timezone(timedelta(hours=5))),
        ),
        (
            "2025-02-07T23:30:19+0500",
            datetime(2025, 2, 7, 23, 30, 19, tzinfo=timezone(timedelta(hours=5))),
        ),
        (
            "2025-02-07T23:30:19.1-03:30",
            datetime(2025, 2, 7, 23, 30, 19, 100000, tzinfo=timezone(-timedelta(hours=3.5))),
        ),
        ("2025-02-07T23:30:19Z", datetime(2025, 2, 7, 23, 30, 19, tzinfo=timezone.utc)),
        (
            "2025-02-07 23:30:19.123456789",  # naive: the gateway's own zone
            datetime(2025, 2, 7, 23, 30, 19, 123456, tzinfo=timezone(timedelta(hours=5))),
        ),
    ],
)
def test_timestamps_keep_their_offset_and_cut_fractions_to_microseconds(
    text: str, expected: datetime
) -> None:
    parsed = to_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["2025-02-30T23:30:19", "2025-02-07T24:30:19", "2025-02-07T23:30:19+25:00", "x"]
)
def test_impossible_timestamps_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        to_datetime(text)

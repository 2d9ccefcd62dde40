from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from epay_async import OutcomeUnknownError, ProtocolError, ResultCode, StatusName, TransactionStatus
from epay_async._converter import (
    _build,
    _converter,
    _detailed,
    dumps,
    loads,
    parse_timestamp,
    structure,
    to_bool,
    to_datetime,
    to_decimal,
    to_int,
    to_str,
    unstructure,
)
from epay_async._tokens import TokenResponse
from epay_async.types._fields import camel, wire_name
from epay_async.types.status import Transaction

from .conftest import BOTH_BACKENDS
from .factories import CARD_ID, answering, mock_client, mock_order

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


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    """A timestamp of the gateway's form with at most one flaw: a part out of range, an
    impossible offset, another spelling of the offset or separator, a fraction, whitespace."""
    moment = draw(st.datetimes())
    parts = {
        "date": f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}",
        "sep": "T",
        "time": f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}",
        "offset": draw(
            st.sampled_from(["", "+05:00", "-03:30", "+00:00", "-00:00", "+23:59", "-12:45"])
        ),
        "around": "",
    }
    flaw = draw(
        st.sampled_from(["none", "date", "sep", "time", "offset", "offset", "offset", "around"])
    )
    if flaw != "none":
        parts[flaw] = draw(
            {
                "date": st.sampled_from(["2025-02-30", "2025-13-01", "0000-01-01", "2025-1-01"]),
                "sep": st.sampled_from([" ", "t", "", "TT"]),
                "time": st.sampled_from(["24:00:00", "23:60:00", "23:59:60", "23:59", "9:00:00"]),
                "offset": st.sampled_from(
                    ["+05:60", "+24:00", "-25:00", "+99:99", "+0500", "Z", "+05", ".5", ".1234567"]
                ),
                "around": st.sampled_from([" ", "x", "\n"]),
            }[flaw]
        )
    text = parts["date"] + parts["sep"] + parts["time"] + parts["offset"]
    return (
        f"{parts['around']}{text}"
        if flaw == "around" and draw(st.booleans())
        else (text + parts["around"])
    )


_TIMESTAMPS = _timestamps()


@given(_TIMESTAMPS)
def test_the_common_timestamp_path_reads_as_the_parser_does(text: str) -> None:
    """``to_datetime`` takes the gateway's usual form through ``datetime.fromisoformat``: it
    must give what the full parser gives, or refuse what it refuses."""
    try:
        expected = parse_timestamp(text)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            to_datetime(text)
        return
    parsed = to_datetime(text)
    assert (parsed, parsed.utcoffset(), parsed.isoformat()) == (
        expected,
        expected.utcoffset(),
        expected.isoformat(),
    )


# -- the lenient primitives, one by one -------------------------------------------------------


def test_to_str() -> None:
    assert to_str("x") == "x"
    assert to_str(12) == "12"
    assert to_str(Decimal("1.50")) == "1.50"
    for bad in [True, None, 1.5, [1]]:
        with pytest.raises(ProtocolError, match=f"expected a string, got {type(bad).__name__}"):
            to_str(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.22, "12.22"),
        (1500.0, "1500.0"),
        (7, "7"),
        (Decimal("0.10"), "0.10"),
        (" 3.50 ", "3.50"),
        ("1e40", "1E+40"),
        ("-1e-40", "-1E-40"),
        (99999999999999.9, "99999999999999.9"),
    ],
)
def test_to_decimal_takes_numbers(value: object, expected: str) -> None:
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a number, got bool"),
        (None, "expected a number, got NoneType"),
        (float("nan"), "expected a finite number in range"),
        (float("inf"), "expected a finite number in range"),
        (99999999999999.99, "a float with more than 15 significant digits is not exact"),
        ("lots of money here, really", "expected a number, got 'lots of money here, '"),
        ("1" * 41, "expected a number, got '11111111111111111111'"),
        ("NaN", "expected a finite number in range"),
        ("1e41", "expected a number"),
        (Decimal("1e41"), "expected a finite number in range"),
        (Decimal("1e-41"), "expected a finite number in range"),
        (10**41, "expected a finite number in range"),
    ],
)
def test_to_decimal_refuses(value: object, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        to_decimal(value)
    assert str(info.value).startswith(message)


def test_to_decimal_at_the_bounds() -> None:
    assert to_decimal("1" * 40) == Decimal("1" * 40)
    assert to_decimal(Decimal("1e40")) == Decimal("1e40")
    assert to_decimal(Decimal("1e-40")) == Decimal("1e-40")
    assert to_decimal(12345678901234.5) == Decimal("12345678901234.5")
    with pytest.raises(ProtocolError, match="15 significant digits"):
        to_decimal(123456789012345.6)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (-5, -5),
        ("42", 42),
        (" -7 ", -7),
        ("9" * 18, int("9" * 18)),
        (Decimal("100"), 100),
        (Decimal("1E+2"), 100),
        (Decimal("9" * 19), int("9" * 19)),
    ],
)
def test_to_int_takes_integers(value: object, expected: int) -> None:
    result = to_int(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [True, False, "9" * 19, "1.0", "", "x", Decimal("1.5"), Decimal("1e19"), Decimal("NaN"), 1.0],
)
def test_to_int_refuses(value: object) -> None:
    with pytest.raises(ProtocolError, match="expected an integer"):
        to_int(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        (" YES ", True),
        ("y", True),
        ("1", True),
        ("T", True),
        ("false", False),
        ("No", False),
        ("n", False),
        ("0", False),
        ("f", False),
        ("", False),
    ],
)
def test_to_bool_takes_the_gateways_spellings(value: object, expected: bool) -> None:
    assert to_bool(value) is expected


@pytest.mark.parametrize("value", [2, -1, "maybe", None, 1.0, "ok"])
def test_to_bool_refuses(value: object) -> None:
    with pytest.raises(ProtocolError, match="expected a boolean"):
        to_bool(value)


def test_to_datetime_edges() -> None:
    aware = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert to_datetime(aware) is aware
    naive = to_datetime(datetime(2025, 1, 1, 12, 0))
    assert naive.utcoffset() == timedelta(hours=5)
    assert to_datetime(" 2025-02-07T23:30 ") == datetime(
        2025, 2, 7, 23, 30, tzinfo=timezone(timedelta(hours=5))
    )
    assert to_datetime("2025-02-07T23:30:19.5") == datetime(
        2025, 2, 7, 23, 30, 19, 500000, tzinfo=timezone(timedelta(hours=5))
    )
    assert to_datetime("2025-02-07T23:30:19+23:59").utcoffset() == timedelta(hours=23, minutes=59)
    assert to_datetime("2025-02-07T23:30:19-0000").utcoffset() == timedelta(0)
    for bad in ["2025-02-07T23:30:19+24:00", "2025-02-07T23:30:19+05:60", "2025-02-07"]:
        with pytest.raises(ProtocolError, match="timestamp"):
            to_datetime(bad)
    with pytest.raises(ProtocolError, match="expected an ISO 8601 timestamp, got int"):
        to_datetime(1700000000)


def test_impossible_timestamps_name_themselves_cut_to_40_characters() -> None:
    text = "2025-02-30T23:30:19"
    with pytest.raises(ProtocolError) as info:
        to_datetime(text)
    assert str(info.value) == f"not a valid timestamp: {text!r}"
    with pytest.raises(ProtocolError) as info:
        to_datetime("2025-02-07T23:30:19+25:00")
    assert str(info.value) == "not a valid timestamp: '2025-02-07T23:30:19+25:00'"


# -- JSON in and out --------------------------------------------------------------------------


def test_loads_keeps_numbers_exact_and_bounded() -> None:
    assert loads(b'{"a": 100.10, "b": 7, "c": -0.5}') == {
        "a": Decimal("100.10"),
        "b": 7,
        "c": Decimal("-0.5"),
    }
    assert loads("1" * 40) == int("1" * 40)
    assert loads("1e40") == Decimal("1e40")
    assert loads("0." + "1" * 38) == Decimal("0." + "1" * 38)
    for bad in ["1" * 41, "1e41", "1e-41", "0." + "1" * 39, "-Infinity"]:
        with pytest.raises(ProtocolError, match="not valid JSON, or has a number out of range"):
            loads(bad)


def test_dumps_writes_every_kind() -> None:
    assert dumps({}) == b"{}"
    assert dumps([]) == b"[]"
    assert dumps([1, 2]) == b"[1,2]"
    assert dumps((True, False, None)) == b"[true,false,null]"
    assert dumps({"a": 1, "b": {"c": [Decimal("0.10"), "x"]}}) == b'{"a":1,"b":{"c":[0.10,"x"]}}'
    assert dumps({1: "x"}) == b'{"1":"x"}'
    assert dumps('q"uote') == b'"q\\"uote"'
    assert dumps(ResultCode(100)) == b"100"
    assert dumps(Decimal("-1E+3")) == b"-1000"
    for bad in [Decimal("NaN"), Decimal("Infinity")]:
        with pytest.raises(ValueError, match="non-finite"):
            dumps({"amount": bad})
    with pytest.raises(TypeError, match="cannot encode set as JSON"):
        dumps({1})
    with pytest.raises(TypeError, match="cannot encode float as JSON"):
        dumps([1.5])


def test_camel_and_wire_names() -> None:
    assert camel("invoice_id") == "invoiceId"
    assert camel("ip_latitude") == "ipLatitude"
    assert camel("amount") == "amount"
    assert camel("a__b") == "aB"
    fields = attrs.fields_dict(TokenResponse)
    assert wire_name(fields["access_token"]) == "access_token"
    assert wire_name(fields["token_type"]) == "token_type"
    assert wire_name(fields["scope"]) == "scope"
    assert wire_name(attrs.fields_dict(TransactionStatus)["result_code"]) == "resultCode"


# -- structure and unstructure ----------------------------------------------------------------


def test_structure_reads_optional_fields_as_none_and_strings_as_they_are() -> None:
    status = parse(
        b'{"resultCode":100,"resultMessage":7,"transaction":{"id":1,"invoiceID":"123456",'
        b'"amount":"1","currency":"KZT","statusName":null,"reasonCode":null,"secure":"yes",'
        b'"createdDate":null,"ipLatitude":"43.25"}}'
    )
    assert status.result_message == "7"
    tx = status.transaction
    assert tx is not None
    assert (tx.id, tx.status_name, tx.reason_code, tx.secure, tx.created_date) == (
        "1",
        None,
        None,
        True,
        None,
    )
    assert tx.ip_latitude == Decimal("43.25")
    assert status.result_code is ResultCode.SUCCESS


def test_structure_of_a_nested_null_where_an_object_is_needed_names_the_field() -> None:
    with pytest.raises(ProtocolError) as info:
        parse(b'{"resultCode":100,"transaction":{"id":"1","invoiceID":"1","amount":null}}')
    assert info.value.field == "$.transaction.amount"
    assert str(info.value).startswith("malformed check-status response: ")


def test_a_missing_required_field_says_so() -> None:
    with pytest.raises(ProtocolError) as info:
        parse(b'{"resultCode":100,"transaction":{"id":"1","invoiceID":"1","currency":"KZT"}}')
    assert info.value.field == "$.transaction.amount"
    assert str(info.value) == (
        "malformed check-status response: required field missing (at $.transaction.amount)"
    )


def test_a_value_of_the_wrong_kind_is_named_with_what_was_expected() -> None:
    with pytest.raises(ProtocolError) as info:
        parse(b'{"resultCode":100,"resultMessage":["x"]}')
    assert info.value.field == "$.result_message"
    assert str(info.value) == (
        "malformed check-status response: expected a string, got list (at $.result_message)"
    )
    with pytest.raises(ProtocolError) as info:
        parse(b"[1]")
    assert (info.value.field, str(info.value)) == (
        "$",
        "malformed check-status response: expected an object, got list (at $)",
    )


def test_structure_of_a_token_answer_keeps_any_expires_in() -> None:
    token = structure(
        {"ACCESS_TOKEN": "t", "expires_in": [1], "Scope": "s", "x": 1}, TokenResponse, what="token"
    )
    assert (token.access_token, token.expires_in, token.scope) == ("t", [1], "s")
    assert token.extra == {"x": 1}


def test_unstructure_writes_wire_names_and_merges_extra_back() -> None:
    status = parse(SEED_002)
    out = unstructure(status)
    assert out["resultCode"] == 100
    assert out["resultMessage"] == "SUCCESS"
    tx = out["transaction"]
    assert tx["invoiceID"] == "205218074"  # the gateway's spelling (seed 002)
    assert tx["amount"] == Decimal("12.22")
    assert tx["createdDate"] == "2022-11-15T03:52:17.289853+06:00"
    assert "extra" not in tx
    again = structure(out, TransactionStatus, what="again")
    assert again == status
    with_extra = parse(b'{"resultCode":"100","traceId":"x"}')
    assert unstructure(with_extra) == {
        "traceId": "x",
        "resultCode": 100,
        "resultMessage": "",
        "transaction": None,
    }


# -- the converters themselves, built anew ----------------------------------------------------
# The module's two converters are built once, at import; these tests build their own, so that
# what ``_build`` registers (the hooks, the optional and enum forms, the response classes'
# structure and unstructure functions) is what they exercise.


@pytest.mark.parametrize("detailed", [False, True])
def test_a_converter_built_anew_reads_an_answer_as_the_modules_does(detailed: bool) -> None:
    converter = _build(detailed=detailed)
    raw = SEED_002.replace(b'"resultMessage"', b'"TraceID": "t-1", "resultMessage"')
    status = converter.structure(loads(raw), TransactionStatus)
    assert status == parse(raw)
    assert status.result_code is ResultCode.SUCCESS
    assert status.extra == {"TraceID": "t-1"}
    tx = status.transaction
    assert tx is not None
    assert tx.status_name is StatusName.REFUND
    assert (tx.amount, tx.amount_bonus, tx.secure) == (Decimal("12.22"), Decimal(0), False)
    assert tx.created_date == datetime(
        2022, 11, 15, 3, 52, 17, 289853, tzinfo=timezone(timedelta(hours=6))
    )
    assert converter.unstructure(status) == unstructure(status)


@pytest.mark.parametrize("detailed", [False, True])
def test_a_converter_built_anew_reads_keys_in_any_casing_and_optional_nulls(
    detailed: bool,
) -> None:
    converter = _build(detailed=detailed)
    status = converter.structure(
        {
            "RESULTCODE": "102",
            "resultmessage": 5,
            "Transaction": {
                "ID": 1,
                "invoiceid": "123456",
                "Amount": "1.50",
                "currency": "KZT",
                "statusName": None,
                "reasonCode": 5,
                "secure": "yes",
                "createdDate": None,
                "amountBonus": None,
                "Unknown": [1],
            },
        },
        TransactionStatus,
    )
    assert status.result_code is ResultCode.INVOICE_NOT_FOUND
    assert status.result_message == "5"
    tx = status.transaction
    assert tx is not None
    assert (tx.id, tx.invoice_id, tx.amount, tx.status_name, tx.reason_code) == (
        "1",
        "123456",
        Decimal("1.50"),
        None,
        "5",
    )
    assert (tx.secure, tx.created_date, tx.amount_bonus) == (True, None, None)
    assert tx.extra == {"Unknown": [1]}
    token = converter.structure({"access_token": "t", "expires_in": {"a": 1}}, TokenResponse)
    assert token.expires_in == {"a": 1}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"resultCode": "abc"}, "result_code"),
        ({"resultCode": 100, "transaction": 5}, "transaction"),
        ({"resultCode": 100, "resultMessage": [1]}, "result_message"),
        ({"resultCode": 100, "transaction": {"id": "1", "invoiceID": "1"}}, "amount"),
    ],
)
def test_a_converter_built_anew_refuses_what_the_modules_refuses(
    data: dict[str, Any], path: str
) -> None:
    for detailed in (False, True):
        converter = _build(detailed=detailed)
        with pytest.raises((ProtocolError, cattrs.BaseValidationError, KeyError, TypeError)):
            converter.structure(data, TransactionStatus)
    with pytest.raises(ProtocolError) as info:
        structure(data, TransactionStatus, what="answer")
    assert info.value.field is not None
    assert info.value.field.endswith(path)


def test_only_the_detailed_converter_gathers_errors_by_field() -> None:
    data = {"resultCode": 100, "resultMessage": [1]}
    with pytest.raises(ProtocolError):
        _build(detailed=False).structure(data, TransactionStatus)
    with pytest.raises(cattrs.ClassValidationError) as info:
        _build(detailed=True).structure(data, TransactionStatus)
    assert cattrs.transform_error(info.value, path="$")


@attrs.frozen
class Plain:
    """A model that is not an answer (no ``extra``): cattrs' own structuring, our hooks."""

    count: int
    note: str | None = None


@pytest.mark.parametrize("detailed", [False, True])
def test_a_model_without_extra_is_not_read_as_an_answer(detailed: bool) -> None:
    assert _build(detailed=detailed).structure({"count": "5"}, Plain) == Plain(5)


@pytest.mark.parametrize("detailed", [False, True])
def test_a_key_named_extra_is_kept_in_extra(detailed: bool) -> None:
    data = {"resultCode": 100, "extra": 1, "EXTRA": 2}
    status = _build(detailed=detailed).structure(data, TransactionStatus)
    assert status.extra == {"extra": 1, "EXTRA": 2}
    assert structure(data, TransactionStatus, what="answer").extra == {"extra": 1, "EXTRA": 2}


@pytest.mark.parametrize("detailed", [False, True])
def test_an_answer_that_is_not_an_object_says_what_it_is(detailed: bool) -> None:
    with pytest.raises(ProtocolError, match=r"^expected an object, got list$"):
        _build(detailed=detailed).structure([1], TransactionStatus)


def test_the_primitives_name_the_kind_they_were_given() -> None:
    with pytest.raises(ProtocolError, match=r"^expected a boolean, got str$"):
        to_bool("maybe")
    with pytest.raises(ProtocolError, match=r"^expected an integer, got str$"):
        to_int("x")
    with pytest.raises(ProtocolError, match=r"^expected a number, got list$"):
        to_decimal([1])


def test_an_impossible_timestamp_is_quoted_cut_to_40_characters() -> None:
    text = "2025-02-30T23:30:19.1234567890123456789012345"
    with pytest.raises(ProtocolError) as info:
        to_datetime(text)
    assert str(info.value) == f"not a valid timestamp: {text[:40]!r}"
    offset = "2025-02-07T23:30:19.123456789012345678+25:00"
    with pytest.raises(ProtocolError) as info:
        to_datetime(offset)
    assert str(info.value) == f"not a valid timestamp: {offset[:40]!r}"


def test_dumps_keeps_non_ascii_keys_and_refuses_non_finite_by_name() -> None:
    assert dumps({"ключ": "знач"}) == '{"ключ":"знач"}'.encode()
    with pytest.raises(ValueError, match=r"^cannot send a non-finite amount$"):
        dumps(Decimal("NaN"))


# -- numbers in answers are bounded (a huge one would block the event loop) -----------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"resultCode": 1e999999, "resultMessage": "x"}',
        b'{"resultCode": 1e9999999, "resultMessage": "x"}',
        b'{"resultCode": "100", "transaction": {"amount": 1e999999}}',
        b'{"resultCode": ' + b"9" * 4000 + b"}",
    ],
)
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_huge_numbers_in_a_status_answer_fail_fast(body: bytes) -> None:
    started = time.perf_counter()
    async with mock_client(answering(body)) as epay:
        with pytest.raises(ProtocolError):
            await epay.get_status("123456789")
    assert time.perf_counter() - started < 5  # seconds, not the minutes it took before


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_a_huge_code_in_a_payment_answer_is_outcome_unknown() -> None:
    async with mock_client(answering(b'{"id": "x", "code": 1e999999}')) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)


def test_the_parser_bounds_every_number() -> None:
    assert loads(b'{"a": 12.22, "b": 100}') == {"a": Decimal("12.22"), "b": 100}
    for text in (b"1e41", b"1e-41", b"1" + b"0" * 41, b"0." + b"0" * 40 + b"1"):
        with pytest.raises(ProtocolError):
            loads(text)
    assert loads(b"1e40") == Decimal("1e40")
    with pytest.raises(ProtocolError):
        to_decimal("1e999999")


def test_to_decimal_refuses_booleans() -> None:
    for value in (True, False):
        with pytest.raises(ProtocolError):
            to_decimal(value)


@pytest.mark.parametrize(
    "keys",
    [
        {"invoiceID": None, "invoiceId": 0},  # the gateway's spelling first, of the wrong shape
        {"invoiceId": None, "invoiceID": "205218074"},
    ],
)
def test_a_key_in_two_casings_takes_the_last_as_cattrs_own_does(keys: dict[str, Any]) -> None:
    # The generated path for the gateway's spelling leaves such an answer to the general loop,
    # which converts only the last value given for a field, as the detailed converter does.
    answer = {"id": "tx-1", "amount": 12.22, "currency": "KZT", **keys}
    last = str(list(keys.values())[-1])
    assert _converter.structure(answer, Transaction).invoice_id == last
    assert _detailed.structure(answer, Transaction).invoice_id == last

"""The input checks (epay_async._validation): each refuses what the gateway would, before any
network I/O, and names its field; what passes comes back normalised."""

from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal, localcontext

import httpx
import pytest

from epay_async import ApiError, EpayClient, ValidationError, _validation
from epay_async import _validation as v
from epay_async._validation import luhn_ok, mask_pan
from epay_async.testing import Sandbox

from .conftest import BOTH_BACKENDS
from .factories import mock_client


def refused(call: object, *args: object, **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


# -- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("000001", "000001"), ("1" * 15, "1" * 15), (123456, "123456"), (10**14, "1" * 1 + "0" * 14)],
)
def test_invoice_id_takes_6_to_15_digits(value: object, expected: str) -> None:
    assert v.invoice_id(value) == expected


@pytest.mark.parametrize("value", ["12345", "1" * 16, "12345a", " 123456", True, 12345, None, 1.5])
def test_invoice_id_refuses_anything_else(value: object) -> None:
    error = refused(v.invoice_id, value)
    assert (error.field, error.message) == ("invoice_id", "must be 6 to 15 digits")
    assert refused(v.invoice_id, value, "order_id").field == "order_id"


def test_optional_invoice_id() -> None:
    assert v.optional_invoice_id(None, "x") is None
    assert v.optional_invoice_id(1234567, "x") == "1234567"
    assert refused(v.optional_invoice_id, "1", "x").field == "x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12-1738952601", "12-1738952601"),
        ("a", "a"),
        ("Z_9", "Z_9"),
        ("x" * 64, "x" * 64),
        (7, "7"),
    ],
)
def test_lookup_id_takes_url_safe_ids(value: object, expected: str) -> None:
    assert v.lookup_id(value) == expected


@pytest.mark.parametrize(
    "value", ["", "x" * 65, "a/b", "..", "a%2F", "a?b", "a#b", "a b", "é", "\ud800", False, None]
)
def test_lookup_id_refuses_what_could_change_the_path(value: object) -> None:
    error = refused(v.lookup_id, value)
    assert error.field == "invoice_id"
    assert error.message == "must be 1 to 64 ASCII letters, digits, '_' or '-'"
    assert refused(v.lookup_id, value, "id").field == "id"


def test_lookup_id_is_ascii_only_even_for_unicode_digits_and_letters() -> None:
    refused(v.lookup_id, "\u0661\u0662\u0663")  # Arabic-Indic digits
    refused(v.lookup_id, "\u212a")  # the Kelvin sign, a letter outside ASCII


UUID = "8fe85c25-c4bb-44f3-b159-d1b810d4e301"


def test_path_id_uuid() -> None:
    assert v.path_id(UUID, "transaction_id") == UUID
    assert v.path_id(UUID.upper(), "transaction_id") == UUID.upper()
    for bad in [UUID + "0", UUID[:-1], "../" + UUID, UUID.replace("-", ""), ""]:
        error = refused(v.path_id, bad, "transaction_id")
        assert (error.field, error.message) == (
            "transaction_id",
            "must be the gateway's id, a UUID",
        )
    error = refused(v.path_id, 5, "card_id")
    assert (error.field, error.message) == ("card_id", "must be a string")


def test_path_id_text() -> None:
    for good in ["acct", "a@b.kz", "x+y_z-1", ".a", "XX", "a" * 64]:
        assert v.path_id(good, "account_id", kind="text") == good
    for bad in ["", ".", "..", "...", "a/b", "a b", "a" * 65, "é"]:
        error = refused(v.path_id, bad, "account_id", kind="text")
        assert error.field == "account_id"
        assert error.message == "must be 1 to 64 letters, digits or @._+- (not only dots)"


# -- small kinds -----------------------------------------------------------------------------


def test_choice() -> None:
    assert v.choice("b", ("a", "b"), "mode") == "b"
    error = refused(v.choice, "c", ("a", "b"), "mode")
    assert (error.field, error.message) == ("mode", "must be one of 'a', 'b'")


def test_flag() -> None:
    assert v.flag(True, "f") is True
    assert v.flag(False, "f") is False
    for bad in [1, 0, "true", None]:
        error = refused(v.flag, bad, "f")
        assert (error.field, error.message) == ("f", "must be True or False")


def test_seconds() -> None:
    assert v.seconds(5, "t") == 5.0
    assert isinstance(v.seconds(5, "t"), float)
    assert v.seconds(0.5, "t") == 0.5
    assert v.seconds(0, "t", allow_zero=True) == 0.0
    for bad in [True, "5", None]:
        error = refused(v.seconds, bad, "t")
        assert (error.field, error.message) == ("t", "must be a number of seconds")
    for bad in [0, 0.0, -1, -0.001, float("nan")]:
        error = refused(v.seconds, bad, "t")
        assert (error.field, error.message) == ("t", "must be a positive number of seconds")
    assert refused(v.seconds, -1, "t", allow_zero=True).field == "t"
    assert refused(v.seconds, float("nan"), "t", allow_zero=True).field == "t"


def test_text_and_non_empty() -> None:
    assert v.text("héllo", "f") == "héllo"
    assert v.text("", "f") == ""
    error = refused(v.text, 1, "f")
    assert (error.field, error.message) == ("f", "must be a string")
    error = refused(v.text, "a\ud800", "f")
    assert (error.field, error.message) == ("f", "is not valid Unicode text")
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert v.non_empty(" x ", "f") == " x "
    for bad in ["", "   ", None, 3]:
        error = refused(v.non_empty, bad, "f")
        assert (error.field, error.message) == ("f", "must be a non-empty string")
    assert refused(v.non_empty, "a\udfff", "f").message == "is not valid Unicode text"


# -- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("100.10"), "100.10"),
        (100, "100"),
        ("1500.50", "1500.50"),
        (" 7 ", "7"),
        ("100.000", "100.00"),
        ("0.01", "0.01"),
        (Decimal("100.500"), "100.50"),
        ("9999999999999", "9999999999999"),
        (Decimal("9999999999999.99"), "9999999999999.99"),
    ],
)
def test_amount_takes_money(value: object, expected: str) -> None:
    result = v.amount(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_amount_zero_only_when_allowed() -> None:
    for zero in [0, "0", Decimal("0.00")]:
        error = refused(v.amount, zero)
        assert (error.field, error.message) == ("amount", "must be greater than zero")
        assert v.amount(zero, allow_zero=True) == 0
    assert refused(v.amount, -1, allow_zero=True).message == "must not be negative"
    assert refused(v.amount, "-0.50", allow_zero=True).message == "must not be negative"
    for negative_zero in [Decimal("-0.00"), "-0.00", " -0 "]:  # text and Decimal alike
        zero = v.amount(negative_zero, allow_zero=True)
        assert (str(zero), zero.is_signed()) == (str(negative_zero).strip()[1:], False)
        assert refused(v.amount, negative_zero).message == "must be greater than zero"
    assert refused(v.amount, Decimal("-0.01")).field == "amount"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            1.5,
            "must be a Decimal, int or str, never a float: convert it with Decimal(str(value)),"
            " or parse JSON with parse_float=Decimal",
        ),
        (True, "must be a Decimal, int or str, not a bool"),
        ("1e3", "is not a plain decimal number such as '1500.50'"),
        ("1_000", "is not a plain decimal number such as '1500.50'"),
        ("-5", "must be greater than zero"),
        (" -1500.50 ", "must be greater than zero"),
        ("--5", "is not a plain decimal number such as '1500.50'"),
        ("١٢", "is not a plain decimal number such as '1500.50'"),
        ("1" * 16, "is not a plain decimal number such as '1500.50'"),
        ("1.", "is not a plain decimal number such as '1500.50'"),
        ("", "is not a plain decimal number such as '1500.50'"),
        (None, "must be a Decimal"),
        ([1], "must be a Decimal"),
        (Decimal("NaN"), "must be a finite number (not NaN or Infinity)"),
        (Decimal("Infinity"), "must be a finite number (not NaN or Infinity)"),
        (Decimal("-Infinity"), "must be a finite number (not NaN or Infinity)"),
        (-3, "must be greater than zero"),
        (10**13, "is too large"),
        (-(10**13), "is too large"),
        (Decimal("1e13"), "is too large"),
        ("10000000000000", "is too large"),
        ("1.001", "must have at most 2 decimal places"),
        (Decimal("0.005"), "must have at most 2 decimal places"),
    ],
)
def test_amount_refuses(value: object, message: str) -> None:
    error = refused(v.amount, value)
    assert (error.field, error.message) == ("amount", message)
    assert refused(v.amount, value, "charge").field == "charge"


def test_amount_just_under_the_limit_and_exact_in_a_low_precision_context() -> None:
    assert v.amount(10**13 - 1) == Decimal(10**13 - 1)
    assert v.amount(Decimal("9999999999999.990")) == Decimal("9999999999999.99")
    with localcontext() as ctx:
        ctx.prec = 5
        assert str(v.amount("9999999999999.990")) == "9999999999999.99"
        error = refused(v.amount, "9999999999999.991")
        assert error.message == "must have at most 2 decimal places"


def test_optional_amount() -> None:
    assert v.optional_amount(None) is None
    assert v.optional_amount("5.50") == Decimal("5.50")
    assert refused(v.optional_amount, 0).field == "amount"
    assert refused(v.optional_amount, 0, "part").field == "part"


def test_currency() -> None:
    assert v.currency("KZT") == "KZT"
    for bad in ["kzt", "KZ", "KZTT", "", 398, None]:
        error = refused(v.currency, bad)
        assert (error.field, error.message) == (
            "currency",
            "must be a 3-letter ISO 4217 code such as 'KZT'",
        )
    assert refused(v.currency, "x", "cur").field == "cur"


def test_description_bytes_limit() -> None:
    assert v.description("a" * 125) == "a" * 125
    assert v.description("ж" * 62) == "ж" * 62  # 124 bytes
    error = refused(v.description, "a" * 126)
    assert (error.field, error.message) == (
        "description",
        "is 126 bytes in UTF-8; the gateway allows 125",
    )
    error = refused(v.description, "ж" * 63)
    assert error.message == "is 126 bytes in UTF-8; the gateway allows 125"
    for bad in ["", "  ", None, 1]:
        error = refused(v.description, bad)
        assert (error.field, error.message) == ("description", "must be a non-empty string")
    assert refused(v.description, "a\ud800").message == "is not valid Unicode text"
    assert refused(v.description, "", "title").field == "title"


# -- contact, links, language ----------------------------------------------------------------


def test_optional_link() -> None:
    assert v.optional_link(None, "post_link") is None
    for good in ["https://shop.example/post?a=1", "http://127.0.0.1:8000/p"]:
        assert v.optional_link(good, "post_link") == good
    cases = [
        (5, "must be a URL string"),
        ("https://shop.example/пост", "must be an ASCII URL (percent-encode anything else)"),
        ("ftp://shop.example/p", "must be an absolute http(s) URL"),
        ("https:///p", "must be an absolute http(s) URL"),
        ("/post", "must be an absolute http(s) URL"),
        ("https://shop.example/a b", "must be an absolute http(s) URL"),
        ("https://shop.example/a\tb", "must be an absolute http(s) URL"),
    ]
    for bad, message in cases:
        error = refused(v.optional_link, bad, "post_link")
        assert (error.field, error.message) == ("post_link", message)


def test_optional_email() -> None:
    assert v.optional_email(None) is None
    assert v.optional_email(" a@b.kz ") == "a@b.kz"
    for bad in ["a@b", "@b.kz", "a b@c.kz", "a@@b.kz", 5]:
        error = refused(v.optional_email, bad)
        assert (error.field, error.message) == ("email", "is not an email address")
    assert refused(v.optional_email, "a@b\ud800.kz").message == "is not valid Unicode text"
    assert refused(v.optional_email, "x", "mail").field == "mail"


def test_optional_phone() -> None:
    assert v.optional_phone(None) is None
    assert v.optional_phone("+7 (701) 234-56-78") == "+77012345678"
    assert v.optional_phone("7012345678") == "7012345678"
    assert v.optional_phone("1" * 15) == "1" * 15
    for bad in ["123456789", "1" * 16, "++77012345678", "7701a345678", 77012345678, "7.701234567"]:
        error = refused(v.optional_phone, bad)
        assert (error.field, error.message) == (
            "phone",
            "must be 10 to 15 digits, optionally starting with +",
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rus", "rus"),
        ("KAZ", "kaz"),
        (" Eng ", "eng"),
        ("RU", "rus"),
        ("kz", "kaz"),
        ("KK", "kaz"),
        ("en", "eng"),
        (None, None),
    ],
)
def test_optional_language(value: object, expected: str | None) -> None:
    assert v.optional_language(value) == expected


@pytest.mark.parametrize("value", ["de", "", "russian", 1])
def test_optional_language_refuses(value: object) -> None:
    error = refused(v.optional_language, value)
    assert error.field == "language"
    assert (
        error.message == "must be one of 'rus', 'kaz', 'eng' (any casing) or 'RU', 'KZ'/'KK', 'EN'"
    )


def test_optional_text() -> None:
    assert v.optional_text(None, "name") is None
    assert v.optional_text("x" * 255, "name") == "x" * 255
    error = refused(v.optional_text, "x" * 256, "name")
    assert (error.field, error.message) == ("name", "must be a string of at most 255 characters")
    assert v.optional_text("abc", "name", max_length=3) == "abc"
    error = refused(v.optional_text, "abcd", "name", max_length=3)
    assert error.message == "must be a string of at most 3 characters"
    assert refused(v.optional_text, 5, "name").field == "name"
    assert refused(v.optional_text, "\ud800", "name").message == "is not valid Unicode text"


def test_data() -> None:
    assert v.data(None) is None
    assert v.data("raw") == "raw"
    assert v.data({"deal": 1, "name": "Жан"}) == '{"deal":1,"name":"Жан"}'
    for bad, message in [
        ({"x": object()}, "must be JSON-serialisable"),
        (5, "must be a mapping or a string"),
        ("\ud800", "is not valid Unicode text"),
        ({"x": "\ud800"}, "must be JSON-serialisable"),
    ]:
        error = refused(v.data, bad)
        assert (error.field, error.message) == ("data", message)
    looped: dict[str, object] = {}
    looped["self"] = looped
    assert refused(v.data, looped, "extra").message == "must be JSON-serialisable"


# -- cards -----------------------------------------------------------------------------------


def test_luhn() -> None:
    assert v.luhn_ok("4405639704015096")
    assert v.luhn_ok("377514500004820")
    assert v.luhn_ok("0")
    assert v.luhn_ok("18")  # 1*2 + 8 = 10
    assert v.luhn_ok("59")  # 5*2 = 10 -> 1, + 9 = 10
    assert not v.luhn_ok("4405639704015097")
    assert not v.luhn_ok("81")
    assert not v.luhn_ok("19")


def test_pan() -> None:
    assert v.pan("4405 6397 0401 5096") == "4405639704015096"
    assert v.pan("4405-6397-0401-5096") == "4405639704015096"
    assert v.pan("000000000000") == "000000000000"  # 12 digits
    assert v.pan("0" * 19) == "0" * 19
    error = refused(v.pan, 4405639704015096)
    assert (error.field, error.message) == ("pan", "must be a string of digits")
    for bad in ["0" * 11, "0" * 20, "4405x39704015096", ""]:
        error = refused(v.pan, bad)
        assert (error.field, error.message) == ("pan", "must be 12 to 19 digits")
    error = refused(v.pan, "4405639704015097")
    assert (error.field, error.message) == ("pan", "is not a valid card number (checksum failed)")
    assert refused(v.pan, "1", "card").field == "card"


def test_month() -> None:
    assert v.month(1) == 1
    assert v.month(12) == 12
    assert v.month("07") == 7
    for bad in [0, 13, "13", "0"]:
        error = refused(v.month, bad)
        assert (error.field, error.message) == ("exp_month", "must be a month from 1 to 12")
    for bad in [True, "1a", "00001", 1.0, None]:
        error = refused(v.month, bad)
        assert (error.field, error.message) == ("exp_month", "must be a number")


def test_year() -> None:
    assert v.year(27) == 2027
    assert v.year("27") == 2027
    assert v.year("2031") == 2031
    assert v.year(2031) == 2031
    assert v.year("05") == 2005
    for bad in ["7", "202", "20271", True, "2o27", None]:
        error = refused(v.year, bad)
        assert (error.field, error.message) == ("exp_year", "must be a year as YY or YYYY")


def test_not_expired() -> None:
    today = date(2026, 6, 15)
    v.not_expired(6, 2026, today)  # this month: still valid
    v.not_expired(1, 2027, today)
    v.not_expired(12, 2056, today)  # 30 years ahead
    for month, year_ in [(5, 2026), (12, 2025)]:
        error = refused(v.not_expired, month, year_, today)
        assert (error.field, error.message) == ("exp_year", "the card has expired")
    error = refused(v.not_expired, 1, 2057, today)
    assert (error.field, error.message) == ("exp_year", "is too far in the future")


def test_not_expired_defaults_to_today() -> None:
    current = date.today()
    v.not_expired(current.month, current.year)
    refused(v.not_expired, current.month, current.year - 1)


def test_cvc() -> None:
    assert v.cvc("012") == "012"
    assert v.cvc("0123") == "0123"
    for bad in ["12", "12345", "12a", 123, None]:
        error = refused(v.cvc, bad)
        assert (error.field, error.message) == ("cvc", "must be 3 or 4 digits, as a string")
    assert refused(v.cvc, "1", "cvv").field == "cvv"


def test_mask_pan() -> None:
    assert v.mask_pan("4405639704015096") == "440563******5096"
    assert v.mask_pan("440563970401") == "440563**0401"
    assert v.mask_pan("44056397040") == "*" * 11
    assert v.mask_pan("") == ""


def test_a_month_or_year_as_text_of_up_to_4_digits() -> None:
    assert v.month("0012") == 12
    assert refused(v.month, "00012").message == "must be a number"


def test_expiry_is_judged_on_todays_date_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    class Clock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Clock:  # type: ignore[override]
            asked.append(tz)
            return cls(2026, 6, 15, tzinfo=tz)

    monkeypatch.setattr(v, "datetime", Clock)
    v.not_expired(6, 2026)
    assert asked == [timezone.utc]


# -- ids that would escape the path, checked before anything is sent ------------------------------


@pytest.mark.parametrize("value", ["..", ".", "a/b", "x" * 100_000, "", "%2e%2e", " "])
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_path_ids_are_checked_before_anything_is_sent(value: str) -> None:
    sent: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json=[])

    async with mock_client(handle) as epay:
        for call in (
            lambda: epay.list_cards(value),
            lambda: epay.deactivate_card(value),
            lambda: epay.charge(value),
            lambda: epay.refund(value),
        ):
            with pytest.raises(ValidationError):
                await call()
    assert sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", BOTH_BACKENDS)
async def test_ids_of_the_documented_shape_go_through(sandbox: Sandbox, epay: EpayClient) -> None:
    assert await epay.list_cards("user.42@shop-1") == []
    with pytest.raises(ApiError):
        await epay.deactivate_card("00000000-0000-4000-8000-00000000dead")


# -- bounds ---------------------------------------------------------------------------------------


def test_text_and_card_number_checks_hold_at_their_bounds() -> None:
    with pytest.raises(ValidationError):
        _validation.text(123, "x")
    with pytest.raises(ValidationError):
        _validation.text("\ud800", "x")
    assert _validation.text("ok", "x") == "ok"
    shortest, longest = "000000000000", "0000000000000000000"  # 12 and 19 digits, Luhn-valid
    assert _validation.pan(shortest) == shortest
    assert _validation.pan(longest) == longest
    for wrong in ("00000000000", "00000000000000000000"):  # 11 and 20 digits
        with pytest.raises(ValidationError, match="12 to 19"):
            _validation.pan(wrong)


def test_luhn_and_mask() -> None:
    assert luhn_ok("4405639704015096")
    assert luhn_ok("377514500004820")
    assert not luhn_ok("4405639704015095")
    assert mask_pan("377514500004820") == "377514*****4820"

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from epay_async import Card, CardPan, Order, SavedCardRef, StatusName, ValidationError
from epay_async.testing import Sandbox

GOOD: dict[str, Any] = {
    "invoice_id": "000000001",
    "amount": Decimal("100.10"),
    "description": "Оплата заказа",
}


def order(**changes: Any) -> Order:
    return Order(**{**GOOD, **changes})


def test_a_good_order() -> None:
    built = order(
        currency="USD",
        email=" a@b.kz ",
        phone="+7 (707) 807-11-80",
        language="kaz",
        post_link="https://shop.example/post",
        data={"deal": 1},
        invoice_id_alt="8564546",
    )
    assert built.amount == Decimal("100.10")
    assert built.email == "a@b.kz"
    assert built.phone == "+77078071180"
    assert built.data == '{"deal":1}'
    assert Order(invoice_id=123456, amount=5, description="x").amount == Decimal(5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoice_id", "12345"),
        ("invoice_id", "1234567890123456"),
        ("invoice_id", "12345a"),
        ("invoice_id", None),
        ("amount", 100.10),
        ("amount", True),
        ("amount", Decimal("0")),
        ("amount", Decimal("-1")),
        ("amount", Decimal("1.001")),
        ("amount", Decimal("NaN")),
        ("amount", Decimal("Infinity")),
        ("amount", "abc"),
        ("amount", Decimal("1e13")),
        ("currency", "kzt"),
        ("currency", "TENGE"),
        ("description", ""),
        ("description", "я" * 63),  # 126 bytes in UTF-8
        ("email", "not-an-email"),
        ("phone", "12345"),
        ("language", "de"),
        ("post_link", "/relative"),
        ("back_link", "ftp://shop.example/"),
        ("failure_post_link", "javascript:alert(1)"),
        ("failure_back_link", "https://shop example/"),
        ("invoice_id_alt", "12"),
        ("data", 5),
        ("card_save", "yes"),
        ("use_bonus", 1),
        ("account_id", "x" * 300),
    ],
)
def test_each_rule_names_its_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        order(**{field: value})
    assert info.value.field == field


def test_description_limit_is_in_bytes() -> None:
    assert order(description="я" * 62).description  # 124 bytes
    assert order(description="a" * 125).description


def test_amount_keeps_its_scale() -> None:
    assert str(order(amount=Decimal("100.10")).amount) == "100.10"
    assert str(order(amount="12.5").amount) == "12.5"


def test_order_repr_hides_secret_hash_and_contacts() -> None:
    text = repr(order(secret_hash="hash-123", email="payer@mail.kz", phone="+77001234567"))
    assert "hash-123" not in text
    assert "payer@mail.kz" not in text


CARD: dict[str, Any] = {"pan": "4405 6397 0401 5096", "exp_month": 1, "exp_year": 27, "cvc": "321"}


def test_card_normalises_and_masks() -> None:
    card = Card(**CARD)
    assert card.pan == "4405639704015096"
    assert card.exp_year == 2027
    assert card.exp_date == "0127"
    assert repr(card) == "Card(pan='440563******5096', exp_month=1, exp_year=2027, cvc='***')"
    assert "321" not in str(card)
    assert Card(**{**CARD, "cvc": "0198", "exp_month": "12", "exp_year": "2030"}).cvc == "0198"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pan", "4405639704015097"),  # Luhn
        ("pan", "44056397"),
        ("pan", "4405639704015096123456"),
        ("pan", 4405639704015096),
        ("exp_month", 13),
        ("exp_month", 0),
        ("exp_month", "ab"),
        ("exp_year", "202"),
        ("exp_year", 20),  # expired
        ("exp_year", 2099),
        ("cvc", "12"),
        ("cvc", "12345"),
        ("cvc", 321),
        ("cvc", "32a"),
    ],
)
def test_card_rules(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Card(**{**CARD, field: value})
    assert info.value.field == field


def test_card_pan_and_ref() -> None:
    receiver = CardPan(
        pan="5578342710750560", first_name="Ivan", last_name="Petrov", country_code="UZ"
    )
    assert receiver.is_international
    assert "5578342710750560" not in repr(receiver)
    with pytest.raises(ValidationError):
        CardPan(pan="4405639704015096", exp_month=1)
    with pytest.raises(ValidationError):
        CardPan(pan="4405639704015096", country_code="U1")
    with pytest.raises(ValidationError) as info:
        SavedCardRef("")
    assert info.value.field == "card_id"


def test_cards_take_positional_arguments_as_documented() -> None:
    assert Card("4405639704015096", 1, 27, "321").exp_date == "0127"
    assert CardPan("5578342710750560").exp_month is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("rus", "rus"),
        ("RUS", "rus"),
        ("Rus", "rus"),
        ("RU", "rus"),
        ("ru", "rus"),
        ("KAZ", "kaz"),
        ("KZ", "kaz"),
        ("kk", "kaz"),
        ("ENG", "eng"),
        ("EN", "eng"),
    ],
)
def test_languages_in_any_casing_and_two_letter_forms(given: str, expected: str) -> None:
    order = Order(invoice_id="123456", amount="1", description="x", language=given)
    assert order.language == expected


@pytest.mark.parametrize("bad", ["de", "russian", "", 1])
def test_unknown_languages_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        Order(invoice_id="123456", amount="1", description="x", language=bad)  # type: ignore[arg-type]
    assert info.value.field == "language"


def test_an_order_keeps_the_documented_invoice_rule() -> None:
    with pytest.raises(ValidationError) as info:
        Order(invoice_id="12-1738952601", amount="1", description="x")
    assert info.value.field == "invoice_id"


# -- amounts, and what a merchant passes ----------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("1.0000000000000000000000000001"),
        Decimal("100.001"),
        "1_000",
        "١٠٠",
        "1e3",
        " 12.5.0",
        Decimal("-1"),
        Decimal("NaN"),
        Decimal("1e13"),
        10**13,
        1.5,
    ],
)
def test_amounts_refused(amount: Any) -> None:
    with pytest.raises(ValidationError) as info:
        order(amount=amount)
    assert info.value.field == "amount"


def test_trailing_zeros_are_sent_with_two_decimals() -> None:
    assert str(order(amount="100.000").amount) == "100.00"
    assert str(order(amount=Decimal("7.50000")).amount) == "7.50"
    assert order(amount="12.5").amount == Decimal("12.5")


def test_typed_inputs_accept_what_a_merchant_passes() -> None:
    order = Order(invoice_id=123456789, amount="10.50", description="x", language="kaz")
    assert order.invoice_id == "123456789"
    assert order.amount == Decimal("10.50")
    sandbox = Sandbox()
    assert sandbox.add_transaction("700000004", status="AUTH").status is StatusName.AUTH

"""What many test modules build: orders, and the sandbox's documented test cards as ``Card``s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from epay_async import Card, Order
from epay_async.testing import TEST_CARDS
from epay_async.testing._cards import TestCard


def card(test_card: TestCard) -> Card:
    """``test_card`` (``exp_date`` MMYY) as what a payment takes."""
    month, year = int(test_card.exp_date[:2]), 2000 + int(test_card.exp_date[2:])
    return Card(pan=test_card.pan, exp_month=month, exp_year=year, cvc=test_card.cvc or "000")


#: Pays without 3-D Secure.
VISA = card(TEST_CARDS.visa)
#: Asks for 3-D Secure.
MASTERCARD_3DS = card(TEST_CARDS.mastercard_3ds)
#: Pays; a four-digit CVC.
AMEX = card(TEST_CARDS.amex)


def order(
    invoice_id: str = "100000001",
    amount: Decimal | str = "100.00",
    description: str = "test order",
    **fields: Any,
) -> Order:
    """An order with the fields a test cares about, and harmless defaults for the rest."""
    return Order(invoice_id=invoice_id, amount=amount, description=description, **fields)

"""The documented test cards (epay-api.md §10): which pay, which ask for 3-D Secure, which
are declined and how."""

from __future__ import annotations

import json
from typing import Any

import attrs

from ._codes import LOCKED, NO_SUCH_CARD, WRONG_CVC, WRONG_EXPIRY


@attrs.frozen
class TestCard:
    """One of the sandbox's test cards (``exp_date`` is ``MMYY``)."""

    __test__ = False  # not a pytest test class

    pan: str
    exp_date: str  # MMYY
    cvc: str = attrs.field(repr=False)
    locked: bool = False
    three_ds: bool = False


class TestCards(dict[str, TestCard]):
    """The test cards by card number, and by name: ``TEST_CARDS.visa`` pays,
    ``TEST_CARDS.mastercard_3ds`` asks for 3-D Secure, ``TEST_CARDS.amex`` pays,
    ``TEST_CARDS.locked_visa`` and ``TEST_CARDS.locked_mastercard`` are declined (487)."""

    __test__ = False  # not a pytest test class

    @property
    def visa(self) -> TestCard:
        return self["4405639704015096"]

    @property
    def mastercard_3ds(self) -> TestCard:
        return self["5522042705066736"]

    @property
    def amex(self) -> TestCard:
        return self["377514500004820"]

    @property
    def locked_visa(self) -> TestCard:
        return self["4003032704547597"]

    @property
    def locked_mastercard(self) -> TestCard:
        return self["5578342710750560"]


#: A Google Pay ``PaymentData`` for the sandbox (``GooglePayToken.from_payment_data``): its
#: token has the shape of the one Google gives a gateway (seed 000: ``protocolVersion``,
#: ``signedMessage``, signatures), signed by nobody; the sandbox approves it, the gateway would
#: not. A Visa ending in 1111.
TEST_GOOGLE_PAY: dict[str, Any] = {
    "apiVersion": 2,
    "apiVersionMinor": 0,
    "paymentMethodData": {
        "description": "Visa •••• 1111",
        "tokenizationData": {
            "type": "PAYMENT_GATEWAY",
            "token": json.dumps(
                {
                    "signature": "MEQCIG0Pt0VSb8sandbox",
                    "intermediateSigningKey": {"signedKey": "{}", "signatures": ["MEQsandbox"]},
                    "protocolVersion": "ECv2",
                    "signedMessage": json.dumps(
                        {"encryptedMessage": "sandbox", "ephemeralPublicKey": "", "tag": ""}
                    ),
                }
            ),
        },
        "type": "CARD",
        "info": {"cardNetwork": "VISA", "cardDetails": "1111"},
    },
}

TEST_CARDS = TestCards(
    (card.pan, card)
    for card in (
        TestCard("4405639704015096", "0127", "321"),
        TestCard("5522042705066736", "0127", "775", three_ds=True),
        TestCard("377514500004820", "0128", "0198"),
        TestCard("4003032704547597", "0920", "", locked=True),
        TestCard("5578342710750560", "0920", "", locked=True),
    )
)


def check_saved_card(pan: str) -> tuple[int, str] | None:
    """The (code, message) a card saved earlier is declined with when paid (a locked test
    card, as it would be by card data), or None."""
    card = TEST_CARDS.get(pan)
    return LOCKED if card is not None and card.locked else None


def check_card(pan: str, exp_date: str, cvc: str) -> TestCard | tuple[int, str]:
    """The test card, or the (code, message) the gateway declines it with."""
    card = TEST_CARDS.get(pan)
    if card is None:
        return NO_SUCH_CARD
    if card.locked:
        return LOCKED
    if exp_date != card.exp_date:
        return WRONG_EXPIRY
    if cvc != card.cvc:
        return WRONG_CVC
    return card


def card_type(pan: str) -> str:
    return {"4": "VISA", "5": "MASTERCARD", "3": "AMEX"}.get(pan[:1], "CARD")


def mask(pan: str) -> str:
    return f"{pan[:6]}...{pan[-4:]}"

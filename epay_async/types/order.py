"""``Order``: what the merchant sells, validated when it is built."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from .. import _validation as v
from .._secret import Secret
from ..errors import ValidationError
from ._fields import wire_fields

__all__ = ["CardVerification", "Order"]


# Typed converters: attrs takes ``Order.__init__``'s parameter types from them, so an IDE
# and mypy show what each field accepts; the checks themselves still refuse anything else.


def _invoice_id(value: str | int) -> str:
    return v.invoice_id(value)


def _currency(value: str) -> str:
    return v.currency(value)


def _description(value: str) -> str:
    return v.description(value)


def _email(value: str | None) -> str | None:
    return v.optional_email(value)


def _phone(value: str | None) -> str | None:
    return v.optional_phone(value)


def _account_id(value: str | None) -> str | None:
    return v.optional_text(value, "account_id")


def _name(value: str | None) -> str | None:
    return v.optional_text(value, "name")


def _links(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    v.optional_link(value, attribute.name)


def _language(value: Language | str | None) -> str | None:
    return v.optional_language(value)


def _invoice_id_alt(value: str | int | None) -> str | None:
    return v.optional_invoice_id(value, "invoice_id_alt")


def _data(value: Mapping[str, Any] | str | None) -> str | None:
    return v.data(value)


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    v.flag(value, attribute.name)


def _secret_hash(value: str | None) -> str | None:
    text = v.optional_text(value, "secret_hash")
    return None if text is None else Secret(text)


#: The languages of the payment page and the gateway's messages (seed 001).
Language = Literal["rus", "kaz", "eng"]


@attrs.frozen(kw_only=True)
class Order:
    """An invoice to pay. Invalid values raise ``ValidationError`` naming the field."""

    invoice_id: str = attrs.field(converter=_invoice_id)
    amount: Decimal = attrs.field(converter=v.money)
    currency: str = attrs.field(default="KZT", converter=_currency)
    description: str = attrs.field(converter=_description)
    account_id: str | None = attrs.field(default=None, converter=_account_id)
    email: str | None = attrs.field(default=None, converter=_email, repr=False)
    phone: str | None = attrs.field(default=None, converter=_phone, repr=False)
    name: str | None = attrs.field(default=None, converter=_name, repr=False)
    back_link: str | None = attrs.field(default=None, validator=_links)
    failure_back_link: str | None = attrs.field(default=None, validator=_links)
    post_link: str | None = attrs.field(default=None, validator=_links)
    failure_post_link: str | None = attrs.field(default=None, validator=_links)
    language: str | None = attrs.field(default=None, converter=_language)
    invoice_id_alt: str | None = attrs.field(default=None, converter=_invoice_id_alt)
    data: str | None = attrs.field(default=None, converter=_data, repr=False)
    card_save: bool = attrs.field(default=False, validator=_flag)
    use_bonus: bool = attrs.field(default=False, validator=_flag)
    #: Sent in the token request and echoed to postLink; never logged or shown in repr.
    secret_hash: str | None = attrs.field(default=None, converter=_secret_hash, repr=False)

    def payer_fields(self) -> Mapping[str, Any]:
        """The optional fields every payment body shares, by their gateway names."""
        return wire_fields(
            self,
            "invoice_id_alt",
            "account_id",
            "email",
            "phone",
            "back_link",
            "failure_back_link",
            "post_link",
            "failure_post_link",
            "language",
            "data",
        )


def _zero(value: Decimal | int | str) -> Decimal:
    amount = v.amount(value, allow_zero=True)
    if amount != 0:
        raise ValidationError("amount", "a card verification is for 0: use Order to charge")
    return amount


@attrs.frozen(kw_only=True)
class CardVerification(Order):
    """Check a card and save it without charging it: the documentation's card verification
    (a token for amount 0 in USD, then a cryptogram payment of 0 with the card saved).

    Source: the ePay documentation (the saved-card pages describe it). The answer carries the
    saved card's id (``PaymentResult.card_id``) when the card is good.
    """

    amount: Decimal = attrs.field(default=Decimal("0.00"), converter=_zero)
    currency: str = attrs.field(default="USD", converter=_currency)
    description: str = attrs.field(default="Card verification", converter=_description)
    card_save: bool = attrs.field(default=True, validator=_flag)

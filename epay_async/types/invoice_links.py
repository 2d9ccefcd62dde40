"""Invoice links (the documentation's "invoice link API" page): a payment link the gateway
sends to the payer by e-mail or SMS."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs

from .. import _validation as v
from .._secret import Secret
from ..errors import ValidationError
from .order import _currency, _description, _invoice_id

__all__ = ["CabinetLogin", "InvoiceLink", "InvoiceLinkResult"]

#: How long the link lives: a count and a unit, as the documentation's "1d".
_PERIOD = re.compile(r"[1-9][0-9]{0,2}[a-z]", re.ASCII)


def _uuid(value: str) -> str:
    return v.path_id(value, "shop_id")


def _account_id(value: str) -> str:
    return v.text(value, "account_id")


def _language(value: str) -> str:
    language = v.optional_language(value)
    if language is None:
        raise ValidationError("language", "must be one of 'rus', 'kaz', 'eng'")
    return language


def _period(value: str) -> str:
    if not isinstance(value, str) or not _PERIOD.fullmatch(value):
        raise ValidationError("expire_period", "must be a count and a unit, such as '1d'")
    return value


def _email(value: str | None) -> str | None:
    return v.optional_email(value, "recipient_contact")


def _sms(value: str | None) -> str | None:
    return v.optional_phone(value, "recipient_contact_sms")


def _notifier(value: str | None) -> str | None:
    return v.optional_phone(value, "notifier_contact_sms")


def _links(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    v.optional_link(value, attribute.name)


def _secret(value: str) -> str:
    return Secret(v.text(value, "password"))


def _username(value: str) -> str:
    return v.text(value, "username")


@attrs.frozen
class CabinetLogin:
    """The merchant cabinet's user, for the invoice-link token (a ``password`` grant: the
    documentation's invoice-link page, in English and Kazakh). Never logged or shown."""

    username: str = attrs.field(converter=_username)
    password: str = attrs.field(converter=_secret, repr=False)


@attrs.frozen(kw_only=True)
class InvoiceLink:
    """An invoice to send to the payer as a link (``POST {API}/invoice``, snake_case JSON).

    Every field is the documentation's. ``invoice_id`` follows the library's rule for invoice
    ids (6-15 digits), so the payment it leads to can be checked with ``get_status``.
    ``expire_period`` is written as the documentation's example writes it (``"1d"``); other
    units than days are not documented.
    """

    shop_id: str = attrs.field(converter=_uuid)
    account_id: str = attrs.field(converter=_account_id)
    invoice_id: str = attrs.field(converter=_invoice_id)
    amount: Decimal = attrs.field(converter=v.money)
    description: str = attrs.field(converter=_description)
    currency: str = attrs.field(default="KZT", converter=_currency)
    language: str = attrs.field(default="rus", converter=_language)
    expire_period: str = attrs.field(default="1d", converter=_period)
    recipient_contact: str | None = attrs.field(default=None, converter=_email, repr=False)
    recipient_contact_sms: str | None = attrs.field(default=None, converter=_sms, repr=False)
    notifier_contact_sms: str | None = attrs.field(default=None, converter=_notifier, repr=False)
    post_link: str | None = attrs.field(default=None, validator=_links)
    failure_post_link: str | None = attrs.field(default=None, validator=_links)
    back_link: str | None = attrs.field(default=None, validator=_links)
    failure_back_link: str | None = attrs.field(default=None, validator=_links)

    def __attrs_post_init__(self) -> None:
        if self.recipient_contact is None and self.recipient_contact_sms is None:
            raise ValidationError(
                "recipient_contact", "give the payer's e-mail, or recipient_contact_sms, or both"
            )

    def wire(self) -> dict[str, Any]:
        """The documented body: every field, ``""`` for what is not set, the amount a number."""
        return {
            "shop_id": self.shop_id,
            "account_id": self.account_id,
            "invoice_id": self.invoice_id,
            "amount": self.amount,
            "language": self.language,
            "description": self.description,
            "expire_period": self.expire_period,
            "recipient_contact": self.recipient_contact or "",
            "recipient_contact_sms": self.recipient_contact_sms or "",
            "notifier_contact_sms": self.notifier_contact_sms or "",
            "currency": self.currency,
            "post_link": self.post_link or "",
            "failure_post_link": self.failure_post_link or "",
            "back_link": self.back_link or "",
            "failure_back_link": self.failure_back_link or "",
        }


@attrs.frozen
class InvoiceLinkResult:
    """The gateway accepted the invoice. Its answer's shape is not documented, so it is kept
    as received (``answer``); the payment it leads to is checked with ``get_status``."""

    invoice_id: str
    answer: dict[str, Any] = attrs.field(factory=dict, repr=False)

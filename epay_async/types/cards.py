"""Cards: full card data for a cryptogram, card references for transfers, saved cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .. import _validation as v
from ..errors import ValidationError

__all__ = ["Card", "CardPan", "PhoneRecipient", "SavedCardInfo", "SavedCardRef"]


def _masked(pan: str) -> str:
    return repr(v.mask_pan(pan))


def _hidden(_: object) -> str:
    return "'***'"


@attrs.frozen
class Card:
    """A card as typed by the payer. ``repr`` masks the PAN and hides the CVC.

    ``exp_year`` is accepted as YY or YYYY and kept as YYYY.
    """

    pan: str = attrs.field(converter=v.pan, repr=_masked)
    exp_month: int = attrs.field(converter=v.month)
    exp_year: int = attrs.field(converter=v.year)
    cvc: str = attrs.field(converter=v.cvc, repr=_hidden)

    def __attrs_post_init__(self) -> None:
        v.not_expired(self.exp_month, self.exp_year)

    @property
    def exp_date(self) -> str:
        """MMYY, as the cryptogram carries it."""
        return f"{self.exp_month:02d}{self.exp_year % 100:02d}"

    @property
    def masked_pan(self) -> str:
        return v.mask_pan(self.pan)


def _month(value: object) -> int | None:
    return None if value is None else v.month(value)


def _year(value: object) -> int | None:
    return None if value is None else v.year(value)


def _cvc(value: object) -> str | None:
    return None if value is None else v.cvc(value)


def _card_id(value: object) -> str:
    return v.non_empty(value, "card_id")


@attrs.frozen
class CardPan:
    """A card by number for a P2P transfer (``TYPEPAN``).

    A sender needs the expiry and CVC; a receiver needs only the number, plus
    ``first_name``, ``last_name`` and ``country_code`` for international transfers.
    """

    pan: str = attrs.field(converter=v.pan, repr=_masked)
    exp_month: int | None = attrs.field(default=None, converter=_month)
    exp_year: int | None = attrs.field(default=None, converter=_year)
    cvc: str | None = attrs.field(default=None, converter=_cvc, repr=_hidden)
    name: str | None = attrs.field(default=None, repr=False)
    save: bool = False
    first_name: str | None = attrs.field(default=None, repr=False)
    last_name: str | None = attrs.field(default=None, repr=False)
    country_code: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.exp_month is None) != (self.exp_year is None):
            raise ValidationError("exp_year", "give both exp_month and exp_year, or neither")
        if self.exp_month is not None and self.exp_year is not None:
            v.not_expired(self.exp_month, self.exp_year)
        if self.country_code is not None and not (
            len(self.country_code) in (2, 3) and self.country_code.isalpha()
        ):
            raise ValidationError("country_code", "must be an ISO 3166 letter code")

    @property
    def is_international(self) -> bool:
        return self.country_code is not None

    @property
    def masked_pan(self) -> str:
        return v.mask_pan(self.pan)


@attrs.frozen
class SavedCardRef:
    """A card saved earlier with ``card_save=True`` (``TYPECARDID`` in transfers)."""

    card_id: str = attrs.field(converter=_card_id)


@attrs.frozen
class SavedCardInfo:
    """One entry of ``list_cards`` (``GET /cards/{accountId}``, PascalCase on the wire)."""

    id: str
    card_mask: str | None = None
    payer_name: str | None = attrs.field(default=None, repr=False)
    account_id: str | None = None
    payment_available: bool | None = None
    created_date: datetime | None = None
    transaction_id: str | None = attrs.field(default=None, repr=False)
    merchant_id: str | None = attrs.field(default=None, repr=False)
    card_hash: str | None = attrs.field(default=None, repr=False)
    reference: str | None = attrs.field(default=None, repr=False)
    int_reference: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    terminal: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


def _required_phone(value: str) -> str:
    phone = v.optional_phone(value)
    if phone is None:
        raise ValidationError("phone", "is required")
    return phone


def _iin(value: str) -> str:
    if not isinstance(value, str) or not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise ValidationError("iin", "must be the 12 digits of a Kazakhstan IIN")
    return value


@attrs.frozen
class PhoneRecipient:
    """A payout's receiver by phone number and IIN (``TYPEPHONE``): OCT payouts only.

    Source: the bank's iOS SDK only (its transfer types); no documentation page shows it.
    """

    phone: str = attrs.field(converter=_required_phone, repr=False)
    iin: str = attrs.field(converter=_iin, repr=False)

"""Payment answers (seeds 001, 004), 3-D Secure, and the wallet payloads sent to cryptopay."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from ..errors import ProtocolError, ValidationError
from ._fields import wire
from .status import StatusName

if TYPE_CHECKING:
    from ..applepay import DecryptedApplePayToken

__all__ = [
    "ApplePayPayment",
    "ConfirmResult",
    "GooglePayToken",
    "PaymentResult",
    "Secure3D",
]


@attrs.frozen
class Secure3D:
    """The ``secure3D`` object of a payment answer: where to send the payer for 3-D Secure."""

    pa_req: str = attrs.field(repr=False)
    md: str
    action: str
    term_url: str | None = wire("termURL", default=None)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def auto_submit_form(self, term_url: str) -> str:
        """A minimal HTML page that posts ``PaReq``, ``MD`` and ``TermUrl`` to ``action``.

        Every value is HTML-escaped; ``action`` must be an http(s) URL.
        """
        if urlsplit(self.action).scheme not in ("http", "https"):
            raise ProtocolError("secure3D.action is not an http(s) URL", field="secure3D.action")
        if urlsplit(term_url).scheme not in ("http", "https"):
            raise ValidationError("term_url", "must be an absolute http(s) URL")

        def attr(value: str) -> str:
            return html.escape(value, quote=True)

        return (
            "<!DOCTYPE html>\n"
            '<html><head><meta charset="utf-8"><title>3-D Secure</title></head>\n'
            '<body onload="document.forms[0].submit()">\n'
            f'<form action="{attr(self.action)}" method="post" name="ThreeDform">\n'
            f'<input type="hidden" name="PaReq" value="{attr(self.pa_req)}">\n'
            f'<input type="hidden" name="MD" value="{attr(self.md)}">\n'
            f'<input type="hidden" name="TermUrl" value="{attr(term_url)}">\n'
            '<noscript><button type="submit">Continue</button></noscript>\n'
            "</form>\n"
            "<p>Wait for an answer! / Жауабын күтіңіз! / Дождитесь ответа!</p>\n"
            "</body></html>\n"
        )


@attrs.frozen
class PaymentResult:
    """What the gateway answered to a payment (every shape in seeds 001 and 004)."""

    id: str
    invoice_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    #: ``AUTH`` or ``CHARGE`` (a one-step terminal); a refused status raises instead.
    status: StatusName | None = None
    reference: str | None = None
    int_reference: str | None = attrs.field(default=None, repr=False)
    card_id: str | None = None
    account_id: str | None = attrs.field(default=None, repr=False)
    secure3d: Secure3D | None = None
    code: int | None = None
    invoice_id_alt: str | None = attrs.field(default=None, repr=False)
    description: str | None = attrs.field(default=None, repr=False)
    email: str | None = attrs.field(default=None, repr=False)
    phone: str | None = attrs.field(default=None, repr=False)
    language: str | None = attrs.field(default=None, repr=False)
    amount_bonus: Decimal | None = attrs.field(default=None, repr=False)
    fee: Decimal | None = attrs.field(default=None, repr=False)
    link: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def requires_3ds(self) -> bool:
        """True when the payer must pass 3-D Secure: render ``secure3d.auto_submit_form``."""
        return self.secure3d is not None


@attrs.frozen
class ConfirmResult:
    """The redirect ``/payment/confirm`` answered, read without following it."""

    success: bool
    invoice_id: str | None = None
    reference: str | None = None
    code: int | None = None
    message: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    card_id: str | None = None
    url: str | None = attrs.field(default=None, repr=False)


def is_google_gateway_token(token: str) -> bool:
    """Whether ``token`` is shaped like the token Google gives a payment gateway (seed 000:
    a JSON object with ``protocolVersion`` and ``signedMessage``, and its signatures)."""
    try:
        parsed = json.loads(token)
    except (ValueError, RecursionError):  # "[" * 100_000 nests past the parser's depth
        return False
    return (
        isinstance(parsed, dict)
        and isinstance(parsed.get("protocolVersion"), str)
        and isinstance(parsed.get("signedMessage"), str)
    )


@attrs.frozen
class GooglePayToken:
    """Google Pay ``PaymentData`` (seed 000), passed through to the gateway untouched."""

    payment_data: Mapping[str, Any] = attrs.field(repr=False)

    @classmethod
    def from_payment_data(cls, payment_data: Mapping[str, Any]) -> GooglePayToken:
        """Take the object Google's JS returns (``apiVersion``, ``apiVersionMinor``,
        ``paymentMethodData``); checks its shape, changes nothing."""
        if not isinstance(payment_data, Mapping):
            raise ValidationError("google_pay", "must be the PaymentData object from Google")
        method = payment_data.get("paymentMethodData")
        tokenization = method.get("tokenizationData") if isinstance(method, Mapping) else None
        if not isinstance(tokenization, Mapping) or not isinstance(tokenization.get("token"), str):
            raise ValidationError(
                "google_pay", "paymentMethodData.tokenizationData.token is missing"
            )
        if tokenization.get("type", "PAYMENT_GATEWAY") != "PAYMENT_GATEWAY":
            raise ValidationError("google_pay", "tokenizationData.type must be PAYMENT_GATEWAY")
        if not is_google_gateway_token(tokenization["token"]):
            raise ValidationError(
                "google_pay",
                "tokenizationData.token is not Google's payment token (a JSON object with"
                " protocolVersion and signedMessage)",
            )
        for key in ("apiVersion", "apiVersionMinor"):
            if not isinstance(payment_data.get(key), int):
                raise ValidationError("google_pay", f"{key} must be an integer")
        return cls(payment_data)


@attrs.frozen
class ApplePayPayment:
    """What ``pay_with_apple_pay`` sends (seed 004): ``cryptogramApplePay`` plus a cryptogram
    of the literal values the bank's SDK uses (``hpan`` ``AppleToken``)."""

    cryptogram_apple_pay: str = attrs.field(repr=False)
    hpan: str = attrs.field(default="AppleToken", repr=False)
    exp_date: str = attrs.field(default="expToken", repr=False)

    @classmethod
    def from_decrypted(
        cls, decrypted: DecryptedApplePayToken | Mapping[str, Any]
    ) -> ApplePayPayment:
        """From a decrypted Apple Pay token (``ApplePayDecryptor.decrypt``), or its JSON: its
        ``paymentData.onlinePaymentCryptogram`` (or a mapping holding it directly)."""
        cryptogram: object
        if isinstance(decrypted, Mapping):
            data = decrypted.get("paymentData", decrypted)
            cryptogram = data.get("onlinePaymentCryptogram") if isinstance(data, Mapping) else None
        else:
            cryptogram = getattr(decrypted, "online_payment_cryptogram", None)
        if not isinstance(cryptogram, str) or not cryptogram:
            raise ValidationError("apple_pay", "paymentData.onlinePaymentCryptogram is missing")
        return cls(cryptogram)

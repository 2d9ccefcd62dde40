"""``PaymentPage``: what the shopper's browser needs to open ePay's hosted payment page.

Seed 001's table "Incoming parameters on payment page" names what ``halyk.pay(paymentObject)``
takes; the page integrations agree (epay-api.md §10, "Hosted page from the merchant's side").
"""

from __future__ import annotations

import html as html_escape
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["PaymentPage", "script_json"]

_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ``<``, ``>``, ``&``, U+2028 and U+2029
    are written as escapes, so no value can close the element or open another. Money stays a
    JSON number written from its ``Decimal``."""
    from .._converter import dumps  # noqa: PLC0415 - the converter imports these types

    text = dumps(value).decode("utf-8")
    for char, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(char, escape)
    return text


@attrs.frozen
class PaymentPage:
    """An order's hosted payment page, minted by ``await epay.payment_page(order)``.

    ``payment_object()`` is what the browser passes to ``halyk.pay``, ``script_url`` the
    environment's ``payment-api.js``, ``html()`` a minimal page doing both. The token inside is
    the order's own (bound to its invoice, amount, currency and terminal; single use); it is
    never shown by ``repr``.
    """

    invoice_id: str
    amount: Decimal
    currency: str
    script_url: str
    #: The fields of ``halyk.pay``'s object, ``auth`` excluded.
    fields: dict[str, Any] = attrs.field(repr=False)
    #: The token answer as the gateway gave it: ``access_token``, ``expires_in``, ...
    auth: dict[str, Any] = attrs.field(repr=False)

    def payment_object(self) -> dict[str, Any]:
        """The object for ``halyk.pay(...)``, with seed 001's names and the token as ``auth``."""
        return {**self.fields, "auth": dict(self.auth)}

    def payment_object_json(self) -> str:
        """``payment_object()`` as JSON that can go straight into a ``<script>`` element."""
        return script_json(self.payment_object())

    def html(self, *, title: str = "Payment", widget: bool = False) -> str:
        """A minimal page that loads ``script_url`` and opens the payment page.

        ``widget=True`` embeds it instead, with the documentation's iframe widget
        ``halyk.showPaymentWidget(object, callback)``; the callback sends the shopper to
        ``backLink`` or ``failureBackLink`` (Apple Pay does not work inside the widget). A
        :class:`~epay_async.CardVerification` page (``paymentType: "cardVerification"``) is
        opened with ``halyk.cardverification``.
        """
        payment = self.payment_object_json()
        if widget:
            call = (
                "halyk.showPaymentWidget(paymentObject, function (result) {\n"
                "  var ok = result && result.success;\n"
                "  var to = ok ? paymentObject.backLink : paymentObject.failureBackLink;\n"
                "  if (to) { window.location.href = to; }\n"
                "});"
            )
        elif self.fields.get("paymentType") == "cardVerification":
            # payment-api.js exposes halyk.cardverification (the same function as halyk.pay),
            # the entry point public integrations use for a card check.
            call = "halyk.cardverification(paymentObject);"
        else:
            call = "halyk.pay(paymentObject);"
        return (
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html_escape.escape(title)}</title>\n"
            f'<script src="{html_escape.escape(self.script_url, quote=True)}"></script>\n'
            "</head><body>\n"
            f"<script>\nvar paymentObject = {payment};\n{call}\n</script>\n"
            "</body></html>\n"
        )

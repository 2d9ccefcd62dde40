"""The hosted payment page: ``payment-api.js`` and the pages it opens.

What the real page does (seed 001, epay-api.md §10), at the sandbox's own origin:
``halyk.pay(object)`` takes the browser to ``/payform/``, which checks the object's token
(bound to its invoice, amount and currency; single use; an expired, unknown, used or tampered
one gets an error page), shows the order and takes one of the sandbox's test cards (the 3-D
Secure card through the ACS page), or pays with the saved card for ``paymentType: "cardId"``.
The transaction is recorded (check-status sees it), the postLink or failurePostLink
notification goes out, and the browser is sent to ``backLink`` or ``failureBackLink``.
``halyk.showPaymentWidget(object, callback)`` opens the same page in an iframe and calls back.
Plain HTML forms and a few lines of script, no build step.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from decimal import Decimal
from typing import Any

import attrs

from ..._converter import loads
from ...errors import ProtocolError
from .._cards import TEST_CARDS, card_type, check_card, mask
from .._codes import LOCKED, RECORD_NOT_FOUND, Declined
from .._ledger import Ledger
from .._records import IssuedToken, SandboxTransaction
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import hidden_fields, payment_from, three_ds_challenge

__all__ = ["PAYFORM", "PaymentForm"]

PAYFORM = "/payform"

_SCRIPT = """// The ePay sandbox's payment-api.js: halyk.pay and halyk.showPaymentWidget.
(function () {
  var origin = %(origin)s;
  function send(object, widget, target) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = origin + "/payform/";
    if (target) { form.target = target; }
    [["payment", JSON.stringify(object)], ["widget", widget ? "1" : "0"]].forEach(function (f) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = f[0]; input.value = f[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }
  window.halyk = {
    pay: function (object) { send(object, false, null); },
    showPaymentWidget: function (object, callback) {
      var frame = document.createElement("iframe");
      frame.name = "halyk-widget"; frame.title = "ePay payment";
      frame.style.cssText = "width:100%%;max-width:480px;height:620px;border:0";
      document.body.appendChild(frame);
      window.addEventListener("message", function (event) {
        if (event.origin === origin && event.data && event.data.halyk) { callback(event.data); }
      });
      send(object, true, frame.name);
    }
  };
})();
"""

_STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,-apple-system,sans-serif;margin:0;"
    "background:#f2f4f7;color:#1d2939}main{max-width:26rem;margin:2.5rem auto;padding:1.5rem;"
    "background:#fff;border-radius:14px;box-shadow:0 1px 3px rgba(16,24,40,.12)}"
    "header{display:flex;justify-content:space-between;align-items:baseline}"
    "h1{font-size:1.1rem;margin:0 0 1rem}.brand{color:#12b76a;font-weight:700}"
    ".amount{font-size:1.8rem;font-weight:700;margin:.2rem 0 1rem}"
    "label{display:block;font-size:.85rem;color:#475467;margin:.7rem 0 .25rem}"
    "input{width:100%;padding:.6rem .7rem;font-size:1rem;border:1px solid #d0d5dd;"
    "border-radius:8px}.row{display:flex;gap:.75rem}.row>div{flex:1}"
    "button{width:100%;margin-top:1.2rem;padding:.75rem;font-size:1rem;border:0;"
    "border-radius:8px;background:#12b76a;color:#fff;cursor:pointer}"
    "small,.muted{color:#667085;font-size:.8rem}.error{color:#b42318}"
    "code{background:#f2f4f7;padding:0 .25rem;border-radius:4px}"
)


def _page(title: str, body: str, status: int = 200) -> SandboxResponse:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        '<header><h1>ePay</h1><span class="brand">sandbox</span></header>'
        f"{body}</main></body></html>"
    )
    return SandboxResponse(status, text.encode(), {"content-type": "text/html; charset=utf-8"})


def _error(message: str) -> SandboxResponse:
    return _page(
        "Payment unavailable",
        f'<p class="error" id="error">{html.escape(message)}</p>'
        "<p class=muted>Return to the shop and start the payment again.</p>",
        400,
    )


@attrs.define
class _Session:
    """One opened payment page: the browser's object and the token it carries."""

    payment: dict[str, Any]
    token: IssuedToken
    amount: Decimal
    widget: bool
    transaction: SandboxTransaction | None = None


class PaymentForm:
    """The ``/payform/`` pages, on the ledger's payments."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._sessions: dict[str, _Session] = {}

    def mount(self, router: Router) -> None:
        router.add("GET", rf"{PAYFORM}/payment-api\.js", self.script)
        router.add("POST", rf"{PAYFORM}/?", self.open)
        router.add("POST", rf"{PAYFORM}/pay", self.pay)
        router.add("POST", rf"{PAYFORM}/3ds", self.three_ds)

    async def script(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        body = _SCRIPT % {"origin": json.dumps(request.origin)}
        return SandboxResponse(200, body.encode(), {"content-type": "text/javascript"})

    # -- opening the page -------------------------------------------------------------------

    async def open(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        try:
            payment = loads(form.get("payment", ""))  # 1500.00 as Decimal, never a float
        except ProtocolError:
            return _error("The payment object is not JSON.")
        if not isinstance(payment, dict) or not isinstance(payment.get("auth"), dict):
            return _error("The payment object has no auth token.")
        token = self._ledger.issued_token(str(payment["auth"].get("access_token", "")))
        checked = self._check(payment, token)
        if isinstance(checked, str) or token is None:
            return _error(checked if isinstance(checked, str) else "Unknown token.")
        session_id = secrets.token_urlsafe(16)
        amount = checked
        self._sessions[session_id] = _Session(payment, token, amount, form.get("widget") == "1")
        return self._form(session_id, payment, amount)

    def _check(self, payment: dict[str, Any], token: IssuedToken | None) -> Decimal | str:
        """The order's amount, or why the page cannot take this payment. The order is bound
        to its token by the same check as the API payments (``Ledger.order_amount``)."""
        if token is None or "payment" not in token.scope.split() or not token.bound:
            return "Unknown token: mint it for this order with epay.payment_page(order)."
        if self._ledger.expired(token):
            return "The payment token has expired."
        if token.used:
            return "This payment token has been used already."
        if payment.get("terminal") != token.terminal:
            return "The terminal does not match the token."
        try:
            return self._ledger.order_amount(
                token, payment.get("invoiceId"), payment.get("amount"), payment.get("currency")
            )
        except Declined as refused:  # tampered (469), paid already (469), not a number (477)
            return f"{refused.message} ({refused.code})."

    def _form(self, session_id: str, payment: dict[str, Any], amount: Decimal) -> SandboxResponse:
        summary = (
            f"<p class=muted>{html.escape(str(payment.get('description', '')))} · invoice "
            f"{html.escape(str(payment.get('invoiceId')))}</p>"
            f'<p class="amount" id="amount">{amount:,.2f} {html.escape(str(payment["currency"]))}'
            "</p>"
        )
        fields = hidden_fields(session=session_id)
        if payment.get("paymentType") == "cardId":
            card = self._ledger.saved_card(str(payment.get("cardid", "")))
            label = f"saved card {mask(card.pan)}" if card is not None else "a saved card"
            body = (
                f'{summary}<form method="post" action="{PAYFORM}/pay">{fields}'
                f'<input type="hidden" name="saved" value="1">'
                f"<p>Pay with your {html.escape(label)}.</p>"
                '<button id="pay">Pay</button></form>'
            )
        else:
            cards = ", ".join(
                f"<code>{card.pan}</code>" for card in TEST_CARDS.values() if not card.locked
            )
            body = (
                f'{summary}<form method="post" action="{PAYFORM}/pay">{fields}'
                '<label for="pan">Card number</label>'
                '<input id="pan" name="pan" inputmode="numeric" autocomplete="cc-number" '
                'required placeholder="4405 6397 0401 5096">'
                '<div class="row"><div><label for="exp">Expiry (MM/YY)</label>'
                '<input id="exp" name="exp" required placeholder="01/27"></div>'
                '<div><label for="cvc">CVC</label>'
                '<input id="cvc" name="cvc" inputmode="numeric" required placeholder="321">'
                "</div></div>"
                '<label for="name">Cardholder</label>'
                '<input id="name" name="name" autocomplete="cc-name" placeholder="TEST CARDHOLDER">'
                '<button id="pay">Pay</button></form>'
                f"<p><small>Sandbox test cards: {cards} (5522… asks for 3-D Secure); "
                "the locked ones are declined.</small></p>"
            )
        return _page("ePay: payment", body)

    # -- paying -------------------------------------------------------------------------------

    async def pay(self, request: SandboxRequest, _match: re.Match[str]) -> SandboxResponse:
        form = request.form()
        session = self._sessions.get(form.get("session", ""))
        if session is None:
            return _error("This payment page has expired.")
        still = self._check(session.payment, session.token)
        if isinstance(still, str):
            return _error(still)
        self._ledger.use_token(session.token)
        payment = session.payment
        tx = payment_from(payment, session.token, session.amount)
        session.transaction = tx
        if form.get("saved") == "1":
            saved = self._ledger.payable_card(str(payment.get("cardid", "")))
            if saved is None:
                return self._finish(session, *RECORD_NOT_FOUND)
            locked = TEST_CARDS.get(saved.pan)
            if locked is not None and locked.locked:
                return self._finish(session, *LOCKED)
            tx.card_id, tx.card_mask, tx.card_type = saved.id, mask(saved.pan), card_type(saved.pan)
            self._ledger.approve(tx)
            return self._finish(session)
        pan = re.sub(r"\D", "", form.get("pan", ""))
        month, _, year = form.get("exp", "").partition("/")
        checked = check_card(pan, f"{month.strip():0>2}{year.strip()[-2:]}", form.get("cvc", ""))
        tx.card_mask, tx.card_type, tx.name = mask(pan), card_type(pan), form.get("name", "")
        if isinstance(checked, tuple):
            return self._finish(session, *checked)
        save_for = str(payment.get("accountId", "")) if payment.get("cardSave") is True else None
        if checked.three_ds:
            challenge = three_ds_challenge(self._ledger, tx, pan, save_for, request.origin)
            self._sessions[challenge["md"]] = session
            term_url = f"{request.origin}{PAYFORM}/3ds"
            fields = hidden_fields(PaReq=challenge["paReq"], MD=challenge["md"], TermUrl=term_url)
            return _page(
                "3-D Secure",
                f'<form method="post" action="{html.escape(challenge["action"], quote=True)}" '
                f'name="acs">{fields}<p>Redirecting to your bank…</p>'
                "<noscript><button>Continue</button></noscript></form>"
                "<script>document.forms.acs.submit()</script>",
            )
        self._ledger.approve(tx)
        if save_for is not None:
            self._ledger.save_card_of(tx, pan, save_for)
        return self._finish(session)

    async def three_ds(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        md = form.get("MD", "")
        session = self._sessions.pop(md, None)
        if session is None or self._ledger.pending_3ds(md) is None:
            return _error("Unknown 3-D Secure session.")
        tx, passed = self._ledger.finish_3ds(md, form.get("PaRes", ""))
        if not passed:
            return self._finish(session, int(tx.reason_code), tx.reason, notified=True)
        return self._finish(session, notified=True)

    def _finish(
        self,
        session: _Session,
        code: int | None = None,
        message: str = "",
        *,
        notified: bool = False,
    ) -> SandboxResponse:
        """Record the outcome, notify (unless done), and send the browser back to the shop."""
        tx = session.transaction
        assert tx is not None
        if code is not None and not notified:
            self._ledger.decline(tx, code, message)
        else:
            self._ledger.record_transaction(tx)
        success = code is None
        payment = session.payment
        back = payment.get("backLink") if success else payment.get("failureBackLink")
        if session.widget:
            data = json.dumps({"halyk": True, "success": success, "invoiceId": tx.invoice_id})
            return _page(
                "ePay",
                f"<p>{'Paid.' if success else 'The payment failed.'}</p>"
                f"<script>parent.postMessage({data}, '*')</script>",
            )
        if isinstance(back, str) and back.startswith(("http://", "https://")):
            return SandboxResponse.redirect(back)
        if not success:  # no failureBackLink: the page tells the shopper itself
            return _page(
                "Payment failed",
                f'<p class="error" id="error">The payment failed: {html.escape(message)}</p>'
                f'<p><a href="{html.escape(str(payment.get("backLink", "")), quote=True)}">'
                "Back to the shop</a></p>",
            )
        return _page("Paid", "<p>Paid.</p>")

"""Invoice links (``POST /invoice``, the documentation's page).

The gateway's answer is not documented; the sandbox answers ``{"id", "invoice_id", "status":
"NEW"}``, its own shape, so code written against it must not rely on more than the library's
``InvoiceLinkResult`` gives.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation

from .._codes import FORMAT_ERROR, INVOICE_EXISTS
from .._ledger import Ledger
from .._records import SentInvoice
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize

FIELDS = (
    "shop_id",
    "account_id",
    "invoice_id",
    "amount",
    "language",
    "description",
    "expire_period",
    "recipient_contact",
    "recipient_contact_sms",
    "notifier_contact_sms",
    "currency",
    "post_link",
    "failure_post_link",
    "back_link",
    "failure_back_link",
)


class InvoiceLinkEndpoints:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def mount(self, router: Router) -> None:
        router.add("POST", r"/invoice", self.create)

    @property
    def sent(self) -> dict[str, SentInvoice]:
        """Invoices sent to payers, by invoice id (the ledger's)."""
        return self._ledger.sent_invoices

    async def create(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        if token.grant != "password":  # the documentation's invoice token is a password grant
            return SandboxResponse.json(401, {"error": "invalid_token"})
        body = request.json()
        if not isinstance(body, dict) or set(body) != set(FIELDS):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        try:
            amount = Decimal(str(body["amount"]))
        except InvalidOperation:
            return SandboxResponse.error(400, *FORMAT_ERROR)
        recipient = str(body["recipient_contact"] or body["recipient_contact_sms"])
        invoice_id = str(body["invoice_id"])
        if amount <= 0 or not recipient or not body["shop_id"]:
            return SandboxResponse.error(400, *FORMAT_ERROR)
        if invoice_id in self._ledger.sent_invoices:
            return SandboxResponse.error(400, *INVOICE_EXISTS)
        sent = SentInvoice(
            str(uuid.uuid4()), invoice_id, amount, str(body["currency"]), recipient, body
        )
        self._ledger.record_invoice(sent)
        return SandboxResponse.json(200, {"id": sent.id, "invoice_id": invoice_id, "status": "NEW"})

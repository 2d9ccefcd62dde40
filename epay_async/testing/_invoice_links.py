"""Sandbox endpoint for invoice links (``POST /invoice``, the documentation's page).

The gateway's answer is not documented; the sandbox answers ``{"id", "invoice_id", "status":
"NEW"}``, its own shape, so code written against it must not rely on more than the library's
``InvoiceLinkResult`` gives.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from ._wire import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from ._gateway import Gateway

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
FORMAT_ERROR = (477, "Format error")
DUPLICATE = (469, "Invalid invoice: an invoice with this id exists")


@attrs.define
class SentInvoice:
    id: str
    invoice_id: str
    amount: Decimal
    currency: str
    recipient: str
    fields: dict[str, Any] = attrs.field(repr=False)


class InvoiceLinkEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        #: Invoices sent to payers, by invoice id.
        self.sent: dict[str, SentInvoice] = {}
        gateway.route("POST", r"/invoice", self.create)

    async def create(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = self.gw.authorize(request)
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
        if invoice_id in self.sent:
            return SandboxResponse.error(400, *DUPLICATE)
        sent = SentInvoice(
            str(uuid.uuid4()), invoice_id, amount, str(body["currency"]), recipient, body
        )
        self.sent[invoice_id] = sent
        return SandboxResponse.json(200, {"id": sent.id, "invoice_id": invoice_id, "status": "NEW"})

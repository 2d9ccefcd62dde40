"""Sandbox endpoints after authorisation (charge, cancel, refund) and for saved cards."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ..types.status import StatusName
from ._state import SandboxTransaction
from ._wire import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from ._gateway import Gateway

INVALID_STATE = (469, "Invalid transaction: not allowed in its current status")
INVALID_AMOUNT = (470, "Invalid amount")
NOT_FOUND = (522, "Record not found")
NO_SAVED_CARDS = (1373, "no saved cards")
#: The smallest refund the gateway accepts (epay-api.md §3), in KZT.
MIN_REFUND = Decimal(10)


class OperationEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        gateway.route("POST", r"/operation/([^/]+)/(charge|cancel|refund)", self.operate)
        gateway.route("GET", r"/cards/([^/]+)", self.list_cards)
        gateway.route("POST", r"/card/deactivate/([^/]+)", self.deactivate_card)

    def _by_id(self, transaction_id: str) -> SandboxTransaction | None:
        for tx in self.gw.transactions.values():
            if tx.id == transaction_id:
                return tx
        return None

    async def operate(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = self.gw.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        tx = self._by_id(match.group(1))
        if tx is None:
            code, message = NOT_FOUND
            if self.gw.find("payment", match.group(1)) is not None:
                message += (
                    f": {match.group(1)} is an invoice id; operations take the transaction id "
                    "(the payment answer's id, or transaction.id in check-status)"
                )
            return SandboxResponse.error(400, code, message)
        amount: Decimal | None = None
        if "amount" in request.query:
            try:
                amount = Decimal(request.query["amount"])
            except InvalidOperation:
                return SandboxResponse.error(400, *INVALID_AMOUNT)
            if not amount.is_finite() or amount <= 0:
                return SandboxResponse.error(400, *INVALID_AMOUNT)
        return getattr(self, f"_{match.group(2)}")(tx, amount)  # type: ignore[no-any-return]

    def _charge(self, tx: SandboxTransaction, amount: Decimal | None) -> SandboxResponse:
        if tx.status is not StatusName.AUTH:
            return SandboxResponse.error(400, *INVALID_STATE)
        amount = tx.amount if amount is None else amount
        if amount > tx.amount:
            return SandboxResponse.error(400, *INVALID_AMOUNT)
        tx.status, tx.charged = StatusName.CHARGE, amount
        return SandboxResponse(200)

    def _cancel(self, tx: SandboxTransaction, amount: Decimal | None) -> SandboxResponse:
        if tx.status is not StatusName.AUTH:
            return SandboxResponse.error(400, *INVALID_STATE)
        if amount is not None and amount != tx.amount:  # only full cancellation is documented
            return SandboxResponse.error(400, *INVALID_AMOUNT)
        tx.status = StatusName.CANCEL
        return SandboxResponse(200)

    def _refund(self, tx: SandboxTransaction, amount: Decimal | None) -> SandboxResponse:
        remaining = tx.charged - tx.refunded
        if tx.status not in (StatusName.CHARGE, StatusName.REFUND) or remaining <= 0:
            return SandboxResponse.error(400, *INVALID_STATE)
        amount = remaining if amount is None else amount
        if amount > remaining or (tx.currency == "KZT" and amount < MIN_REFUND):
            return SandboxResponse.error(400, *INVALID_AMOUNT)
        tx.refunded += amount
        tx.status = StatusName.REFUND
        return SandboxResponse(200)

    async def list_cards(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = self.gw.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        account = match.group(1)
        cards = [
            c.to_wire()
            for c in self.gw.saved_cards.values()
            if c.account_id == account and c.active
        ]
        if not cards:
            return SandboxResponse.error(400, *NO_SAVED_CARDS)
        return SandboxResponse.json(200, cards)

    async def deactivate_card(
        self, request: SandboxRequest, match: re.Match[str]
    ) -> SandboxResponse:
        token = self.gw.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        card = self.gw.saved_cards.get(match.group(1))
        if card is None:
            return SandboxResponse.error(400, *NOT_FOUND)
        card.active = False
        return SandboxResponse(200)

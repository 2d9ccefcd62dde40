"""Operations after authorisation: ``/operation/{id}/charge``, ``cancel`` and ``refund``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .._codes import INVALID_AMOUNT, RECORD_NOT_FOUND, Declined
from .._ledger import Ledger
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize


class OperationEndpoints:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def mount(self, router: Router) -> None:
        router.add("POST", r"/operation/([^/]+)/(charge|cancel|refund)", self.operate)

    async def operate(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        tx = self._ledger.transaction_by_id(match.group(1))
        if tx is None:
            code, message = RECORD_NOT_FOUND
            if self._ledger.find_transaction("payment", match.group(1)) is not None:
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
        operation = {
            "charge": self._ledger.charge,
            "cancel": self._ledger.cancel,
            "refund": self._ledger.refund,
        }[match.group(2)]
        try:
            operation(tx, amount)
        except Declined as exc:
            return SandboxResponse.error(400, exc.code, exc.message)
        return SandboxResponse(200)

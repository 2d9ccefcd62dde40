"""Operations after authorisation: ``/operation/{id}/charge``, ``cancel`` and ``refund``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .._codes import FORMAT_ERROR, INVALID_AMOUNT, RECORD_NOT_FOUND, Declined
from .._ledger import Ledger
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize, body_field


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
        amount = _requested_amount(request, match.group(2))
        if isinstance(amount, SandboxResponse):
            return amount
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


def _requested_amount(request: SandboxRequest, operation: str) -> Decimal | SandboxResponse | None:
    """The amount of a partial operation: the query's ``amount``, or for a charge the JSON
    body's (the documentation gives both forms, and when both are sent they must be equal).
    None for the whole. A body amount on a cancel or a refund is refused: their pages show
    only the query form, and a gateway that ignored it would give back the whole. A body that
    is not a JSON object is a format error, never read as "the whole"."""
    code, message = INVALID_AMOUNT
    body: Any = None
    if request.body.strip():
        body = request.json()
        if not isinstance(body, dict):
            return SandboxResponse.error(400, *FORMAT_ERROR)
    in_body = body_field(body, "amount") if body is not None else None
    if in_body is None and body is not None and any(str(k).lower() == "amount" for k in body):
        return SandboxResponse.error(400, code, message)  # "amount": null is not "the whole"
    if in_body is not None and operation != "charge":
        return SandboxResponse.error(
            400, code, f"{message}: a partial {operation} takes its amount in the query (?amount=)"
        )
    amounts = []
    for given in (request.query.get("amount"), in_body):
        if given is None:
            continue
        amount = _amount(given)
        if amount is None:
            return SandboxResponse.error(400, code, message)
        amounts.append(amount)
    if len(amounts) == 2 and amounts[0] != amounts[1]:
        return SandboxResponse.error(
            400, code, f"{message}: the amount in the query and in the body differ"
        )
    return amounts[0] if amounts else None


_AMOUNT_TEXT = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,2})?")


def _amount(given: object) -> Decimal | None:
    """A positive amount written plainly with at most 2 decimal places (``300``, ``24.5``),
    as text or as a JSON number (``1e2`` and ``100.000`` are not), or None."""
    if isinstance(given, bool) or not isinstance(given, str | int | Decimal):
        return None
    text = given if isinstance(given, str) else str(given)
    if not _AMOUNT_TEXT.fullmatch(text):
        return None
    value = Decimal(text)
    return value if value > 0 else None

"""After authorisation (epay-api.md §3): charge, cancel and refund a transaction by its id."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import _constants as C
from .. import _validation
from .._answers import refuse_error_code
from .._converter import loads
from .._http import Answer
from .._pipeline import Operation
from ..errors import ApiError, ProtocolError, ValidationError
from ..types.operations import OperationName, OperationResult
from ._base import Pipeline

__all__ = ["operate"]


async def operate(
    ctx: Pipeline,
    operation: OperationName,
    payment_id: str,
    *,
    amount: Decimal | int | str | None = None,
    external_id: str | None = None,
) -> OperationResult:
    payment_id = _validation.path_id(payment_id, "payment_id")
    amount = _validation.optional_amount(amount)
    if operation == "refund" and amount is not None and amount < C.MIN_REFUND:
        raise ValidationError("amount", f"the gateway refunds {C.MIN_REFUND} or more")
    external_id = _validation.optional_text(external_id, "external_id", max_length=64)
    params: dict[str, str] = {}
    if amount is not None:
        params["amount"] = format(amount, "f")
    if external_id is not None:
        params["externalID"] = external_id

    def read(answer: Answer) -> OperationResult:
        if answer.status_code != 200:
            raise ProtocolError(f"{operation}: unexpected HTTP {answer.status_code}")
        body: Any = {}
        if answer.content.strip():
            body = loads(answer.content)
            if not isinstance(body, dict):
                raise ProtocolError(f"{operation}: the answer is not a JSON object")
            refuse_error_code(body, ApiError, answer.status_code)
        return OperationResult(
            operation=operation,
            transaction_id=payment_id,
            amount=amount,
            external_id=external_id,
            body=body,
        )

    return await ctx.send(
        Operation(
            name=operation,
            method="POST",
            url=ctx.url(f"/operation/{payment_id}/{operation}"),
            read=read,
            moves_money=True,
            transaction_id=payment_id,
            params=params or None,
            amount=amount,
            transaction_of=lambda result: result.transaction_id,
        )
    )

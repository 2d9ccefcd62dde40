"""After authorisation (epay-api.md §3): charge, cancel and refund a transaction by its id."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import _constants as C
from .. import _validation
from .._converter import loads
from .._transport import ApiRequest, ApiResponse
from ..errors import ApiError, ProtocolError, ValidationError
from ..types.operations import OperationName, OperationResult
from ._base import Context, read_money_answer, refuse_error_code, send_with_service_token

__all__ = ["operate"]


async def operate(
    ctx: Context,
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
    request = ApiRequest(
        "POST",
        ctx.url(f"/operation/{payment_id}/{operation}"),
        operation=operation,
        idempotent=False,
        transaction_id=payment_id,
        params=params or None,
    )
    with ctx.one_at_a_time(f"transaction {payment_id}", operation):
        response = await send_with_service_token(ctx, request)

    def parse(answer: ApiResponse) -> OperationResult:
        if answer.status_code != 200:
            raise ProtocolError(f"{operation}: unexpected HTTP {answer.status_code}")
        body: Any = {}
        if answer.content.strip():
            body = loads(answer.content)
            if not isinstance(body, dict):
                raise ProtocolError(f"{operation}: the answer is not a JSON object")
            refuse_error_code(body, request, ApiError, answer.status_code)
        return OperationResult(
            operation=operation,
            transaction_id=payment_id,
            amount=amount,
            external_id=external_id,
            body=body,
        )

    return read_money_answer(request, response, parse, declined=ApiError)

"""P2P transfers by API (seed 003): ``POST /p2p/transfer`` with a ``transfer``-scope token."""

from __future__ import annotations

from typing import Any

from .. import _constants as C
from .._converter import dumps, structure
from .._transport import ApiRequest, ApiResponse, json_body
from ..errors import PaymentDeclinedError, ProtocolError, ValidationError
from ..types.cards import CardPan, SavedCardRef
from ..types.order import Order
from ..types.transfers import TransferResult
from ._base import Context, read_money_answer, refuse_nonzero_code
from .payments import grant_for

__all__ = ["transfer"]

Party = CardPan | SavedCardRef


def _sender(sender: Party) -> dict[str, Any]:
    if isinstance(sender, SavedCardRef):
        return {"save": False, "transferType": "TYPECARDID", "cardCred": sender.card_id, "id": ""}
    if not isinstance(sender, CardPan):
        raise ValidationError("sender", "must be a CardPan or a SavedCardRef")
    if sender.exp_month is None or sender.exp_year is None or sender.cvc is None:
        raise ValidationError("sender", "a sender card needs exp_month, exp_year and cvc")
    return {
        "save": sender.save,
        "transferType": "TYPEPAN",
        "address": "",
        "cvc": sender.cvc,
        "cardCred": sender.pan,
        "expire": {"month": f"{sender.exp_month:02d}", "year": f"{sender.exp_year % 100:02d}"},
        "name": sender.name or "",
        "number": "",
    }


def _receiver(receiver: Party) -> dict[str, Any]:
    if isinstance(receiver, SavedCardRef):
        return {"save": False, "id": receiver.card_id, "transferType": "TYPECARDID", "cardCred": ""}
    if not isinstance(receiver, CardPan):
        raise ValidationError("receiver", "must be a CardPan or a SavedCardRef")
    wire: dict[str, Any] = {
        "save": receiver.save,
        "id": "",
        "transferType": "TYPEPAN",
        "cardCred": receiver.pan,
    }
    if receiver.is_international:
        if not receiver.first_name or not receiver.last_name:
            raise ValidationError("receiver", "an international receiver needs first and last name")
        wire.update(
            firstName=receiver.first_name,
            lastName=receiver.last_name,
            countryCode=receiver.country_code,
        )
    return wire


def transfer_body(ctx: Context, order: Order, sender: Party, receiver: Party) -> dict[str, Any]:
    receiver_wire = _receiver(receiver)
    order_wire: dict[str, Any] = {
        "amount": order.amount,
        "currency": order.currency,
        "description": order.description,
        "merchantIdForSavingCards": "",
        "id": order.invoice_id,
        "senderIP": "",
        "senderEmail": order.email or "",
        "foreign": isinstance(receiver, CardPan) and receiver.is_international,
        "terminalId": ctx.credentials.terminal_id,
    }
    for key in ("backLink", "failureBackLink", "postLink", "failurePostLink"):
        value = order.payer_fields().get(key)
        if value is not None:
            order_wire[key] = value
    return {"order": order_wire, "card": {"sender": _sender(sender), "receiver": receiver_wire}}


async def transfer(ctx: Context, order: Order, sender: Party, receiver: Party) -> TransferResult:
    if not isinstance(order, Order):
        raise ValidationError("order", "must be an Order")
    body = transfer_body(ctx, order, sender, receiver)
    token = await ctx.tokens.operation_token(grant_for(order, C.TRANSFER_SCOPE))
    request = ApiRequest(
        "POST",
        ctx.url("/p2p/transfer"),
        operation="transfer",
        idempotent=False,
        invoice_id=order.invoice_id,
        content=dumps(body),
        token=token,
    )
    response = await ctx.transport.send(request)

    def parse(answer: ApiResponse) -> TransferResult:
        result = structure(json_body(answer, what="transfer"), TransferResult, what="transfer")
        refuse_nonzero_code(
            result.code,
            str(result.extra.get("message", "")),
            request,
            PaymentDeclinedError,
            answer.status_code,
        )
        if not result.id:
            raise ProtocolError("transfer answer has no transaction id", field="$.id")
        if result.order_id is not None and result.order_id != order.invoice_id:
            raise ProtocolError(
                f"transfer answer is for order {result.order_id}, not {order.invoice_id}",
                field="$.order_id",
            )
        return result

    return read_money_answer(request, response, parse, declined=PaymentDeclinedError)

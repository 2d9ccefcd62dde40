"""P2P transfers by API (seed 003): ``POST /p2p/transfer`` with a ``transfer``-scope token."""

from __future__ import annotations

from typing import Any

from .. import _constants as C
from .._secret import Secret
from ..errors import ValidationError
from ..types._fields import wire_fields
from ..types.cards import CardPan, PhoneRecipient, SavedCardRef
from ..types.order import Order
from ..types.transfers import TransferResult
from ._base import Pipeline, order_operation

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
        "cvc": Secret(sender.cvc),
        "cardCred": Secret(sender.pan),
        "expire": {"month": f"{sender.exp_month:02d}", "year": f"{sender.exp_year % 100:02d}"},
        "name": sender.name or "",
        "number": "",
    }


def _receiver(receiver: Party | PhoneRecipient) -> dict[str, Any]:
    if isinstance(receiver, PhoneRecipient):  # OCT payouts only (see payouts.py)
        return {
            "save": False,
            "id": "",
            "transferType": "TYPEPHONE",
            "cardCred": "",
            "phone": receiver.phone,
            "iin": receiver.iin,
        }
    if isinstance(receiver, SavedCardRef):
        return {"save": False, "id": receiver.card_id, "transferType": "TYPECARDID", "cardCred": ""}
    if not isinstance(receiver, CardPan):
        raise ValidationError("receiver", "must be a CardPan or a SavedCardRef")
    wire: dict[str, Any] = {
        "save": receiver.save,
        "id": "",
        "transferType": "TYPEPAN",
        "cardCred": Secret(receiver.pan),
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


def transfer_body(
    ctx: Pipeline, order: Order, sender: Party, receiver: Party | PhoneRecipient
) -> dict[str, Any]:
    receiver_wire = _receiver(receiver)
    order_wire: dict[str, Any] = wire_fields(order, "amount", "currency", "description")
    order_wire.update(
        {
            "merchantIdForSavingCards": "",
            "id": order.invoice_id,
            "senderIP": "",
            "senderEmail": order.email or "",
            "foreign": isinstance(receiver, CardPan) and receiver.is_international,
            "terminalId": ctx.credentials.terminal_id,
        }
    )
    order_wire.update(
        wire_fields(order, "back_link", "failure_back_link", "post_link", "failure_post_link")
    )
    return {"order": order_wire, "card": {"sender": _sender(sender), "receiver": receiver_wire}}


async def transfer(ctx: Pipeline, order: Order, sender: Party, receiver: Party) -> TransferResult:
    if isinstance(receiver, PhoneRecipient):
        raise ValidationError("receiver", "a receiver by phone is for OCT payouts only")
    return await send_transfer(
        ctx, order, "/p2p/transfer", "transfer", sender=sender, receiver=receiver
    )


async def send_transfer(
    ctx: Pipeline,
    order: Order,
    path: str,
    operation: str,
    *,
    sender: Party,
    receiver: Party | PhoneRecipient,
) -> TransferResult:
    """The P2P body (seed 003) to ``path`` with a fresh ``transfer`` token bound to ``order``:
    P2P transfers and payouts alike."""
    if not isinstance(order, Order):
        raise ValidationError("order", "must be an Order")
    body = transfer_body(ctx, order, sender, receiver)
    return await ctx.send(
        order_operation(
            ctx,
            order,
            scope=C.TRANSFER_SCOPE,
            path=path,
            name=operation,
            body=body,
            answer=TransferResult,
            echoed_order="order_id",
            kind="p2p",
        )
    )

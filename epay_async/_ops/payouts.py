"""Payouts: AFT (``/chdebit/transfer``) and OCT, to a card or by phone
(``/chpayment/transfer``), with the P2P body and a ``transfer``-scope token.

Source: the bank's iOS SDK only (its paths and transfer types); the documentation has no page
for them. The body and token are the P2P API's (seed 003), which the SDK sends to all three.
"""

from __future__ import annotations

from typing import Literal

from ..errors import ValidationError
from ..types.cards import CardPan, PhoneRecipient, SavedCardRef
from ..types.order import Order
from ..types.transfers import TransferResult
from ._base import Pipeline
from .transfers import Party, send_transfer

__all__ = ["PAYOUT_PATHS", "PayoutKind", "payout"]

PayoutKind = Literal["aft", "oct"]
PAYOUT_PATHS: dict[str, str] = {"aft": "/chdebit/transfer", "oct": "/chpayment/transfer"}


async def payout(
    ctx: Pipeline,
    order: Order,
    kind: PayoutKind,
    sender: Party,
    receiver: CardPan | SavedCardRef | PhoneRecipient,
) -> TransferResult:
    if kind not in PAYOUT_PATHS:
        raise ValidationError("kind", "must be 'aft' or 'oct'")
    if isinstance(receiver, PhoneRecipient) and kind != "oct":
        raise ValidationError("receiver", "a receiver by phone is for OCT payouts only")
    path, operation = PAYOUT_PATHS[kind], f"payout ({kind})"
    return await send_transfer(ctx, order, path, operation, sender=sender, receiver=receiver)

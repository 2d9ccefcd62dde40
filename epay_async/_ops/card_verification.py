"""Card verification (the documentation's saved-card pages): check a card and save it without
charging it, a cryptogram payment of 0 USD on a token bound to 0 USD."""

from __future__ import annotations

from ..errors import ValidationError
from ..types.cards import Card
from ..types.order import CardVerification
from ..types.payments import PaymentResult
from ._base import Pipeline
from .payments import pay_with_card

__all__ = ["verify_card"]


async def verify_card(ctx: Pipeline, verification: CardVerification, card: Card) -> PaymentResult:
    if not isinstance(verification, CardVerification):
        raise ValidationError("verification", "must be a CardVerification")
    return await pay_with_card(ctx, verification, card, operation="verify_card")

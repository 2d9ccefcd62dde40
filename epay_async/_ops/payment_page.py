"""The hosted payment page (seed 001, "Incoming parameters on payment page"): the order's own
token, and the object the shopper's browser hands to ``halyk.pay``."""

from __future__ import annotations

from typing import Any

from .. import _constants as C
from .. import _validation
from ..errors import ValidationError
from ..types._fields import wire_fields
from ..types.order import CardVerification, Order
from ..types.payment_page import PaymentPage
from ._base import Pipeline, grant_for

__all__ = ["payment_page"]


async def payment_page(ctx: Pipeline, order: Order, card_id: str | None) -> PaymentPage:
    if not isinstance(order, Order):
        raise ValidationError("order", "must be an Order")
    # Seed 001 marks both required on the page: where the shopper returns, and where the
    # gateway reports the payment.
    if order.back_link is None:
        raise ValidationError("back_link", "the payment page needs an absolute http(s) URL")
    if order.post_link is None:
        raise ValidationError("post_link", "the payment page needs an absolute http(s) URL")
    verification = isinstance(order, CardVerification)
    if verification and card_id is not None:
        raise ValidationError("card_id", "a card verification checks a new card, not a saved one")
    if card_id is not None:
        # Checked before the token is minted: the id is written into the page's HTML.
        card_id = _validation.lookup_id(card_id, "card_id")
    script_url = ctx.environment.payment_script_url
    if script_url is None:
        raise ValidationError("environment", "has no payform_url (Environment.custom(...))")
    answer = await ctx.tokens.operation_answer(grant_for(order, C.PAGE_SCOPE))
    fields: dict[str, Any] = wire_fields(
        order,
        "invoice_id",
        "back_link",
        "failure_back_link",
        "post_link",
        "failure_post_link",
        "language",
        "description",
        "account_id",
    )
    fields["terminal"] = ctx.credentials.terminal_id  # the page's spelling (seed 001)
    fields.update(
        wire_fields(
            order,
            "amount",
            "currency",
            "phone",
            "email",
            "card_save",
            "data",
            "invoice_id_alt",
            "name",
        )
    )
    if verification:
        # What public integrations send to check a card on the page (epay-api.md §10):
        # without it the page would run an ordinary payment of 0 USD.
        fields["paymentType"] = "cardVerification"
    elif card_id is not None:
        fields["paymentType"] = "cardId"
        fields["cardid"] = card_id  # seed 001's spelling on the page
    auth = {
        "access_token": answer.access_token,
        "expires_in": answer.expires_in,
        "refresh_token": answer.extra.get("refresh_token", ""),
        "scope": answer.scope or C.PAGE_SCOPE,
        "token_type": answer.token_type or "Bearer",
    }
    return PaymentPage(
        invoice_id=order.invoice_id,
        amount=order.amount,
        currency=order.currency,
        script_url=script_url,
        fields=fields,
        auth=auth,
    )

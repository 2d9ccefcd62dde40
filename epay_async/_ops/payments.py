"""Payments: saved card (seed 001), card cryptogram, Google Pay (seed 000), Apple Pay (seed 004),
and the 3-D Secure confirmation (seeds 003, 004)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import _constants as C
from .. import _validation
from .._answers import json_body
from .._converter import to_decimal
from .._http import Answer
from .._pipeline import Operation
from .._secret import Secret
from ..errors import ProtocolError, ValidationError
from ..types._fields import wire_fields
from ..types.cards import Card
from ..types.order import Order
from ..types.payments import ApplePayPayment, ConfirmResult, GooglePayToken, PaymentResult
from ._base import Pipeline, order_operation

__all__ = [
    "confirm_3ds",
    "pay_with_apple_pay",
    "pay_with_card",
    "pay_with_google_pay",
    "pay_with_saved_card",
]


def _check(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls):
        raise ValidationError(field, f"must be a {cls.__name__}")


def _body(ctx: Pipeline, order: Order, *, invoice_key: str = "invoiceId") -> dict[str, Any]:
    """The fields every payment body carries, in the seeds' order and casing."""
    body = wire_fields(order, "amount", "currency", "name")
    body["terminalId"] = ctx.credentials.terminal_id
    body[invoice_key] = order.invoice_id  # "invoiceID" in the Apple Pay body (seed 004)
    body.update(wire_fields(order, "description"))
    body.update(order.payer_fields())
    return body


def _cryptopay_body(ctx: Pipeline, order: Order, **kwargs: str) -> dict[str, Any]:
    body = _body(ctx, order, **kwargs)
    body.update(wire_fields(order, "card_save", "use_bonus"))
    return body


async def _pay(
    ctx: Pipeline, order: Order, path: str, body: Mapping[str, Any], operation: str
) -> PaymentResult:
    return await ctx.send(
        order_operation(
            ctx,
            order,
            scope=C.PAYMENT_SCOPE,
            path=path,
            name=operation,
            body=body,
            answer=PaymentResult,
            echoed_order="invoice_id",
        )
    )


async def pay_with_saved_card(ctx: Pipeline, order: Order, card_id: str) -> PaymentResult:
    _check(order, Order, "order")
    card_id = _validation.non_empty(card_id, "card_id")
    body = _body(ctx, order)
    body["paymentType"] = "cardId"
    body["cardId"] = {"id": card_id}
    return await _pay(ctx, order, "/payments/cards/auth", body, "pay_with_saved_card")


async def pay_with_card(
    ctx: Pipeline, order: Order, card: Card, *, operation: str = "pay_with_card"
) -> PaymentResult:
    _check(order, Order, "order")
    _check(card, Card, "card")
    encryptor = await ctx.keys.encryptor(ctx.transport)
    body = _cryptopay_body(ctx, order)
    body[ctx.cryptogram_field] = encryptor.encrypt_card(card, ctx.credentials.terminal_id)
    return await _pay(ctx, order, "/payment/cryptopay", body, operation)


async def pay_with_google_pay(
    ctx: Pipeline, order: Order, google_pay: GooglePayToken
) -> PaymentResult:
    _check(order, Order, "order")
    _check(google_pay, GooglePayToken, "google_pay")
    body = _cryptopay_body(ctx, order)
    body["paymentType"] = "googlePay"
    body["googlePay"] = google_pay.payment_data
    return await _pay(ctx, order, "/payment/cryptopay", body, "pay_with_google_pay")


async def pay_with_apple_pay(
    ctx: Pipeline, order: Order, apple_pay: ApplePayPayment
) -> PaymentResult:
    _check(order, Order, "order")
    _check(apple_pay, ApplePayPayment, "apple_pay")
    encryptor = await ctx.keys.encryptor(ctx.transport)
    body = _cryptopay_body(ctx, order, invoice_key="invoiceID")
    body["cryptogramApplePay"] = apple_pay.cryptogram_apple_pay
    body[ctx.cryptogram_field] = encryptor.encrypt(
        hpan=apple_pay.hpan,
        exp_date=apple_pay.exp_date,
        cvc="",
        terminal_id=ctx.credentials.terminal_id,
    )
    body["paymentType"] = "ApplePay"
    return await _pay(ctx, order, "/payment/cryptopay", body, "pay_with_apple_pay")


# -- 3-D Secure -------------------------------------------------------------------------------


async def confirm_3ds(ctx: Pipeline, payment_id: str, pa_res: str, md: str) -> ConfirmResult:
    """``POST /payment/confirm`` with ``{ID, PaRes, MD}``; the redirect is read, not followed."""
    payment_id = _validation.non_empty(payment_id, "payment_id")
    pa_res = Secret(_validation.non_empty(pa_res, "pa_res"))
    md = _validation.non_empty(md, "md")
    return await ctx.send(
        Operation(
            name="confirm_3ds",
            method="POST",
            url=ctx.url("/payment/confirm"),
            read=parse_confirm_redirect,
            moves_money=True,
            transaction_id=payment_id,
            body={"ID": payment_id, "PaRes": pa_res, "MD": md},
            redirect_is_answer=True,  # the gateway answers with the success or error page
        )
    )


def _redirect_url(response: Answer) -> str:
    for header in ("location", "content-location"):
        url: str | None = response.headers.get(header)
        if url:
            return url
    if response.content.strip():
        try:
            body = json_body(response, what="confirm answer")
        except ProtocolError:
            body = None
        if isinstance(body, Mapping):
            for key in ("url", "redirect", "redirectUrl", "location"):
                value = body.get(key)
                if isinstance(value, str):
                    return value
    raise ProtocolError("confirm answer carries no redirect", http_status=response.status_code)


def parse_confirm_redirect(response: Answer) -> ConfirmResult:
    """Read the success page redirect (``success.html?...reference=``) or the error page
    redirect (``/payform/?invoiceID=&code=&message=``)."""
    url = _redirect_url(response)
    parts = urlsplit(url)
    params = {key.lower(): value for key, value in parse_qsl(parts.query)}
    code = params.get("code") or params.get("errorcode")
    success = code is None and (parts.path.endswith("success.html") or "reference" in params)
    if code is None and not success:
        raise ProtocolError("confirm redirect is neither the success nor the error page")
    try:
        amount = to_decimal(params["amount"]) if "amount" in params else None
        code_number = int(code) if code is not None else None
    except (ProtocolError, ValueError):
        raise ProtocolError("confirm redirect has a malformed amount or code") from None
    return ConfirmResult(
        success=success,
        invoice_id=params.get("invoiceid"),
        reference=params.get("reference"),
        code=code_number,
        message=params.get("message"),
        amount=amount,
        currency=params.get("currency"),
        card_id=params.get("cardid"),
        url=url,
    )

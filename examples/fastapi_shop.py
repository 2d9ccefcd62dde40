"""A small shop on FastAPI taking ePay payments with epay_async.

Run it against the real test gateway (credentials from EPAY_* variables)::

    pip install 'epay-async[examples]'
    uvicorn examples.fastapi_shop:app

Endpoints:

- ``POST /checkout``: JSON ``{"invoice_id", "amount" (a string), "description",
  "card_id"}`` for a saved card, or ``"card": {"pan", "exp_month", "exp_year", "cvc"}``.
  Answers JSON, or the 3-D Secure page (HTML) when the card asks for it.
- ``POST /epay/3ds``: the TermUrl the payer's bank posts ``PaRes`` and ``MD`` to.
- ``POST /epay/post``: the postLink the gateway notifies. A notification is not signed, so it
  is verified with check-status before the order is touched.
- ``GET /orders/{invoice_id}``: the order as the shop sees it.

One ``EpayClient`` lives as long as the app (the lifespan), shared by every request. An order is
marked paid exactly once, whichever of the payment answer, the 3-D Secure return or the
notification (even a duplicated one) comes first.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import attrs
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from epay_async import (
    Card,
    EpayClient,
    EpayError,
    NotificationMismatchError,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    RequestInFlightError,
    TransportError,
    ValidationError,
)
from epay_async.notifications import parse_notification


class CardIn(BaseModel):
    pan: str
    exp_month: int
    exp_year: int
    cvc: str


class CheckoutIn(BaseModel):
    invoice_id: str
    amount: str
    description: str
    account_id: str | None = None
    card_id: str | None = None
    card: CardIn | None = None


@attrs.define
class ShopOrder:
    invoice_id: str
    amount: Decimal
    secret_hash: str = attrs.field(repr=False)
    status: str = "pending"  # pending -> paid | failed
    payment_id: str | None = None
    #: How many times the order was marked paid; the shop guarantees at most once.
    paid_events: int = 0


@attrs.define
class Shop:
    orders: dict[str, ShopOrder] = attrs.field(factory=dict)
    #: 3-D Secure MD -> invoice id, to find the order when the payer's bank posts back.
    pending_3ds: dict[str, str] = attrs.field(factory=dict)

    def mark_paid(self, order: ShopOrder) -> bool:
        """Idempotent: no await between the check and the change, so no double marking."""
        if order.status == "paid":
            return False
        order.status = "paid"
        order.paid_events += 1
        return True

    def mark_failed(self, order: ShopOrder) -> None:
        if order.status == "pending":
            order.status = "failed"


def create_app(
    client_factory: Callable[[], EpayClient] = EpayClient.from_env,
    *,
    public_url: str = "https://shop.example",
) -> FastAPI:
    """The shop. ``client_factory`` builds the one ``EpayClient`` the app keeps (a test passes
    ``sandbox.client``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client_factory() as epay:
            app.state.epay = epay
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.shop = Shop()
    app.state.public_url = public_url
    app.add_api_route("/checkout", checkout, methods=["POST"])
    app.add_api_route("/epay/3ds", three_ds_return, methods=["POST"])
    app.add_api_route("/epay/post", post_link, methods=["POST"])
    app.add_api_route("/orders/{invoice_id}", get_order, methods=["GET"])
    return app


def _epay(request: Request) -> EpayClient:
    client: EpayClient = request.app.state.epay
    return client


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


async def checkout(body: CheckoutIn, request: Request) -> Response:
    shop, public_url = _shop(request), request.app.state.public_url
    secret_hash = secrets.token_urlsafe(16)
    try:
        order = Order(
            invoice_id=body.invoice_id,
            amount=body.amount,
            description=body.description,
            account_id=body.account_id,
            card_save=body.card is not None and body.account_id is not None,
            post_link=f"{public_url}/epay/post",
            failure_post_link=f"{public_url}/epay/post",
            secret_hash=secret_hash,
        )
        card = Card(**body.card.model_dump()) if body.card else None
    except ValidationError as exc:
        return JSONResponse({"error": exc.field, "message": exc.message}, status_code=422)
    if card is None and not body.card_id:
        return JSONResponse({"error": "card", "message": "give card or card_id"}, 422)
    if order.invoice_id in shop.orders:
        return JSONResponse({"error": "invoice_id", "message": "already used"}, 409)
    shop_order = ShopOrder(order.invoice_id, order.amount, secret_hash)
    shop.orders[order.invoice_id] = shop_order
    epay = _epay(request)
    try:
        if card is not None:
            result = await epay.pay_with_card(order, card)
        else:
            result = await epay.pay_with_saved_card(order, str(body.card_id))
    except PaymentDeclinedError as exc:
        shop.mark_failed(shop_order)
        return JSONResponse({"status": "declined", "reason": exc.reason}, status_code=402)
    except OutcomeUnknownError:
        # Never pay again: the postLink or a status check will settle it.
        return JSONResponse({"status": shop_order.status}, status_code=202)
    except (TransportError, RequestInFlightError):
        # Nothing reached the gateway: forget the attempt, so that the same order can be
        # paid again (the README's promise for TransportError), and say so.
        del shop.orders[order.invoice_id]
        return JSONResponse({"status": "not sent", "retry": True}, status_code=503)
    shop_order.payment_id = result.id
    if result.secure3d is not None:
        shop.pending_3ds[result.secure3d.md] = order.invoice_id
        return HTMLResponse(result.secure3d.auto_submit_form(f"{public_url}/epay/3ds"))
    if result.status in ("AUTH", "CHARGE"):
        shop.mark_paid(shop_order)
    return JSONResponse({"status": shop_order.status, "payment_id": result.id})


async def three_ds_return(request: Request) -> Response:
    """The TermUrl: the payer's bank posts ``PaRes`` and ``MD`` here (a plain HTML form)."""
    shop = _shop(request)
    form = dict(parse_qsl((await request.body()).decode()))
    invoice_id = shop.pending_3ds.pop(form.get("MD", ""), None)
    order = shop.orders.get(invoice_id or "")
    if order is None or order.payment_id is None:
        return HTMLResponse("<p>Unknown payment.</p>", status_code=404)
    epay = _epay(request)
    try:
        await epay.confirm_3ds(order.payment_id, pa_res=form.get("PaRes", ""), md=form["MD"])
        status = await epay.wait_for_status(order.invoice_id, timeout=30)
    except EpayError:
        return HTMLResponse("<p>We are checking your payment.</p>", status_code=202)
    if status.is_paid:
        shop.mark_paid(order)
    else:
        shop.mark_failed(order)
    return HTMLResponse(f"<p>Order {order.invoice_id}: {order.status}.</p>")


async def post_link(request: Request) -> Response:
    """The postLink. Unsigned, so it is believed only once check-status backs it."""
    shop = _shop(request)
    try:
        notification = parse_notification(await request.body())
    except ValidationError as exc:
        return JSONResponse({"error": exc.field}, status_code=400)
    order = shop.orders.get(notification.invoice_id)
    if order is None:
        return JSONResponse({"error": "unknown order"}, status_code=404)
    try:
        status = await _epay(request).verify_notification(
            notification, expected_amount=order.amount, secret_hash=order.secret_hash
        )
    except NotificationMismatchError as exc:
        return JSONResponse({"error": "not confirmed", "why": exc.mismatches}, 409)
    if status.is_paid:
        shop.mark_paid(order)
    else:
        shop.mark_failed(order)
    return JSONResponse({"ok": True})


async def get_order(invoice_id: str, request: Request) -> dict[str, Any]:
    order = _shop(request).orders.get(invoice_id)
    if order is None:
        return {"status": "unknown"}
    return {"status": order.status, "paid_events": order.paid_events}


def __getattr__(name: str) -> Any:
    """``uvicorn examples.fastapi_shop:app`` builds the app on first use, from EPAY_* vars."""
    if name == "app":
        return create_app()
    raise AttributeError(name)

"""The shop on FastAPI: a thin web layer over ``shop.py`` beside it.

Run it by hand against the sandbox (both on 127.0.0.1), then open http://127.0.0.1:8000::

    pip install 'epay-async[examples]'
    python -m epay_async.examples.run fastapi

or against the real test gateway (``EPAY_*`` variables) with
``uvicorn epay_async.examples.fastapi_shop:app``.

Pages: ``GET /`` (the storefront), ``POST /buy`` (opens ePay's payment page),
``GET /orders/{id}/back`` (the back link: the order as check-status confirms it),
``POST /orders/{id}/refund``. API: ``POST /checkout`` (card data or a saved card, JSON),
``POST /epay/3ds`` (the TermUrl), ``POST /epay/post`` (the postLink), ``GET /orders/{id}``.

One ``EpayClient`` and one SQLite connection live as long as the app (its lifespan), beside
a timer that settles pending orders with ``reconcile``; it also runs once at start-up.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response

from epay_async import EpayClient

from .shop import OrderStore, Reply, Shop

__all__ = ["create_app"]


def create_app(
    client_factory: Callable[[], EpayClient] = EpayClient.from_env,
    *,
    database: str = "shop.sqlite3",
    public_url: str = "http://127.0.0.1:8000",
    reconcile_every: float = 60.0,
    reconcile_after: float = 30.0,
) -> FastAPI:
    """The shop. ``client_factory`` builds its one ``EpayClient`` (a test passes
    ``sandbox.client``); ``database`` is the SQLite file (a temporary one in tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await OrderStore.open(database)
        try:
            async with client_factory() as epay, anyio.create_task_group() as tasks:
                shop = app.state.shop = Shop(epay, store, public_url)
                await shop.reconcile_unsettled()  # whatever was left when we last stopped
                tasks.start_soon(shop.reconcile_forever, reconcile_every, reconcile_after)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await store.close()

    app = FastAPI(lifespan=lifespan)

    def shop_of(request: Request) -> Shop:
        shop: Shop = request.app.state.shop
        return shop

    async def form_of(request: Request) -> dict[str, str]:
        return dict(parse_qsl((await request.body()).decode()))

    @app.get("/")
    async def storefront(request: Request) -> Response:
        return _response(shop_of(request).storefront())

    @app.post("/buy")
    async def buy(request: Request) -> Response:
        return _response(await shop_of(request).buy(await form_of(request)))

    @app.get("/orders/{invoice_id}/back")
    async def back(invoice_id: str, request: Request) -> Response:
        return _response(await shop_of(request).back(invoice_id))

    @app.post("/orders/{invoice_id}/refund")
    async def refund(invoice_id: str, request: Request) -> Response:
        return _response(await shop_of(request).refund(invoice_id))

    @app.post("/checkout")
    async def checkout(request: Request) -> Response:
        payload: Any = await request.json()
        if not isinstance(payload, dict):
            return _response(Reply.json(422, {"error": "body"}))
        return _response(await shop_of(request).checkout(payload))

    @app.post("/epay/3ds")
    async def three_ds(request: Request) -> Response:
        return _response(await shop_of(request).three_ds_return(await form_of(request)))

    @app.post("/epay/post")
    async def post_link(request: Request) -> Response:
        return _response(await shop_of(request).post_link(await request.body()))

    @app.get("/orders/{invoice_id}")
    async def order(invoice_id: str, request: Request) -> Response:
        return _response(await shop_of(request).order_json(invoice_id))

    return app


def _response(reply: Reply) -> Response:
    return Response(
        reply.body, status_code=reply.status, media_type=reply.content_type, headers=reply.headers
    )


def __getattr__(name: str) -> Any:
    """``uvicorn epay_async.examples.fastapi_shop:app`` builds the app on first use."""
    if name == "app":
        return create_app(database=os.environ.get("SHOP_DATABASE", "shop.sqlite3"))
    raise AttributeError(name)

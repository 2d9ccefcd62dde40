"""The shop on aiohttp.web: the same ``epay_async/examples/shop.py`` behind aiohttp's own server.

Run it by hand against the sandbox, then open http://127.0.0.1:8001::

    python -m epay_async.examples.run aiohttp

Routes as in ``fastapi_shop.py`` beside it. The ``EpayClient``, the SQLite connection and the
reconcile timer live in a cleanup context: opened at start-up, closed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from epay_async import EpayClient

from .shop import OrderStore, Reply, Shop

__all__ = ["SHOP", "create_app"]

SHOP = web.AppKey("shop", Shop)


def create_app(
    client_factory: Callable[[], EpayClient] = EpayClient.from_env,
    *,
    database: str = "shop.sqlite3",
    public_url: str = "http://127.0.0.1:8001",
    reconcile_every: float = 60.0,
    reconcile_after: float = 30.0,
) -> web.Application:
    async def resources(app: web.Application) -> AsyncIterator[None]:
        store = await OrderStore.open(database)
        try:
            async with client_factory() as epay:
                shop = app[SHOP] = Shop(epay, store, public_url)
                await shop.reconcile_unsettled()  # whatever was left when we last stopped
                timer = asyncio.ensure_future(
                    shop.reconcile_forever(reconcile_every, reconcile_after)
                )
                yield
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
        finally:
            await store.close()

    app = web.Application()
    app.cleanup_ctx.append(resources)

    async def form_of(request: web.Request) -> dict[str, str]:
        return dict(parse_qsl(await request.text()))

    async def storefront(request: web.Request) -> web.Response:
        return _response(request.app[SHOP].storefront())

    async def buy(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].buy(await form_of(request)))

    async def back(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].back(request.match_info["invoice_id"]))

    async def refund(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].refund(request.match_info["invoice_id"]))

    async def checkout(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _response(Reply.json(422, {"error": "body"}))
        return _response(await request.app[SHOP].checkout(payload))

    async def three_ds(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].three_ds_return(await form_of(request)))

    async def post_link(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].post_link(await request.read()))

    async def order(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].order_json(request.match_info["invoice_id"]))

    app.router.add_get("/", storefront)
    app.router.add_post("/buy", buy)
    app.router.add_get("/orders/{invoice_id}/back", back)
    app.router.add_post("/orders/{invoice_id}/refund", refund)
    app.router.add_post("/checkout", checkout)
    app.router.add_post("/epay/3ds", three_ds)
    app.router.add_post("/epay/post", post_link)
    app.router.add_get("/orders/{invoice_id}", order)
    return app


def _response(reply: Reply) -> web.Response:
    content_type, _, charset = reply.content_type.partition("; charset=")
    return web.Response(
        text=reply.body,
        status=reply.status,
        content_type=content_type,
        charset=charset or None,
        headers=dict(reply.headers),
    )

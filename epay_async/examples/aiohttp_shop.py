"""The shop on aiohttp.web: the same ``epay_async/examples/shop.py`` behind aiohttp's own server.

Run it by hand against the sandbox, then open http://127.0.0.1:8001::

    python -m epay_async.examples.run aiohttp

Routes, the admin token and the states of an order as in ``fastapi_shop.py`` and ``shop.py``
beside it. Bodies are capped by ``client_max_size`` (``MAX_BODY``): aiohttp stops reading past it
and answers 413. The ``EpayClient``, its payment journal, the SQLite connection and the
reconcile timer (``epay.recover()``, pending orders, refunds in doubt) live in a cleanup
context: opened at start-up, closed at shutdown; so does the nightly statement's timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from epay_async import EpayClient

from .shop import MAX_BODY, Incoming, Reply, Shop, open_shop
from .shop import admin_token as _admin_token

__all__ = ["SHOP", "create_app"]

SHOP = web.AppKey("shop", Shop)


def create_app(
    client_factory: Callable[..., EpayClient] = EpayClient.from_env,
    *,
    database: str = "shop.sqlite3",
    journal: str | None = None,
    public_url: str = "http://127.0.0.1:8001",
    reconcile_every: float = 60.0,
    reconcile_after: float = 30.0,
    admin_token: str | None = None,
    **shop_options: Any,
) -> web.Application:
    """The shop, as ``fastapi_shop.create_app`` builds it (the same arguments)."""
    token, made = _admin_token(admin_token)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with open_shop(
            client_factory,
            public_url,
            database=database,
            journal=journal,
            admin_token=token,
            **shop_options,
        ) as shop:
            app[SHOP] = shop
            if made:
                print(f"admin page: {public_url}/admin  admin token: {token}", flush=True)
            timers = [
                asyncio.ensure_future(shop.reconcile_forever(reconcile_every, reconcile_after)),
                asyncio.ensure_future(shop.statement_forever()),  # the day before, nightly
            ]
            yield
            for timer in timers:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer

    app = web.Application(client_max_size=MAX_BODY)
    app.cleanup_ctx.append(resources)

    async def incoming(request: web.Request) -> Incoming:
        """Read with the cap: past ``client_max_size`` aiohttp raises its 413."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        return Incoming(headers, dict(request.cookies), await request.read())

    async def storefront(request: web.Request) -> web.Response:
        return _response(request.app[SHOP].storefront())

    async def buy(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].buy(await incoming(request)))

    async def back(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].back(request.match_info["invoice_id"]))

    async def admin(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].admin_page(Incoming(cookies=request.cookies)))

    async def admin_login(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].admin_login(await incoming(request)))

    async def statement(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        seen = Incoming(headers, dict(request.cookies))
        day = request.query.get("day")
        return _response(await request.app[SHOP].statement_page(seen, day))

    async def statement_run(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].statement_run(await incoming(request)))

    async def refund(request: web.Request) -> web.Response:
        invoice_id = request.match_info["invoice_id"]
        return _response(await request.app[SHOP].refund(invoice_id, await incoming(request)))

    async def charge(request: web.Request) -> web.Response:
        invoice_id = request.match_info["invoice_id"]
        return _response(await request.app[SHOP].charge(invoice_id, await incoming(request)))

    async def checkout(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].checkout(await incoming(request)))

    async def three_ds(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].three_ds_return(await incoming(request)))

    async def post_link(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].post_link((await incoming(request)).body))

    async def order(request: web.Request) -> web.Response:
        return _response(await request.app[SHOP].order_json(request.match_info["invoice_id"]))

    app.router.add_get("/", storefront)
    app.router.add_post("/buy", buy)
    app.router.add_get("/orders/{invoice_id}/back", back)
    app.router.add_get("/admin", admin)
    app.router.add_post("/admin/login", admin_login)
    app.router.add_get("/admin/statement", statement)
    app.router.add_post("/admin/statement/run", statement_run)
    app.router.add_post("/orders/{invoice_id}/refund", refund)
    app.router.add_post("/orders/{invoice_id}/charge", charge)
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

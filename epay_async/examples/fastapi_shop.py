"""The shop on FastAPI: a thin web layer over ``shop.py`` beside it (read its docstring: prices
from the catalogue, the admin token, the states of an order).

Run it by hand against the sandbox (both on 127.0.0.1), then open http://127.0.0.1:8000::

    pip install 'epay-async[examples]'
    python -m epay_async.examples.run fastapi

or against the real test gateway (``EPAY_*`` variables) with
``SHOP_ADMIN_TOKEN=... uvicorn epay_async.examples.fastapi_shop:app``.

Pages: ``GET /`` (the storefront), ``POST /buy`` (a product id; opens ePay's payment page),
``GET /orders/{id}/back`` (the back link: the order as check-status confirms it),
``GET /admin`` (log in with the admin token; refund, cancel, charge), ``GET /admin/statement``
(the nightly statement's discrepancies by kind; ``POST /admin/statement/run`` runs it now).
API: ``POST /checkout`` (a product id and card data or a saved card, ``application/json``),
``POST /epay/3ds`` (the TermUrl), ``POST /epay/post`` (the postLink), ``GET /orders/{id}``,
``POST /orders/{id}/refund`` and ``POST /orders/{id}/charge`` (``Authorization: Bearer
<admin token>``, or the admin page's session and CSRF token).

The admin token is ``admin_token=``, else ``SHOP_ADMIN_TOKEN``, else made at start-up and
printed with the admin page's address. Every body is read with a cap (``MAX_BODY``, 413 above
it), never whole first.

One ``EpayClient``, its payment journal (``SqliteJournal``, a file beside the orders
database) and one SQLite connection live as long as the app (its lifespan), beside a timer that
runs ``epay.recover()`` and settles pending orders and refunds in doubt (it also runs once at
start-up) and the nightly statement (``statement_hour=``, default 3 o'clock UTC+5;
``nightly.py``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response

from epay_async import EpayClient

from .shop import MAX_BODY, Incoming, Reply, Shop, open_shop
from .shop import admin_token as _admin_token

__all__ = ["create_app"]


def create_app(  # noqa: PLR0915 - one short handler per route
    client_factory: Callable[..., EpayClient] = EpayClient.from_env,
    *,
    database: str = "shop.sqlite3",
    journal: str | None = None,
    public_url: str = "http://127.0.0.1:8000",
    reconcile_every: float = 60.0,
    reconcile_after: float = 30.0,
    admin_token: str | None = None,
    **shop_options: Any,
) -> FastAPI:
    """The shop. ``client_factory(journal=...)`` builds its one ``EpayClient`` on the shop's
    payment journal (a test passes ``sandbox.client``); ``database`` is the orders' SQLite file
    (a temporary one in tests), ``journal`` the journal's (default: beside it, see
    :func:`~epay_async.examples.shop.journal_beside`); ``shop_options`` go to :class:`Shop`
    (``catalogue``, ``check_every``, ``abandon_after``)."""
    token, made = _admin_token(admin_token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_shop(
                client_factory,
                public_url,
                database=database,
                journal=journal,
                admin_token=token,
                **shop_options,
            ) as shop,
            anyio.create_task_group() as tasks,
        ):
            app.state.shop = shop
            if made:
                print(f"admin page: {public_url}/admin  admin token: {token}", flush=True)
            tasks.start_soon(shop.reconcile_forever, reconcile_every, reconcile_after)
            tasks.start_soon(shop.statement_forever)  # the day before, every night
            yield
            tasks.cancel_scope.cancel()

    app = FastAPI(lifespan=lifespan)

    def shop_of(request: Request) -> Shop:
        shop: Shop = request.app.state.shop
        return shop

    async def incoming(request: Request) -> Incoming | Response:
        """The request with its body read in chunks up to MAX_BODY: 413 past it, unread."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return _response(Reply.json(413, {"error": "body too large"}))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _response(Reply.json(413, {"error": "body too large"}))
        return Incoming(dict(request.headers), dict(request.cookies), bytes(body))

    @app.get("/")
    async def storefront(request: Request) -> Response:
        return _response(shop_of(request).storefront())

    @app.post("/buy")
    async def buy(request: Request) -> Response:
        got = await incoming(request)
        return got if isinstance(got, Response) else _response(await shop_of(request).buy(got))

    @app.get("/orders/{invoice_id}/back")
    async def back(invoice_id: str, request: Request) -> Response:
        return _response(await shop_of(request).back(invoice_id))

    @app.get("/admin")
    async def admin(request: Request) -> Response:
        return _response(await shop_of(request).admin_page(Incoming(cookies=request.cookies)))

    @app.post("/admin/login")
    async def admin_login(request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).admin_login(got))

    @app.get("/admin/statement")
    async def statement(request: Request) -> Response:
        seen = Incoming(dict(request.headers), dict(request.cookies))
        day = request.query_params.get("day")
        return _response(await shop_of(request).statement_page(seen, day))

    @app.post("/admin/statement/run")
    async def statement_run(request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).statement_run(got))

    @app.post("/orders/{invoice_id}/refund")
    async def refund(invoice_id: str, request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).refund(invoice_id, got))

    @app.post("/orders/{invoice_id}/charge")
    async def charge(invoice_id: str, request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).charge(invoice_id, got))

    @app.post("/checkout")
    async def checkout(request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).checkout(got))

    @app.post("/epay/3ds")
    async def three_ds(request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).three_ds_return(got))

    @app.post("/epay/post")
    async def post_link(request: Request) -> Response:
        got = await incoming(request)
        if isinstance(got, Response):
            return got
        return _response(await shop_of(request).post_link(got.body))

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

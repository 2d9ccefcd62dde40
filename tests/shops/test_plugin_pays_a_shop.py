"""Issue 28's "done when": a test file using only the pytest plugin's fixtures (and the shop app)
pays a hosted page as a shopper and asserts the shop saw the notification. Nothing here comes
from this repository's test helpers: it is what a merchant's own test file looks like."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import httpx
import pytest
from aiohttp import web

from epay_async.examples.aiohttp_shop import create_app as create_aiohttp_app
from epay_async.examples.fastapi_shop import create_app
from epay_async.pytest_plugin import HostedPageShopper
from epay_async.testing import TEST_CARDS, Sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the shops keep their orders in SQLite through aiosqlite


async def test_the_shop_hears_the_payment_made_on_its_hosted_page(
    epay_sandbox: Sandbox, epay_shopper: HostedPageShopper, tmp_path: Path
) -> None:
    app = create_app(epay_sandbox.client, database=str(tmp_path / "shop.sqlite3"))
    epay_sandbox.send_notifications_to(asgi_app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as shop,
    ):
        page = await shop.post("/buy", data={"product": "tickets"})
        assert page.status_code == 200
        paid = await epay_shopper.pay(page.text)
        assert paid.paid
        assert paid.redirect_url == f"http://127.0.0.1:8000/orders/{paid.invoice_id}/back"
        # The shop's postLink took the notification, verified it, and the order is paid: read
        # from the shop's store, not checked at the gateway again.
        (delivery,) = epay_sandbox.notifications
        assert delivery.status == 200
        order = (await shop.get(f"/orders/{paid.invoice_id}")).json()
        assert order["status"] == "paid"
        assert order["paid_events"] == 1
        assert order["amount"] == "1500.00"


async def test_an_abandoned_page_leaves_the_order_unpaid(
    epay_sandbox: Sandbox, epay_shopper: HostedPageShopper, tmp_path: Path
) -> None:
    app = create_app(epay_sandbox.client, database=str(tmp_path / "shop.sqlite3"))
    epay_sandbox.send_notifications_to(asgi_app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as shop,
    ):
        page = await shop.post("/buy", data={"product": "poster"})
        left = await epay_shopper.abandon(page.text)
        assert not left.paid
        assert epay_sandbox.notifications == []
        assert (await shop.get(f"/orders/{left.invoice_id}")).json()["status"] == "pending"


async def test_the_served_sandbox_notifies_the_aiohttp_shop_over_loopback(
    epay_sandbox: Sandbox, epay_sandbox_url: str, epay_shopper: HostedPageShopper, tmp_path: Path
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    shop_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    app = create_aiohttp_app(
        lambda **options: epay_sandbox.client(
            environment=Sandbox.environment(epay_sandbox_url), transport="httpx", **options
        ),
        database=str(tmp_path / "shop.sqlite3"),
        public_url=shop_url,
        admin_token="plugin-test-admin-token",
    )
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        async with httpx.AsyncClient(base_url=shop_url) as shop:
            page = await shop.post("/buy", data={"product": "tickets"})
            paid = await epay_shopper.pay(page.text, TEST_CARDS.mastercard_3ds)
            assert paid.paid
            for _ in range(200):  # a served sandbox notifies in the background
                order = (await shop.get(f"/orders/{paid.invoice_id}")).json()
                if order["status"] == "paid":
                    break
                await anyio.sleep(0.05)
            assert order["status"] == "paid"
        assert any(d.status == 200 for d in epay_sandbox.notifications)
    finally:
        await runner.cleanup()

"""The hosted payment page as a shopper meets it: both shops on their real servers, the sandbox
served beside them, all on 127.0.0.1, driven by headless Chromium (Debian's, through
Playwright). Run with ``make e2e``; each final page is saved under ``build/e2e/``."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from epay_async.examples.nightly import KZ_TIME
from epay_async.examples.run import serve_sandbox, serve_shop
from epay_async.testing import Fault, Sandbox
from tests.conftest import free_port

pytestmark = pytest.mark.anyio

SCREENSHOTS = Path(__file__).parents[2] / "build" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
#: What this workplace's closed network needs (no background connections, no sandbox as root).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VISA = ("4405 6397 0401 5096", "01/27", "321")
MC_3DS = ("5522 0427 0506 6736", "01/27", "775")
LOCKED = ("4003 0327 0454 7597", "09/20", "000")
ADMIN_TOKEN = "e2e-admin-token-0123456789"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # uvicorn, aiohttp and aiosqlite


class World:
    """The sandbox, both shops and a browser, for one test module."""

    def __init__(
        self,
        sandbox: Sandbox,
        sandbox_url: str,
        shops: dict[str, str],
        browser: Browser,
        folder: Path,
    ):
        self.sandbox = sandbox
        self.sandbox_url = sandbox_url
        self.shops = shops
        self.browser = browser
        self.folder = folder  # the shops' SQLite files: {kind}.sqlite3


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    sandbox = Sandbox()
    folder = tmp_path_factory.mktemp("shops")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with anyio.create_task_group() as tasks, async_playwright() as playwright:
        sandbox_port = await tasks.start(serve_sandbox, sandbox, free_port())
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        shops = {}
        for kind in ("fastapi", "aiohttp"):
            port = await tasks.start(
                lambda task_status, kind=kind: serve_shop(
                    kind,
                    free_port(),
                    sandbox_url,
                    database=str(folder / f"{kind}.sqlite3"),
                    reconcile_every=0.5,
                    reconcile_after=0.0,
                    admin_token=ADMIN_TOKEN,
                    check_every=1.0,
                    task_status=task_status,
                )
            )
            shops[kind] = f"http://127.0.0.1:{port}"
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield World(sandbox, sandbox_url, shops, browser, folder)
        finally:
            await browser.close()
            tasks.cancel_scope.cancel()


SHOPS = ["fastapi", "aiohttp"]


async def start_payment(world: World, kind: str, card_id: str = "") -> tuple[Page, str]:
    """The shopper opens the shop, clicks Pay, and lands on ePay's (the sandbox's) page."""
    page = await world.browser.new_page()
    await page.goto(world.shops[kind] + "/")
    if card_id:
        await page.fill("#card_id", card_id)
    await page.click("#buy")
    await page.wait_for_url(f"{world.sandbox_url}/payform/**")
    await page.wait_for_selector("#amount")
    invoice_id = await invoice_of_page(page)
    return page, invoice_id


async def invoice_of_page(page: Page) -> str:
    text = await page.inner_text("main")
    return text.split("invoice ", 1)[1].split()[0]


async def enter_card(page: Page, card: tuple[str, str, str]) -> None:
    pan, exp, cvc = card
    await page.fill("#pan", pan)
    await page.fill("#exp", exp)
    await page.fill("#cvc", cvc)
    await page.fill("#name", "TEST CARDHOLDER")
    await page.click("#pay")


async def order_of(world: World, kind: str, invoice_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{world.shops[kind]}/orders/{invoice_id}")
    return dict(reply.json())


async def wait_for_state(world: World, kind: str, invoice_id: str, state: str) -> dict[str, Any]:
    """Ask the shop until the order is in ``state``: 150 times, 15 s at most."""
    for _ in range(150):
        order = await order_of(world, kind, invoice_id)
        if order["status"] == state:
            return order
        await anyio.sleep(0.1)
    raise AssertionError(f"order {invoice_id} is {order['status']}, not {state}")


async def final_page(page: Page, name: str) -> str:
    await page.wait_for_selector("#state")
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    return str(await page.get_attribute("#state", "data-state"))


@pytest.mark.parametrize("kind", SHOPS)
async def test_pay_with_a_good_card(world: World, kind: str) -> None:
    page, invoice_id = await start_payment(world, kind)
    await page.screenshot(path=str(SCREENSHOTS / f"{kind}-payment-page.png"), full_page=True)
    await enter_card(page, VISA)
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    assert await final_page(page, f"{kind}-paid") == "paid"
    assert (await order_of(world, kind, invoice_id))["paid_events"] == 1
    assert await page.query_selector("button") is None  # no admin action for the shopper
    # The merchant gives the money back from the admin page, logged in with the admin token.
    await page.goto(world.shops[kind] + "/admin")
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#login")
    await page.wait_for_selector(f"#refund-{invoice_id}")
    await page.screenshot(path=str(SCREENSHOTS / f"{kind}-admin.png"), full_page=True)
    await page.click(f"#refund-{invoice_id}")  # the sandbox's terminal is two-step: a hold
    await page.wait_for_selector(f"#order-{invoice_id} [data-state=cancelled]")
    assert await page.query_selector(f"#refund-{invoice_id}") is None
    await page.screenshot(path=str(SCREENSHOTS / f"{kind}-admin-refunded.png"), full_page=True)
    order = await order_of(world, kind, invoice_id)
    assert (order["status"], order["refunded_amount"]) == ("cancelled", "1500.00")
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_a_release_whose_answer_is_lost_is_settled_from_the_journal(
    world: World, kind: str
) -> None:
    """The admin releases a hold and the gateway's answer is lost: the order stays in doubt
    (never failed, never cancelled on a guess) until the reconcile timer reads check-status;
    then the admin page shows it cancelled and nothing left in doubt in the journal."""
    page, invoice_id = await start_payment(world, kind)
    await enter_card(page, VISA)
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    await page.goto(world.shops[kind] + "/admin")
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#login")
    await page.wait_for_selector(f"#refund-{invoice_id}")
    world.sandbox.fail("/cancel", Fault.read_timeout())  # released; the answer never comes
    await page.click(f"#refund-{invoice_id}")
    await page.wait_for_url(world.shops[kind] + "/admin")
    state = await page.get_attribute(f"#order-{invoice_id} [data-state]", "data-state")
    assert state in ("refund_in_doubt", "cancelled")  # the timer may have settled it already
    await wait_for_state(world, kind, invoice_id, "cancelled")
    await page.reload()
    await page.wait_for_selector(f"#order-{invoice_id} [data-state=cancelled]")
    assert await page.get_attribute("#in-doubt", "data-count") == "0"
    await page.screenshot(
        path=str(SCREENSHOTS / f"{kind}-admin-release-settled.png"), full_page=True
    )
    assert (
        len(world.sandbox.requests_to(f"/{world.sandbox.transaction(invoice_id).id}/cancel")) == 1
    )
    # The journal beside the shop's database: the release was in doubt, then settled.
    with contextlib.closing(sqlite3.connect(world.folder / f"{kind}.journal.sqlite3")) as db:
        rows = db.execute(
            "SELECT state, payment_state FROM epay_journal WHERE operation = 'cancel'"
            " AND transaction_id = ?",
            (world.sandbox.transaction(invoice_id).id,),
        ).fetchall()
    assert rows == [("settled", "cancelled")]
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_3ds_through_the_acs_page(world: World, kind: str) -> None:
    page, invoice_id = await start_payment(world, kind)
    await enter_card(page, MC_3DS)
    await page.wait_for_url(f"{world.sandbox_url}/acs")
    await page.screenshot(path=str(SCREENSHOTS / f"{kind}-acs.png"), full_page=True)
    await page.click("button[value=approve]")
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    assert await final_page(page, f"{kind}-3ds-paid") == "paid"
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_a_declined_card_ends_on_the_failure_page(world: World, kind: str) -> None:
    page, invoice_id = await start_payment(world, kind)
    await enter_card(page, LOCKED)
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    assert await final_page(page, f"{kind}-declined") == "failed"
    assert (await order_of(world, kind, invoice_id))["status"] == "failed"
    await page.click("#shop")  # "Try again": back to the storefront, no dead end
    await page.wait_for_url(f"{world.shops[kind]}/")
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_the_saved_card_page(world: World, kind: str) -> None:
    card_id = world.sandbox.save_card("4405639704015096", account_id="shopper-1")
    page, invoice_id = await start_payment(world, kind, card_id=card_id)
    assert "440563...5096" in await page.inner_text("main")
    await page.click("#pay")
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    assert await final_page(page, f"{kind}-saved-card") == "paid"
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_the_shopper_closes_the_page_and_the_notification_settles_it(
    world: World, kind: str
) -> None:
    page, invoice_id = await start_payment(world, kind)
    await page.route(f"{world.shops[kind]}/orders/**", lambda route: route.abort())
    await enter_card(page, VISA)
    await page.close()  # never comes back to the shop
    order = await wait_for_state(world, kind, invoice_id, "paid")
    assert order["paid_events"] == 1


@pytest.mark.parametrize("kind", SHOPS)
async def test_a_lost_notification_is_settled_by_the_reconcile_timer(
    world: World, kind: str
) -> None:
    dropped: list[str] = []

    async def drop(url: str, body: dict[str, Any]) -> None:
        dropped.append(url)

    page, invoice_id = await start_payment(world, kind)
    await page.route(f"{world.shops[kind]}/orders/**", lambda route: route.abort())
    world.sandbox.send_notifications_to(callback=drop)
    try:
        await enter_card(page, VISA)
        await page.close()
        order = await wait_for_state(world, kind, invoice_id, "paid")  # the timer did it
    finally:
        world.sandbox.send_notifications_to(http_client=httpx.AsyncClient(timeout=10))
    assert dropped
    assert order["paid_events"] == 1


@pytest.mark.parametrize("kind", SHOPS)
async def test_a_duplicated_notification_changes_nothing(world: World, kind: str) -> None:
    page, invoice_id = await start_payment(world, kind)
    await enter_card(page, VISA)
    await page.wait_for_url(f"{world.shops[kind]}/orders/{invoice_id}/back")
    await page.close()
    note = next(n for n in world.sandbox.notifications if n.payload.get("invoiceId") == invoice_id)
    async with httpx.AsyncClient() as http:
        for _ in range(2):
            again = await http.post(f"{world.shops[kind]}/epay/post", content=note.body)
            assert again.status_code == 200
    assert (await order_of(world, kind, invoice_id))["paid_events"] == 1


@pytest.mark.parametrize("kind", SHOPS)
async def test_a_forged_back_link_does_not_mark_an_order_paid(world: World, kind: str) -> None:
    page, invoice_id = await start_payment(world, kind)  # opened, never paid
    forged = (
        f"{world.shops[kind]}/orders/{invoice_id}/back"
        f"?invoiceID={invoice_id}&status=CHARGE&code=ok&reference=123456789012"
    )
    await page.goto(forged)
    assert await final_page(page, f"{kind}-forged-back-link") != "paid"
    assert (await order_of(world, kind, invoice_id))["status"] != "paid"
    await page.close()


@pytest.mark.parametrize("kind", SHOPS)
async def test_the_nightly_statement_page(world: World, kind: str) -> None:
    """Planted: a paid order the gateway never saw (a row restored from a backup), a payment
    of another amount than the order's, a gateway payment with no order. The admin runs the
    statement of today from its page and sees each under its kind."""
    base = "710000000" if kind == "fastapi" else "720000000"
    restored, no_order = str(int(base) + 1), str(int(base) + 2)
    with contextlib.closing(sqlite3.connect(world.folder / f"{kind}.sqlite3")) as db, db:
        db.execute(
            "INSERT INTO orders (invoice_id, amount, currency, description, status,"
            " secret_hash, created_at, product) VALUES (?, '1500.00', 'KZT',"
            " 'Concert tickets, two seats', 'paid', 'restored', ?, 'tickets')",
            (restored, time.time()),
        )
    page, other_amount = await start_payment(world, kind)
    await page.close()
    world.sandbox.add_transaction(other_amount, amount="1400.00", status="CHARGE")
    await wait_for_state(world, kind, other_amount, "review")  # the reconcile timer saw it
    world.sandbox.add_transaction(no_order, amount="250.00", status="CHARGE")

    page = await world.browser.new_page()
    statement = world.shops[kind] + "/admin/statement"
    assert (await page.goto(statement)).status == 401  # type: ignore[union-attr]
    assert await page.query_selector("#summary") is None
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#login")
    await page.wait_for_url(world.shops[kind] + "/admin")
    await page.click("#statement")
    await page.wait_for_selector("#run-statement")
    await page.fill("#day", datetime.now(KZ_TIME).date().isoformat())
    await page.click("#run-statement")
    await page.wait_for_selector("#kind-amount_mismatch")
    await page.screenshot(path=str(SCREENSHOTS / f"{kind}-statement.png"), full_page=True)
    for section, invoice_id in (
        ("paid_locally_absent", restored),
        ("amount_mismatch", other_amount),
        ("paid_unknown_locally", no_order),
    ):
        assert invoice_id in await page.inner_text(f"#kind-{section}")
    # The shop's own word for the order, beside the statement's.
    assert "review (paid)" in await page.inner_text("#kind-amount_mismatch")
    await page.close()

"""Both example shops (FastAPI on uvicorn, aiohttp.web on its runner) served on 127.0.0.1 and
attacked over real HTTP, as issue 23 did: prices, admin actions, input, the gateway's load.
The gateway is the in-process sandbox; its notifications reach the shop over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from epay_async import Order
from epay_async.cryptogram import CRYPTOGRAM_FIELD
from epay_async.examples import nightly
from epay_async.examples.nightly import KZ_TIME, day_before, next_run
from epay_async.examples.run import serve_sandbox
from epay_async.examples.shop import OrderStore, Shop
from epay_async.journal import OPEN_STATES, SqliteJournal
from epay_async.testing import TEST_CLIENT_SECRET, Fault, Sandbox
from epay_async.types.status import StatusName
from tests.conftest import free_port

pytestmark = pytest.mark.anyio

VISA = {"pan": "4405639704015096", "exp_month": 1, "exp_year": 2027, "cvc": "321"}
TOKEN = "test-admin-token-0123456789"
FOREIGN = "https://evil.example"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn, aiohttp and aiosqlite


class Served:
    """One shop on its real server: its URL, an HTTP client, its ``Shop`` and the sandbox."""

    def __init__(self, kind: str, url: str, http: httpx.AsyncClient, app: Any, sandbox: Sandbox):
        self.kind = kind
        self.url = url
        self.http = http
        self.app = app
        self.sandbox = sandbox

    @property
    def shop(self) -> Shop:
        if self.kind == "fastapi":
            shop: Shop = self.app.state.shop
            return shop
        from epay_async.examples.aiohttp_shop import SHOP  # noqa: PLC0415

        shop_of_app: Shop = self.app[SHOP]
        return shop_of_app

    async def order(self, invoice_id: str) -> dict[str, Any]:
        reply = await self.http.get(f"/orders/{invoice_id}")
        return dict(reply.json())

    async def checkout(self, invoice_id: str, **fields: Any) -> httpx.Response:
        body = {"invoice_id": invoice_id, "product": "tickets", "card": VISA, **fields}
        return await self.http.post("/checkout", json=body)

    async def admin(self, invoice_id: str, action: str = "refund", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
        return await self.http.post(f"/orders/{invoice_id}/{action}", headers=headers, **kw)

    def gateway_posts(self, path: str) -> int:
        return len(self.sandbox.requests_to(path, method="POST"))


async def _serve(kind: str, app: Any, port: int, stop: anyio.Event, *, task_status: Any) -> None:
    """Serve ``app`` until ``stop`` is set, then shut its server down gracefully."""
    if kind == "fastapi":
        import uvicorn  # noqa: PLC0415

        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve)
            while not server.started:  # noqa: ASYNC110 - uvicorn has no event to wait on
                await anyio.sleep(0.02)
            task_status.started()
            await stop.wait()
            server.should_exit = True
        return
    from aiohttp import web  # noqa: PLC0415

    runner = web.AppRunner(app, shutdown_timeout=1.0)  # a refused upload may still be open
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        task_status.started()
        await stop.wait()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


@pytest.fixture(params=["fastapi", "aiohttp"])
async def served(
    request: pytest.FixtureRequest,
    epay_sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Served]:
    kind, sandbox = str(request.param), epay_sandbox  # the pytest plugin's sandbox
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", TOKEN)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    options = {
        "database": str(tmp_path / "shop.sqlite3"),
        "public_url": url,
        "reconcile_every": 3600.0,  # the tests run reconciliation themselves
        "reconcile_after": 3600.0,
    }
    if kind == "fastapi":
        from epay_async.examples.fastapi_shop import create_app  # noqa: PLC0415

        app: Any = create_app(sandbox.client, **options)  # type: ignore[arg-type]
    else:
        from epay_async.examples.aiohttp_shop import (  # noqa: PLC0415
            create_app as create_aiohttp_app,
        )

        app = create_aiohttp_app(sandbox.client, **options)  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(timeout=10) as notifier,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        anyio.create_task_group() as tasks,
    ):
        sandbox.send_notifications_to(http_client=notifier)
        stop = anyio.Event()
        await tasks.start(
            lambda task_status: _serve(kind, app, port, stop, task_status=task_status)
        )
        yield Served(kind, url, http, app, sandbox)
        stop.set()


def invoice_of(payment_page_html: str) -> str:
    found = re.search(
        r'invoiceId&quot;: &quot;([0-9]+)|"invoiceId": ?"([0-9]+)"', payment_page_html
    )
    assert found is not None, payment_page_html[:2000]
    return next(group for group in found.groups() if group)


# -- 1. prices come from the catalogue -----------------------------------------------------------


async def test_the_shopper_cannot_choose_the_price(served: Served) -> None:
    page = await served.http.post(
        "/buy", data={"product": "tickets", "amount": "1.00", "account_id": "shopper-1"}
    )
    assert page.status_code == 200
    invoice_id = invoice_of(page.text)
    order = await served.order(invoice_id)
    assert Decimal(order["amount"]) == Decimal("1500.00")
    # The shopper pays 1.00 anyway: the shop never calls that paid.
    served.sandbox.add_transaction(invoice_id, amount="1.00", status="CHARGE")
    back = await served.http.get(f"/orders/{invoice_id}/back")
    assert 'data-state="paid"' not in back.text
    assert (await served.order(invoice_id))["status"] == "review"
    # By API too: the amount is the product's price, whatever the request says.
    paid = await served.checkout("400000001", amount="1.00")
    assert paid.status_code == 200, paid.text
    assert served.sandbox.transaction("400000001").amount == Decimal("1500.00")
    unknown = await served.http.post("/buy", data={"product": "nothing", "amount": "1.00"})
    assert unknown.status_code == 422


async def test_a_payment_in_another_currency_is_not_paid(served: Served) -> None:
    invoice_id = invoice_of((await served.http.post("/buy", data={"product": "tickets"})).text)
    served.sandbox.add_transaction(invoice_id, amount="1500.00", currency="USD", status="CHARGE")
    await served.http.get(f"/orders/{invoice_id}/back")
    assert (await served.order(invoice_id))["status"] == "review"


# -- 2. admin actions: authenticated, CSRF-safe, leaving a trace ---------------------------------


async def test_refunds_are_not_open_to_anyone(served: Served) -> None:
    assert (await served.checkout("400000002")).json()["status"] == "paid"
    for headers in ({"Origin": FOREIGN}, {"Authorization": "Bearer wrong-token-0123456789"}):
        refused = await served.http.post("/orders/400000002/refund", headers=headers)
        assert refused.status_code == 401
    # A cookie named like the session's, with a forged form: still nothing.
    forged = await served.http.post(
        "/orders/400000002/refund",
        data={"csrf": "x"},
        headers={"Origin": FOREIGN, "Cookie": "shop_admin=guess"},
    )
    assert forged.status_code == 401
    assert served.gateway_posts("/operation/") == 0
    assert (await served.order("400000002"))["status"] == "paid"


async def test_a_refund_moves_the_order_and_is_never_offered_again(served: Served) -> None:
    assert (await served.checkout("400000003")).json()["status"] == "paid"
    order = await served.order("400000003")
    assert order["held"] is True  # the sandbox's terminal is two-step: an AUTH, held
    charged = await served.admin("400000003", "charge")
    assert charged.status_code == 200, charged.text
    assert (await served.order("400000003"))["held"] is False
    assert served.sandbox.transaction("400000003").status == StatusName.CHARGE
    refunded = await served.admin("400000003")
    assert refunded.status_code == 200
    assert refunded.json() == {"status": "refunded", "refunded_amount": "1500.00"}
    again = await served.admin("400000003")
    assert again.status_code == 409
    assert served.gateway_posts("/refund") == 1
    back = await served.http.get("/orders/400000003/back")
    assert 'data-state="refunded"' in back.text
    assert "<button" not in back.text


async def test_releasing_a_hold_cancels_the_order(served: Served) -> None:
    assert (await served.checkout("400000004")).json()["status"] == "paid"
    released = await served.admin("400000004")
    assert released.json() == {"status": "cancelled", "refunded_amount": "1500.00"}
    assert served.sandbox.transaction("400000004").status == StatusName.CANCEL


async def test_the_admin_page_session_is_csrf_safe(served: Served) -> None:
    assert (await served.checkout("400000005")).json()["status"] == "paid"
    login_page = await served.http.get("/admin")
    assert 'name="token"' in login_page.text
    assert "400000005" not in login_page.text
    wrong = await served.http.post("/admin/login", data={"token": "nope"})
    assert wrong.status_code == 401
    cross_site = await served.http.post(
        "/admin/login", data={"token": TOKEN}, headers={"Origin": FOREIGN}
    )
    assert cross_site.status_code == 403
    login = await served.http.post(
        "/admin/login", data={"token": TOKEN}, headers={"Origin": served.url}
    )
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    admin = await served.http.get("/admin")  # the client keeps the cookie
    assert 'id="refund-400000005"' in admin.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin.text)
    assert csrf is not None
    for data, origin in (
        ({}, served.url),
        ({"csrf": "forged"}, served.url),
        (
            {"csrf": csrf.group(1)},
            FOREIGN,
        ),
    ):
        refused = await served.http.post(
            "/orders/400000005/refund", data=data, headers={"Origin": origin}
        )
        assert refused.status_code == 403
    assert served.gateway_posts("/operation/") == 0
    done = await served.http.post(
        "/orders/400000005/refund", data={"csrf": csrf.group(1)}, headers={"Origin": served.url}
    )
    assert done.status_code == 303
    assert (await served.order("400000005"))["status"] == "cancelled"
    after = await served.http.get("/admin")
    assert 'id="refund-400000005"' not in after.text


async def test_a_refund_in_doubt_is_settled_by_reconciliation(served: Served) -> None:
    assert (await served.checkout("400000006")).json()["status"] == "paid"
    served.sandbox.fail("/cancel", Fault.read_timeout())  # it went through; the answer lost
    lost = await served.admin("400000006")
    assert lost.status_code == 202
    assert (await served.order("400000006"))["status"] == "refund_in_doubt"
    (doubt,) = await served.shop.journal.list(states=OPEN_STATES)  # the journal holds it
    assert (doubt.operation, doubt.state, doubt.invoice_id) == ("cancel", "in_doubt", None)
    await served.shop.reconcile_unsettled()
    assert (await served.order("400000006"))["status"] == "cancelled"
    assert await served.shop.journal.list(states=OPEN_STATES) == []
    settled = await served.shop.journal.get(doubt.id)
    assert settled is not None
    assert (settled.state, settled.payment_state) == ("settled", "cancelled")


async def test_a_refund_in_doubt_that_did_not_happen_leaves_the_order_paid(
    served: Served,
) -> None:
    assert (await served.checkout("400000007")).json()["status"] == "paid"
    served.sandbox.fail("/cancel", Fault.status(502))  # in doubt, but the gateway did nothing
    lost = await served.admin("400000007")
    assert lost.status_code == 202
    assert (await served.order("400000007"))["status"] == "refund_in_doubt"
    await served.shop.reconcile_unsettled()
    order = await served.order("400000007")
    assert (order["status"], order["held"]) == ("paid", True)
    assert served.sandbox.transaction("400000007").status == StatusName.AUTH
    # The journal's record is closed too, so the hold can be released again.
    assert await served.shop.journal.list(states=OPEN_STATES) == []
    again = await served.admin("400000007")
    assert again.json() == {"status": "cancelled", "refunded_amount": "1500.00"}


@pytest.mark.parametrize("name", ["REFUND", "CANCEL", "CANCEL_OLD"])
async def test_reconciliation_applies_a_refund_or_cancel_to_a_paid_order(
    served: Served, name: str
) -> None:
    assert (await served.checkout("400000008")).json()["status"] == "paid"
    served.sandbox.transaction("400000008").status = StatusName(name)  # done in the cabinet
    status = await served.shop.epay.get_status("400000008")
    await served.shop.apply("400000008", status)
    expected = "refunded" if name == "REFUND" else "cancelled"
    assert (await served.order("400000008"))["status"] == expected


async def test_a_partial_refund_in_the_cabinet_records_what_went_back(served: Served) -> None:
    assert (await served.checkout("400000009")).json()["status"] == "paid"
    transaction = served.sandbox.transaction("400000009")  # charged, then 500 given back
    transaction.status, transaction.charged = StatusName.CHARGE, transaction.amount
    transaction.status, transaction.refunded = StatusName.REFUND, Decimal("500")
    await served.shop.apply("400000009", await served.shop.epay.get_status("400000009"))
    order = await served.order("400000009")
    assert (order["status"], order["refunded_amount"]) == ("refunded", "500.00")


# -- 3. unchecked input --------------------------------------------------------------------------


async def test_a_notification_with_a_lone_surrogate_invoice_id_is_a_4xx(served: Served) -> None:
    body = '{"invoiceId": "\\ud800", "code": "ok", "amount": 100, "currency": "KZT"}'
    reply = await served.http.post(
        "/epay/post", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400


@pytest.mark.parametrize("card_id", ["", "   ", 42, ["x"], "\ud800", "../../x"])
async def test_a_bad_card_id_is_refused_before_the_order_is_written(
    served: Served, card_id: Any
) -> None:
    body = json.dumps(
        {"invoice_id": "400000009", "product": "tickets", "card_id": card_id}, ensure_ascii=True
    )
    reply = await served.http.post(
        "/checkout", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422
    assert reply.json()["error"] == "card_id"
    assert (await served.http.get("/orders/400000009")).status_code == 404
    assert served.sandbox.requests == []
    assert (await served.checkout("400000009")).status_code == 200  # the id is not burnt


@pytest.mark.parametrize("card_id", [b"../x", b"%ED%A0%80", b"a%20b", b"%00"])
async def test_buy_refuses_a_bad_card_id_before_the_payment_page(
    served: Served, card_id: bytes
) -> None:
    reply = await served.http.post(
        "/buy",
        content=b"product=tickets&card_id=" + card_id,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 422
    assert served.sandbox.requests == []  # no payment token minted


async def test_checkout_takes_json_only(served: Served) -> None:
    body = json.dumps({"invoice_id": "400000010", "product": "tickets", "card": VISA})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        refused = await served.http.post("/checkout", content=body, headers=headers)
        assert refused.status_code == 415
    not_json = await served.http.post(
        "/checkout", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert (await served.http.get("/orders/400000010")).status_code == 404
    assert served.sandbox.requests == []


async def test_a_huge_body_is_refused_unread(served: Served) -> None:
    huge = b'{"invoiceId": "' + b"1" * (20 * 1024 * 1024) + b'"}'
    try:
        reply = await served.http.post(
            "/epay/post", content=huge, headers={"Content-Type": "application/json"}
        )
    except httpx.TransportError:  # the server may close the connection after answering
        pytest.fail("the shop did not answer 413")
    assert reply.status_code == 413


# -- 4. the gateway's load -----------------------------------------------------------------------


async def test_back_page_loads_cost_at_most_one_status_check_per_order(served: Served) -> None:
    invoice_id = invoice_of((await served.http.post("/buy", data={"product": "poster"})).text)
    before = len(served.sandbox.requests_to("/check-status/"))
    async with anyio.create_task_group() as tasks:
        for _ in range(10):
            tasks.start_soon(served.http.get, f"/orders/{invoice_id}/back")
    for _ in range(10):
        page = await served.http.get(f"/orders/{invoice_id}/back")
        assert "Not paid yet" in page.text
        assert 'data-state="failed"' not in page.text  # 102: not paid yet, never failed
    assert len(served.sandbox.requests_to("/check-status/")) - before == 1


# -- 5, 6. run.py --------------------------------------------------------------------------------


@pytest.mark.slow  # a subprocess or a soak: make test-slow
@pytest.mark.parametrize("kind", ["fastapi", "aiohttp"])
def test_run_on_a_port_in_use_prints_one_line(kind: str, tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "epay_async.examples.run",
                kind,
                "--port",
                str(port),
                "--sandbox-port",
                str(free_port()),
                "--database",
                str(tmp_path / "shop.sqlite3"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.slow  # a subprocess or a soak: make test-slow
async def test_run_prints_how_to_reach_the_admin_page(tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "epay_async.examples.run",
        "aiohttp",
        "--port",
        str(port),
        "--sandbox-port",
        str(sandbox_port),
        "--database",
        str(tmp_path / "shop.sqlite3"),
    ]
    env = {k: v for k, v in __import__("os").environ.items() if k != "SHOP_ADMIN_TOKEN"}
    async with await anyio.open_process(command, env=env) as process:
        try:
            assert process.stdout is not None
            output = b""
            with anyio.fail_after(60):
                while b"admin token: " not in output or not output.endswith(b"\n"):
                    output += await process.stdout.receive()
            line = next(ln for ln in output.decode().splitlines() if "admin page:" in ln)
            assert f"http://127.0.0.1:{port}/admin" in line
            token = line.split("admin token: ")[1].strip()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                login = await http.post("/admin/login", data={"token": token})
                assert login.status_code == 303
                assert "<h1>Orders</h1>" in (await http.get("/admin")).text
        finally:
            process.terminate()


# -- 7. the nightly statement (issue 27): discrepancies on an admin page --------------------------


def _today() -> date:
    return datetime.now(KZ_TIME).date()


async def _plant(served: Served) -> None:
    """Four orders of today: one that agrees, one paid locally but absent at the gateway, one
    whose amount differs there; and a gateway payment with no order in the shop."""
    assert (await served.checkout("500000001")).json()["status"] == "paid"  # agrees
    store = served.shop.store
    for invoice_id in ("500000002", "500000003"):
        order = Order(invoice_id=invoice_id, amount="1500.00", description="Tickets")
        assert await store.create(order, "secret-hash", "tickets")
        assert await store.mark_paid(invoice_id, None, held=False)
    served.sandbox.add_transaction("500000003", amount="1400.00", status="CHARGE")
    served.sandbox.add_transaction("500000004", amount="250.00", status="CHARGE")


PLANTED = {"paid_locally_absent": 1, "amount_mismatch": 1, "paid_unknown_locally": 1}


async def test_the_statement_page_refuses_without_the_token(served: Served) -> None:
    await _plant(served)
    refused = [
        await served.http.get("/admin/statement"),
        await served.http.get(
            "/admin/statement", headers={"Authorization": "Bearer wrong-token-0123456789"}
        ),
        await served.http.get("/admin/statement", headers={"Cookie": "shop_admin=guess"}),
    ]
    for page in refused:
        assert page.status_code == 401
        assert 'name="token"' in page.text
    for headers in ({"Origin": FOREIGN}, {"Authorization": "Bearer wrong-token-0123456789"}):
        run = await served.http.post("/admin/statement/run", headers=headers)
        assert run.status_code == 401
    assert served.sandbox.requests_to("/operations") == []  # nothing was run
    # Once run, the refusals still show nothing of it.
    ok = await served.http.post(
        "/admin/statement/run",
        data={"day": _today().isoformat()},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert ok.status_code == 200
    after = await served.http.get("/admin/statement")
    assert after.status_code == 401
    assert "500000002" not in after.text


async def test_planted_discrepancies_show_on_the_admin_page_by_kind(served: Served) -> None:
    await _plant(served)
    run = await served.http.post(
        "/admin/statement/run",
        data={"day": _today().isoformat()},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert run.status_code == 200, run.text
    summary = run.json()
    assert summary["by_kind"] == PLANTED
    assert (summary["orders"], summary["operations"], summary["complete"]) == (3, 3, True)
    assert summary["agree"] is False
    # The admin's browser: log in, open the statement page.
    login = await served.http.post(
        "/admin/login", data={"token": TOKEN}, headers={"Origin": served.url}
    )
    assert login.status_code == 303
    assert 'href="/admin/statement"' in (await served.http.get("/admin")).text
    page = await served.http.get("/admin/statement")
    assert page.status_code == 200
    assert f'data-day="{_today().isoformat()}" data-found="3"' in page.text
    sections = dict(re.findall(r'id="kind-([a-z_]+)" data-count="([0-9]+)"', page.text))
    assert {kind: int(n) for kind, n in sections.items()} == PLANTED
    for kind, invoice_id in (
        ("paid_locally_absent", "500000002"),
        ("amount_mismatch", "500000003"),
        ("paid_unknown_locally", "500000004"),
    ):
        section = page.text.split(f'id="kind-{kind}"')[1].split("</section>")[0]
        assert invoice_id in section
    amounts = page.text.split('id="kind-amount_mismatch"')[1].split("</section>")[0]
    assert "1500.00 KZT" in amounts
    assert "1400.00 KZT" in amounts
    assert "500000001" not in page.text  # the order that agrees is no discrepancy


async def test_the_statement_runs_from_the_admin_page_with_its_csrf_token(
    served: Served,
) -> None:
    await _plant(served)
    await served.http.post("/admin/login", data={"token": TOKEN}, headers={"Origin": served.url})
    page = await served.http.get("/admin/statement")
    assert "No statement yet." in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    day = _today().isoformat()
    for data, origin in (
        ({"day": day}, served.url),
        ({"day": day, "csrf": "forged"}, served.url),
        ({"day": day, "csrf": csrf.group(1)}, FOREIGN),
    ):
        refused = await served.http.post(
            "/admin/statement/run", data=data, headers={"Origin": origin}
        )
        assert refused.status_code == 403
    assert served.sandbox.requests_to("/operations") == []
    done = await served.http.post(
        "/admin/statement/run",
        data={"day": day, "csrf": csrf.group(1)},
        headers={"Origin": served.url},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/statement?day={day}"
    shown = await served.http.get(done.headers["location"])
    assert 'data-found="3"' in shown.text
    # Run again, the day's report is replaced, not doubled.
    again = await served.http.post(
        "/admin/statement/run",
        data={"day": day, "csrf": csrf.group(1)},
        headers={"Origin": served.url},
    )
    assert again.status_code == 303
    report = await served.shop.store.statements.report(day)
    assert report is not None
    assert len(report.rows) == 3


async def test_a_register_that_cannot_be_read_is_an_incomplete_report(served: Served) -> None:
    await _plant(served)
    served.sandbox.fail("/operations", Fault.status(400), times=5)
    run = await served.http.post(
        "/admin/statement/run",
        data={"day": _today().isoformat()},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert run.status_code == 200
    assert (run.json()["complete"], run.json()["agree"]) == (False, False)
    page = await served.http.get("/admin/statement", headers={"Authorization": f"Bearer {TOKEN}"})
    assert "incomplete: the register could not be read to the end" in page.text


def test_the_nightly_hour_and_the_day_before_are_the_shops_time() -> None:
    kz = KZ_TIME
    assert next_run(datetime(2026, 12, 5, 2, 30, tzinfo=kz), 3) == datetime(
        2026, 12, 5, 3, tzinfo=kz
    )
    assert next_run(datetime(2026, 12, 5, 3, 0, tzinfo=kz), 3) == datetime(
        2026, 12, 6, 3, tzinfo=kz
    )
    # 22:30 UTC is already 03:30 the next day in Kazakhstan.
    utc = timezone.utc
    assert next_run(datetime(2026, 12, 4, 22, 30, tzinfo=utc), 3) == datetime(
        2026, 12, 6, 3, tzinfo=kz
    )
    assert day_before(datetime(2026, 12, 4, 20, 0, tzinfo=utc)) == date(2026, 12, 4)
    assert day_before(datetime(2026, 12, 4, 18, 0, tzinfo=utc)) == date(2026, 12, 3)
    with pytest.raises(ValueError, match="0 to 23"):
        next_run(datetime(2026, 12, 5, tzinfo=kz), 24)


async def test_the_nightly_task_runs_the_statement_of_the_day_before(
    epay_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yesterday = day_before(datetime.now(KZ_TIME))
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=KZ_TIME)
    epay_sandbox.add_transaction("500000011", amount="250.00", status="CHARGE", created=noon)
    epay_sandbox.add_transaction("500000012", amount="250.00", status="CHARGE")  # today's
    # The night comes at once.
    monkeypatch.setattr(nightly, "next_run", lambda now, hour, tz: now + timedelta(seconds=0.01))
    store = await OrderStore.open(str(tmp_path / "shop.sqlite3"))
    try:
        async with epay_sandbox.client() as epay, anyio.create_task_group() as tasks:
            shop = Shop(
                epay,
                store,
                "http://shop.test",
                journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                admin_token=TOKEN,
                statement_hour=3,
            )
            tasks.start_soon(shop.statement_forever)
            with anyio.fail_after(10):
                while (report := await store.statements.report()) is None:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()
    finally:
        await store.close()
    assert report.day == yesterday.isoformat()
    assert [(row["kind"], row["invoice_id"]) for row in report.rows] == [
        ("paid_unknown_locally", "500000011")
    ]


def test_a_shop_refuses_a_nightly_hour_that_is_no_hour(
    epay_sandbox: Sandbox, tmp_path: Path
) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    with pytest.raises(ValueError, match="0 to 23"):
        Shop(
            epay_sandbox.client(journal=journal),
            None,  # type: ignore[arg-type]
            "http://s",
            journal=journal,
            admin_token=TOKEN,
            statement_hour=25,
        )


# -- 8. the payment journal (issue 26): a killed shop settles its doubts at its next start -------


@asynccontextmanager
async def shop_process(
    kind: str, port: int, sandbox_url: str, database: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, anyio.abc.Process]]:
    """The shop as a process of its own (``run.py`` on a sandbox served by this test), up once
    its start-up (``recover()`` included) is done; killed with SIGKILL on leaving."""
    command = [
        sys.executable,
        "-m",
        "epay_async.examples.run",
        kind,
        "--port",
        str(port),
        "--sandbox-url",
        sandbox_url,
        "--database",
        str(database),
    ]
    env = {**os.environ, "SHOP_ADMIN_TOKEN": TOKEN}
    async with await anyio.open_process(command, env=env) as process:
        try:
            assert process.stdout is not None
            output = b""
            with anyio.fail_after(60):
                while b"admin page:" not in output:
                    output += await process.stdout.receive()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                yield http, process
        finally:
            process.kill()  # no shutdown of any kind: what a crash or the OOM killer does
            await process.wait()


def origin(http: httpx.AsyncClient) -> str:
    return str(http.base_url).rstrip("/")


@pytest.mark.slow  # a subprocess or a soak: make test-slow
@pytest.mark.parametrize("kind", ["fastapi", "aiohttp"])
async def test_a_killed_shop_settles_what_it_left_in_doubt_at_its_next_start(
    kind: str, tmp_path: Path
) -> None:
    sandbox = Sandbox()
    database = tmp_path / "shop.sqlite3"
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    dropped: list[str] = []

    async def drop(url: str, body: dict[str, Any]) -> None:
        dropped.append(url)  # no postLink either: only the journal remembers

    async with anyio.create_task_group() as tasks:
        sandbox_port = await tasks.start(serve_sandbox, sandbox, free_port())
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        sandbox.send_notifications_to(callback=drop)
        async with shop_process(kind, free_port(), sandbox_url, database) as (http, first):
            held = {"invoice_id": "400000101", "product": "tickets", "card": VISA}
            assert (await http.post("/checkout", json=held)).json()["status"] == "paid"
            sandbox.fail("/cancel", Fault.read_timeout())  # released; the answer lost
            refund = await http.post("/orders/400000101/refund", headers=bearer)
            assert refund.status_code == 202
            sandbox.fail("/payment/cryptopay", Fault.read_timeout())  # paid; the answer lost
            lost = {"invoice_id": "400000102", "product": "tickets", "card": VISA}
            assert (await http.post("/checkout", json=lost)).status_code == 202
            assert (await http.get("/orders/400000101")).json()["status"] == "refund_in_doubt"
            assert (await http.get("/orders/400000102")).json()["status"] == "pending"
            await http.post("/admin/login", data={"token": TOKEN}, headers={"Origin": origin(http)})
            admin = await http.get("/admin")  # what is in doubt, read from the journal
            assert 'id="in-doubt" data-count="2"' in admin.text
            assert admin.text.count('<tr class="doubt" data-invoice="40000010') == 2
            killed = first.pid
        journal = SqliteJournal(tmp_path / "shop.journal.sqlite3")
        try:
            left = await journal.list(states=OPEN_STATES)
            assert sorted((r.operation, r.state.value) for r in left) == [
                ("cancel", "in_doubt"),
                ("pay_with_card", "in_doubt"),
            ]
            assert {r.writer.rpartition(":")[2] for r in left} == {str(killed)}
            async with shop_process(kind, free_port(), sandbox_url, database) as (http, _):
                # Settled at start-up, before the first request: by recover() for the payment,
                # by the order's invoice for the release (the journal has its transaction only).
                assert (await http.get("/orders/400000102")).json()["status"] == "paid"
                released = (await http.get("/orders/400000101")).json()
                assert (released["status"], released["refunded_amount"]) == (
                    "cancelled",
                    "1500.00",
                )
                back = await http.get("/orders/400000102/back")
                assert 'data-state="paid"' in back.text
                login = await http.post(
                    "/admin/login", data={"token": TOKEN}, headers={"Origin": origin(http)}
                )
                assert login.status_code == 303
                admin = await http.get("/admin")
                assert 'id="in-doubt" data-count="0"' in admin.text
            assert await journal.list(states=OPEN_STATES) == []
            records = {(r.operation, r.invoice_id): r for r in await journal.list()}
            assert records[("pay_with_card", "400000101")].state.value == "succeeded"
            pay, cancel = records[("pay_with_card", "400000102")], records[("cancel", None)]
            assert (pay.state.value, pay.payment_state) == ("settled", "paid")
            assert (cancel.state.value, cancel.payment_state) == ("settled", "cancelled")
        finally:
            await journal.aclose()
        # Each request reached the gateway once: nothing was sent again.
        assert len(sandbox.requests_to("/payment/cryptopay", method="POST")) == 2
        assert len(sandbox.requests_to("/cancel", method="POST")) == 1
        assert sandbox.transaction("400000102").status == StatusName.AUTH
        assert sandbox.transaction("400000101").status == StatusName.CANCEL
        tasks.cancel_scope.cancel()
    _assert_no_secret_in(tmp_path / "shop.journal.sqlite3", sandbox, database)


def _assert_no_secret_in(journal_file: Path, sandbox: Sandbox, database: Path) -> None:
    """No journal row holds a secret, token, PAN, CVC or cryptogram of what was sent."""
    with contextlib.closing(sqlite3.connect(journal_file)) as db:  # `with` alone leaves it open
        values = [str(v) for row in db.execute("SELECT * FROM epay_journal") for v in row]
    with contextlib.closing(sqlite3.connect(database)) as db:
        secret_hashes = [row[0] for row in db.execute("SELECT secret_hash FROM orders")]
    tokens = {r.bearer() for r in sandbox.requests} - {None}
    cryptograms = [
        json.loads(r.body)[CRYPTOGRAM_FIELD]
        for r in sandbox.requests_to("/payment/cryptopay", method="POST")
    ]
    secrets = [TEST_CLIENT_SECRET, VISA["pan"], *secret_hashes, *tokens, *cryptograms]
    assert tokens
    assert len(cryptograms) == 2
    dump = "\n".join(values)
    for secret in secrets:
        assert secret
        assert secret not in dump
    assert VISA["cvc"] not in values  # three digits: no whole value is the CVC
    assert "cvc" not in dump.lower()

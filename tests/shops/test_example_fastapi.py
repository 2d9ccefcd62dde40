"""The FastAPI example, driven in-process through httpx.ASGITransport against the sandbox of
the pytest plugin (``epay_sandbox``), as a merchant's own tests would."""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from epay_async.examples.fastapi_shop import create_app
from epay_async.journal import OPEN_STATES
from epay_async.testing import Fault, Sandbox

pytestmark = pytest.mark.anyio

VISA = {"pan": "4405639704015096", "exp_month": 1, "exp_year": 2027, "cvc": "321"}
MC_3DS = {"pan": "5522042705066736", "exp_month": 1, "exp_year": 2027, "cvc": "775"}
LOCKED = {"pan": "4003032704547597", "exp_month": 9, "exp_year": 2030, "cvc": "170"}


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the shop keeps its orders in SQLite through aiosqlite, an asyncio driver."""
    return "asyncio"


@pytest.fixture
async def shop(
    epay_sandbox: Sandbox, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(
        epay_sandbox.client,
        database=str(tmp_path / "shop.sqlite3"),
        public_url="https://shop.example",
    )
    epay_sandbox.send_notifications_to(asgi_app=app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as c:
            yield app, c


async def order_state(client: httpx.AsyncClient, invoice_id: str) -> dict[str, Any]:
    reply = (await client.get(f"/orders/{invoice_id}")).json()
    return {key: reply[key] for key in ("status", "paid_events") if key in reply}


async def test_card_checkout_marks_paid_once_despite_early_and_duplicate_notifications(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    response = await client.post(
        "/checkout",
        json={
            "invoice_id": "300000001",
            "product": "tickets",
            "account_id": "cust-1",
            "card": VISA,
        },
    )
    assert response.status_code == 200
    assert response.json()["status"] == "paid"
    # The gateway's notification reached the shop before the payment answer did.
    assert epay_sandbox.notifications[0].status == 200
    again = await client.post("/epay/post", content=epay_sandbox.notifications[0].body)
    assert again.status_code == 200
    assert await order_state(client, "300000001") == {"status": "paid", "paid_events": 1}


async def test_saved_card_checkout(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    card_id = epay_sandbox.save_card("4405639704015096", account_id="cust-2")
    response = await client.post(
        "/checkout",
        json={"invoice_id": "300000002", "product": "tickets", "card_id": card_id},
    )
    assert response.json()["status"] == "paid"
    assert await order_state(client, "300000002") == {"status": "paid", "paid_events": 1}


class FormFields(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input":
            self.fields[str(values["name"])] = str(values["value"])


async def test_3ds_checkout_through_the_term_url(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    page = await client.post(
        "/checkout",
        json={"invoice_id": "300000003", "product": "tickets", "card": MC_3DS},
    )
    assert page.headers["content-type"].startswith("text/html")
    form = FormFields()
    form.feed(page.text)
    assert form.fields["TermUrl"] == "https://shop.example/epay/3ds"
    assert await order_state(client, "300000003") == {"status": "pending", "paid_events": 0}
    pa_res = epay_sandbox.complete_3ds(form.fields["MD"])
    back = await client.post("/epay/3ds", data={"PaRes": pa_res, "MD": form.fields["MD"]})
    assert back.status_code == 200
    assert await order_state(client, "300000003") == {"status": "paid", "paid_events": 1}
    assert [n.status for n in epay_sandbox.notifications] == [200]


async def test_declined_checkout(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    response = await client.post(
        "/checkout",
        json={"invoice_id": "300000004", "product": "tickets", "card": LOCKED},
    )
    assert response.status_code == 402
    assert response.json()["reason"] == "Not permitted to merchant"
    assert (await order_state(client, "300000004"))["status"] == "failed"


async def test_forged_and_unknown_notifications_change_nothing(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    epay_sandbox.add_transaction("300000009", amount="1000", status="CHARGE")  # type: ignore[arg-type]
    unknown = await client.post(
        "/epay/post",
        json={"code": "ok", "invoiceId": "300000009", "amount": 1000, "currency": "KZT"},
    )
    assert unknown.status_code == 404
    assert (await order_state(client, "300000009"))["status"] == "unknown"
    declined = await client.post(
        "/checkout",
        json={"invoice_id": "300000005", "product": "tickets", "card": LOCKED},
    )
    assert declined.status_code == 402
    forged = epay_sandbox.notifications[-1].body.replace(b'"code":"error"', b'"code":"ok"')
    assert b'"code":"ok"' in forged
    response = await client.post("/epay/post", content=forged)
    assert response.status_code == 409
    assert (await order_state(client, "300000005"))["status"] == "failed"
    garbage = await client.post("/epay/post", content=b"<xml/>")
    assert garbage.status_code == 400


async def test_bad_checkout_input_is_refused_before_paying(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    response = await client.post(
        "/checkout",
        json={"invoice_id": "30000000x", "product": "tickets", "card": VISA},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invoice_id"
    assert epay_sandbox.requests == []


async def test_a_checkout_that_never_left_can_be_retried(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, client = shop
    checkout = {"invoice_id": "300000009", "product": "tickets", "card": VISA}
    epay_sandbox.fail("/payment/cryptopay", Fault.connect_error(), times=3)
    failed = await client.post("/checkout", json=checkout)
    assert failed.status_code == 503
    assert failed.json() == {"status": "not sent", "retry": True}
    assert epay_sandbox.requests_to("/payment/cryptopay") == []
    again = await client.post("/checkout", json=checkout)  # not 409 "already used"
    assert again.status_code == 200
    assert (await order_state(client, "300000009"))["status"] == "paid"


async def test_a_payment_in_doubt_is_recorded_shown_pending_and_settled(
    epay_sandbox: Sandbox, shop: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    app, client = shop

    async def lost(url: str, body: dict[str, Any]) -> None:
        """The notification is lost too: only the record and the timer are left."""

    epay_sandbox.send_notifications_to(callback=lost)
    checkout = {"invoice_id": "300000010", "product": "tickets", "card": VISA}
    epay_sandbox.fail(
        "/payment/cryptopay", Fault.read_timeout()
    )  # it went through; the answer lost
    response = await client.post("/checkout", json=checkout)
    assert response.status_code == 202
    assert (await order_state(client, "300000010"))["status"] == "pending"  # never "failed"
    journal = app.state.shop.journal
    (doubt,) = await journal.list(states=OPEN_STATES)  # written before it left, open since
    assert (doubt.invoice_id, doubt.operation, doubt.state) == (
        "300000010",
        "pay_with_card",
        "in_doubt",
    )
    await app.state.shop.reconcile_unsettled()  # what the timer does
    assert (await order_state(client, "300000010"))["status"] == "paid"
    assert await journal.list(states=OPEN_STATES) == []

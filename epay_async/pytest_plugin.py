"""Fixtures for a merchant's own tests, loaded by pytest whenever epay-async is installed.

=====================  =========================================================================
``epay_sandbox``       a fresh in-process :class:`~epay_async.testing.Sandbox` (a 2048-bit key:
                       fast to make; the gateway's is 4096)
``epay_client``        an :class:`~epay_async.EpayClient` wired to ``epay_sandbox`` (no network);
                       use it as is or ``async with epay_client:``
``epay_sandbox_url``   ``epay_sandbox`` served over HTTP on a free 127.0.0.1 port for the test,
                       from a thread of its own (any test, sync or async, any event loop); point
                       your app at ``Sandbox.environment(epay_sandbox_url)``
``epay_shopper``       plays the shopper on a hosted payment page of ``epay_sandbox``:
                       ``await epay_shopper.pay(page)`` takes the page as your app serves it
                       (the HTML of ``PaymentPage.html()``, or the ``PaymentPage``), pays it with
                       ``TEST_CARDS.visa`` (or ``card=``; ``three_ds="decline"``), and returns
                       the :class:`~epay_async.testing.ShopperResult`; ``abandon(page)`` leaves

A complete test (with anyio's pytest plugin, which ships with anyio)::

    import pytest
    from epay_async import Order

    @pytest.mark.anyio
    async def test_a_saved_card_pays(epay_sandbox, epay_client):
        card_id = epay_sandbox.save_card("4405639704015096", account_id="user-1")
        order = Order(invoice_id="000123456", amount="1500.00", description="Tickets")
        await epay_client.pay_with_saved_card(order, card_id)
        assert (await epay_client.get_status("000123456")).state == "paid"

Your app's postLink hears the payment when the sandbox is told where it is: in-process,
``epay_sandbox.send_notifications_to(asgi_app=app)`` (delivered before the shopper's answer
returns); served, the order's ``postLink`` URL over HTTP. A shop's own test, end to end::

    @pytest.mark.anyio
    async def test_the_shop_hears_the_payment(epay_sandbox, epay_shopper, tmp_path):
        app = create_app(epay_sandbox.client, database=str(tmp_path / "shop.sqlite3"))
        epay_sandbox.send_notifications_to(asgi_app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop.test"
        ) as shop:
            page = await shop.post("/buy", data={"product": "tickets"})
            paid = await epay_shopper.pay(page.text)
            assert paid.paid
            assert (await shop.get(f"/orders/{paid.invoice_id}")).json()["status"] == "paid"

Turn the plugin off with ``-p no:epay_async``.
"""

from __future__ import annotations

import html.parser
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from .types.payment_page import PaymentPage

if TYPE_CHECKING:
    from ._client import EpayClient
    from .testing import Sandbox, ShopperResult, TestCard, ThreeDSAnswer

__all__ = ["HostedPageShopper", "epay_client", "epay_sandbox", "epay_sandbox_url", "epay_shopper"]


@pytest.fixture
def epay_sandbox() -> Sandbox:
    """A fresh in-process sandbox of the ePay gateway, with its test merchant and cards."""
    from .testing import Sandbox  # noqa: PLC0415 - imported only by tests that use it

    return Sandbox(key_bits=2048)


@pytest.fixture
def epay_client(epay_sandbox: Sandbox) -> EpayClient:
    """A client of ``epay_sandbox`` with the test merchant's credentials (nothing leaves the
    process, so it holds no connection to close)."""
    return epay_sandbox.client()


@pytest.fixture
def epay_sandbox_url(epay_sandbox: Sandbox) -> Iterator[str]:
    """``epay_sandbox`` served on 127.0.0.1 for the test; its base URL."""
    import anyio.from_thread  # noqa: PLC0415

    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(epay_sandbox.serve, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            future.cancel()


class _MerchantPage(html.parser.HTMLParser):
    """The ``payment-api.js`` address and the ``paymentObject`` of a page made by
    :meth:`PaymentPage.html` (or one like it: a script with ``var paymentObject = {...};``)."""

    def __init__(self) -> None:
        super().__init__()
        self.script_url = ""
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            src = dict(attributes).get("src")
            if src and src.endswith("payment-api.js"):
                self.script_url = src

    def handle_data(self, data: str) -> None:
        if "paymentObject" in data:
            self.scripts.append(data)


def read_payment_page(text: str) -> PaymentPage:
    """The :class:`PaymentPage` behind a merchant's page (the HTML a shop sends the browser to
    open ePay's page). Raises ``ValueError`` when the HTML opens no payment page."""
    parsed = _MerchantPage()
    parsed.feed(text)
    for script in parsed.scripts:
        _, found, rest = script.partition("paymentObject =")
        if not found or not parsed.script_url:
            continue
        payment, _ = json.JSONDecoder(parse_float=Decimal).raw_decode(rest.strip())
        if isinstance(payment, dict) and "invoiceId" in payment:
            fields = {k: v for k, v in payment.items() if k != "auth"}
            return PaymentPage(
                invoice_id=str(payment["invoiceId"]),
                amount=Decimal(str(payment.get("amount", "0"))),
                currency=str(payment.get("currency", "KZT")),
                script_url=parsed.script_url,
                fields=fields,
                auth=dict(payment.get("auth") or {}),
            )
    raise ValueError("no hosted payment page in this HTML (no payment-api.js and paymentObject)")


class HostedPageShopper:
    """The ``epay_shopper`` fixture: ``epay_sandbox.shopper`` for the pages your app serves."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @staticmethod
    def page(page: PaymentPage | str | bytes) -> PaymentPage:
        """``page`` as a :class:`PaymentPage` (HTML is read with :func:`read_payment_page`)."""
        if isinstance(page, PaymentPage):
            return page
        return read_payment_page(page.decode() if isinstance(page, bytes) else page)

    async def pay(
        self,
        page: PaymentPage | str | bytes,
        card: TestCard | None = None,
        *,
        three_ds: ThreeDSAnswer = "approve",
    ) -> ShopperResult:
        """Open ``page`` and pay it: with ``card`` (default ``TEST_CARDS.visa``), or with the
        saved card a ``card_id`` page names; ``three_ds`` answers a card that asks for it."""
        from .testing import TEST_CARDS  # noqa: PLC0415

        opened = self.page(page)
        if card is None and opened.fields.get("paymentType") != "cardId":
            card = TEST_CARDS.visa
        return await self.sandbox.shopper.pay(opened, card, three_ds=three_ds)

    async def abandon(self, page: PaymentPage | str | bytes) -> ShopperResult:
        """Open ``page`` and leave it unpaid."""
        return await self.sandbox.shopper.abandon(self.page(page))


@pytest.fixture
def epay_shopper(epay_sandbox: Sandbox) -> HostedPageShopper:
    """Pays (or abandons) the hosted payment pages of ``epay_sandbox`` that your app serves."""
    return HostedPageShopper(epay_sandbox)

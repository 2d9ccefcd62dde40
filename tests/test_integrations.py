"""The ready postLink endpoints, on FastAPI and aiohttp.web over real HTTP on 127.0.0.1, fed the
sandbox's own notifications: genuine, duplicated, forged, oversized, for an unknown order, with
the gateway down, and with a merchant callback that fails."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI

from epay_async import EpayClient, Order, PaymentState, ValidationError
from epay_async.integrations import (
    ExpectedPayment,
    PostLinkHandler,
    Reply,
    VerifiedNotification,
)
from epay_async.integrations.aiohttp import postlink_handler
from epay_async.integrations.fastapi import postlink_endpoint
from epay_async.notifications import MAX_NOTIFICATION_BYTES
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY, free_port

VISA = "4405639704015096"
POST_LINK = "https://shop.example/epay/postlink"


class Shop:
    """A merchant's orders and what its callbacks saw."""

    def __init__(self) -> None:
        self.orders: dict[str, ExpectedPayment] = {}
        self.paid: list[VerifiedNotification] = []
        self.failed: list[VerifiedNotification] = []
        self.broken = 0  # how many more calls of on_paid raise

    async def lookup(self, invoice_id: str) -> ExpectedPayment | None:
        return self.orders.get(invoice_id)

    async def on_paid(self, verified: VerifiedNotification) -> None:
        if self.broken:
            self.broken -= 1
            raise RuntimeError("the shop's database is down")
        self.paid.append(verified)

    async def on_failed(self, verified: VerifiedNotification) -> None:
        self.failed.append(verified)


@contextlib.asynccontextmanager
async def fastapi_app(epay: EpayClient, shop: Shop) -> AsyncIterator[str]:
    app = FastAPI()
    app.add_route(
        "/epay/postlink",
        postlink_endpoint(epay, lookup=shop.lookup, on_paid=shop.on_paid, on_failed=shop.on_failed),
        methods=["POST"],
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn has no event to wait on
                await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{port}/epay/postlink"
        server.should_exit = True


@contextlib.asynccontextmanager
async def aiohttp_app(epay: EpayClient, shop: Shop) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post(
        "/epay/postlink",
        postlink_handler(epay, lookup=shop.lookup, on_paid=shop.on_paid, on_failed=shop.on_failed),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}/epay/postlink"
    finally:
        await runner.cleanup()


FRAMEWORKS: dict[str, Callable[[EpayClient, Shop], contextlib.AbstractAsyncContextManager[str]]]
FRAMEWORKS = {"fastapi": fastapi_app, "aiohttp": aiohttp_app}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn and aiohttp.web serve on asyncio


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Setup:
    def __init__(self, sandbox: Sandbox, epay: EpayClient, url: str, shop: Shop) -> None:
        self.sandbox, self.epay, self.url, self.shop = sandbox, epay, url, shop

    async def pay(self, invoice_id: str, pan: str = VISA, amount: str = "1500.00") -> bytes:
        """A real payment in the sandbox; the notification body it sent (not delivered)."""
        order = Order(
            invoice_id=invoice_id,
            amount=amount,
            description="tickets",
            post_link=POST_LINK,
            failure_post_link=POST_LINK,
            secret_hash="s3cret",
        )
        self.shop.orders[invoice_id] = ExpectedPayment(order.amount, "KZT", "s3cret")
        card_id = self.sandbox.save_card(pan, account_id="user-1")
        with contextlib.suppress(Exception):
            await self.epay.pay_with_saved_card(order, card_id)
        return self.sandbox.notifications[-1].body

    async def post(self, body: bytes, content_type: str = "application/json") -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url, content=body, headers={"content-type": content_type})


@pytest.fixture
async def setup(framework: str) -> AsyncIterator[Setup]:
    sandbox = Sandbox(key_bits=2048)
    shop = Shop()
    async with sandbox.client(retry=FAST_RETRY) as epay, FRAMEWORKS[framework](epay, shop) as url:
        yield Setup(sandbox, epay, url, shop)


pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups


async def test_a_genuine_notification_reaches_the_callback_once(setup: Setup) -> None:
    body = await setup.pay("100000001")
    first = await setup.post(body)
    assert (first.status_code, first.text) == (200, "ok")
    assert [v.invoice_id for v in setup.shop.paid] == ["100000001"]
    assert setup.shop.paid[0].state is PaymentState.PAID
    assert setup.shop.paid[0].status.transaction is not None
    assert setup.shop.paid[0].status.transaction.amount == Decimal("1500.00")
    again = await setup.post(body)  # the gateway sends it again
    assert again.status_code == 200
    assert len(setup.shop.paid) == 1


async def test_concurrent_duplicates_call_back_once(setup: Setup) -> None:
    body = await setup.pay("100000002")
    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(setup.post, body)
    assert len(setup.shop.paid) == 1


async def test_a_copy_of_a_paid_notification_without_its_id_calls_back_no_more(
    setup: Setup,
) -> None:
    # The gateway's notification has an id; a copy without one is still the same invoice's
    # payment (an invoice is paid once), not another to hand to on_paid.
    body = json.loads(await setup.pay("100000012"))
    assert body["id"]
    assert (await setup.post(json.dumps(body).encode())).status_code == 200
    copy = {name: value for name, value in body.items() if name != "id"}
    assert (await setup.post(json.dumps(copy).encode())).status_code == 200
    assert [v.invoice_id for v in setup.shop.paid] == ["100000012"]


@pytest.mark.parametrize("change", [{"amount": 1.00}, {"secret_hash": "guessed"}])
@pytest.mark.parametrize("keep_id", [True, False])
async def test_a_forged_copy_of_a_handled_notification_is_still_refused(
    setup: Setup, change: dict[str, Any], keep_id: bool
) -> None:
    body = json.loads(await setup.pay("100000013"))
    assert (await setup.post(json.dumps(body).encode())).status_code == 200
    forged = {**body, **change}
    if not keep_id:
        del forged["id"]
    assert (await setup.post(json.dumps(forged).encode())).status_code == 400
    assert len(setup.shop.paid) == 1


async def test_the_same_body_again_is_answered_200_once_the_order_moved_on(setup: Setup) -> None:
    # The gateway sends a notification again after it was handled and the order cancelled:
    # the very body handled is answered as it was, without asking the gateway or calling back.
    body = await setup.pay("100000014")
    assert (await setup.post(body)).status_code == 200
    await setup.epay.cancel(setup.shop.paid[0].status.transaction.id)  # type: ignore[union-attr]
    assert (await setup.post(body)).status_code == 200
    assert len(setup.shop.paid) == 1


async def test_a_duplicate_after_a_failed_callback_never_runs_beside_the_retry() -> None:
    # The first callback fails (500); a copy waiting for the invoice's lock takes it over; a
    # third copy arriving meanwhile must wait too, not run on_paid beside it.
    sandbox = Sandbox(key_bits=2048)
    calls: list[anyio.Event] = []
    paid: list[str] = []

    async def on_paid(verified: VerifiedNotification) -> None:
        release = anyio.Event()
        calls.append(release)
        await release.wait()
        if len(calls) == 1:
            raise RuntimeError("the shop's database is down")
        paid.append(verified.invoice_id)

    async def lookup(invoice_id: str) -> ExpectedPayment:
        return ExpectedPayment("1500.00", "KZT", "s3cret")

    async with sandbox.client(retry=FAST_RETRY) as epay:
        order = Order(
            invoice_id="100000015",
            amount="1500.00",
            description="tickets",
            post_link=POST_LINK,
            secret_hash="s3cret",
        )
        await epay.pay_with_saved_card(order, sandbox.save_card(VISA, account_id="user-1"))
        body = sandbox.notifications[-1].body
        handler = PostLinkHandler(epay, lookup=lookup, on_paid=on_paid)
        replies: list[int] = []

        async def post() -> None:
            replies.append((await handler.handle(body)).status_code)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(post)
            await anyio.wait_all_tasks_blocked()  # the first in its callback
            tasks.start_soon(post)
            await anyio.wait_all_tasks_blocked()  # the second waits for the lock
            calls[0].set()  # the first fails: the second takes the lock over
            await anyio.wait_all_tasks_blocked()
            tasks.start_soon(post)
            await anyio.wait_all_tasks_blocked()  # the third waits as well
            assert len(calls) == 2
            calls[1].set()
    assert sorted(replies) == [200, 200, 500]
    assert paid == ["100000015"]


async def test_a_declined_payment_reaches_on_failed(setup: Setup) -> None:
    body = await setup.pay("100000003", pan="4003032704547597")  # a declined test card
    assert json.loads(body)["code"] == "error"
    reply = await setup.post(body)
    assert reply.status_code == 200
    assert setup.shop.paid == []
    assert [v.state for v in setup.shop.failed] == [PaymentState.FAILED]


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1.00},  # the shopper's price
        {"currency": "USD"},
        {"secret_hash": "guessed"},
        {"code": "ok", "invoiceId": "100000009"},  # an invoice nobody paid
    ],
)
async def test_a_forged_notification_is_refused(setup: Setup, change: dict[str, Any]) -> None:
    body = json.loads(await setup.pay("100000004"))
    setup.shop.orders["100000009"] = ExpectedPayment("1500.00")
    reply = await setup.post(json.dumps({**body, **change}).encode())
    assert reply.status_code == 400
    assert setup.shop.paid == []


async def test_an_unknown_order_is_404(setup: Setup) -> None:
    body = await setup.pay("100000005")
    del setup.shop.orders["100000005"]
    reply = await setup.post(body)
    assert reply.status_code == 404
    assert setup.shop.paid == []


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/x-www"])
async def test_whatever_the_content_type_the_body_is_read(setup: Setup, content_type: str) -> None:
    body = await setup.pay("100000006")
    reply = await setup.post(body, content_type)
    assert reply.status_code == 200
    assert len(setup.shop.paid) == 1


async def test_an_oversized_body_is_refused_unread(setup: Setup) -> None:
    reply = await setup.post(b'{"invoiceId": "1", "x": "' + b"x" * MAX_NOTIFICATION_BYTES + b'"}')
    assert reply.status_code == 413


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"code": "ok"}'])
async def test_not_a_notification_is_400(setup: Setup, body: bytes) -> None:
    assert (await setup.post(body)).status_code == 400


async def test_gateway_down_is_503_and_the_notification_is_kept_for_later(setup: Setup) -> None:
    body = await setup.pay("100000007")
    setup.sandbox.fail("/check-status/", Fault.status(503), times=100)
    reply = await setup.post(body)
    assert reply.status_code == 503
    assert setup.shop.paid == []
    setup.sandbox.clear_faults()
    assert (await setup.post(body)).status_code == 200  # the gateway's next attempt
    assert len(setup.shop.paid) == 1


async def test_a_payment_still_processing_is_503_not_refused(setup: Setup) -> None:
    body = await setup.pay("100000011")
    setup.sandbox.in_progress("100000011", polls=1)
    assert (await setup.post(body)).status_code == 503
    assert (await setup.post(body)).status_code == 200
    assert len(setup.shop.paid) == 1


async def test_a_failing_callback_is_500_and_runs_again(setup: Setup) -> None:
    body = await setup.pay("100000008")
    setup.shop.broken = 1
    assert (await setup.post(body)).status_code == 500
    assert (await setup.post(body)).status_code == 200
    assert len(setup.shop.paid) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_handler_itself_runs_under_trio_and_asyncio() -> None:
    sandbox = Sandbox(key_bits=2048)
    shop = Shop()
    async with sandbox.client(retry=FAST_RETRY) as epay:
        setup = Setup(sandbox, epay, "", shop)
        body = await setup.pay("100000010")
        handler = PostLinkHandler(epay, lookup=shop.lookup, on_paid=shop.on_paid)
        assert (await handler.handle(body)).status_code == 200
        assert (await handler.handle(body)).status_code == 200
    assert len(shop.paid) == 1


async def test_plain_functions_are_taken_as_lookup_and_callbacks() -> None:
    """A dict lookup needs no ``async def``: a plain function works as one (it failed on the
    first notification with "can't be used in 'await' expression")."""
    sandbox = Sandbox(key_bits=2048)
    shop = Shop()
    paid: list[str] = []
    async with sandbox.client(retry=FAST_RETRY) as epay:
        setup = Setup(sandbox, epay, "", shop)
        body = await setup.pay("100000011")
        handler = PostLinkHandler(
            epay,
            lookup=shop.orders.get,
            on_paid=lambda verified: paid.append(verified.invoice_id),
        )
        assert (await handler.handle(body)).status_code == 200
    assert paid == ["100000011"]


async def test_a_lookup_answering_something_else_is_500_and_says_what(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = Sandbox(key_bits=2048)
    shop = Shop()
    async with sandbox.client(retry=FAST_RETRY) as epay:
        body = await Setup(sandbox, epay, "", shop).pay("100000012")
        handler = PostLinkHandler(epay, lookup=lambda _: Decimal("1500.00"), on_paid=shop.on_paid)  # type: ignore[arg-type,return-value]
        assert (await handler.handle(body)) == Reply(500, "not taken")
    assert shop.paid == []
    assert "lookup returned a Decimal for invoice 100000012" in caplog.text


def test_bad_configuration_is_refused() -> None:
    async def lookup(invoice_id: str) -> ExpectedPayment | None:
        return None

    with pytest.raises(ValidationError, match="on_paid"):
        PostLinkHandler(lambda: None, lookup=lookup, on_paid=None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_body_bytes"):
        PostLinkHandler(lambda: None, lookup=lookup, on_paid=lookup, max_body_bytes=0)  # type: ignore[arg-type]

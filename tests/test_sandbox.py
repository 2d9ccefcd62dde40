"""The sandbox behaves like the real gateway as far as public facts show (issue 22 §2):
unknown invoices are 102, notifications go out over real HTTP in the captured production
shape, a shopper can pay a hosted page, status scripts can precede the invoice, amounts keep
their scale; served, it has its own 3-D Secure page; ``save_card`` takes card numbers only."""

from __future__ import annotations

import asyncio
import contextlib
import html.parser
import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from epay_async import EpayClient, Order, PaymentDeclinedError, ResultCode, StatusName
from epay_async.notifications import parse_notification
from epay_async.testing import (
    TEST_CARDS,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    Sandbox,
    ShopperResult,
)
from epay_async.types.cards import Card
from epay_async.types.order import CardVerification

from .conftest import FAST_RETRY, served
from .factories import CREDENTIALS, VISA

pytestmark = pytest.mark.anyio

SHOP = "https://shop.example"
MC_3DS = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")


def order(invoice_id: str = "700000001", **fields: Any) -> Order:
    options: dict[str, Any] = {
        "invoice_id": invoice_id,
        "amount": Decimal("1500.00"),
        "description": "Concert tickets",
        "back_link": f"{SHOP}/back/{invoice_id}",
        "failure_back_link": f"{SHOP}/failed/{invoice_id}",
        "post_link": f"{SHOP}/epay/post",
        "failure_post_link": f"{SHOP}/epay/failed",
        "language": "rus",
        "account_id": "user-1",
        **fields,
    }
    return Order(**options)


# -- a tiny notification receiver on 127.0.0.1 -------------------------------------------------


class Receiver:
    """Answers every POST with ``status`` and keeps the bodies."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[bytes] = []
        self.received = anyio.Event()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))  # noqa: S610
            await listener.serve(self._connection)

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            reader = BufferedByteReceiveStream(stream)
            try:
                head = await reader.receive_until(b"\r\n\r\n", 65536)
                length = int(
                    re.search(rb"(?i)content-length:\s*(\d+)", head).group(1)  # type: ignore[union-attr]
                )
                self.bodies.append(await reader.receive_exactly(length))
                self.received.set()
                await stream.send(
                    f"HTTP/1.1 {self.status} X\r\ncontent-length: 0\r\n"
                    "connection: close\r\n\r\n".encode()
                )
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.IncompleteRead):
                return


async def free_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        return int(listener.extra(anyio.abc.SocketAttribute.local_port))  # noqa: S610


async def wait_until(condition: Any, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - a bounded poll of the sandbox's records
            await anyio.sleep(0.01)


@pytest.fixture
async def served_client(sandbox: Sandbox) -> AsyncIterator[tuple[Sandbox, EpayClient]]:
    async with (
        served(sandbox) as url,
        EpayClient(
            client_id="test",
            client_secret=TEST_CLIENT_SECRET,
            terminal_id=TEST_TERMINAL_ID,
            environment=Sandbox.environment(url),
            retry=FAST_RETRY,
        ) as epay,
    ):
        yield sandbox, epay


# -- 1. unknown invoices ---------------------------------------------------------------------


@contextlib.contextmanager
def cli_sandbox(*flags: str) -> Iterator[tuple[str, str]]:
    """``epay-async sandbox`` running: its banner and its URL."""
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "epay_async", "sandbox", "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(9))
        yield banner, banner.split(" on ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def run_cli_sandbox(*flags: str) -> tuple[str, ResultCode, StatusName | None]:
    """Start ``epay-async sandbox``, read its banner, check invoice 100000007 (last digit 7)."""
    with cli_sandbox(*flags) as (banner, url):

        async def check() -> tuple[ResultCode, StatusName | None]:
            async with EpayClient(
                client_id="test",
                client_secret=TEST_CLIENT_SECRET,
                terminal_id=TEST_TERMINAL_ID,
                environment=Sandbox.environment(url),
            ) as epay:
                status = await epay.get_status("100000007")
                return status.result_code, status.status_name

        code, name = anyio.run(check)
        return banner, code, name


def test_the_served_sandbox_answers_unknown_invoices_102_and_says_so() -> None:
    banner, code, name = run_cli_sandbox()
    assert (code, name) == (ResultCode.INVOICE_NOT_FOUND, None)
    assert "unknown invoices  answered 102" in banner
    assert "notifications" in banner
    url = banner.split(" on ")[1].split()[0]
    assert f"your app  EPAY_ENVIRONMENT={url} (with the credentials above)" in banner


def test_last_digit_answers_only_on_the_explicit_flag() -> None:
    banner, code, name = run_cli_sandbox("--answer-any-invoice")
    assert (code, name) == (ResultCode.SUCCESS, StatusName.AUTH)
    assert "by their last digit (--answer-any-invoice)" in banner
    assert "terminal mode     two-step: AUTH, then charge" in banner


def test_the_served_sandbox_takes_a_one_step_terminal() -> None:
    """The gateway's terminals are one-step unless the merchant asks (epay-api.md §3)."""
    with cli_sandbox("--one-step") as (banner, url):
        assert "terminal mode     one-step (--one-step)" in banner

        async def pay() -> StatusName | None:
            environment = Sandbox.environment(url)
            # Another sandbox's client, given the served one's URL, goes there over HTTP.
            async with Sandbox(key_bits=2048).client(environment=environment) as epay:
                await epay.pay_with_card(order("700000009"), VISA)
                return (await epay.get_status("700000009")).status_name

        assert anyio.run(pay) is StatusName.CHARGE


async def test_in_process_and_served_unknown_invoices_are_102(
    served_client: tuple[Sandbox, EpayClient], epay: EpayClient
) -> None:
    _, remote = served_client
    for client in (epay, remote):
        status = await client.get_status("100000007")
        assert status.result_code is ResultCode.INVOICE_NOT_FOUND
        assert status.transaction is None


# -- 2. notifications over real HTTP ---------------------------------------------------------


async def test_the_served_sandbox_posts_the_notification_to_the_post_link(
    sandbox: Sandbox,
) -> None:
    receiver = Receiver()
    async with anyio.create_task_group() as tg:
        port = await tg.start(receiver.serve)
        async with (
            served(sandbox) as url,
            EpayClient(
                client_id="test",
                client_secret=TEST_CLIENT_SECRET,
                terminal_id=TEST_TERMINAL_ID,
                environment=Sandbox.environment(url),
            ) as epay,
        ):
            link = f"http://127.0.0.1:{port}/epay/post"
            await epay.pay_with_card(order(post_link=link, failure_post_link=None), VISA)
            with anyio.fail_after(10):
                await receiver.received.wait()
                # The receiver has the body; the sandbox records the answer a moment later.
                while not sandbox.notifications or sandbox.notifications[0].status is None:  # noqa: ASYNC110 - no event to wait on
                    await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    (body,) = receiver.bodies
    notification = parse_notification(body)
    assert (notification.code, notification.invoice_id) == ("ok", "700000001")
    assert notification.amount == Decimal("1500.00")
    (delivery,) = sandbox.notifications
    assert (delivery.status, delivery.attempts, delivery.delivered) == (200, 1, True)


@pytest.mark.parametrize("receiver_status", [500, None], ids=["answers-500", "down"])
async def test_a_failing_receiver_gets_bounded_retries_and_the_sandbox_keeps_serving(
    receiver_status: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = Sandbox(key_bits=2048, notification_attempts=3, notification_backoff=0.01)
    receiver = Receiver(receiver_status or 200)
    caplog.set_level(logging.INFO, logger="epay_async.testing")
    async with anyio.create_task_group() as tg:
        port = await tg.start(receiver.serve) if receiver_status else await free_port()
        async with (
            served(sandbox) as url,
            EpayClient(
                client_id="test",
                client_secret=TEST_CLIENT_SECRET,
                terminal_id=TEST_TERMINAL_ID,
                environment=Sandbox.environment(url),
            ) as epay,
        ):
            link = f"http://127.0.0.1:{port}/epay/post"
            with anyio.fail_after(10):  # the payer's answer never waits for the receiver
                await epay.pay_with_card(order(post_link=link, failure_post_link=None), VISA)
            await wait_until(lambda: sandbox.notifications[0].attempts == 3)
            await anyio.sleep(0.1)  # no fourth attempt
            assert (await epay.get_status("700000001")).status_name is StatusName.AUTH
        tg.cancel_scope.cancel()
    (delivery,) = sandbox.notifications
    assert delivery.attempts == 3
    assert not delivery.delivered
    assert len(receiver.bodies) == (3 if receiver_status else 0)
    attempts = [r for r in caplog.records if r.name == "epay_async.testing"]
    assert [re.search(r"attempt (\d)/3", r.getMessage()).group(1) for r in attempts] == [  # type: ignore[union-attr]
        "1",
        "2",
        "3",
    ]
    assert "giving up" in attempts[-1].getMessage()
    assert not any("4405639704015096" in r.getMessage() for r in caplog.records)


async def test_stopping_the_server_cancels_deliveries_still_retrying() -> None:
    sandbox = Sandbox(key_bits=2048, notification_attempts=5, notification_backoff=60)
    port = await free_port()  # nobody listens: the first attempt fails, the next is 60 s away
    with anyio.fail_after(10):
        async with (
            served(sandbox) as url,
            EpayClient(
                client_id="test",
                client_secret=TEST_CLIENT_SECRET,
                terminal_id=TEST_TERMINAL_ID,
                environment=Sandbox.environment(url),
            ) as epay,
        ):
            link = f"http://127.0.0.1:{port}/epay/post"
            await epay.pay_with_card(order(post_link=link, failure_post_link=None), VISA)
            await wait_until(lambda: sandbox.notifications[0].attempts == 1)
    assert sandbox.notifications[0].attempts == 1


async def test_a_client_given_the_sandboxs_own_host_stays_in_process(sandbox: Sandbox) -> None:
    renamed = attrs.evolve(Sandbox.environment(), name="renamed", payform_url=None)
    async with sandbox.client(environment=renamed) as epay:
        await epay.get_status("700000031")
    assert len(sandbox.requests_to("/check-status")) == 1  # answered here, not over a network


def test_an_app_chosen_on_one_loop_still_hears_a_payment_made_on_the_next() -> None:
    """A sandbox kept across two ``anyio.run`` (a fixture of a wider scope): the loop that chose
    the receiver has ended, so the payment's notification is delivered where it is made."""
    sandbox = Sandbox(key_bits=2048)
    heard: list[str] = []

    async def receive(url: str, body: dict[str, Any]) -> int:
        heard.append(body["invoiceId"])
        return 200

    async def choose() -> None:
        sandbox.send_notifications_to(callback=receive)

    async def pay() -> None:
        async with sandbox.client() as epay:
            await epay.pay_with_card(order("700000021"), VISA)

    anyio.run(choose)
    anyio.run(pay)
    assert heard == ["700000021"]
    assert [(d.status, d.error) for d in sandbox.notifications] == [(200, None)]


def test_a_notification_given_up_on_never_reaches_the_app_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's loop is busy past the attempt's timeout: the delivery is recorded as failed,
    and the app does not receive it once its loop is free again."""
    monkeypatch.setattr("epay_async.testing._notify.ATTEMPT_TIMEOUT", 0.2)
    sandbox = Sandbox(key_bits=2048)
    heard: list[str] = []
    chosen, done = threading.Event(), threading.Event()

    async def receive(url: str, body: dict[str, Any]) -> int:
        heard.append(body["invoiceId"])
        return 200

    async def the_apps_loop() -> None:
        sandbox.send_notifications_to(callback=receive)
        chosen.set()
        time.sleep(1.0)  # noqa: ASYNC251 - the app's loop, blocked on purpose
        await asyncio.sleep(0.3)  # free again: anything still queued for it runs now
        done.set()

    app = threading.Thread(target=asyncio.run, args=(the_apps_loop(),))
    app.start()
    chosen.wait(10)

    async def pay() -> None:
        async with sandbox.client() as epay:
            await epay.pay_with_card(order("700000022"), VISA)

    anyio.run(pay)
    app.join(10)
    assert done.is_set()
    (delivery,) = sandbox.notifications
    assert (delivery.error or "").startswith("TimeoutError")
    assert heard == []


async def test_in_process_notifications_are_recorded_or_sent_inline(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    await epay.pay_with_card(order(), VISA)
    assert sandbox.notifications[0].attempts == 0  # recorded only: nothing configured
    seen: list[str] = []

    async def receive(url: str, body: dict[str, Any]) -> int:
        seen.append(url)
        return 204

    sandbox.send_notifications_to(callback=receive)
    await epay.pay_with_card(order("700000002"), VISA)
    assert seen == [f"{SHOP}/epay/post"]  # delivered before pay_with_card returned
    assert (sandbox.notifications[1].status, sandbox.notifications[1].attempts) == (204, 1)


# -- 3. the captured production shape -------------------------------------------------------


@pytest.mark.parametrize(("language", "echoed"), [("rus", "RUS"), ("kaz", "KAZ"), ("eng", "ENG")])
async def test_notifications_look_like_captured_production_ones(
    sandbox: Sandbox, epay: EpayClient, language: str, echoed: str
) -> None:
    await epay.pay_with_card(order(language=language), VISA)
    delivery = sandbox.notifications[0]
    body = json.loads(delivery.body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+05:00", body["dateTime"])
    assert body["language"] == echoed
    assert body["code"] == "ok"
    assert body["secure"] == "no"
    assert body["reasonCode"] == 0
    assert type(body["reasonCode"]) is int
    assert b'"amount":1500.00,' in delivery.body  # a JSON number, as the order was sent
    assert body["cardMask"] == "440563...5096"
    assert "issuerBankCountry" in body
    for key in ("invoiceIdAlt", "secureDetails", "email", "phone", "name", "data", "ipRegion"):
        assert key in body, key
        assert body[key] is None, key
    assert all(re.fullmatch(r"[a-z][A-Za-z]*", key) for key in body if key != "secret_hash")
    status = await epay.get_status("700000001")
    assert status.transaction is not None
    assert status.transaction.card_mask == "440563...5096"


async def test_a_failure_notification_and_3ds_secure_yes(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    pending = await epay.pay_with_card(order(), MC_3DS)
    assert pending.secure3d is not None
    pa_res = sandbox.complete_3ds(pending.secure3d.md, approve=False)
    await epay.confirm_3ds(pending.id, pa_res=pa_res, md=pending.secure3d.md)
    (delivery,) = sandbox.notifications
    body = json.loads(delivery.body)
    assert delivery.url == f"{SHOP}/epay/failed"
    assert (body["code"], body["secure"], body["reasonCode"]) == ("error", "yes", 473)
    assert body["cardMask"] == "552204...6736"


async def test_a_card_verification_notification_has_a_null_card_id(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    verification = CardVerification(
        invoice_id="700000009", account_id="c-1", post_link=f"{SHOP}/epay/post"
    )
    result = await epay.verify_card(verification, VISA)
    body = json.loads(sandbox.notifications[0].body)
    assert body["code"] == "ok"
    assert "cardId" in body
    assert body["cardId"] is None
    status = await epay.get_status("700000009")
    assert status.transaction is not None
    assert status.transaction.card_id == result.card_id


# -- 4. the shopper ----------------------------------------------------------------------------


async def test_the_shopper_pays_with_a_card(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    result = await sandbox.shopper.pay(page, TEST_CARDS.visa)
    assert result.paid
    assert result.redirect_url == f"{SHOP}/back/700000001"
    assert result.status is StatusName.AUTH
    status = await epay.get_status("700000001")
    assert status.transaction is not None
    assert status.transaction.id == result.transaction_id
    assert [n.payload["code"] for n in sandbox.notifications] == ["ok"]


async def test_the_shopper_passes_3ds(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    result = await sandbox.shopper.pay(page, TEST_CARDS.mastercard_3ds, three_ds="approve")
    assert (result.paid, result.redirect_url) == (True, f"{SHOP}/back/700000001")
    assert sandbox.notifications[0].payload["secure"] == "yes"


async def test_the_shopper_fails_3ds(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    result = await sandbox.shopper.pay(page, TEST_CARDS.mastercard_3ds, three_ds="decline")
    assert result == ShopperResult(
        "700000001",
        paid=False,
        redirect_url=f"{SHOP}/failed/700000001",
        transaction_id=result.transaction_id,
        status=StatusName.THREE_D,
        reason_code=473,
        reason="3-D Secure authentication failed",
    )
    assert [n.url for n in sandbox.notifications] == [f"{SHOP}/epay/failed"]


async def test_the_shopper_with_a_declined_card(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    result = await sandbox.shopper.pay(page, TEST_CARDS.locked_visa)
    assert (result.paid, result.redirect_url) == (False, f"{SHOP}/failed/700000001")
    assert (result.status, result.reason_code) == (StatusName.REJECT, 487)
    assert (await epay.get_status("700000001")).status_name is StatusName.REJECT


async def test_the_shopper_abandons_the_page(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    result = await sandbox.shopper.abandon(page)
    assert (result.paid, result.redirect_url, result.transaction_id) == (False, None, None)
    assert (await epay.get_status("700000001")).result_code is ResultCode.INVOICE_NOT_FOUND
    assert sandbox.notifications == []


async def test_the_shopper_pays_a_saved_card_page_without_3ds(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    card_id = sandbox.save_card(TEST_CARDS.mastercard_3ds.pan, account_id="user-1")
    page = await epay.payment_page(order(), card_id=card_id)
    result = await sandbox.shopper.pay(page)
    assert result.paid
    assert result.status is StatusName.AUTH


async def test_the_shopper_on_a_served_sandbox(served_client: tuple[Sandbox, EpayClient]) -> None:
    sandbox, epay = served_client
    page = await epay.payment_page(order())
    assert page.script_url.startswith("http://127.0.0.1:")
    result = await sandbox.shopper.pay(page, TEST_CARDS.mastercard_3ds)
    assert (result.paid, result.redirect_url) == (True, f"{SHOP}/back/700000001")
    status = await epay.get_status("700000001")
    assert status.transaction is not None
    assert status.transaction.amount == Decimal("1500.00")
    assert str(status.transaction.amount) == "1500.00"


async def test_a_shopper_refuses_a_page_of_another_sandbox(
    served_client: tuple[Sandbox, EpayClient],
) -> None:
    """A page made by another sandbox (a served one in another process, ``epay-async
    sandbox``) would be paid there and read here as unpaid: refused before it is opened."""
    sandbox, epay = served_client
    page = await epay.payment_page(order())
    with pytest.raises(ValueError, match="not issued by this sandbox"):
        await Sandbox(key_bits=2048).shopper.pay(page, TEST_CARDS.visa)
    assert sandbox.requests_to("/payform") == []
    assert (await sandbox.shopper.pay(page, TEST_CARDS.visa)).paid


async def test_a_used_page_cannot_be_paid_again(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    assert (await sandbox.shopper.pay(page, TEST_CARDS.visa)).paid
    again = await sandbox.shopper.pay(page, TEST_CARDS.visa)
    assert (again.paid, again.redirect_url) == (False, None)
    assert again.reason is not None
    assert "used" in again.reason


# -- 5. status scripts before the invoice exists ----------------------------------------------


async def test_in_progress_can_be_scripted_before_the_invoice_exists(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.queue_status("700000001", ResultCode.RETRY_OR_SUPPORT)
    sandbox.in_progress("700000001", polls=1)
    first = await epay.get_status("700000001")  # 103 is retried by the client, then 107
    assert first.result_code is ResultCode.IN_PROGRESS
    sandbox.in_progress("700000001", polls=2)
    await epay.pay_with_card(order(), VISA)
    assert (await epay.get_status("700000001")).result_code is ResultCode.IN_PROGRESS
    assert (await epay.get_status("700000001")).result_code is ResultCode.IN_PROGRESS
    assert (await epay.get_status("700000001")).status_name is StatusName.AUTH


async def test_a_status_name_scripted_for_a_missing_invoice_is_not_found(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    sandbox.queue_status("700000001", StatusName.NEW)
    assert (await epay.get_status("700000001")).result_code is ResultCode.INVOICE_NOT_FOUND
    sandbox.add_transaction("700000001", status=StatusName.CHARGE)
    assert (await epay.get_status("700000001")).status_name is StatusName.CHARGE


# -- 6. amounts keep their scale ----------------------------------------------------------------


@pytest.mark.parametrize("amount", ["100.10", "1500.00", "1"])
async def test_amounts_keep_their_scale_through_the_browser(
    sandbox: Sandbox, epay: EpayClient, amount: str
) -> None:
    page = await epay.payment_page(order(amount=Decimal(amount)))
    # What a browser sends: JSON.stringify turns 1500.00 into 1500 (and Python's json into
    # 1500.0); the gateway keeps the amount the order's token was minted with.
    browser_object = json.dumps({**page.payment_object(), "amount": float(amount)})
    async with sandbox.http_client() as http:
        opened = await http.post(
            "https://epay.sandbox.invalid/payform/", data={"payment": browser_object}
        )
        session = re.search(r'name="session" value="([^"]+)"', opened.text).group(1)  # type: ignore[union-attr]
        card = {"pan": VISA.pan, "exp": "01/27", "cvc": "321", "session": session}
        await http.post("https://epay.sandbox.invalid/payform/pay", data=card)
    status = await epay.get_status("700000001")
    assert status.transaction is not None
    assert str(status.transaction.amount) == amount
    assert str(parse_notification(sandbox.notifications[0].body).amount) == amount


@pytest.mark.parametrize("amount", ["100.10", "1500.00", "1"])
async def test_amounts_keep_their_scale_through_the_api(
    served_client: tuple[Sandbox, EpayClient], amount: str
) -> None:
    sandbox, epay = served_client
    paid = await epay.pay_with_card(order(amount=Decimal(amount)), VISA)
    assert str(paid.amount) == amount
    status = await epay.get_status("700000001")
    assert status.transaction is not None
    assert str(status.transaction.amount) == amount
    sandbox.add_transaction("700000002", amount=Decimal(amount))
    status = await epay.get_status("700000002")
    assert status.transaction is not None
    assert str(status.transaction.amount) == amount


# -- 7. saved cards never ask for 3-D Secure ------------------------------------------------------


async def test_a_saved_3ds_card_pays_without_3ds(sandbox: Sandbox, epay: EpayClient) -> None:
    card_id = sandbox.save_card(TEST_CARDS.mastercard_3ds.pan, account_id="user-1")
    paid = await epay.pay_with_saved_card(order(), card_id)
    assert paid.secure3d is None
    assert paid.status is StatusName.AUTH


def test_test_cards_by_name() -> None:
    assert TEST_CARDS.visa.pan == "4405639704015096"
    assert TEST_CARDS.mastercard_3ds.three_ds
    assert TEST_CARDS.locked_mastercard.locked
    assert TEST_CARDS.locked_visa.locked
    assert TEST_CARDS.amex.pan in TEST_CARDS


# -- the served sandbox's own 3-D Secure page -----------------------------------------------------


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"__action__": values.get("action", "")})
        elif tag in ("input", "button") and self.forms and "name" in values:
            self.forms[-1].setdefault(values["name"], values.get("value", ""))


def forms(page: str) -> list[dict[str, str]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


@pytest.fixture
async def served_url() -> AsyncIterator[str]:
    """A sandbox served on 127.0.0.1 for the test; its base URL."""
    async with served(Sandbox(key_bits=2048)) as url:
        yield url


@pytest.mark.parametrize("approve", [True, False])
async def test_the_served_sandbox_has_its_own_acs_page(served_url: str, approve: bool) -> None:
    url = served_url
    async with (
        EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": url}) as epay,
        httpx.AsyncClient() as browser,
    ):
        order = Order(invoice_id="700000001", amount="150", description="tickets")
        result = await epay.pay_with_card(order, Card("5522042705066736", 1, 2027, "775"))
        assert result.secure3d is not None
        assert result.secure3d.action == f"{url}/acs"  # not the bank's ACS host
        term_url = "https://shop.example/epay/3ds"
        page = await browser.post(
            result.secure3d.action,
            data={"PaReq": result.secure3d.pa_req, "MD": result.secure3d.md, "TermUrl": term_url},
        )
        assert page.status_code == 200
        assert "150" in page.text
        (challenge,) = forms(page.text)
        answer = await browser.post(
            f"{url}{challenge['__action__']}",
            data={
                "MD": challenge["MD"],
                "TermUrl": challenge["TermUrl"],
                "answer": "approve" if approve else "decline",
            },
        )
        (back,) = forms(answer.text)
        assert back["__action__"] == term_url
        confirmed = await epay.confirm_3ds(result.id, pa_res=back["PaRes"], md=back["MD"])
        assert confirmed.success is approve
        status = await epay.get_status("700000001")
        assert status.status_name is (StatusName.AUTH if approve else StatusName.THREE_D)


# -- what the sandbox takes and answers -----------------------------------------------------------


async def test_a_locked_saved_card_is_declined_as_by_card_data(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    card_id = sandbox.save_card("4003032704547597", account_id="a")
    order = Order(invoice_id="700000002", amount=10, description="x")
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_saved_card(order, card_id)
    assert info.value.code == 487


@pytest.mark.parametrize("pan", ["not-a-pan", "4405639704015097", "123"])
def test_save_card_takes_card_numbers_only(sandbox: Sandbox, pan: str) -> None:
    with pytest.raises(ValueError, match="pan"):
        sandbox.save_card(pan, account_id="a")


async def test_an_invoice_id_given_as_a_transaction_id_gets_a_hint(sandbox: Sandbox) -> None:
    sandbox.add_transaction("700000003", status="CHARGE")
    async with sandbox.http_client() as http:
        token = await http.post(
            sandbox.environment().token_url,
            data={
                "grant_type": "client_credentials",
                "scope": "webapi",
                "client_id": "test",
                "client_secret": TEST_CLIENT_SECRET,
                "terminal": TEST_TERMINAL_ID,
            },
        )
        answer = await http.post(
            f"{sandbox.environment().api_url}/operation/700000003/refund",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert answer.json()["code"] == 522
    assert "transaction id" in answer.json()["message"]


def test_sandbox_clients_need_no_network(sandbox: Sandbox) -> None:
    assert sandbox.client(retry=FAST_RETRY).environment.api_url.endswith(".invalid")

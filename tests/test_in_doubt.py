"""No money request is left in doubt without a record: cancellation at each point, deadlines,
callbacks of every kind, and redirects that are never followed."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from epay_async import (
    Card,
    CardPan,
    Environment,
    EpayClient,
    Order,
    OutcomeUnknownError,
    ProtocolError,
    RetryPolicy,
    StatusName,
)
from epay_async.testing import TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import VISA
from .factories import order as make_order

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups

Money = Callable[[EpayClient, Sandbox, str], Awaitable[object]]


def order(invoice_id: str) -> Order:
    return make_order(invoice_id, "150.00", "x")


async def authorised(epay: EpayClient, invoice_id: str) -> str:
    return (await epay.pay_with_card(order(invoice_id), VISA)).id


def money_operations() -> dict[str, tuple[str, Callable[..., Any]]]:
    """name -> (the path it posts to, how to start it; returns the coroutine to cancel)."""

    async def pay(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        card_id = sandbox.save_card(VISA.pan, account_id="a")
        return lambda: epay.pay_with_saved_card(order(invoice), card_id)

    async def transfer(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        sender = CardPan(VISA.pan, exp_month=1, exp_year=2027, cvc="321")
        return lambda: epay.transfer(
            order(invoice), sender=sender, receiver=CardPan("377514500004820")
        )

    async def charge(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        payment_id = await authorised(epay, invoice)
        return lambda: epay.charge(payment_id)

    async def cancel(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        payment_id = await authorised(epay, invoice)
        return lambda: epay.cancel(payment_id)

    async def refund(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        payment_id = await authorised(epay, invoice)
        await epay.charge(payment_id)
        return lambda: epay.refund(payment_id, Decimal(50))

    async def confirm(epay: EpayClient, sandbox: Sandbox, invoice: str) -> Callable[[], Any]:
        result = await epay.pay_with_card(order(invoice), Card("5522042705066736", 1, 2027, "775"))
        assert result.secure3d is not None
        md = result.secure3d.md
        pa_res = sandbox.complete_3ds(md)
        return lambda: epay.confirm_3ds(result.id, pa_res=pa_res, md=md)

    return {
        "pay": ("/payments/cards/auth", pay),
        "transfer": ("/p2p/transfer", transfer),
        "charge": ("/charge", charge),
        "cancel": ("/cancel", cancel),
        "refund": ("/refund", refund),
        "confirm": ("/payment/confirm", confirm),
    }


OPERATIONS = money_operations()


async def cancel_when(seen: Callable[[], bool], start: Callable[[], Awaitable[object]]) -> None:
    """Run ``start()`` and cancel it as soon as ``seen()`` holds (the sandbox has the request
    it holds back): the moment a caller's timeout would hit, without waiting for a clock."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.fail_after(10):
                while not seen():  # noqa: ASYNC110 (the sandbox keeps a list, no event)
                    await anyio.sleep(0.002)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        await start()
        raise AssertionError("the call ended before it was cancelled")


@pytest.fixture
def records() -> list[OutcomeUnknownError]:
    return []


@pytest.fixture
async def recording(
    sandbox: Sandbox, records: list[OutcomeUnknownError]
) -> AsyncIterator[EpayClient]:
    async with sandbox.client(retry=FAST_RETRY, on_outcome_unknown=records.append) as client:
        yield client


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_cancelled_after_the_request_left_is_recorded_once(
    sandbox: Sandbox, recording: EpayClient, records: list[OutcomeUnknownError], name: str
) -> None:
    path, prepare = OPERATIONS[name]
    start = await prepare(recording, sandbox, "600000001")
    sandbox.fail(path, Fault.slow(30))  # processed, the answer held back
    await cancel_when(lambda: bool(sandbox.requests_to(path)), start)
    assert len(sandbox.requests_to(path)) == 1
    assert len(records) == 1
    record = records[0]
    assert "cancelled by the caller" in record.reason
    assert record.invoice_id == "600000001" or record.transaction_id is not None


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_cancelled_before_anything_left_records_nothing(
    sandbox: Sandbox, recording: EpayClient, records: list[OutcomeUnknownError], name: str
) -> None:
    path, prepare = OPERATIONS[name]
    start = await prepare(recording, sandbox, "600000002")
    recording._pipeline.tokens._cache.token = None  # the next call must ask for a token first
    sandbox.fail("oauth2/token", Fault.slow(30), times=5)  # and the token never comes
    asked = len(sandbox.token_requests)
    await cancel_when(lambda: len(sandbox.token_requests) > asked, start)
    assert sandbox.requests_to(path) == []
    assert records == []


async def test_a_caller_timeout_with_fail_after_is_recorded_and_propagates(
    sandbox: Sandbox, recording: EpayClient, records: list[OutcomeUnknownError]
) -> None:
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.slow(30))
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.3):
            await recording.pay_with_saved_card(order("600000003"), card_id)
    assert [r.invoice_id for r in records] == ["600000003"]
    assert (await recording.get_status("600000003")).is_paid  # it did go through


async def test_a_raised_outcome_unknown_is_recorded_too(
    sandbox: Sandbox, recording: EpayClient, records: list[OutcomeUnknownError]
) -> None:
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError) as caught:
        await recording.pay_with_saved_card(order("600000004"), card_id)
    assert records == [caught.value]


async def test_the_call_deadline_during_the_exchange_is_recorded(
    sandbox: Sandbox, records: list[OutcomeUnknownError]
) -> None:
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.slow(30))
    async with sandbox.client(
        retry=RetryPolicy(deadline=0.3), on_outcome_unknown=records.append
    ) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order("600000005"), card_id)
    assert [r.invoice_id for r in records] == ["600000005"]


async def test_reads_are_never_recorded(
    sandbox: Sandbox, recording: EpayClient, records: list[OutcomeUnknownError]
) -> None:
    sandbox.add_transaction("600000006", status=StatusName.AUTH)
    sandbox.fail("/check-status/", Fault.slow(30))
    await cancel_when(
        lambda: bool(sandbox.requests_to("/check-status/")),
        lambda: recording.get_status("600000006"),
    )
    assert records == []


@pytest.mark.parametrize("kind", ["raises", "slow", "async"])
async def test_callbacks_that_fail_or_hang_never_hide_the_callers_error(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    seen: list[str] = []

    def raises(error: OutcomeUnknownError) -> None:
        raise RuntimeError("the database is down")

    async def slow(error: OutcomeUnknownError) -> None:
        await anyio.sleep(60)

    async def asynchronous(error: OutcomeUnknownError) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(str(error.invoice_id))

    callback = {"raises": raises, "slow": slow, "async": asynchronous}[kind]
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.read_timeout())
    caplog.set_level(logging.WARNING, logger="epay_async")
    import epay_async._constants as constants  # noqa: PLC0415

    bound, constants.OUTCOME_CALLBACK_TIMEOUT = constants.OUTCOME_CALLBACK_TIMEOUT, 0.2
    try:
        async with sandbox.client(retry=FAST_RETRY, on_outcome_unknown=callback) as epay:
            with pytest.raises(OutcomeUnknownError):
                await epay.pay_with_saved_card(order("600000007"), card_id)
    finally:
        constants.OUTCOME_CALLBACK_TIMEOUT = bound
    assert any(
        "outcome unknown" in r.message and r.levelno == logging.WARNING for r in caplog.records
    )
    if kind == "async":
        assert seen == ["600000007"]
    else:
        assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_an_async_callback_runs_shielded_from_the_cancellation(
    sandbox: Sandbox,
) -> None:
    stored: list[str] = []

    async def store(error: OutcomeUnknownError) -> None:
        await anyio.sleep(0.1)  # a database write, while the caller is being cancelled
        stored.append(str(error.invoice_id))

    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.slow(30))
    async with sandbox.client(retry=FAST_RETRY, on_outcome_unknown=store) as epay:
        await cancel_when(
            lambda: bool(sandbox.requests_to("/payments/cards/auth")),
            lambda: epay.pay_with_saved_card(order("600000008"), card_id),
        )
    assert stored == ["600000008"]


async def test_with_options_can_set_the_callback(sandbox: Sandbox, epay: EpayClient) -> None:
    records: list[OutcomeUnknownError] = []
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.read_timeout())
    with pytest.raises(OutcomeUnknownError):
        await epay.with_options(on_outcome_unknown=records.append).pay_with_saved_card(
            order("600000009"), card_id
        )
    assert len(records) == 1


# -- over real sockets ------------------------------------------------------------------------


async def test_cancelled_after_the_write_over_loopback_is_recorded() -> None:
    sandbox = Sandbox(key_bits=2048)
    records: list[OutcomeUnknownError] = []
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    async with anyio.create_task_group() as tasks:
        port = await tasks.start(sandbox.serve)
        async with EpayClient(
            client_id="test",
            client_secret=TEST_CLIENT_SECRET,
            terminal_id=TEST_TERMINAL_ID,
            environment=Sandbox.environment(f"http://127.0.0.1:{port}"),
            retry=FAST_RETRY,
            on_outcome_unknown=records.append,
        ) as epay:
            sandbox.fail("/payments/cards/auth", Fault.slow(30))
            await cancel_when(
                lambda: bool(sandbox.requests_to("/payments/cards/auth")),
                lambda: epay.pay_with_saved_card(order("600000010"), card_id),
            )
            assert len(sandbox.requests_to("/payments/cards/auth")) == 1
            assert [r.invoice_id for r in records] == ["600000010"]
        tasks.cancel_scope.cancel()


# -- redirects --------------------------------------------------------------------------------

ENV = Environment.custom(
    token_url="https://oauth.test/token", api_url="https://api.test", payform_url="https://p.test/"
)


def redirecting(http_client: httpx.AsyncClient | None, seen: list[str]) -> EpayClient:
    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "elsewhere.test":
            return httpx.Response(200, json={"resultCode": "100", "access_token": "x"})
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
        return httpx.Response(307, headers={"location": "https://elsewhere.test/steal"})

    transport = httpx.MockTransport(handle)
    if http_client is not None:
        http_client._transport = transport  # a lent client that follows redirects
    return EpayClient(
        client_id="c",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        http_client=http_client,
        transport=transport,
        retry=FAST_RETRY,
    )


@pytest.mark.parametrize("lent", [False, True])
async def test_redirects_are_never_followed(lent: bool) -> None:
    seen: list[str] = []
    lent_client = httpx.AsyncClient(follow_redirects=True) if lent else None
    epay = redirecting(lent_client, seen)
    reads: list[Callable[[], Awaitable[object]]] = [
        lambda: epay.get_status("123456789"),
        lambda: epay.list_cards("a"),
        lambda: epay.deactivate_card("e7e2587f-de26-4f41-ae1f-80c1fea31728"),
    ]
    money: list[Callable[[], Awaitable[object]]] = [
        lambda: epay.pay_with_saved_card(order("123456789"), "card"),
        lambda: epay.charge("e7e2587f-de26-4f41-ae1f-80c1fea31728"),
        lambda: epay.refund("e7e2587f-de26-4f41-ae1f-80c1fea31728"),
    ]
    async with epay:
        for read in reads:
            with pytest.raises(ProtocolError, match=r"307 redirect to elsewhere\.test"):
                await read()
        for pay in money:
            with pytest.raises(OutcomeUnknownError, match=r"307 redirect to elsewhere\.test"):
                await pay()
    if lent_client is not None:
        await lent_client.aclose()
    assert "elsewhere.test" not in seen


async def test_confirm_3ds_still_reads_the_gateways_redirect(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    result = await epay.pay_with_card(order("600000011"), Card("5522042705066736", 1, 2027, "775"))
    assert result.secure3d is not None
    pa_res = sandbox.complete_3ds(result.secure3d.md)
    confirmed = await epay.confirm_3ds(result.id, pa_res=pa_res, md=result.secure3d.md)
    assert confirmed.success


class _SlowBody(httpx.AsyncByteStream):
    """An answer whose headers arrive, then its body hangs half way."""

    def __aiter__(self) -> _SlowBody:
        self.sent = False
        return self

    async def __anext__(self) -> bytes:
        if not self.sent:
            self.sent = True
            return b'{"id": "7943816b-58a8-47f6-a11e-67b63c4228c7", '
        await anyio.sleep(30)
        raise StopAsyncIteration


class _HangsWhileAnswering(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.payments = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})
        self.payments += 1
        return httpx.Response(200, stream=_SlowBody())


async def test_cancelled_while_the_answer_is_being_read_is_recorded() -> None:
    records: list[OutcomeUnknownError] = []
    gateway = _HangsWhileAnswering()
    async with EpayClient(
        client_id="c",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        transport=gateway,
        retry=FAST_RETRY,
        on_outcome_unknown=records.append,
    ) as epay:
        with anyio.move_on_after(0.3) as scope:
            await epay.pay_with_saved_card(order("600000012"), "card")
    assert scope.cancelled_caught
    assert gateway.payments == 1
    assert [r.invoice_id for r in records] == ["600000012"]


# -- a cancelled call ends cancelled, whatever else comes with the cancellation ------------------


async def test_the_call_deadline_never_fires_through_the_callback(sandbox: Sandbox) -> None:
    # The caller's scope ends the held payment before the call's deadline; the callback, still
    # running when that deadline comes, finishes, and the code after the caller's scope runs.
    stored: list[str] = []
    after: list[str] = []

    async def store(error: OutcomeUnknownError) -> None:
        await anyio.sleep(0.15)  # a database write that outlives the call's deadline
        stored.append(str(error.invoice_id))

    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.slow(30))
    async with sandbox.client(retry=RetryPolicy(deadline=0.3), on_outcome_unknown=store) as epay:
        with anyio.move_on_after(0.2) as scope:
            await epay.pay_with_saved_card(order("600000020"), card_id)
        after.append("ran")
    assert scope.cancelled_caught
    assert stored == ["600000020"]
    assert after == ["ran"]


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="Python 3.10's asyncio cannot count cancellations: a cancel in the deadline's own "
    "loop step is one CancelledError with it, and ends as the deadline's (docs/money-safety.md)",
)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cancel_arriving_with_the_deadline_ends_cancelled_and_is_recorded(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # task.cancel() scheduled for the very loop instant the call's deadline fires: both land
    # before the task runs again, every time. The task must end cancelled, with its record.
    import asyncio  # noqa: PLC0415 - asyncio only

    import epay_async._call as transport  # noqa: PLC0415

    records: list[OutcomeUnknownError] = []
    fired: list[float] = []
    scope_of = transport._deadline_scope

    def cancelled_at_the_deadline(seconds: float) -> Any:
        task = asyncio.current_task()
        assert task is not None
        deadline, scope = scope_of(seconds)
        asyncio.get_running_loop().call_at(deadline, task.cancel)
        fired.append(deadline)
        return deadline, scope

    monkeypatch.setattr(transport, "_deadline_scope", cancelled_at_the_deadline)
    card_id = sandbox.save_card(VISA.pan, account_id="a")
    sandbox.fail("/payments/cards/auth", Fault.slow(30))
    async with sandbox.client(
        retry=RetryPolicy(deadline=0.2), on_outcome_unknown=records.append
    ) as epay:
        for n in range(3):
            task = asyncio.ensure_future(epay.pay_with_saved_card(order(f"60000003{n}"), card_id))
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled()
            sandbox.fail("/payments/cards/auth", Fault.slow(30))
    assert [r.invoice_id for r in records] == ["600000030", "600000031", "600000032"]
    assert len(fired) == 3  # each call's cancel was timed to its own deadline


@pytest.mark.parametrize("point", ["token", "callback"])
async def test_a_cancel_during_the_token_or_the_callback_ends_cancelled(
    sandbox: Sandbox, point: str
) -> None:
    # (a cancel while the answer is read: test_cancelled_while_the_answer_is_being_read_...)
    stored: list[str] = []
    after: list[str] = []

    async def store(error: OutcomeUnknownError) -> None:
        await anyio.sleep(0.2)  # the caller's scope ends while this runs
        stored.append(str(error.invoice_id))

    card_id = sandbox.save_card(VISA.pan, account_id="a")
    if point == "token":
        sandbox.fail("/oauth2/token", Fault.slow(30))
    else:
        sandbox.fail("/payments/cards/auth", Fault.read_timeout())
    async with sandbox.client(retry=FAST_RETRY, on_outcome_unknown=store) as epay:
        with anyio.move_on_after(0.1) as scope:
            # callback: the read timeout's OutcomeUnknownError is being recorded when the
            # caller's scope ends; the call ends cancelled once the record is written
            await epay.pay_with_saved_card(order("600000040"), card_id)
        after.append("ran")
    assert scope.cancelled_caught
    assert stored == ([] if point == "token" else ["600000040"])
    assert after == ["ran"]


@pytest.mark.parametrize("moves_money", [True, False])
async def test_an_unforeseen_error_below_the_library_during_a_payment_is_recorded(
    moves_money: bool,
) -> None:
    """A custom transport's bug raised while the payment may have left propagates as it is,
    and the payment is recorded in doubt, as the journal records it; a read is not."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(
            ("/payments/cards/auth", "/check-status/payment/transaction/600000011")
        ):
            raise LookupError("a bug in a custom transport")
        return httpx.Response(200, json={"access_token": "t", "expires_in": 7200})

    records: list[OutcomeUnknownError] = []
    async with EpayClient(
        client_id="c",
        client_secret="s",
        terminal_id="t",
        environment=ENV,
        transport=httpx.MockTransport(handle),
        retry=FAST_RETRY,
        on_outcome_unknown=records.append,
    ) as epay:
        call = (
            epay.pay_with_saved_card(order("600000011"), "e7e2587f-de26-4f41-ae1f")
            if moves_money
            else epay.get_status("600000011")
        )
        with pytest.raises(LookupError):
            await call
    if moves_money:
        assert [(r.invoice_id, r.reason) for r in records] == [
            ("600000011", "LookupError raised while the request was under way")
        ]
    else:
        assert records == []

"""No secret in what an error tracker records: tracebacks with their frames' local variables
(``capture_locals=True``, what Sentry and others do by default), and the exception chain."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import pytest

from epay_async import (
    Card,
    CardPan,
    Environment,
    EpayClient,
    EpayError,
    Order,
    StatusName,
)
from epay_async.notifications import parse_notification
from epay_async.testing import TEST_CLIENT_SECRET, Fault, Sandbox

from ..conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PAN, CVC = "4405639704015096", "321"
PAN_3DS, CVC_3DS = "5522042705066736", "775"
RECEIVER = "5522042705066736"
SECRET_HASH = "merchant-secret-hash-4242"
TOKEN = "tok-" + "A1b2C3d4" * 4  # a module constant: a test frame's own locals are recorded too


def recorded(exc: BaseException) -> str:
    """Everything an error tracker would keep of ``exc``: traceback, locals, chain."""
    text = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    cause: BaseException | None = exc
    while cause is not None:  # headers reachable from the chain, e.g. exc.__cause__.request
        request = getattr(cause, "request", None) if isinstance(cause, httpx.HTTPError) else None
        if request is not None:
            text += repr(dict(request.headers))
        cause = cause.__cause__ or cause.__context__
    return text


def order(invoice_id: str) -> Order:
    return Order(
        invoice_id=invoice_id,
        amount=Decimal("150.00"),
        description="tickets",
        secret_hash=SECRET_HASH,
        post_link="https://shop.example/notify",
    )


Flow = Callable[[EpayClient, Sandbox], Awaitable[object]]


async def read(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.add_transaction("123456789", status=StatusName.AUTH)
    sandbox.fail("/check-status/", Fault.read_timeout(), times=10)
    return await epay.get_status("123456789")


async def pay_card(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.fail("/payment/cryptopay", Fault.read_timeout())
    return await epay.pay_with_card(order("100000001"), Card(PAN, 1, 2027, CVC))


async def pay_card_unreadable(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.fail("/payment/cryptopay", Fault.status(200, b"{not json"))
    return await epay.pay_with_card(order("100000002"), Card(PAN, 1, 2027, CVC))


async def pay_saved(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.fail("/payments/cards/auth", Fault.dropped())
    return await epay.pay_with_saved_card(order("100000003"), "e7e2587f-de26-4f41-ae1f-80c1fea3172")


async def confirm(epay: EpayClient, sandbox: Sandbox) -> object:
    result = await epay.pay_with_card(order("100000004"), Card(PAN_3DS, 1, 2027, CVC_3DS))
    assert result.secure3d is not None
    SECRETS.append(sandbox.complete_3ds(result.secure3d.md))  # not a local of this test frame
    sandbox.fail("/payment/confirm", Fault.read_timeout())
    return await epay.confirm_3ds(result.id, pa_res=SECRETS[-1], md=result.secure3d.md)


async def transfer(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.fail("/p2p/transfer", Fault.read_timeout())
    return await epay.transfer(
        order("100000005"),
        sender=CardPan(PAN, exp_month=1, exp_year=2027, cvc=CVC),
        receiver=CardPan(RECEIVER),
    )


async def token_refused(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.fail("oauth2/token", Fault.status(500), times=10)
    return await epay.pay_with_card(order("100000006"), Card(PAN, 1, 2027, CVC))


async def forged_notification(epay: EpayClient, sandbox: Sandbox) -> object:
    sandbox.add_transaction("123456780", amount=Decimal("150.00"), status=StatusName.CHARGE)
    notification = parse_notification(
        {"code": "ok", "invoiceId": "123456780", "amount": 150, "secret_hash": "forged"}
    )
    return await epay.verify_notification(notification, secret_hash=SECRET_HASH)


SECRETS: list[str] = []
FLOWS = [
    read, pay_card, pay_card_unreadable, pay_saved, confirm, transfer, token_refused,
    forged_notification,
]  # fmt: skip


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.__name__)
async def test_no_secret_in_recorded_tracebacks(sandbox: Sandbox, flow: Flow) -> None:
    SECRETS.clear()
    async with sandbox.client(retry=FAST_RETRY) as epay:
        with pytest.raises(EpayError) as caught:
            await flow(epay, sandbox)
    text = recorded(caught.value)
    tokens = [t.value for t in sandbox.gateway.tokens.values()]
    for secret in [TEST_CLIENT_SECRET, SECRET_HASH, PAN, PAN_3DS, RECEIVER, *tokens, *SECRETS]:
        assert secret not in text, f"{secret[:6]}... recorded in {caught.value!r}"
    for short in (CVC, CVC_3DS):  # three digits also occur in addresses and timings: as a value
        assert f"'{short}'" not in text
        assert f'"{short}"' not in text


@pytest.mark.parametrize("broken", ["/token", "/payments/cards/auth", "/p2p/transfer"])
async def test_an_unexpected_error_inside_the_exchange_records_no_secret(broken: str) -> None:
    """A bug below the library (here a transport raising LookupError) propagates as it is,
    through the frames that build and send the request: their locals must show neither the
    token nor the body (the client secret in the token form, card data in a transfer)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(broken):
            raise LookupError("a bug in a custom transport")
        return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 7200})

    environment = Environment.custom(token_url="https://o.test/token", api_url="https://a.test")
    async with EpayClient(
        client_id="test",
        client_secret=TEST_CLIENT_SECRET,
        terminal_id="t",
        environment=environment,
        transport=httpx.MockTransport(handle),
        retry=FAST_RETRY,
    ) as epay:
        sender = CardPan(pan=PAN, exp_month=1, exp_year=2027, cvc=CVC)
        call = (
            epay.transfer(order("100000007"), sender=sender, receiver=CardPan(RECEIVER))
            if broken == "/p2p/transfer"
            else epay.pay_with_saved_card(order("100000007"), "e7e2587f-de26-4f41-ae1f-80c1fe")
        )
        with pytest.raises(LookupError) as caught:
            await call
    text = recorded(caught.value)
    assert "_send_once" in text  # the frame that holds the headers and body is in the record
    assert "exchange" in text
    for secret in (TOKEN, TEST_CLIENT_SECRET, PAN, RECEIVER, f'"{CVC}"'):
        assert secret not in text, f"{secret[:6]}... recorded"

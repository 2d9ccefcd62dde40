"""What many test modules build: orders, the sandbox's documented test cards as ``Card``s, and
clients of a gateway whose every answer a test writes (``httpx.MockTransport``)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import httpx

from epay_async import Card, Environment, EpayClient, Order
from epay_async import _constants as C
from epay_async.testing import SANDBOX_URL, TEST_CARDS, TEST_CLIENT_SECRET, TEST_TERMINAL_ID
from epay_async.testing._cards import TestCard

from .conftest import FAST_RETRY


def card(test_card: TestCard) -> Card:
    """``test_card`` (``exp_date`` MMYY) as what a payment takes."""
    month, year = int(test_card.exp_date[:2]), 2000 + int(test_card.exp_date[2:])
    return Card(pan=test_card.pan, exp_month=month, exp_year=year, cvc=test_card.cvc or "000")


#: Pays without 3-D Secure.
VISA = card(TEST_CARDS.visa)
#: Asks for 3-D Secure.
MASTERCARD_3DS = card(TEST_CARDS.mastercard_3ds)
#: Pays; a four-digit CVC.
AMEX = card(TEST_CARDS.amex)


def order(
    invoice_id: str = "100000001",
    amount: Decimal | str = "100.00",
    description: str = "test order",
    **fields: Any,
) -> Order:
    """An order with the fields a test cares about, and harmless defaults for the rest."""
    return Order(invoice_id=invoice_id, amount=amount, description=description, **fields)


#: The sandbox's credentials as the environment variables ``EpayClient.from_env`` reads.
CREDENTIALS = {
    "EPAY_CLIENT_ID": "test",
    "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
    "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
}


# -- a gateway whose answers the test writes ------------------------------------------------------

#: Where the mock gateway is (no request leaves the process).
MOCK_ENV = Environment.custom(token_url="https://oauth.test/token", api_url="https://api.test")
#: What its token endpoint answers.
MOCK_TOKEN = {"access_token": "tok", "expires_in": 7200}
#: A transaction id and a saved card id of the gateway's shape.
TX = "7943816b-58a8-47f6-a11e-67b63c4228c7"
CARD_ID = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
#: A payment answer: authorised, for the invoice of ``mock_order()``.
PAID = {
    "id": TX,
    "invoiceID": "123456789",
    "amount": 100,
    "currency": "KZT",
    "code": 0,
    "status": "AUTH",
}
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def mock_order(invoice_id: str = "123456789", amount: Any = "100.00") -> Order:
    """An order of invoice 123456789 (the one ``PAID`` answers for)."""
    return Order(invoice_id=invoice_id, amount=amount, description="x")


def mock_client(handle: Handler, **kwargs: Any) -> EpayClient:
    """A client whose token requests are granted and whose other requests go to ``handle``."""

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json=MOCK_TOKEN)
        return await handle(request)

    return raw_mock_client(route, terminal_id="67e34d63-102f-4bd1-898e-370781d0074d", **kwargs)


def raw_mock_client(handle: Handler, *, terminal_id: str = "t", **kwargs: Any) -> EpayClient:
    """A client whose every request, the token's included, goes to ``handle``."""
    options: dict[str, Any] = {"retry": FAST_RETRY, **kwargs}
    return EpayClient(
        client_id="test",
        client_secret="s",
        terminal_id=terminal_id,
        environment=MOCK_ENV,
        transport=httpx.MockTransport(handle),
        **options,
    )


def answering(body: bytes, status: int = 200, **headers: str) -> Handler:
    """A handler giving every request the same answer."""

    async def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return handle


async def sandbox_token(http: httpx.AsyncClient, **binding: str) -> str:
    """A token from the in-process sandbox's endpoint for the test merchant, asked for over
    ``http`` (``sandbox.http_client()``): the service token, or with ``invoiceID``, ``amount``
    and ``currency`` a payment token bound to that order."""
    form = {
        "grant_type": "client_credentials",
        "scope": "payment" if binding else C.SERVICE_SCOPE,
        "client_id": "test",
        "client_secret": TEST_CLIENT_SECRET,
        "terminal": TEST_TERMINAL_ID,
        **binding,
    }
    answer = await http.post(Environment.served(SANDBOX_URL).token_url, data=form)
    return str(answer.json()["access_token"])

"""The transport (epay_async._transport) and the pipeline's in-flight guard
(epay_async._pipeline): one money request per invoice at a time, an answer cut short is in
doubt, and no retry starts that would end at the call's deadline.

Kept apart from test_transport.py and test_pipeline.py for now; to be merged with them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest

from epay_async import EpayClient, OutcomeUnknownError, RequestInFlightError, RetryPolicy
from epay_async._transport import Transport

from .conftest import BOTH_BACKENDS
from .factories import CARD_ID, PAID, mock_client, mock_order

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # locks, deadlines and task groups


async def test_one_money_request_per_invoice_at_a_time() -> None:
    arrived = 0

    async def handle(_: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        await anyio.sleep(0.2)
        return httpx.Response(200, json=PAID)

    outcomes: list[object] = []

    async def pay(epay: EpayClient) -> None:
        try:
            outcomes.append(await epay.pay_with_saved_card(mock_order(), CARD_ID))
        except RequestInFlightError as exc:
            outcomes.append(exc)

    async with mock_client(handle) as epay, anyio.create_task_group() as tg:
        tg.start_soon(pay, epay)
        tg.start_soon(pay, epay.with_options(timeout=5))  # a clone shares the guard
    assert arrived == 1
    assert sum(isinstance(o, RequestInFlightError) for o in outcomes) == 1
    async with mock_client(handle) as epay:  # and once the first is done, the next may go
        await epay.pay_with_saved_card(mock_order(), CARD_ID)
        await epay.pay_with_saved_card(mock_order(), CARD_ID)


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.ConnectError, httpx.ConnectTimeout])
async def test_an_answer_cut_short_is_outcome_unknown_for_money(
    error: type[httpx.TransportError],
) -> None:
    """Once an answer has begun the request was sent, whatever the transport calls the
    failure: a lent client's transport (httpx-aiohttp, for one) may report a connection lost
    mid-body as a connect error, which would otherwise read as "never sent" and be paid again."""
    sent = 0

    class CutShort(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"id": "'
            raise error("connection lost")

    async def handle(_: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        return httpx.Response(200, stream=CutShort())

    async with mock_client(handle) as epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)
    assert sent == 1


async def test_no_retry_starts_that_would_end_at_the_deadline() -> None:
    transport = Transport(
        httpx.AsyncClient(),
        RetryPolicy(backoff_base=1.0, jitter=0.0),
        sleep=lambda _: anyio.lowlevel.checkpoint(),
        rand=lambda: 0.5,
        clock=lambda: 100.0,
    )
    assert not await transport.pause("x", 1, None, "HTTP 503", deadline=101.0)  # ends at it
    assert await transport.pause("x", 1, None, "HTTP 503", deadline=101.001)
    await transport.backend.aclose()

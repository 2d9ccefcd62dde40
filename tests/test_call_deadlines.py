"""The call scope (epay_async._call): one deadline per public call, shared by its token
request, the waits for another caller's token refresh and its attempts.

Kept apart from the call scope's other tests for now; to be merged with them."""

from __future__ import annotations

import anyio
import httpx
import pytest

from epay_async import OutcomeUnknownError, RetryPolicy, TransportError

from .conftest import BOTH_BACKENDS
from .factories import CARD_ID, MOCK_TOKEN, mock_order, raw_mock_client

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes and task groups


async def test_waiters_on_a_hanging_token_share_one_deadline_and_one_request() -> None:
    token_requests = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal token_requests
        if request.url.path == "/token":
            token_requests += 1
            await anyio.sleep(30)
        return httpx.Response(200, json={"resultCode": "102", "resultMessage": "x"})

    ended: list[float] = []
    epay = raw_mock_client(handle, retry=RetryPolicy(deadline=0.5, backoff_base=0, jitter=0))
    started = anyio.current_time()

    async def one() -> None:
        with pytest.raises(TransportError, match="deadline"):
            await epay.get_status("123456789")
        ended.append(anyio.current_time() - started)

    async with epay, anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert len(ended) == 5
    assert max(ended) < 2.0  # all at about 0.5 s, not 0.5, 1.0, 1.5, 2.0, 2.5
    # One refresh for all five; a waiter whose deadline is a hair later than the refresher's
    # may start the next one as the first is cut, and is cut itself at once.
    assert token_requests <= 2


async def test_a_payments_token_and_exchange_share_one_deadline() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.4 if request.url.path == "/token" else 30)
        return httpx.Response(200, json=MOCK_TOKEN)

    epay = raw_mock_client(handle, retry=RetryPolicy(deadline=0.6))
    started = anyio.current_time()
    async with epay:
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(mock_order(), CARD_ID)
    assert anyio.current_time() - started < 1.2  # one 0.6 s deadline, not two

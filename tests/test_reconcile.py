from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest

from epay_async import (
    EpayClient,
    ResultCode,
    StatusError,
    StatusName,
    ValidationError,
)
from epay_async.testing import Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests in flight at the transport, and the most seen at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


async def test_concurrency_bound_is_respected_and_one_token_is_used() -> None:
    sandbox = Sandbox(key_bits=2048, latency=0.002, answer_any_invoice=True)
    counting = CountingTransport(sandbox.transport)
    async with sandbox.client(transport=counting, retry=FAST_RETRY) as epay:
        ids = (str(100000000 + n) for n in range(300))
        async with epay.reconcile(ids, concurrency=7) as reconciliation:
            results = [r async for r in reconciliation]
    assert len(results) == 300
    assert counting.peak == 7
    assert len(sandbox.token_requests) == 1
    names = {r.status.status_name for r in results if r.status and r.status.transaction}
    assert names == {StatusName.CHARGE, StatusName.AUTH, StatusName.REJECT}


async def test_one_bad_invoice_never_stops_the_batch(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("100000001", status=StatusName.CHARGE)
    sandbox.add_transaction("100000002", status=StatusName.AUTH)
    sandbox.queue_status("100000002", *[ResultCode.TERMINAL_NOT_OWNED] * 3)
    ids = ["100000001", "not/an-id", "100000002", " 100000003 ", 100000001, None, float("nan")]
    ids += [Decimal("100000005"), Decimal("NaN"), 100000004.0, True]
    async with epay.reconcile(ids, concurrency=2) as reconciliation:
        results = {r.invoice_id: r async for r in reconciliation}
    assert set(results) == {
        "100000001", "not/an-id", "100000002", "100000003", "None", "nan", "100000005", "NaN",
        "100000004.0", "True",
    }  # fmt: skip
    assert isinstance(results["not/an-id"].error, ValidationError)
    # An empty cell is its own error, never the text "None" or "nan" sent and "not found".
    assert str(results["None"].error) == "invoice_id: is 'None' (NoneType)"
    for empty in ("nan", "NaN", "100000004.0", "True"):
        assert isinstance(results[empty].error, ValidationError), empty
    assert results["100000005"].ok  # a whole number from a NUMERIC column
    paths = [r.path.rsplit("/", 1)[-1] for r in sandbox.requests_to("check-status")]
    assert not {"None", "nan", "NaN", "True"} & set(paths)
    assert isinstance(results["100000002"].error, StatusError)
    assert results["100000003"].ok
    assert results["100000003"].status is not None
    assert results["100000003"].status.result_code is ResultCode.INVOICE_NOT_FOUND
    assert results["100000001"].status is not None
    assert results["100000001"].status.is_paid


async def test_infinite_sources_are_read_lazily(sandbox: Sandbox) -> None:
    sandbox.gateway.answer_any_invoice = True
    pulled = 0

    def endless() -> itertools.count[int]:
        return itertools.count(100000000)

    async def endless_async() -> AsyncIterator[str]:
        nonlocal pulled
        for n in itertools.count(200000000):
            pulled += 1
            yield str(n)

    async with (
        sandbox.client(retry=FAST_RETRY) as epay,
        contextlib.aclosing(endless_async()) as async_source,  # the caller owns its source
    ):
        for source in (endless(), async_source):
            got = 0
            async with epay.reconcile(source, concurrency=4) as results:
                async for _ in results:
                    got += 1
                    if got == 25:
                        break
            assert got == 25
    assert 25 <= pulled <= 25 + 4 + 4  # at most the workers' ids and the buffer ahead


async def test_bad_arguments(epay: EpayClient) -> None:
    with pytest.raises(ValidationError):
        epay.reconcile(["100000001"], concurrency=0)
    with pytest.raises(ValidationError):
        epay.reconcile("100000001")
    with pytest.raises(TypeError, match="async with"):
        [r async for r in epay.reconcile(["100000001"])]  # type: ignore[attr-defined]


async def test_an_error_from_the_source_is_raised_as_it_is(epay: EpayClient) -> None:
    def broken() -> Iterator[str]:
        yield "100000001"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        async with epay.reconcile(broken(), concurrency=3) as results:
            [r async for r in results]

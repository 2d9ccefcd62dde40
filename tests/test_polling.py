from __future__ import annotations

import anyio
import pytest

from epay_async import (
    EpayClient,
    ResultCode,
    StatusName,
    StatusTimeoutError,
    TransactionStatus,
    ValidationError,
)
from epay_async._polling import keep_polling, wait_for_status
from epay_async.testing import Sandbox

from .conftest import BOTH_BACKENDS

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await anyio.lowlevel.checkpoint()


async def test_polls_through_107_and_new_until_final(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456789", status=StatusName.AUTH)
    sandbox.in_progress("123456789", polls=3)
    sandbox.queue_status("123456789", StatusName.NEW, StatusName.NEW)
    status = await epay.wait_for_status("123456789", interval=0.001, max_interval=0.002)
    assert status.status_name is StatusName.AUTH
    assert len(sandbox.requests_to("/check-status/")) == 6


async def test_backoff_grows_from_interval_to_max(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456789", status=StatusName.CHARGE)
    sandbox.in_progress("123456789", polls=6)
    sleeps = Sleeps()

    async def fetch() -> TransactionStatus:
        return await epay.get_status("123456789")

    status = await wait_for_status(fetch, "123456789", interval=1.0, max_interval=3.0, sleep=sleeps)
    assert status.status_name is StatusName.CHARGE
    assert sleeps == [1.0, 1.5, 2.25, 3.0, 3.0, 3.0]


async def test_deadline_raises_with_the_last_status(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.add_transaction("123456789")
    sandbox.in_progress("123456789", polls=10_000)
    started = anyio.current_time()
    with pytest.raises(StatusTimeoutError) as info:
        await epay.wait_for_status("123456789", timeout=1.0, interval=0.01, max_interval=0.02)
    assert anyio.current_time() - started < 5.0
    assert info.value.last_status is not None
    assert info.value.last_status.result_code is ResultCode.IN_PROGRESS
    assert "123456789" in str(info.value)


async def test_deadline_also_bounds_a_hanging_request() -> None:
    async def hang() -> TransactionStatus:
        await anyio.sleep(30)
        raise AssertionError("not reached")

    with pytest.raises(StatusTimeoutError) as info:
        await wait_for_status(hang, "123456789", timeout=0.05)
    assert info.value.last_status is None


async def test_not_found_is_polled_only_during_the_grace_period(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    status = await epay.wait_for_status("123456789", interval=0.01, not_found_grace=0.5)
    assert status.result_code is ResultCode.INVOICE_NOT_FOUND
    calls = len(sandbox.requests_to("/check-status/"))
    assert calls > 1
    status = await epay.wait_for_status("123456789", interval=0.01, not_found_grace=0)
    assert len(sandbox.requests_to("/check-status/")) == calls + 1


def test_keep_polling_rules() -> None:
    def status(code: ResultCode) -> TransactionStatus:
        return TransactionStatus(result_code=code)

    assert keep_polling(status(ResultCode.IN_PROGRESS), 100.0, 10.0)
    assert not keep_polling(status(ResultCode.REJECT), 0.0, 10.0)
    assert keep_polling(status(ResultCode.INVOICE_NOT_FOUND), 5.0, 10.0)
    assert not keep_polling(status(ResultCode.INVOICE_NOT_FOUND), 15.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"interval": "1"}, "interval"),
        ({"max_interval": float("nan")}, "max_interval"),
    ],
)
async def test_bad_arguments(epay: EpayClient, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.wait_for_status("123456789", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field

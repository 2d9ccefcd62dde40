from __future__ import annotations

from collections.abc import Awaitable, Callable

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


def answers(*codes: ResultCode) -> tuple[list[int], Callable[[], Awaitable[TransactionStatus]]]:
    """A fetch that gives ``codes`` in turn (the last one again and again), counting calls."""
    calls: list[int] = []

    async def fetch() -> TransactionStatus:
        calls.append(1)
        return TransactionStatus(result_code=codes[min(len(calls), len(codes)) - 1])

    return calls, fetch


async def test_a_final_answer_first_time_is_returned_without_sleeping() -> None:
    sleeps = Sleeps()
    calls, fetch = answers(ResultCode.REJECT)
    status = await wait_for_status(fetch, "123456789", sleep=sleeps)
    assert status.result_code is ResultCode.REJECT
    assert (len(calls), sleeps) == (1, [])


async def test_a_max_interval_below_the_interval_is_raised_to_it() -> None:
    sleeps = Sleeps()
    _, fetch = answers(*[ResultCode.IN_PROGRESS] * 3, ResultCode.SUCCESS)
    await wait_for_status(fetch, "123456789", interval=2.0, max_interval=0.5, sleep=sleeps)
    assert sleeps == [2.0, 2.0, 2.0]


async def test_a_zero_interval_polls_without_waiting() -> None:
    sleeps = Sleeps()
    _, fetch = answers(ResultCode.IN_PROGRESS, ResultCode.IN_PROGRESS, ResultCode.SUCCESS)
    await wait_for_status(fetch, "123456789", interval=0, max_interval=0, sleep=sleeps)
    assert sleeps == [0.0, 0.0]


async def test_the_default_backoff() -> None:
    sleeps = Sleeps()
    _, fetch = answers(*[ResultCode.IN_PROGRESS] * 8, ResultCode.SUCCESS)
    await wait_for_status(fetch, "123456789", sleep=sleeps)
    assert sleeps == [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0]


async def test_not_found_without_a_grace_is_returned_at_once() -> None:
    sleeps = Sleeps()
    calls, fetch = answers(ResultCode.INVOICE_NOT_FOUND)
    status = await wait_for_status(fetch, "123456789", not_found_grace=0, sleep=sleeps)
    assert status.result_code is ResultCode.INVOICE_NOT_FOUND
    assert (len(calls), sleeps) == (1, [])


async def test_not_found_is_polled_again_within_the_grace() -> None:
    sleeps = Sleeps()
    calls, fetch = answers(ResultCode.INVOICE_NOT_FOUND, ResultCode.SUCCESS)
    status = await wait_for_status(fetch, "123456789", not_found_grace=5.0, sleep=sleeps)
    assert status.result_code is ResultCode.SUCCESS
    assert (len(calls), sleeps) == (2, [1.0])


def test_keep_polling_at_the_end_of_the_grace_stops() -> None:
    not_found = TransactionStatus(result_code=ResultCode.INVOICE_NOT_FOUND)
    assert keep_polling(not_found, 9.999, 10.0)
    assert not keep_polling(not_found, 10.0, 10.0)
    assert not keep_polling(TransactionStatus(result_code=ResultCode.SUCCESS), 0.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"not_found_grace": -1}, "not_found_grace"),
        ({"interval": -0.5}, "interval"),
        ({"max_interval": -1}, "max_interval"),
        ({"timeout": "60"}, "timeout"),
    ],
)
async def test_each_bad_argument_is_named_before_any_request(
    kwargs: dict[str, object], field: str
) -> None:
    calls, fetch = answers(ResultCode.SUCCESS)
    with pytest.raises(ValidationError) as info:
        await wait_for_status(fetch, "123456789", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert calls == []


async def test_the_timeout_error_names_the_invoice_and_carries_the_last_answer() -> None:
    async def never_final(seconds: float) -> None:
        await anyio.sleep(seconds)

    _, fetch = answers(ResultCode.IN_PROGRESS)
    with pytest.raises(StatusTimeoutError) as info:
        await wait_for_status(
            fetch, "000777", timeout=0.05, interval=0.01, max_interval=0.01, sleep=never_final
        )
    assert info.value.last_status is not None
    assert info.value.last_status.result_code is ResultCode.IN_PROGRESS
    assert "000777" in str(info.value)

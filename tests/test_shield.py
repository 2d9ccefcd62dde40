"""Work that runs to its end whatever cancels its caller (``_shield.run_to_end``), bounded by
its own timeout, then the cancellation it held off."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

from epay_async._shield import run_to_end

from .conftest import BOTH_BACKENDS

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # cancel scopes and shields


async def test_the_job_runs_to_its_end_and_returns() -> None:
    done: list[str] = []

    async def job() -> None:
        await anyio.sleep(0.01)
        done.append("job")

    await run_to_end(job, 5.0)
    assert done == ["job"]


async def test_an_anyio_cancellation_waits_for_the_job_then_ends_the_caller() -> None:
    done: list[str] = []
    returned: list[str] = []
    reached = False

    with anyio.CancelScope() as outer:

        async def job() -> None:
            outer.cancel()
            await anyio.sleep(0.05)
            done.append("job")

        await run_to_end(job, 5.0)
        # It returns: anyio's cancellation waits outside, for the caller's next checkpoint.
        returned = list(done)
        await anyio.lowlevel.checkpoint()
        reached = True
    assert returned == ["job"]
    assert outer.cancelled_caught
    assert not reached


async def test_a_hanging_job_is_cut_at_its_timeout_and_the_caller_goes_on() -> None:
    started: list[str] = []

    async def job() -> None:
        started.append("job")
        await anyio.sleep_forever()

    with anyio.fail_after(1):  # only a guard: the job's own 0.05 s bound ends it
        await run_to_end(job, 0.05)
    assert started == ["job"]


async def test_a_hanging_job_is_cut_even_while_its_caller_is_cancelled() -> None:
    with anyio.fail_after(1):  # only a guard: the job's own 0.05 s bound ends it
        with anyio.CancelScope() as outer:

            async def job() -> None:
                outer.cancel()
                await anyio.sleep_forever()

            await run_to_end(job, 0.05)
            await anyio.lowlevel.checkpoint()
        assert outer.cancelled_caught


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_task_cancel_waits_for_the_job_then_is_raised() -> None:
    done: list[str] = []
    entered = asyncio.Event()

    async def job() -> None:
        entered.set()
        await asyncio.sleep(0.05)
        done.append("job")

    async def caller() -> str:
        await run_to_end(job, 5.0)
        return "not cancelled"

    task = asyncio.ensure_future(caller())
    await entered.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # a second cancel while the first is held: one cancellation is raised
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == ["job"]

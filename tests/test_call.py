"""One public call's scope (``_call``): its deadline, nested calls, and the in-doubt record of
a money request cut by the deadline or cancelled by the caller while its exchange was under
way."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable

import anyio
import httpx
import pytest

from epay_async import OutcomeUnknownError, RetryPolicy, TransportError
from epay_async._call import Call, CallScope, current_call, deadline_failure
from epay_async._request import ApiRequest
from epay_async._telemetry import NO_CALL_TELEMETRY

from .conftest import BOTH_BACKENDS
from .factories import CARD_ID, MOCK_TOKEN, mock_order, raw_mock_client

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines and cancel scopes

URL = "https://gw.test/api/thing"


def read() -> ApiRequest:
    return ApiRequest("GET", URL, operation="status", idempotent=True, invoice_id="100001")


def money() -> ApiRequest:
    return ApiRequest("POST", URL, operation="refund", idempotent=False, invoice_id="100002")


def this_call() -> Call:
    call = current_call()
    assert call is not None
    return call


def test_a_new_call_has_no_exchange_no_jobs_and_a_span_that_records_nothing() -> None:
    call = Call(12.5)
    assert call.deadline == 12.5
    assert call.exchange is None
    assert call.after == []
    assert call.span is NO_CALL_TELEMETRY


def test_the_deadline_failure_of_a_read_and_of_money() -> None:
    failure = deadline_failure(read(), 0.5)
    assert type(failure) is TransportError
    assert str(failure) == "status: no answer within the 0.5 s deadline"
    unknown = deadline_failure(money(), 0.5)
    assert isinstance(unknown, OutcomeUnknownError)
    assert (unknown.operation, unknown.invoice_id) == ("refund", "100002")
    assert unknown.reason == "no answer within the 0.5 s deadline"


async def test_a_call_sets_its_deadline_and_leaves_no_call_behind() -> None:
    assert current_call() is None
    started = anyio.current_time()
    async with CallScope("status", 30.0, None):
        deadline = this_call().deadline
        assert started + 30.0 <= deadline <= anyio.current_time() + 30.0
    assert current_call() is None


async def test_a_call_without_a_deadline_runs_unbounded() -> None:
    async with CallScope("status", None, None):
        assert this_call().deadline == math.inf
        await anyio.sleep(0.02)
    assert current_call() is None


async def test_a_nested_call_keeps_the_outer_deadline() -> None:
    async with CallScope("outer", 30.0, None):
        outer = this_call()
        async with CallScope("inner", 0.01, None):
            assert this_call() is outer
            await anyio.sleep(0.05)  # past the inner deadline: only the outer one holds
        assert this_call() is outer
    assert current_call() is None


async def test_the_deadline_before_anything_was_sent_is_a_transport_error() -> None:
    records: list[OutcomeUnknownError] = []
    with pytest.raises(TransportError) as info:
        async with CallScope("status", 0.05, records.append):
            await anyio.sleep_forever()
    message = "status: the 0.05 s deadline passed before anything was sent"
    assert str(info.value) == message
    assert records == []
    assert current_call() is None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is new in 3.11")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_deadline_leaves_the_tasks_cancel_count_as_it_found_it() -> None:
    # The deadline is a loop timer that cancels the task (as asyncio.timeout_at does): the
    # cancellation it made is taken back, so a task group or an outer timeout around the call
    # does not take the task for cancelled, and a call that ends in time leaves no timer.
    import asyncio  # noqa: PLC0415 - asyncio only

    task = asyncio.current_task()
    assert task is not None
    with pytest.raises(TransportError):
        async with CallScope("status", 0.01, None):
            await anyio.sleep_forever()
    assert task.cancelling() == 0
    async with CallScope("status", 0.05, None):
        pass
    await anyio.sleep(0.1)  # past the finished call's deadline: nothing cancels this task
    assert task.cancelling() == 0

    # An outer timeout firing inside the call: its cancellation passes through unchanged.
    async def outer_timeout() -> None:
        async with asyncio.timeout(0.05), CallScope("status", 30.0, None):
            await anyio.sleep_forever()

    with pytest.raises(TimeoutError):
        await outer_timeout()
    assert task.cancelling() == 0


async def exchange_forever(
    operation: str, request: ApiRequest, records: list[OutcomeUnknownError]
) -> None:
    """A call whose exchange of ``request`` never ends."""
    async with CallScope(operation, 0.05, records.append):
        this_call().exchange = request
        await anyio.sleep_forever()


async def test_the_deadline_during_a_reads_exchange_is_a_transport_error() -> None:
    records: list[OutcomeUnknownError] = []
    with pytest.raises(TransportError) as info:
        await exchange_forever("status", read(), records)
    assert str(info.value) == "status: no answer within the 0.05 s deadline"
    assert records == []


async def test_the_deadline_during_a_money_exchange_is_in_doubt_and_recorded() -> None:
    records: list[OutcomeUnknownError] = []
    with pytest.raises(OutcomeUnknownError) as info:
        await exchange_forever("refund", money(), records)
    assert info.value.reason == "no answer within the 0.05 s deadline"
    assert records == [info.value]


async def test_a_raised_outcome_unknown_is_recorded() -> None:
    records: list[OutcomeUnknownError] = []
    error = money().outcome_unknown("HTTP 503")
    with pytest.raises(OutcomeUnknownError) as info:
        async with CallScope("refund", 30.0, records.append):
            raise error
    assert info.value is error
    assert records == [error]


@pytest.mark.parametrize(("request_of", "recorded"), [(money, 1), (read, 0), (None, 0)])
async def test_a_caller_cancelling_a_money_exchange_is_recorded_and_propagates(
    request_of: object, recorded: int
) -> None:
    records: list[OutcomeUnknownError] = []
    reached = False
    with anyio.CancelScope() as outer:
        async with CallScope("refund", 30.0, records.append):
            if callable(request_of):
                this_call().exchange = request_of()
            outer.cancel()
            await anyio.sleep_forever()
        reached = True
    assert outer.cancelled_caught
    assert not reached
    assert len(records) == recorded
    for record in records:
        assert record.operation == "refund"
        assert record.invoice_id == "100002"
        assert record.reason == "cancelled by the caller while the request was under way"


@pytest.mark.parametrize(("request_of", "recorded"), [(money, 1), (read, 0), (None, 0)])
async def test_an_unforeseen_error_during_a_money_exchange_is_recorded_and_propagates(
    request_of: Callable[[], ApiRequest] | None, recorded: int
) -> None:
    """An exception from below the library (a custom transport's bug) while a money request
    may have left: recorded in doubt, as the journal records it, and raised unchanged."""
    records: list[OutcomeUnknownError] = []
    bug = LookupError("a bug in a custom transport")

    async def exchange_fails() -> None:
        async with CallScope("refund", 30.0, records.append):
            if request_of is not None:
                this_call().exchange = request_of()
            raise bug

    with pytest.raises(LookupError) as raised:
        await exchange_fails()
    assert raised.value is bug
    assert [(r.operation, r.invoice_id, r.reason) for r in records] == [
        ("refund", "100002", "LookupError raised while the request was under way")
    ] * recorded


async def test_the_call_end_jobs_run_outside_the_deadline_and_all_run() -> None:
    done: list[str] = []

    async def slow() -> None:
        await anyio.sleep(0.1)  # longer than the call's deadline
        done.append("slow")

    async def quick() -> None:
        done.append("quick")

    async with CallScope("refund", 0.05, None):
        this_call().after.extend([slow, quick])
    assert done == ["slow", "quick"]


async def test_a_cancellation_during_the_call_end_jobs_is_held_then_raised() -> None:
    done: list[str] = []
    reached = False

    with anyio.CancelScope() as outer:

        async def cancelled() -> None:
            outer.cancel()
            await anyio.sleep_forever()

        async def then() -> None:
            done.append("then")

        async with CallScope("refund", 30.0, None):
            this_call().after.extend([cancelled, then])
        reached = True
    assert outer.cancelled_caught
    assert not reached  # the task ends cancelled once the records are written
    assert done == ["then"]


ENDINGS = ["an error", "outcome unknown", "the deadline"]


class SpanMarks:
    """A call's span that only notes whether the call was marked in doubt."""

    outcome_unknown = False

    def mark_outcome_unknown(self) -> None:
        self.outcome_unknown = True


async def money_call_ended_by(
    ending: str,
    records: list[OutcomeUnknownError],
    end_job: Callable[[], Awaitable[None]],
    span: SpanMarks | None = None,
) -> None:
    """A money call that ends with ``ending``, ``end_job`` among its records."""
    async with CallScope("refund", 0.05, records.append):
        if span is not None:
            this_call().span = span  # type: ignore[assignment]
        this_call().after.append(end_job)
        if ending == "an error":
            raise KeyError("the call's own error")
        if ending == "outcome unknown":
            raise money().outcome_unknown("HTTP 503")
        this_call().exchange = money()
        await anyio.sleep(5)  # cut by the deadline


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_cancellation_held_by_the_call_end_jobs_wins_over_how_the_call_ended(
    ending: str,
) -> None:
    """A cancel scope's cancellation arriving while the records are written ends the call
    cancelled, after the in-doubt record of how the call itself ended."""
    records: list[OutcomeUnknownError] = []
    reached = False
    with anyio.CancelScope() as outer:

        async def cancelled() -> None:
            outer.cancel()
            await anyio.sleep_forever()

        await money_call_ended_by(ending, records, cancelled)
        reached = True
    assert outer.cancelled_caught
    assert not reached
    reasons = {"an error": [], "outcome unknown": ["HTTP 503"]}
    expected = reasons.get(ending, ["no answer within the 0.05 s deadline"])
    assert [record.reason for record in records] == expected


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_task_cancel_held_by_the_call_end_jobs_ends_the_task_cancelled(
    ending: str,
) -> None:
    # asyncio delivers task.cancel() once: were the call's own exception raised in its place,
    # the task would end with that exception and the cancellation would be lost.
    records: list[OutcomeUnknownError] = []

    async def call() -> None:
        task = asyncio.current_task()
        assert task is not None

        async def cancelled() -> None:
            task.cancel()
            await asyncio.sleep(1)

        await money_call_ended_by(ending, records, cancelled, span)

    span = SpanMarks()
    task = asyncio.ensure_future(call())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert len(records) == (0 if ending == "an error" else 1)
    # The cancellation took the place of the in-doubt error: the span still says in doubt.
    assert span.outcome_unknown is (ending != "an error")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_cancelled_error_of_an_end_job_itself_does_not_cancel_the_call(
    ending: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A journal store raising CancelledError of its own (a pool cancelling its waiters on
    # close) with no cancellation of the task: the job failed; the call ends as it ended.
    # Python 3.10 counts no cancellations: there it is taken for one, and the call ends
    # cancelled (documented), its in-doubt record written all the same.
    records: list[OutcomeUnknownError] = []

    async def store_cancels_itself() -> None:
        raise asyncio.CancelledError

    task = asyncio.ensure_future(money_call_ended_by(ending, records, store_cancels_itself))
    counts = sys.version_info >= (3, 11)
    expected = KeyError if ending == "an error" else OutcomeUnknownError
    with pytest.raises(expected if counts else asyncio.CancelledError):
        await task
    assert task.cancelled() is not counts
    assert ("ended with a CancelledError of its own" in caplog.text) is counts
    assert len(records) == (0 if ending == "an error" else 1)


# -- one deadline for a whole public call: its token, the waits for a refresh, its attempts --


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
    # One 0.6 s deadline: two (the token's 0.4 s, then 0.6 s more) would end after 1.0 s.
    assert 0.6 <= anyio.current_time() - started < 0.9

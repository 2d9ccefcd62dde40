"""Raw responses (``_raw``): the last answer of a call without its body and without the headers
that may carry a session or a token."""

from __future__ import annotations

import httpx
import pytest

from epay_async._http import Answer
from epay_async._raw import RawResponse, ResponseInfo, answer_info, raw_response, record_answer
from epay_async._transport import Attempts

pytestmark = pytest.mark.anyio


def attempts_with(answer: Answer | None, count: int) -> Attempts:
    attempts = Attempts()
    attempts.answer, attempts.count = answer, count
    return attempts


ANSWER = Answer(
    201,
    httpx.Headers(
        {
            "X-Request-Id": "r1",
            "Set-Cookie": "session=s1",
            "Authorization": "Bearer t1",
            "Proxy-Authorization": "Basic p1",
            "Cookie": "c=1",
            "Content-Type": "application/json",
        }
    ),
    b'{"secret": "card"}',
    0.25,
)


def test_an_answer_shows_its_status_time_attempts_and_safe_headers() -> None:
    info = ResponseInfo.of(ANSWER, 3)
    assert info == ResponseInfo(
        201, {"x-request-id": "r1", "content-type": "application/json"}, 0.25, 3
    )


def test_an_error_shows_the_answer_of_its_request() -> None:
    assert answer_info(attempts_with(None, 2)) is None
    assert answer_info(attempts_with(ANSWER, 2)) == ResponseInfo.of(ANSWER, 2)


async def test_a_raw_response_keeps_the_last_answer_and_the_plain_result() -> None:
    seen: list[int] = []

    @raw_response
    async def call(n: int) -> str:
        record_answer(attempts_with(ANSWER, 1))
        record_answer(attempts_with(None, 1))  # a request without an answer shows nothing
        record_answer(attempts_with(ANSWER, n))
        seen.append(n)
        return f"result {n}"

    raw = await call(2)
    assert isinstance(raw, RawResponse)
    assert raw.parse() == "result 2"
    assert (raw.status_code, raw.elapsed, raw.attempts) == (201, 0.25, 2)
    assert raw.headers["x-request-id"] == "r1"
    assert seen == [2]
    record_answer(attempts_with(ANSWER, 1))  # no raw response taken: nothing kept, no error


async def test_a_call_without_a_request_has_no_answer() -> None:
    @raw_response
    async def call() -> int:
        return 7

    raw = await call()
    assert raw.info is None
    assert (raw.status_code, raw.elapsed, raw.attempts, dict(raw.headers)) == (None, None, 0, {})
    assert raw.parse() == 7

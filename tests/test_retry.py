from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from epay_async import RetryPolicy
from epay_async._http.httpx_backend import classify
from epay_async._retry import parse_retry_after, retry_delay, should_retry

POLICY = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=8.0, jitter=0.25)
REQUEST = httpx.Request("POST", "https://example.invalid/x")


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused", request=REQUEST),
        httpx.ConnectTimeout("slow", request=REQUEST),
        httpx.PoolTimeout("busy"),
    ],
)
def test_never_sent_errors_are_retried_even_for_money(error: httpx.HTTPError) -> None:
    assert should_retry(POLICY, attempt=1, idempotent=False, error=classify(error))
    assert should_retry(POLICY, attempt=1, idempotent=True, error=classify(error))


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("lost", request=REQUEST),
        httpx.WriteTimeout("half", request=REQUEST),
        httpx.ReadError("reset", request=REQUEST),
        httpx.RemoteProtocolError("dropped", request=REQUEST),
    ],
)
def test_errors_after_sending_are_retried_for_reads_only(error: httpx.HTTPError) -> None:
    assert should_retry(POLICY, attempt=1, idempotent=True, error=classify(error))
    assert not should_retry(POLICY, attempt=1, idempotent=False, error=classify(error))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_for_reads_only(status: int) -> None:
    assert should_retry(POLICY, attempt=2, idempotent=True, status_code=status)
    assert not should_retry(POLICY, attempt=2, idempotent=False, status_code=status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not should_retry(POLICY, attempt=1, idempotent=True, status_code=status)


def test_attempts_run_out() -> None:
    error = classify(httpx.ConnectError("refused", request=REQUEST))
    assert should_retry(POLICY, attempt=2, idempotent=True, error=error)
    assert not should_retry(POLICY, attempt=3, idempotent=True, error=error)
    assert not should_retry(RetryPolicy.none(), attempt=1, idempotent=True, error=error)


def test_backoff_doubles_and_caps_without_jitter() -> None:
    def mid() -> float:
        return 0.5  # the centre of the jitter band

    delays = [retry_delay(POLICY, attempt, rand=mid) for attempt in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_stays_within_band() -> None:
    low = retry_delay(POLICY, 3, rand=lambda: 0.0)
    high = retry_delay(POLICY, 3, rand=lambda: 0.999999)
    assert low == pytest.approx(2.0 * 0.75)
    assert high == pytest.approx(2.0 * 1.25, rel=1e-5)


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=10.0)
    assert retry_delay(policy, 1, retry_after=3.0) == 3.0
    assert retry_delay(policy, 1, retry_after=120.0) == 10.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == expected


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoff_base"):
        RetryPolicy(backoff_base=-1.0)


def test_an_error_that_cannot_be_mended_is_never_retried() -> None:
    error = classify(httpx.UnsupportedProtocol("ftp", request=REQUEST))
    assert not error.sent
    assert not should_retry(POLICY, attempt=1, idempotent=True, error=error)
    assert not should_retry(POLICY, attempt=1, idempotent=False, error=error)


def test_nothing_to_judge_is_not_retried() -> None:
    assert not should_retry(POLICY, attempt=1, idempotent=True)


def test_a_retryable_status_past_the_last_attempt_is_not_retried() -> None:
    assert should_retry(POLICY, attempt=2, idempotent=True, status_code=503)
    assert not should_retry(POLICY, attempt=3, idempotent=True, status_code=503)
    assert not should_retry(POLICY, attempt=4, idempotent=True, status_code=503)


def test_jitter_at_the_cap_never_exceeds_it_nor_goes_below_zero() -> None:
    assert retry_delay(POLICY, 10, rand=lambda: 0.999999) == 8.0
    assert retry_delay(POLICY, 10, rand=lambda: 0.0) == pytest.approx(6.0)
    wide = RetryPolicy(backoff_base=1.0, backoff_max=8.0, jitter=2.0)
    assert retry_delay(wide, 1, rand=lambda: 0.0) == 0.0


def test_the_default_random_source_stays_in_the_band() -> None:
    for _ in range(50):
        assert 0.375 <= retry_delay(POLICY, 1) <= 0.625


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", None),
        ("-inf", None),
        ("Sun, 22 Nov 2026 12:00:30", 30.0),  # no zone: read as UTC
        ("Sun, 22 Nov 2026 17:00:30 +0500", 30.0),
        ("Sun, 99 Nov 2026 12:00:30 GMT", None),
        ("Sun,", None),
    ],
)
def test_parse_retry_after_edges(header: str, expected: float | None) -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now=now) == expected


def test_parse_retry_after_measures_a_date_from_now_by_default() -> None:
    soon = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60))
    waited = parse_retry_after(soon)
    assert waited is not None
    assert 55.0 <= waited <= 60.0


def test_the_default_policy() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_base, policy.backoff_max) == (3, 0.5, 8.0)
    assert (policy.jitter, policy.retry_after_cap) == (0.25, 30.0)
    assert RetryPolicy.none().max_attempts == 1
    assert RetryPolicy(max_attempts=1).max_attempts == 1
    assert RetryPolicy(backoff_base=0.0, deadline=None).deadline is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("backoff_base", float("nan")),
        ("backoff_max", -0.1),
        ("backoff_max", float("inf")),
        ("jitter", -1.0),
        ("retry_after_cap", float("inf")),
        ("deadline", 0.0),
        ("deadline", -1.0),
        ("deadline", float("inf")),
        ("deadline", float("nan")),
        ("max_attempts", -1),
    ],
)
def test_policy_rejects_each_nonsense_value_by_name(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as info:
        RetryPolicy(**{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(info.value)

"""Sends one request: logging, failure mapping and the retry rule, in one place.

The rule that keeps money safe lives here. A request that changes money is sent again
only when httpx proves it never left this machine (connect error, connect or pool
timeout). Any other failure after it may have left raises :class:`OutcomeUnknownError`.
Reads are retried on network errors, 429 and 5xx, honouring ``Retry-After``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs
import httpx

from . import _constants as C
from ._converter import loads
from ._logs import logger
from ._retry import RetryPolicy, never_sent, parse_retry_after, retry_delay, should_retry
from .errors import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)

__all__ = ["ApiRequest", "Transport"]


@attrs.frozen
class ApiRequest:
    """What an operation wants sent. ``idempotent`` is False for anything that moves money."""

    method: str
    url: str
    operation: str
    idempotent: bool
    invoice_id: str | None = None
    transaction_id: str | None = None
    content: bytes | None = attrs.field(default=None, repr=False)
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    token: str | None = attrs.field(default=None, repr=False)
    accept: str = "application/json"

    def outcome_unknown(self, reason: str) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            self.invoice_id, self.operation, reason, transaction_id=self.transaction_id
        )


@attrs.frozen
class ApiResponse:
    """A response whose body has been read (at most ``MAX_RESPONSE_BYTES``)."""

    status_code: int
    headers: httpx.Headers
    content: bytes = attrs.field(repr=False)
    elapsed: float


class Transport:
    """Wraps the shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        retry: RetryPolicy,
        *,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._rand = rand

    async def send(self, request: ApiRequest) -> ApiResponse:
        """Send ``request`` under the retry rule; returns any answer that is not retryable.

        Raises :class:`AuthenticationError` for 401/403, :class:`TransportError` for network
        failures of reads (or of money requests that were never sent),
        :class:`OutcomeUnknownError` for money requests that may have been received, and
        :class:`ApiError` for reads still answered 429/5xx when the attempts run out.
        """
        if self.http.is_closed:
            raise TransportError(f"{request.operation}: the HTTP client is closed")
        policy = self.retry
        deadline = anyio.current_time() + policy.deadline if policy.deadline else math.inf
        attempt = 0
        while True:
            attempt += 1
            try:
                with anyio.CancelScope(deadline=deadline) as scope:
                    response = await self._send_once(request, attempt)
                if scope.cancelled_caught:
                    raise self._deadline_failure(request)
            except httpx.HTTPError as exc:
                retry = should_retry(
                    policy, attempt=attempt, idempotent=request.idempotent, error=exc
                )
                if retry and await self._pause(request, attempt, None, exc, deadline):
                    continue
                raise self._network_failure(request, exc) from exc
            status = response.status_code
            retry = should_retry(
                policy, attempt=attempt, idempotent=request.idempotent, status_code=status
            )
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry and await self._pause(request, attempt, retry_after, status, deadline):
                continue
            return self._check_status(request, response)

    async def _pause(
        self,
        request: ApiRequest,
        attempt: int,
        retry_after: float | None,
        why: httpx.HTTPError | int,
        deadline: float,
    ) -> bool:
        """Sleep before the next attempt, unless that would end past the call's deadline."""
        delay = retry_delay(self.retry, attempt, retry_after=retry_after, rand=self._rand)
        if anyio.current_time() + delay >= deadline:
            return False
        reason = f"HTTP {why}" if isinstance(why, int) else type(why).__name__
        self._log_retry(request.operation, delay, reason, attempt)
        await self._sleep(delay)
        return True

    def _deadline_failure(self, request: ApiRequest) -> Exception:
        reason = f"no answer within the {self.retry.deadline} s deadline"
        if request.idempotent:
            return TransportError(f"{request.operation}: {reason}")
        return request.outcome_unknown(reason)

    async def _send_once(self, request: ApiRequest, attempt: int) -> ApiResponse:
        headers = {"Accept": request.accept}
        if request.token is not None:
            headers["Authorization"] = f"Bearer {request.token}"
        if request.content is not None:
            headers["Content-Type"] = "application/json"
        http_request = self.http.build_request(
            request.method,
            request.url,
            params=request.params,
            data=request.form,
            content=request.content,
            headers=headers,
            timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        started = time.perf_counter()
        status: int | str = "error"
        try:
            response = await self.http.send(http_request, stream=True)
            status = response.status_code
            try:
                content = await _read_capped(response)
            except httpx.TransportError as exc:
                # An answer had begun: the request was sent, whatever the transport calls it.
                raise httpx.ReadError(f"answer cut short: {exc}", request=http_request) from exc
            finally:
                await response.aclose()
        finally:
            elapsed = time.perf_counter() - started
            logger.debug(
                "%s %s -> %s in %.1f ms (%s, attempt %d)",
                request.method,
                http_request.url.path,
                status,
                elapsed * 1000,
                request.operation,
                attempt,
            )
        return ApiResponse(status, response.headers, content, elapsed)

    async def backoff(
        self, operation: str, attempt: int, retry_after: float | None, reason: str
    ) -> None:
        """Sleep (cancellably) before attempt ``attempt + 1``, logging why."""
        delay = retry_delay(self.retry, attempt, retry_after=retry_after, rand=self._rand)
        self._log_retry(operation, delay, reason, attempt)
        await self._sleep(delay)

    def _log_retry(self, operation: str, delay: float, reason: str, attempt: int) -> None:
        logger.info(
            "retrying %s in %.2f s after %s (attempt %d of %d)",
            operation,
            delay,
            reason,
            attempt,
            self.retry.max_attempts,
        )

    def _network_failure(self, request: ApiRequest, exc: httpx.HTTPError) -> Exception:
        if isinstance(exc, _BodyTooLarge):
            if request.idempotent:
                return ProtocolError(str(exc))
            return request.outcome_unknown(str(exc))
        if request.idempotent or never_sent(exc) or isinstance(exc, httpx.UnsupportedProtocol):
            return TransportError(
                f"{request.operation}: could not reach the gateway ({type(exc).__name__})"
            )
        return request.outcome_unknown(type(exc).__name__)

    def _check_status(self, request: ApiRequest, response: ApiResponse) -> ApiResponse:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationError(
                f"{request.operation}: the gateway refused the token (HTTP {status})",
                http_status=status,
            )
        if status in (429,) or status >= 500:
            if not request.idempotent:
                raise request.outcome_unknown(f"HTTP {status}")
            raise ApiError(
                f"{request.operation}: gateway unavailable",
                http_status=status,
                invoice_id=request.invoice_id,
            )
        return response


class _BodyTooLarge(httpx.HTTPError):
    """The response body exceeded ``MAX_RESPONSE_BYTES``."""


async def _read_capped(response: httpx.Response, limit: int = C.MAX_RESPONSE_BYTES) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(f"response body of {declared} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(f"response body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(response: ApiResponse, *, what: str) -> Any:
    """Parse a response body as JSON (money as ``Decimal``) or raise ``ProtocolError``."""
    if not response.content.strip():
        raise ProtocolError(f"{what}: empty response body", http_status=response.status_code)
    try:
        return loads(response.content)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: {exc}", http_status=response.status_code) from None

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
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import urlsplit

import anyio
import attrs
import httpx

from . import _constants as C
from ._converter import loads
from ._in_doubt import OutcomeCallback, report
from ._logs import logger
from ._retry import RetryPolicy, never_sent, parse_retry_after, retry_delay, should_retry
from ._secret import Secret
from .errors import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)

__all__ = ["ApiRequest", "Transport"]


@attrs.define
class _Call:
    """The public call in progress in this task: its absolute deadline (anyio clock), and the
    request whose exchange is under way, if one is (it may have left this machine)."""

    deadline: float
    exchange: ApiRequest | None = None


_CALL: ContextVar[_Call | None] = ContextVar("epay_async_call", default=None)


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
    #: Only ``/payment/confirm`` answers with a redirect; any other 3xx is an error.
    redirect_is_answer: bool = False

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
        clock: Callable[[], float] = anyio.current_time,
        on_outcome_unknown: OutcomeCallback | None = None,
    ) -> None:
        self.http = http
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self.on_outcome_unknown = on_outcome_unknown

    @asynccontextmanager
    async def call(self, operation: str) -> AsyncIterator[None]:
        """One public call: everything inside (token requests and waits for another caller's
        refresh, key fetches, attempts, pauses, 103 retries) shares one deadline,
        ``retry.deadline`` seconds from now. Nested calls keep the outer deadline.

        Reaching it outside an exchange raises :class:`TransportError`: nothing was sent by
        this call then (an exchange in progress maps its own deadline, see :meth:`send`).
        Every money request left in doubt is reported (``on_outcome_unknown``): one that
        raises :class:`OutcomeUnknownError`, and one cancelled by the caller while its
        exchange was under way; the cancellation itself propagates unchanged.
        """
        if _CALL.get() is not None:
            yield
            return
        deadline = anyio.current_time() + self.retry.deadline if self.retry.deadline else math.inf
        call = _Call(deadline)
        reset = _CALL.set(call)
        try:
            with anyio.CancelScope(deadline=deadline) as scope:
                try:
                    yield
                except OutcomeUnknownError as exc:
                    await report(exc, self.on_outcome_unknown)
                    raise
                except anyio.get_cancelled_exc_class():
                    request = call.exchange
                    if request is not None and not request.idempotent and not scope.cancel_called:
                        # The caller gave up (a timeout, a closed connection, a shutdown) while
                        # the request may have reached the gateway: keep a record of it.
                        reason = "cancelled by the caller while the request was under way"
                        await report(request.outcome_unknown(reason), self.on_outcome_unknown)
                    raise
        finally:
            _CALL.reset(reset)
        if scope.cancelled_caught:
            if call.exchange is not None:  # cut while an exchange was under way
                failure = self._deadline_failure(call.exchange)
                if isinstance(failure, OutcomeUnknownError):
                    await report(failure, self.on_outcome_unknown)
                raise failure
            raise TransportError(
                f"{operation}: the {self.retry.deadline} s deadline passed before anything was sent"
            )

    async def send(self, request: ApiRequest) -> ApiResponse:
        """Send ``request`` under the retry rule; returns any answer that is not retryable.

        Raises :class:`AuthenticationError` for 401/403, :class:`TransportError` for network
        failures of reads (or of money requests that were never sent),
        :class:`OutcomeUnknownError` for money requests that may have been received, and
        :class:`ApiError` for reads still answered 429/5xx when the attempts run out.
        """
        policy = self.retry
        call = _CALL.get()
        if call is not None:
            deadline = call.deadline
        else:
            deadline = anyio.current_time() + policy.deadline if policy.deadline else math.inf
        attempt = 0
        while True:
            attempt += 1
            if self.http.is_closed:  # checked before every attempt: aclose() may come any time
                raise TransportError(f"{request.operation}: the client is closed; nothing was sent")
            if call is not None:
                call.exchange = request  # left set if a cancellation cuts the exchange
            error: httpx.HTTPError | None = None
            try:
                with anyio.CancelScope(deadline=deadline) as scope:
                    response = await self._send_once(request, attempt)
            except httpx.HTTPError as exc:
                error = exc
            except RuntimeError as exc:
                if not self.http.is_closed:
                    raise
                error = _ClientClosed(str(exc))
            if call is not None:
                call.exchange = None
            if error is None and scope.cancelled_caught:
                raise self._deadline_failure(request)
            if error is not None:
                retry = not isinstance(error, _ClientClosed) and should_retry(
                    policy, attempt=attempt, idempotent=request.idempotent, error=error
                )
                if retry and await self._pause(request, attempt, None, error, deadline):
                    continue
                # Raised outside the except clause and not chained: httpx errors carry the
                # request, and its headers the token.
                failure = self._network_failure(request, error)
                del error
                raise failure
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
        if self._clock() + delay >= deadline:
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
        # identity: a compressed answer could inflate past the size cap before it is checked.
        headers = {"Accept": request.accept, "Accept-Encoding": "identity"}
        if request.token is not None:
            headers["Authorization"] = Secret(f"Bearer {request.token}")
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
            # Never followed, whatever a lent client says: a 3xx is read as an answer.
            response = await self.http.send(http_request, stream=True, follow_redirects=False)
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
        if isinstance(exc, _ClientClosed):
            if request.idempotent or exc.never_sent:
                return TransportError(f"{request.operation}: the client was closed ({exc})")
            return request.outcome_unknown("the client was closed while the request was under way")
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
        if 300 <= status < 400 and not request.redirect_is_answer:
            host = urlsplit(response.headers.get("location", "")).netloc or "nowhere"
            reason = f"HTTP {status} redirect to {host[:100]}, not followed"
            if not request.idempotent:
                raise request.outcome_unknown(reason)
            raise ProtocolError(f"{request.operation}: {reason}", http_status=status)
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


class _ClientClosed(httpx.HTTPError):
    """``aclose()`` came while the call was under way."""

    #: What httpx and aiohttp say when asked to send on a closed client: nothing left.
    _REFUSALS = ("Cannot send a request, as the client has been closed", "Session is closed")

    @property
    def never_sent(self) -> bool:
        return any(text in str(self) for text in self._REFUSALS)


class _BodyTooLarge(httpx.HTTPError):
    """The response body exceeded ``MAX_RESPONSE_BYTES``, or could not be decoded."""


async def _read_capped(response: httpx.Response, limit: int = C.MAX_RESPONSE_BYTES) -> bytes:
    """The body, at most ``limit`` bytes, both as received and once decompressed.

    The raw bytes are read (httpx would decompress each chunk whole, before any cap could be
    checked) and any ``Content-Encoding`` the server used anyway is undone here, layer by layer,
    never producing more than ``limit`` bytes.
    """
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(f"response body of {declared} bytes exceeds {limit}")
    try:
        content = await _read_raw(response, limit)
    except httpx.StreamConsumed:
        # A transport (httpx.MockTransport, for one) handed over an answer it had read, and
        # httpx decoded, already: there is nothing left to bound but its size.
        if len(response.content) > limit:
            raise _BodyTooLarge(f"response body exceeds {limit} bytes") from None
        return response.content
    encodings = [
        part.strip().lower()
        for part in response.headers.get("content-encoding", "").split(",")
        if part.strip().lower() not in ("", "identity")
    ]
    for encoding in reversed(encodings):  # the last one listed was applied last
        content = _decompress(content, encoding, limit)
    return content


async def _read_raw(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    raw = cast("AsyncGenerator[bytes, None]", response.aiter_raw())  # it is a generator
    async with aclosing(raw) as stream:  # closed now, also when cut short
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge(f"response body exceeds {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


#: zlib's window bits: gzip only, zlib or raw deflate (what servers send as "deflate").
_WBITS = {"gzip": 16 + 15, "x-gzip": 16 + 15, "deflate": 15}


def _decompress(content: bytes, encoding: str, limit: int) -> bytes:
    if encoding not in _WBITS:
        raise _BodyTooLarge(f"response body has an unsupported Content-Encoding {encoding[:20]!r}")
    wbits = _WBITS[encoding]
    try:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(content, limit + 1)
        except zlib.error:
            if encoding != "deflate":
                raise
            inflater = zlib.decompressobj(-15)  # raw deflate, as some servers send it
            out = inflater.decompress(content, limit + 1)
    except zlib.error:
        raise _BodyTooLarge(f"response body is not valid {encoding}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _BodyTooLarge(f"response body exceeds {limit} bytes once decompressed")
    return out


def json_body(response: ApiResponse, *, what: str) -> Any:
    """Parse a response body as JSON (money as ``Decimal``) or raise ``ProtocolError``."""
    if not response.content.strip():
        raise ProtocolError(f"{what}: empty response body", http_status=response.status_code)
    try:
        return loads(response.content)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: {exc}", http_status=response.status_code) from None

"""Sends one request: logging, failure mapping and the retry rule, in one place.

The rule that keeps money safe lives here. A request that changes money is sent again
only when the HTTP backend proves it never left this machine (see :mod:`._http`). Any other
failure after it may have left raises :class:`OutcomeUnknownError`. Reads are retried on
network errors, 429 and 5xx, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import attrs
import httpx

from ._converter import loads
from ._http import Answer, Backend, BodyTooLarge, ClientClosed, SendError
from ._http.httpx_backend import HttpxBackend
from ._in_doubt import OutcomeCallback, report
from ._logs import logger
from ._retry import RetryPolicy, parse_retry_after, retry_delay, should_retry
from ._secret import Secret, SecretBytes, reveal
from .errors import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    ProtocolError,
    TransportError,
)

__all__ = ["ApiRequest", "ApiResponse", "Transport"]

#: What an operation gets back (the seam's answer).
ApiResponse = Answer


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


class Transport:
    """The retry rule, the deadline and the in-doubt records over one HTTP backend (an
    ``httpx.AsyncClient`` is taken as a lent one)."""

    def __init__(
        self,
        backend: Backend | httpx.AsyncClient,
        retry: RetryPolicy,
        *,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = anyio.current_time,
        on_outcome_unknown: OutcomeCallback | None = None,
    ) -> None:
        if isinstance(backend, httpx.AsyncClient):
            backend = HttpxBackend(backend, direct=None)
        self.backend: Backend = backend
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self.on_outcome_unknown = on_outcome_unknown

    def call(self, operation: str) -> _CallScope:
        """One public call: everything inside (token requests and waits for another caller's
        refresh, key fetches, attempts, pauses, 103 retries) shares one deadline,
        ``retry.deadline`` seconds from now. Nested calls keep the outer deadline.

        Reaching it outside an exchange raises :class:`TransportError`: nothing was sent by
        this call then (an exchange in progress maps its own deadline, see :meth:`send`).
        Every money request left in doubt is reported (``on_outcome_unknown``): one that
        raises :class:`OutcomeUnknownError`, and one cancelled by the caller while its
        exchange was under way; the cancellation itself propagates unchanged.
        """
        return _CallScope(self, operation)

    async def _leave_call(self, call: _Call, exc: BaseException | None) -> None:
        """Report what a call the deadline did not cut leaves in doubt."""
        if isinstance(exc, OutcomeUnknownError):
            await report(exc, self.on_outcome_unknown)
        elif isinstance(exc, anyio.get_cancelled_exc_class()):
            request = call.exchange
            if request is not None and not request.idempotent:
                # The caller gave up (a timeout, a closed connection, a shutdown) while the
                # request may have reached the gateway: keep a record of it.
                reason = "cancelled by the caller while the request was under way"
                await report(request.outcome_unknown(reason), self.on_outcome_unknown)

    async def _deadline_passed(self, call: _Call, operation: str) -> Exception:
        if call.exchange is not None:  # cut while an exchange was under way
            failure = self._deadline_failure(call.exchange)
            if isinstance(failure, OutcomeUnknownError):
                await report(failure, self.on_outcome_unknown)
            return failure
        return TransportError(
            f"{operation}: the {self.retry.deadline} s deadline passed before anything was sent"
        )

    async def send(self, request: ApiRequest, *, token: str | None = None) -> ApiResponse:
        """Send ``request`` (with ``token``, else its own) under the retry rule; returns any
        answer that is not retryable.

        Raises :class:`AuthenticationError` for 401/403, :class:`TransportError` for network
        failures of reads (or of money requests that were never sent),
        :class:`OutcomeUnknownError` for money requests that may have been received, and
        :class:`ApiError` for reads still answered 429/5xx when the attempts run out.
        """
        policy = self.retry
        call = _CALL.get()
        deadline = call.deadline if call is not None else self._deadline()
        attempt = 0
        while True:
            attempt += 1
            if self.backend.is_closed:  # checked before every attempt: aclose() may come any time
                raise TransportError(f"{request.operation}: the client is closed; nothing was sent")
            error: SendError | None = None
            if call is not None:
                # The call's own scope holds the deadline; the exchange is left set if a
                # cancellation cuts it, so the call can tell it may have left.
                call.exchange = request
                try:
                    response = await self._send_once(request, attempt, token)
                except SendError as exc:
                    error = exc
                call.exchange = None
                cut = False
            else:
                with anyio.CancelScope(deadline=deadline) as scope:
                    try:
                        response = await self._send_once(request, attempt, token)
                    except SendError as exc:
                        error = exc
                cut = scope.cancelled_caught
            if cut and error is None:
                raise self._deadline_failure(request)
            if error is not None:
                retry = should_retry(
                    policy, attempt=attempt, idempotent=request.idempotent, error=error
                )
                if retry and await self._pause(request, attempt, None, error.kind, deadline):
                    continue
                failure = self._network_failure(request, error)
                del error
                raise failure
            status = response.status_code
            retry = should_retry(
                policy, attempt=attempt, idempotent=request.idempotent, status_code=status
            )
            if retry:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if await self._pause(request, attempt, retry_after, f"HTTP {status}", deadline):
                    continue
            return self._check_status(request, response)

    def _deadline(self) -> float:
        return anyio.current_time() + self.retry.deadline if self.retry.deadline else math.inf

    async def _pause(
        self,
        request: ApiRequest,
        attempt: int,
        retry_after: float | None,
        reason: str,
        deadline: float,
    ) -> bool:
        """Sleep before the next attempt, unless that would end past the call's deadline."""
        delay = retry_delay(self.retry, attempt, retry_after=retry_after, rand=self._rand)
        if self._clock() + delay >= deadline:
            return False
        self._log_retry(request.operation, delay, reason, attempt)
        await self._sleep(delay)
        return True

    def _deadline_failure(self, request: ApiRequest) -> Exception:
        reason = f"no answer within the {self.retry.deadline} s deadline"
        if request.idempotent:
            return TransportError(f"{request.operation}: {reason}")
        return request.outcome_unknown(reason)

    async def _send_once(self, request: ApiRequest, attempt: int, token: str | None) -> ApiResponse:
        # identity: a compressed answer could inflate past the size cap before it is checked.
        headers = {"Accept": request.accept, "Accept-Encoding": "identity"}
        token = token or request.token
        if token is not None:
            headers["Authorization"] = Secret("Bearer " + reveal(token))
        # The body as bytes that show as b'***' in any recorded frame (it may hold the client
        # secret, card data or a cabinet password).
        content: SecretBytes | None = None
        if request.content is not None:
            content = SecretBytes(request.content)
            headers["Content-Type"] = "application/json"
        elif request.form is not None:
            content = SecretBytes(
                urlencode(
                    {
                        key: reveal(value) if isinstance(value, str) else value
                        for key, value in request.form.items()
                    }
                ).encode()
            )
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = request.url
        if request.params:
            url = f"{url}?{urlencode(request.params)}"
        if not logger.isEnabledFor(logging.DEBUG):
            return await self.backend.exchange(request.method, url, headers, content, self.timeout)
        status: int | str = "error"
        started = anyio.current_time()
        try:
            response = await self.backend.exchange(
                request.method, url, headers, content, self.timeout
            )
            status = response.status_code
        finally:
            logger.debug(
                "%s %s -> %s in %.1f ms (%s, attempt %d)",
                request.method,
                urlsplit(request.url).path,
                status,
                (anyio.current_time() - started) * 1000,
                request.operation,
                attempt,
            )
        return response

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

    def _network_failure(self, request: ApiRequest, exc: SendError) -> Exception:
        if isinstance(exc, ClientClosed):
            if request.idempotent or not exc.sent:
                return TransportError(f"{request.operation}: the client was closed ({exc})")
            return request.outcome_unknown("the client was closed while the request was under way")
        if isinstance(exc, BodyTooLarge):
            if request.idempotent:
                return ProtocolError(f"{request.operation}: {exc.detail}")
            return request.outcome_unknown(exc.detail)
        if request.idempotent or not exc.sent:
            return TransportError(f"{request.operation}: could not reach the gateway ({exc.kind})")
        return request.outcome_unknown(str(exc))

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


class _AnyioDeadline:
    """The call's deadline as an anyio cancel scope (trio, and Python 3.10)."""

    def __init__(self, deadline: float) -> None:
        self._scope = anyio.CancelScope(deadline=deadline)

    async def enter(self) -> None:
        self._scope.__enter__()

    def expired(self) -> bool:
        return self._scope.cancel_called

    async def exit(self, exc: BaseException | None) -> bool:
        """Leave the scope; True when its deadline cut the call (its cancellation absorbed)."""
        swallowed = self._scope.__exit__(
            type(exc) if exc else None, exc, exc.__traceback__ if exc else None
        )
        return bool(swallowed) and self._scope.cancelled_caught


if sys.version_info >= (3, 11):

    class _AsyncioDeadline:
        """The call's deadline as ``asyncio.timeout_at``: cheaper than an anyio cancel scope.
        anyio's clock on asyncio is the loop's, so the deadline is the same."""

        def __init__(self, deadline: float) -> None:
            self._timeout = asyncio.timeout_at(deadline if deadline != math.inf else None)

        async def enter(self) -> None:
            await self._timeout.__aenter__()

        def expired(self) -> bool:
            return self._timeout.expired()

        async def exit(self, exc: BaseException | None) -> bool:
            """True only when the deadline's own cancellation ended the call: expired, and
            no other cancellation (the caller's ``task.cancel()``, arriving with it) pending."""
            try:
                await self._timeout.__aexit__(
                    type(exc) if exc else None, exc, exc.__traceback__ if exc else None
                )
            except TimeoutError:
                if not self._timeout.expired():
                    raise
                return True
            return False

    def _deadline_scope(deadline: float) -> _AnyioDeadline | _AsyncioDeadline:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # trio
            return _AnyioDeadline(deadline)
        return _AsyncioDeadline(deadline)

else:

    def _deadline_scope(deadline: float) -> _AnyioDeadline:
        return _AnyioDeadline(deadline)


class _CallScope:
    """``Transport.call``: the call's deadline scope and its in-doubt records."""

    __slots__ = ("_call", "_operation", "_reset", "_scope", "_transport")

    def __init__(self, transport: Transport, operation: str) -> None:
        self._transport = transport
        self._operation = operation
        self._call: _Call | None = None

    async def __aenter__(self) -> None:
        if _CALL.get() is not None:
            return  # nested: the outer call's deadline holds
        policy = self._transport.retry
        deadline = anyio.current_time() + policy.deadline if policy.deadline else math.inf
        self._call = _Call(deadline)
        self._reset = _CALL.set(self._call)
        self._scope = _deadline_scope(deadline)
        await self._scope.enter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        call = self._call
        if call is None:
            return
        try:
            # The deadline is left first: the in-doubt record below runs outside it (its own
            # shielded, bounded time), so the deadline cannot fire through the callback.
            deadline_passed = await self._scope.exit(exc)
        finally:
            _CALL.reset(self._reset)
        if deadline_passed:
            raise await self._transport._deadline_passed(call, self._operation)
        # Not cut by the deadline (a cancellation that came with it is the caller's): the
        # exception propagates unchanged once its in-doubt record is written.
        await self._transport._leave_call(call, exc)


def json_body(response: ApiResponse, *, what: str) -> Any:
    """Parse a response body as JSON (money as ``Decimal``) or raise ``ProtocolError``."""
    if not response.content.strip():
        raise ProtocolError(f"{what}: empty response body", http_status=response.status_code)
    try:
        return loads(response.content)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: {exc}", http_status=response.status_code) from None

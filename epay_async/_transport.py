"""Sends one request: logging, failure mapping and the retry rule, in one place.

The rule that keeps money safe lives here. A request that changes money is sent again
only when the HTTP backend proves it never left this machine (see :mod:`._http`). Any other
failure after it may have left raises :class:`OutcomeUnknownError`. Reads are retried on
network errors, 429 and 5xx, honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

import anyio
import httpx

from ._answers import check_status
from ._call import current_call, deadline_failure
from ._http import Answer, Backend, BodyTooLarge, ClientClosed, SendError
from ._http.httpx_backend import HttpxBackend
from ._logs import logger
from ._request import ApiRequest
from ._retry import RetryPolicy, parse_retry_after, retry_delay, should_retry
from ._secret import Secret, SecretBytes, reveal
from ._telemetry import NO_CALL_TELEMETRY
from .errors import ProtocolError, TransportError

__all__ = ["ApiRequest", "Attempts", "Transport"]


class Attempts:
    """How one request went: the attempts made and the last answer (for raw responses and
    spans). The pipeline passes one to :meth:`Transport.send`."""

    __slots__ = ("answer", "count")

    def __init__(self) -> None:
        self.count = 0
        self.answer: Answer | None = None


class Transport:
    """The retry rule over one HTTP backend (an ``httpx.AsyncClient`` is taken as a lent
    one): a request that changes money is sent again only when the backend proves it never
    left this machine; reads are retried on network errors, 429 and 5xx."""

    def __init__(
        self,
        backend: Backend | httpx.AsyncClient,
        retry: RetryPolicy,
        *,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        if isinstance(backend, httpx.AsyncClient):
            backend = HttpxBackend(backend, direct=None)
        self.backend: Backend = backend
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._rand = rand
        self._clock = clock

    async def send(
        self,
        request: ApiRequest,
        *,
        token: str | None = None,
        attempts: Attempts | None = None,
    ) -> Answer:
        """Send ``request`` (with ``token``, else its own) under the retry rule; returns any
        answer that is not retryable (``attempts``, when given, counts the attempts and keeps
        the answer).

        Raises :class:`AuthenticationError` for 401/403, :class:`TransportError` for network
        failures of reads (or of money requests that were never sent),
        :class:`OutcomeUnknownError` for money requests that may have been received, and
        :class:`ApiError` for reads still answered 429/5xx when the attempts run out.
        """
        policy = self.retry
        call = current_call()
        deadline = call.deadline if call is not None else self._deadline()
        if attempts is None:
            attempts = Attempts()
        attempt = 0
        while True:
            attempt += 1
            attempts.count += 1
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
                raise deadline_failure(request, policy.deadline)
            if error is not None:
                retry = should_retry(
                    policy, attempt=attempt, idempotent=request.idempotent, error=error
                )
                if retry and await self.pause(
                    request.operation, attempt, None, error.kind, deadline
                ):
                    continue
                failure = self._network_failure(request, error)
                del error
                raise failure
            attempts.answer = response
            status = response.status_code
            retry = should_retry(
                policy, attempt=attempt, idempotent=request.idempotent, status_code=status
            )
            if retry:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if await self.pause(
                    request.operation, attempt, retry_after, f"HTTP {status}", deadline
                ):
                    continue
            return check_status(request, response)

    def _deadline(self) -> float:
        return anyio.current_time() + self.retry.deadline if self.retry.deadline else math.inf

    async def pause(
        self,
        operation: str,
        attempt: int,
        retry_after: float | None,
        reason: str,
        deadline: float | None = None,
    ) -> bool:
        """Sleep (cancellably) before attempt ``attempt + 1``, logging why; False, without
        sleeping, when that would end past the call's deadline. The one pause of every retry:
        network errors, 429/5xx, and answers the pipeline retries (check-status's 103)."""
        call = current_call()
        if deadline is None:
            deadline = call.deadline if call is not None else self._deadline()
        delay = retry_delay(self.retry, attempt, retry_after=retry_after, rand=self._rand)
        if self._clock() + delay >= deadline:
            return False
        logger.info(
            "retrying %s in %.2f s after %s (attempt %d of %d)",
            operation,
            delay,
            reason,
            attempt,
            self.retry.max_attempts,
        )
        if call is not None:
            call.span.retried(reason)
        await self._sleep(delay)
        return True

    async def _send_once(self, request: ApiRequest, attempt: int, token: str | None) -> Answer:
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
        call = current_call()
        span = call.span if call is not None else NO_CALL_TELEMETRY
        with span.attempt(request.method, request.url, attempt) as traced:
            if not logger.isEnabledFor(logging.DEBUG):
                response = await self.backend.exchange(
                    request.method, url, headers, content, self.timeout
                )
                traced.set_status_code(response.status_code)
                return response
            status: int | str = "error"
            started = anyio.current_time()
            try:
                response = await self.backend.exchange(
                    request.method, url, headers, content, self.timeout
                )
                status = response.status_code
                traced.set_status_code(status)
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

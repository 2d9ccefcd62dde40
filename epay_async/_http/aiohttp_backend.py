"""``transport="aiohttp"``: an ``aiohttp.ClientSession`` used directly (the ``aiohttp`` extra).

Several times the throughput of httpx at high concurrency (reconciliation), with the same
guarantees. asyncio only: aiohttp does not run under trio.

What proves that a request never left, in aiohttp's terms:

- ``ClientConnectorError`` (refused, DNS, TLS handshake, proxy): no connection was made;
- ``ConnectionTimeoutError``: the ``connect`` phase (waiting for a pooled connection, then
  connecting) timed out;
- ``ClientConnectionResetError("Cannot write to closing transport")`` anywhere in the chain: the
  connection was closed before the request's one write (aiohttp writes a request whose body is
  in memory, headers and body, in a single write).

Everything else once a connection was had — ``ServerDisconnectedError``, ``ClientOSError``, a
read timeout, a ``ClientPayloadError`` in the answer — may follow a request the gateway
received, and is reported so.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx

from .. import _constants as C
from .._secret import reveal
from . import Answer, ClientClosed, SendError
from .body import check_declared_length, decode, read_capped
from .httpx_backend import shared_ssl_context

__all__ = ["AiohttpBackend", "classify"]

_NOTHING_WRITTEN = "Cannot write to closing transport"


def client_timeout(timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
    """httpx's phases in aiohttp's terms: ``connect`` covers the pool wait and connecting."""
    connect = None
    if timeout.connect is not None:
        connect = timeout.connect + (timeout.pool or 0.0)
    return aiohttp.ClientTimeout(
        total=None, connect=connect, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _nothing_written(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(4):  # the write error, as aiohttp re-raises it (cause) or meets it (context)
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectionResetError) and _NOTHING_WRITTEN in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify(exc: BaseException) -> SendError | None:
    """The seam's account of an aiohttp failure (None: not a failure of the exchange)."""
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return SendError(kind, sent=False, timeout=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return SendError(kind, sent=False)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return SendError(kind, sent=False, retryable=False)
    if _nothing_written(exc):
        return SendError(kind, "closed before the request was written", sent=False)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return SendError(kind, sent=True, timeout=isinstance(exc, asyncio.TimeoutError))
    return None


class AiohttpBackend:
    """An ``aiohttp.ClientSession`` behind the seam: the library's own, or a lent one (never
    closed by the library; its redirects and decompression are turned off per request)."""

    def __init__(self, session: aiohttp.ClientSession | None, timeout: httpx.Timeout) -> None:
        #: None until the first exchange: aiohttp builds a session only in a running loop.
        self._session = session
        self.owned = session is None
        self._closed = False
        self._timeout = client_timeout(timeout)
        self._headers = {"User-Agent": C.USER_AGENT} if self.owned else {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._create()
        return self._session

    def _create(self) -> aiohttp.ClientSession:
        """The library's own session."""
        limits = C.DEFAULT_LIMITS
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
            ssl=shared_ssl_context(),
        )
        session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._timeout,
        )
        # aiohttp sends a GET again, once, when a kept-alive connection turns out closed; the
        # library's retry rule decides every attempt, so attempts stay counted and bounded.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        return session

    @property
    def is_closed(self) -> bool:
        return self._closed or (self._session is not None and self._session.closed)

    async def aclose(self) -> None:
        self._closed = True
        if self.owned and self._session is not None:
            await self._session.close()

    async def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> Answer:
        if self._closed:
            raise ClientClosed("the client is closed", sent=False)
        started = time.perf_counter()
        if self._headers:
            headers.update(self._headers)
        try:
            response = await self.session.request(
                method,
                url,
                # aiohttp str()s header values: a Secret (the Authorization header) is revealed
                # here, for the send alone.
                headers={name: reveal(value) for name, value in headers.items()},
                data=content,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._timeout if timeout is None else client_timeout(timeout),
            )
        except RuntimeError as exc:
            if not self.session.closed:
                raise
            sent = "Session is closed" not in str(exc)
            raise ClientClosed("the session was closed", sent=sent) from None
        except BaseException as exc:
            failure = classify(exc)
            if failure is None:
                raise
            raise failure from None  # not chained: aiohttp errors carry the request's headers
        try:
            check_declared_length(response.headers)
            if response.content_length is not None:  # bounded already: read it whole
                body = await response.read()
            else:
                body = await read_capped(response.content.iter_any())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            # An answer had begun: the request was sent, whatever aiohttp calls the failure.
            kind = type(exc).__name__
            raise SendError(f"answer cut short ({kind})", sent=True) from None
        finally:
            response.release()
        return Answer(
            response.status,
            response.headers,
            decode(body, response.headers),
            time.perf_counter() - started,
        )

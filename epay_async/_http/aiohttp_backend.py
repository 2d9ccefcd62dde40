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

A lent session (``EpayClient(transport=session)``) is the caller's, but no setting of it may
resend a request, rewrite one, or hide or rewrite an answer. Each setting aiohttp offers:

- turned off per request (the session stays as it is for the caller's other requests):
  ``middlewares`` (``middlewares=()``: a middleware may call the handler again, a second
  payment), ``raise_for_status`` (``False``: it would hide a 400 decline or a 401 behind an
  exception), redirects (``allow_redirects=False``; so ``requote_redirect_url`` and
  ``max_redirects`` never apply), ``auto_decompress`` (``False``: the library undoes the
  encoding itself under the size cap), ``timeout`` (the library's);
- refused at construction with a :class:`~epay_async.ValidationError` naming the setting,
  because no per-request keyword turns it off: ``auth`` (a ``BasicAuth`` of the session's
  own would ride on the token request, and aiohttp raises a bare ``ValueError`` next to the
  library's bearer token), ``trust_env`` (it reads ``~/.netrc`` credentials for the gateway's
  host, the same two faults; pass ``proxy=`` to the session instead), ``request_class`` and
  ``response_class`` other than aiohttp's own (they can send or read anything), default
  ``headers`` that carry a credential or frame the body (``Authorization``, ``Cookie``,
  ``Content-Encoding``, ``Content-Length``, ``Transfer-Encoding``, ``Expect``, ``Host``);
- left as the caller set them, because they neither resend nor change what is read: other
  default ``headers`` (the library's own headers win on a clash), ``skip_auto_headers`` (the
  library names every header it needs), ``cookie_jar`` (cookies it holds for the gateway's
  host are sent; the gateway uses none), ``proxy``/``proxy_auth``, ``connector`` (its TLS,
  limits; aiohttp's own resend of a ``GET`` on a kept-alive connection found closed only
  ever applies to reads), ``version``, ``read_bufsize`` and the header size limits,
  ``base_url`` (the library's URLs are absolute), ``json_serialize`` and the charset
  resolver (unused);
- ``trace_configs``: left, and they see every request, bodies included (the client secret
  on a token request, card data on a payment): lend a session with trace configs only if
  they keep what they see as a secret.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx

from .. import _constants as C
from .._secret import reveal
from .._shield import cancellation_pending
from ..errors import ValidationError
from . import Answer, ClientClosed, SendError, refused_default_header
from .body import check_declared_length, decode, read_capped
from .httpx_backend import shared_ssl_context

__all__ = ["AiohttpBackend", "classify"]

_NOTHING_WRITTEN = "Cannot write to closing transport"


def check_lent_session(session: aiohttp.ClientSession) -> None:
    """Refuse a lent session with a setting no per-request keyword can turn off."""
    if session.auth is not None:
        raise ValidationError(
            "transport", "the session's auth would send credentials of its own; lend one without"
        )
    if session.trust_env:
        raise ValidationError(
            "transport",
            "the session's trust_env reads .netrc credentials for the gateway; lend one without"
            " (give it proxy= instead)",
        )
    for name, base in (
        ("request_class", aiohttp.ClientRequest),
        ("response_class", aiohttp.ClientResponse),
    ):
        if getattr(session, f"_{name}", base) is not base:
            raise ValidationError(
                "transport", f"the session's {name} is not aiohttp's own; lend one without"
            )
    header = refused_default_header(session.headers)
    if header is not None:
        raise ValidationError(
            "transport", f"the session's default headers set {header}; lend one without"
        )


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


#: aiohttp's connector code that waits, before anything is written, for a connection of its
#: pool or for a name's resolution: closing the session cancels these waits.
_WAITS_BEFORE_WRITING = frozenset({"_wait_for_available_connection", "_resolve_host"})


def _cancelled_by_the_close(exc: asyncio.CancelledError) -> bool:
    """Whether ``exc`` is aiohttp's cancel of a wait of its connector when the session closed
    (nothing of the request written), not a cancellation of this task: it was raised in one
    of those waits, and the task has no cancellation pending. A trace config's callback, for
    one, runs inside the request and may raise after the request was written."""
    innermost = exc.__traceback__
    if innermost is None:
        return False
    while innermost.tb_next is not None:
        innermost = innermost.tb_next
    frame = innermost.tb_frame
    return (
        frame.f_code.co_name in _WAITS_BEFORE_WRITING
        and frame.f_globals.get("__name__") == "aiohttp.connector"
        and not cancellation_pending()
    )


class AiohttpBackend:
    """An ``aiohttp.ClientSession`` behind the seam: the library's own, or a lent one (never
    closed by the library; see the module's account of what is turned off per request and what
    is refused)."""

    def __init__(self, session: aiohttp.ClientSession | None, timeout: httpx.Timeout) -> None:
        if session is not None:
            check_lent_session(session)
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
                raise_for_status=False,
                middlewares=(),
                timeout=self._timeout if timeout is None else client_timeout(timeout),
            )
        except RuntimeError as exc:
            if not self.session.closed:
                raise
            sent = "Session is closed" not in str(exc)
            raise ClientClosed("the session was closed", sent=sent) from None
        except asyncio.CancelledError as exc:
            if not self.is_closed or not _cancelled_by_the_close(exc):
                raise
            raise ClientClosed("the session was closed", sent=False) from None
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

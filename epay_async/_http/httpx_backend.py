"""The default backend: httpx.

With the library's own client the request goes straight to the client's transport (the
connection pool): ``AsyncClient.send`` would merge defaults, parse the URL again and run the
auth, redirect and cookie layers, none of which the library uses, for about a third of a
call's cost. A lent ``http_client`` always goes through ``AsyncClient.send``: its hooks and
mounts are its owner's; its ``auth`` is turned off for the library's requests (it would
replace the bearer token, or send its credentials with the token request), and default
headers that carry a credential or frame the body are refused (:func:`check_lent_client`).
The library's own client goes through it too when the environment names a proxy, which
only ``AsyncClient`` applies.

When the library built the connection pool itself, at most the pool's size of exchanges are
under way at once; the rest wait their turn here. httpcore's pool re-scans every waiting
request whenever a connection is taken or given back, so a reconcile with 256 in flight on a
pool of 100 spent more time queueing there than sending (``benchmarks/README.md``).
"""

from __future__ import annotations

import functools
import re
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from .. import _constants as C
from ..errors import ValidationError
from . import Answer, ClientClosed, SendError, refused_default_header
from .body import check_declared_length, decode, read_capped

__all__ = ["HttpxBackend", "check_lent_client", "classify", "shared_ssl_context"]

#: httpx errors raised before a single byte of the request left this machine.
NEVER_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
#: What httpx says when asked to send on a closed client: nothing left.
_CLOSED = "Cannot send a request, as the client has been closed"


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client the library builds: loading the CA bundle costs
    about 20 ms and 800 KiB each time (contexts are safe to share between connections)."""
    return httpx.create_ssl_context()


#: A path httpx would take as it is: segments of unreserved characters, none of them a dot
#: segment, nothing to percent-encode. The gateway's paths and validated ids are such paths.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-]+)+/?")


#: httpx refuses longer URLs ("URL too long"); the short path must too.
_MAX_URL_LENGTH = 65_536


@functools.lru_cache(maxsize=32)
def _origin(origin: str) -> httpx.URL:
    return httpx.URL(origin)


def request_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, parsing only the path when the origin was seen before.

    A call spends about 17 µs parsing its absolute URL, mostly the origin every request to the
    gateway shares. A plain path (:data:`_PLAIN_PATH`) is what httpx's parser returns
    unchanged, so it is put into the origin's parsed form as it is; anything else (a query, a
    character to escape, a dot segment, an authority with credentials, a query or a fragment,
    another httpx without a parsed form) is parsed whole.
    ``tests/test_http_seam.py`` checks both ways agree over generated URLs.
    """
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if (
        separator
        and slash
        and len(url) <= _MAX_URL_LENGTH
        and not any(mark in authority for mark in "?#@")  # a query, a fragment, credentials
        and _PLAIN_PATH.fullmatch(path := "/" + path)
    ):
        reference = getattr(_origin(f"{scheme}://{authority}"), "_uri_reference", None)
        if reference is not None and hasattr(reference, "_replace") and reference.path in ("", "/"):
            parsed = httpx.URL.__new__(httpx.URL)
            parsed._uri_reference = reference._replace(path=path)
            return parsed
    return httpx.URL(url)


def _environment_names_a_proxy() -> bool:
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def classify(exc: httpx.HTTPError) -> SendError:
    """The seam's account of an httpx failure: above all, whether the request was sent."""
    kind = type(exc).__name__
    timeout = isinstance(exc, httpx.TimeoutException)
    if isinstance(exc, NEVER_SENT):
        return SendError(kind, sent=False, timeout=timeout)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return SendError(kind, sent=False, retryable=False)
    if isinstance(exc, httpx.TransportError):
        return SendError(kind, sent=True, timeout=timeout)
    return SendError(kind, sent=True, retryable=False)


def check_lent_client(client: httpx.AsyncClient) -> None:
    """Refuse a lent client whose default headers carry a credential or frame the body (its
    ``auth`` is turned off per request instead: it would replace the library's bearer token,
    or ride on the token request)."""
    header = refused_default_header(client.headers)
    if header is not None:
        raise ValidationError(
            "http_client", f"the client's default headers set {header}; lend one without"
        )


class HttpxBackend:
    """An ``httpx.AsyncClient`` behind the seam (see the module's docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        direct: httpx.AsyncBaseTransport | None,
        slots: int | None = None,
    ):
        self.client = client
        self._direct = direct
        self._timeout = client.timeout
        #: Exchanges allowed under way at once (the size of a pool the library built).
        self._slots = _semaphore(slots) if slots else None

    @classmethod
    def owned(
        cls, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None
    ) -> HttpxBackend:
        """The library's own client (``transport``: an httpx transport to send through)."""
        # The pool is the library's own unless a transport was given (its size unknown here).
        slots = C.DEFAULT_LIMITS.max_connections if transport is None else None
        if transport is None and not _environment_names_a_proxy():
            transport = httpx.AsyncHTTPTransport(
                verify=shared_ssl_context(), limits=C.DEFAULT_LIMITS
            )
        client = httpx.AsyncClient(
            timeout=timeout,
            limits=C.DEFAULT_LIMITS,
            transport=transport,
            verify=shared_ssl_context(),
            headers={"User-Agent": C.USER_AGENT},
            follow_redirects=False,
        )
        return cls(client, direct=transport, slots=slots)

    @property
    def is_closed(self) -> bool:
        return self.client.is_closed

    async def aclose(self) -> None:
        await self.client.aclose()

    async def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> Answer:
        started = time.perf_counter()
        slots = self._slots
        if slots is not None:
            try:
                slots.acquire_nowait()
            except anyio.WouldBlock:
                await self._wait_for_turn(slots, timeout)
        try:
            try:
                if self._direct is not None:
                    if self.client.is_closed:  # while this request waited for its turn
                        raise ClientClosed("the client was closed", sent=False)
                    headers["User-Agent"] = C.USER_AGENT
                    request = httpx.Request(
                        method,
                        request_url(url),
                        headers=headers,
                        content=content,
                        extensions={"timeout": (timeout or self._timeout).as_dict()},
                    )
                    response = await self._direct.handle_async_request(request)
                else:
                    request = _lent_request(
                        self.client,
                        method,
                        url,
                        headers=headers,
                        content=content,
                        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                    )
                    response = await self.client.send(
                        request,
                        stream=True,
                        auth=None,  # the request carries its own credential, if any
                        follow_redirects=False,  # whatever a lent client says
                    )
            except httpx.HTTPError as exc:
                raise classify(exc) from None  # not chained: httpx errors carry the token
            except RuntimeError as exc:
                if not self.client.is_closed:
                    raise
                sent = _CLOSED not in str(exc)
                raise ClientClosed("the client was closed", sent=sent) from None
            body = await _read(response)
        finally:
            if slots is not None:
                slots.release()
        return Answer(response.status_code, response.headers, body, time.perf_counter() - started)

    async def _wait_for_turn(self, slots: anyio.Semaphore, timeout: httpx.Timeout | None) -> None:
        """Wait for a turn, as long as the pool would have (httpx's ``pool`` timeout); past
        it the request was never sent, as with httpx's own ``PoolTimeout``."""
        with anyio.move_on_after((timeout or self._timeout).pool) as waited:
            await slots.acquire()
        if waited.cancelled_caught:
            raise SendError("PoolTimeout", sent=False, timeout=True)


def _lent_request(
    client: httpx.AsyncClient, method: str, url: str, **options: Any
) -> httpx.Request:
    """The request as the lent client builds it (its base URL, default headers and timeout;
    ``options``: ``content``, ``timeout``), without its default query parameters and cookies,
    with the library's ``headers`` set over its defaults on the built request: what
    ``build_request``'s merge does, without re-reading every default header for each one
    replaced (about 7 µs a call)."""
    headers: dict[str, str] = options.pop("headers")
    target = request_url(url)
    request = client.build_request(method, target, **options)
    if client.params:  # the owner's default query is not the gateway's: an amount would
        request.url = target  # turn a full charge or refund into a partial one
    if "Cookie" in request.headers:  # the owner's cookies are not for the gateway
        del request.headers["Cookie"]
    for name, value in headers.items():
        request.headers[name] = value
    return request


async def _read(response: httpx.Response) -> bytes:
    """The answer's body, bounded and decoded; the response closed in any case."""
    try:
        check_declared_length(response.headers)
        if response.is_stream_consumed:
            # A transport (httpx.MockTransport, for one) handed over an answer it had read,
            # and httpx decoded, already: there is nothing left to bound but its size.
            return await read_capped(_one(response.content))
        return decode(await read_capped(response.aiter_raw()), response.headers)
    except httpx.HTTPError as exc:
        # An answer had begun: the request was sent, whatever httpx calls the failure.
        raise SendError(f"answer cut short ({type(exc).__name__})", sent=True) from None
    finally:
        await response.aclose()


def _semaphore(slots: int) -> anyio.Semaphore:
    try:  # taken without a checkpoint when free (anyio 4.5 and later)
        return anyio.Semaphore(slots, fast_acquire=True)
    except TypeError:
        return anyio.Semaphore(slots)


async def _one(content: bytes) -> AsyncIterator[bytes]:
    yield content

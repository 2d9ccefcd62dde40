"""``transport="aiohttp"``: httpx over aiohttp (the ``aiohttp`` extra), made safe for money.

httpx-aiohttp maps ``aiohttp.ClientConnectionError`` — the base of ``ServerDisconnectedError``
and ``ClientOSError``, raised when a connection dies *after* the request was written — to
``httpx.ConnectTimeout``, which says "never sent". A money request would then be retried. This
subclass keeps "never sent" for the failures that prove it (the connector could not connect, or
timed out connecting) and reports every other connection failure as possibly sent.

asyncio only: aiohttp does not run under trio.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["SafeAiohttpTransport", "reclassify"]

_NEVER_SENT_CAUSES: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)


def reclassify(exc: httpx.TransportError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error that tells the truth about whether ``request`` may have been sent."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc), request=request)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and not isinstance(
        cause, _NEVER_SENT_CAUSES
    ):
        return httpx.RemoteProtocolError(f"connection lost: {exc}", request=request)
    return exc


class SafeAiohttpTransport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response: httpx.Response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise reclassify(exc, request) from exc
        return response

"""The postLink endpoint for ``aiohttp.web`` (the ``aiohttp`` or ``examples`` extra)::

    from epay_async.integrations.aiohttp import postlink_handler

    app.router.add_post("/epay/postlink", postlink_handler(epay, lookup=lookup, on_paid=on_paid))

The body is read in chunks and refused (413) past the cap, before it is parsed, whatever its
content type. See :mod:`epay_async.integrations` for what the gateway is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ._postlink import TOO_LARGE, PostLinkHandler, PostLinkOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import EpayClient

__all__ = ["postlink_handler", "read_capped"]


async def read_capped(request: web.Request, cap: int) -> bytes | None:
    """The request body, or None once it is longer than ``cap`` bytes (read no further)."""
    if request.content_length is not None and request.content_length > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def postlink_handler(
    epay: EpayClient | Callable[[], EpayClient] | PostLinkHandler,
    **options: Unpack[PostLinkOptions],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An ``aiohttp.web`` handler for the order's ``postLink`` and ``failurePostLink``.

    ``options`` are :class:`~epay_async.integrations.PostLinkHandler`'s (``lookup``,
    ``on_paid``, ``on_failed``, ``max_body_bytes``, ``verify_timeout``); or pass a ready
    handler instead of the client.
    """
    handler = epay if isinstance(epay, PostLinkHandler) else PostLinkHandler(epay, **options)

    async def postlink(request: web.Request) -> web.Response:
        body = await read_capped(request, handler.max_body_bytes)
        reply = TOO_LARGE if body is None else await handler.handle(body)
        return web.Response(status=reply.status_code, text=reply.text)

    return postlink

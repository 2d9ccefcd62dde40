"""The postLink endpoint for FastAPI and Starlette (the ``examples`` extra has both)::

    from epay_async.integrations.fastapi import postlink_endpoint

    async def lookup(invoice_id: str) -> ExpectedPayment | None: ...  # your order, or None
    async def on_paid(verified: VerifiedNotification) -> None: ...    # mark it paid

    app.add_route("/epay/postlink", postlink_endpoint(epay, lookup=lookup, on_paid=on_paid),
                  methods=["POST"])

The body is read as a stream and refused (413) past the cap, before it is parsed, whatever
its content type. See :mod:`epay_async.integrations` for what the gateway is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ._postlink import TOO_LARGE, PostLinkHandler, PostLinkOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import EpayClient

__all__ = ["postlink_endpoint", "read_capped"]


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The request body, or None once it is longer than ``cap`` bytes (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def postlink_endpoint(
    epay: EpayClient | Callable[[], EpayClient] | PostLinkHandler,
    **options: Unpack[PostLinkOptions],
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint for the order's ``postLink`` and ``failurePostLink``.

    ``options`` are :class:`~epay_async.integrations.PostLinkHandler`'s (``lookup``,
    ``on_paid``, ``on_failed``, ``max_body_bytes``, ``verify_timeout``); or pass a ready
    handler instead of the client.
    """
    handler = epay if isinstance(epay, PostLinkHandler) else PostLinkHandler(epay, **options)

    async def postlink(request: Request) -> Response:
        body = await read_capped(request, handler.max_body_bytes)
        reply = TOO_LARGE if body is None else await handler.handle(body)
        return PlainTextResponse(reply.text, status_code=reply.status_code)

    return postlink

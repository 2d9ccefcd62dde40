"""The library's own HTTP seam: what the transport hands an HTTP client, and what it gets back.

:class:`~epay_async._transport.Transport` (retry rule, deadline, in-doubt records) speaks only
these types; one backend per HTTP client turns them into a real exchange:

- :mod:`.httpx_backend`: the default, over the shared ``httpx.AsyncClient`` (or a lent one);
- :mod:`.aiohttp_backend`: ``transport="aiohttp"``, over an ``aiohttp.ClientSession`` directly.

A backend says one thing about a failure that matters for money: whether the request provably
never left this machine (:attr:`SendError.sent` is False) or may have reached the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs
import httpx

__all__ = [
    "Answer",
    "Backend",
    "BodyTooLarge",
    "ClientClosed",
    "SendError",
    "refused_default_header",
]

#: Default headers a lent client or session may not add to the library's requests: a
#: credential (it would ride on the token request and the key fetch, which carry none of the
#: library's), or the framing of the body.
_REFUSED_DEFAULT_HEADERS = (
    "Authorization",
    "Cookie",
    "Content-Encoding",
    "Content-Length",
    "Transfer-Encoding",
    "Expect",
    "Host",
)


def refused_default_header(headers: Mapping[str, str]) -> str | None:
    """The first default header of a lent client that the library refuses (``headers``: its
    case-insensitive defaults), or None."""
    for header in _REFUSED_DEFAULT_HEADERS:
        if header in headers:
            return header
    return None


@attrs.frozen
class Answer:
    """An answer whose body has been read (at most ``MAX_RESPONSE_BYTES``, decompressed).

    ``headers`` looks names up case-insensitively (``httpx.Headers``, aiohttp's
    ``CIMultiDictProxy``).
    """

    status_code: int
    headers: Mapping[str, str]
    content: bytes = attrs.field(repr=False)
    elapsed: float


class SendError(Exception):
    """An exchange that failed before a whole answer was read.

    ``sent`` is False only when the request provably never left this machine (no connection,
    or nothing of it written): then even a money request may be sent again. ``retryable`` is
    False for failures another attempt cannot mend (a bad URL, an oversized answer).
    ``timeout`` marks the failures that were a timeout of some phase.
    """

    def __init__(
        self,
        kind: str,
        detail: str = "",
        *,
        sent: bool,
        retryable: bool = True,
        timeout: bool = False,
    ) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        #: A short name of what failed (``ConnectError``, ``ReadTimeout``) for messages.
        self.kind = kind
        self.detail = detail
        self.sent = sent
        self.retryable = retryable
        self.timeout = timeout


class BodyTooLarge(SendError):
    """The answer exceeded ``MAX_RESPONSE_BYTES``, or its encoding could not be undone."""

    def __init__(self, detail: str) -> None:
        super().__init__("BodyTooLarge", detail, sent=True, retryable=False)


class ClientClosed(SendError):
    """``aclose()`` came before or while the exchange was under way."""

    def __init__(self, detail: str, *, sent: bool) -> None:
        super().__init__("ClientClosed", detail, sent=sent, retryable=False)


class Backend(Protocol):
    """One HTTP client behind the seam."""

    @property
    def is_closed(self) -> bool: ...

    async def exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: httpx.Timeout | None,
    ) -> Answer:
        """Send once, never following a redirect, and read the answer under the size cap.

        ``timeout`` None means the backend's default. Raises :class:`SendError` (and only
        that) for a failed exchange; cancellation propagates.
        """
        ...

    async def aclose(self) -> None: ...

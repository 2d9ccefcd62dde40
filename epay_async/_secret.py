"""``Secret``: a string whose ``repr`` hides it.

Error trackers record the local variables of every frame in a traceback, by ``repr``. Every
secret the library holds in a frame it controls (client secret, tokens and the Authorization
header, ``secret_hash``, PAN, CVC, PaRes) is a ``Secret``, so those records show ``'***'``. It
is still a ``str``: it is sent, compared and JSON-encoded as one.
"""

from __future__ import annotations

__all__ = ["Secret", "SecretBytes"]


class Secret(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class SecretBytes(bytes):
    """A request body (which may hold the client secret, card data or a token) whose ``repr``
    hides it, for the frames that send it. It is still ``bytes`` to every HTTP client."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "b'***'"

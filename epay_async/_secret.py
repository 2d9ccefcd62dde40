"""``Secret``: a string whose ``repr`` hides it.

Error trackers record the local variables of every frame in a traceback, by ``repr``. Every
secret the library holds in a frame it controls (client secret, tokens and the Authorization
header, ``secret_hash``, PAN, CVC, PaRes) is a ``Secret``, so those records show ``'***'``. It
is still a ``str``: it is sent, compared and JSON-encoded as one.
"""

from __future__ import annotations

__all__ = ["Secret"]


class Secret(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"

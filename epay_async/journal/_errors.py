"""The journal's one error type."""

from __future__ import annotations

from epay_async.errors import EpayError


class JournalUnavailableError(EpayError):
    """The payment journal could not be written or read.

    Raised by :meth:`Journal.begin` before a money request leaves, so the caller refuses the
    request: nothing was sent. ``action`` names what failed (``"open"``, ``"begin"``,
    ``"finish"``, ``"read"``, ``"settle"``). The message never holds a password or DSN.
    """

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"payment journal unavailable ({action}): {reason}")
        self.action = action
        self.reason = reason

"""``Secret``: a string that neither ``repr`` nor ``str`` reveals.

Error trackers record the local variables of every frame in a traceback, by ``repr``; log
lines and messages format values with ``str``/``%s``/f-strings. Every secret the library holds
in a frame it controls (client secret, tokens and the Authorization header, ``secret_hash``,
PAN, CVC, PaRes, the cabinet password) is a ``Secret``, so all of those show ``***``. The value
itself is read only on purpose, with :meth:`Secret.reveal` (or :func:`reveal` for a value that
may be a plain ``str``). It is still a ``str`` for everything that reads its characters rather
than formatting it: JSON encoding, ``.encode()``, concatenation (``"Bearer " + token``),
comparison and hashing.

Where a secret is a plain ``str`` on purpose: a :class:`~epay_async.PaymentNotification`'s
``secret_hash`` (an untrusted echo from the request body, compared with
``hmac.compare_digest``; hidden from its repr), and the token answers' ``access_token`` as
parsed (they are wrapped in ``Secret`` the moment the library keeps them). ``Order.secret_hash``
and ``InvoiceLink``'s password are ``Secret``.
"""

from __future__ import annotations

__all__ = ["Secret", "SecretBytes", "reveal"]

_HIDDEN = "***"


class Secret(str):
    __slots__ = ()

    def __new__(cls, value: object = "") -> Secret:
        # str(value) would be '***' for a Secret: copy its characters instead.
        return super().__new__(cls, str.__str__(value) if isinstance(value, str) else value)

    def __repr__(self) -> str:
        return f"'{_HIDDEN}'"

    def __str__(self) -> str:
        return _HIDDEN

    def __format__(self, spec: str) -> str:
        return format(_HIDDEN, spec)

    def reveal(self) -> str:
        """The secret itself, as a plain ``str``: only for the request that sends it."""
        return str.__str__(self)

    def get_secret_value(self) -> str:
        """Same as :meth:`reveal` (the name pydantic's ``SecretStr`` uses)."""
        return self.reveal()


def reveal(value: str) -> str:
    """``value`` as a plain ``str``, revealed if it is a :class:`Secret`."""
    return str.__str__(value)


class SecretBytes(bytes):
    """A request body (which may hold the client secret, card data or a token) whose ``repr``
    hides it, for the frames that send it. It is still ``bytes`` to every HTTP client."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "b'***'"

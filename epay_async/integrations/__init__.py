"""Ready postLink endpoints for the web frameworks merchants use.

- :mod:`epay_async.integrations.fastapi`: a Starlette endpoint, mounted on FastAPI or Starlette.
- :mod:`epay_async.integrations.aiohttp`: an ``aiohttp.web`` handler.

Both wrap one :class:`PostLinkHandler`: read the body with a size cap, parse it, verify it with
check-status against the order your ``lookup`` returns, call your callback once, and only then
answer the gateway 200.
"""

from ._postlink import (
    DEFAULT_VERIFY_TIMEOUT,
    ExpectedPayment,
    Lookup,
    NotificationCallback,
    PostLinkHandler,
    PostLinkOptions,
    Reply,
    VerifiedNotification,
)

__all__ = [
    "DEFAULT_VERIFY_TIMEOUT",
    "ExpectedPayment",
    "Lookup",
    "NotificationCallback",
    "PostLinkHandler",
    "PostLinkOptions",
    "Reply",
    "VerifiedNotification",
]

"""Every default the library uses, with its number, in one place (documented on the
documentation site's deployment page, ``docs/deployment.md``)."""

from __future__ import annotations

import httpx

#: Whole-request timeout, with a shorter budget for opening the connection.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: Pool limits of the httpx client the library creates when none is borrowed. Every pooled
#: connection is kept alive: under high concurrency (reconcile) re-connecting costs far more
#: than an idle socket (httpx's default keeps only 20).
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=30.0
)

#: Attempts in all (first try included) for reads, and for money requests that never left.
DEFAULT_MAX_ATTEMPTS = 3
#: Exponential backoff between attempts: base * 2**(attempt-1), capped, with +/- jitter.
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 8.0
DEFAULT_JITTER = 0.25
#: A server's Retry-After is honoured up to this many seconds.
DEFAULT_RETRY_AFTER_CAP = 30.0
#: The most one call may take, all attempts and pauses included.
DEFAULT_DEADLINE = 60.0

#: A cached read token is refreshed this many seconds before the gateway says it expires.
#: A token living less than twice the margin is refreshed half way through its life instead.
TOKEN_EXPIRY_MARGIN = 60.0
#: Used when a token response carries no usable ``expires_in``: the shortest documented lifetime.
TOKEN_FALLBACK_LIFETIME = 1200.0

#: Token scopes. Seeds 000, 002 and 004 use the long scope; transfers use ``transfer`` (seed 003).
SERVICE_SCOPE = "webapi usermanagement email_send verification statement statistics payment"
PAYMENT_SCOPE = SERVICE_SCOPE
TRANSFER_SCOPE = "transfer"
#: The hosted payment page's token (the bank's SDK and the page integrations use ``payment``).
PAGE_SCOPE = "payment"

#: ``wait_for_status`` defaults (seconds).
POLL_TIMEOUT = 60.0
POLL_INTERVAL = 1.0
POLL_MAX_INTERVAL = 10.0
POLL_BACKOFF_FACTOR = 1.5
#: How long "invoice not found" (102) is treated as "not there yet" right after a payment.
POLL_NOT_FOUND_GRACE = 10.0

#: Largest response body the library will read into memory (bytes).
MAX_RESPONSE_BYTES = 1 << 20

#: How long an async ``on_outcome_unknown`` callback may take before it is abandoned.
OUTCOME_CALLBACK_TIMEOUT = 5.0

#: The documented smallest refund (epay-api.md §3: "Minimum refund 10 KZT").
MIN_REFUND = 10

USER_AGENT = "epay-async"

#: The documented test merchant's secret (seeds 000-004): public, so it may cross a network in
#: clear to a sandbox (a container's ``http://sandbox:8080``); any other secret may not.
PUBLIC_TEST_CLIENT_SECRET = "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"  # noqa: S105 - public

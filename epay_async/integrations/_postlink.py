"""The postLink endpoint's logic, apart from any web framework.

The gateway POSTs a notification to the order's ``postLink`` (``"code": "ok"``) or
``failurePostLink`` (``"code": "error"``). It signs nothing, so anyone can POST there: a
notification is believed only after check-status backs it (``EpayClient.verify_notification``),
against the order the merchant's own ``lookup`` returns for its invoice id.

What the gateway is answered, and why:

=====  ==========================================================================================
200    verified, and the merchant's callback succeeded (or had already succeeded in this
       process for this invoice's payment, or for this failed transaction: the same body again
       is answered 200 at once; any other copy is verified first; neither is passed on)
400    not a notification (unreadable, no invoice id), or the gateway does not back it (forged,
       tampered, another amount or currency, the wrong ``secret_hash``)
404    no order of the merchant's has this invoice id
413    a body over the size cap (read no further)
500    the merchant's callback raised: the notification was not taken, let it come again
503    the gateway could not be asked in time, or has not finished with the payment: the
       notification is genuine or not, but cannot be decided now
=====  ==========================================================================================

The gateway's retry policy for notifications that are not answered 200 is not documented:
whether, how often and for how long it sends one again is unknown. Reconcile open orders with
check-status on a timer (``epay.reconcile``) so that a notification lost for good is not a
payment lost.

Nothing of the body is logged beyond the invoice id and the outcome.
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict, TypeVar

import anyio
import attrs

from .. import _validation
from .._logs import child_logger
from ..errors import EpayError, NotificationMismatchError, ValidationError
from ..notifications import MAX_NOTIFICATION_BYTES, parse_notification
from ..types.notifications import PaymentNotification
from ..types.status import PaymentState, TransactionStatus

if TYPE_CHECKING:
    from .._client import EpayClient

__all__ = [
    "DEFAULT_VERIFY_TIMEOUT",
    "TOO_LARGE",
    "ExpectedPayment",
    "Lookup",
    "NotificationCallback",
    "PostLinkHandler",
    "PostLinkOptions",
    "Reply",
    "VerifiedNotification",
]

log = child_logger("integrations")
T = TypeVar("T")

#: How long one notification may take to verify (check-status, retries included), in seconds.
DEFAULT_VERIFY_TIMEOUT = 10.0
#: How many handled (invoice or transaction, outcome) pairs a process remembers.
_REMEMBERED = 10_000


def _currency(value: object) -> str:
    return _validation.currency(value, "currency")


@attrs.frozen
class ExpectedPayment:
    """What the merchant's order says the payment must be: returned by ``lookup``."""

    amount: Decimal = attrs.field(converter=_validation.money)
    currency: str = attrs.field(default="KZT", converter=_currency)
    #: The ``secret_hash`` sent in the order's token request, when one was.
    secret_hash: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class VerifiedNotification:
    """A notification that check-status backs, with the gateway's status."""

    notification: PaymentNotification
    status: TransactionStatus

    @property
    def invoice_id(self) -> str:
        return self.notification.invoice_id

    @property
    def state(self) -> PaymentState:
        """The gateway's word for the order (``paid`` for a verified success)."""
        return self.status.state


@attrs.frozen
class Reply:
    """What to answer the gateway: an HTTP status and a short plain-text body."""

    status_code: int
    text: str


#: The answer to a body over the cap, read no further.
TOO_LARGE = Reply(413, "notification too large")


#: ``async def lookup(invoice_id) -> ExpectedPayment | None``: the merchant's order, or None.
#: A plain ``def`` is taken too, and runs on the event loop: only for what never blocks (a
#: dict's ``get``), never a database query (that wants an ``async def``).
Lookup = Callable[[str], Awaitable[ExpectedPayment | None] | ExpectedPayment | None]
#: ``async def on_paid(verified) -> None``: called once per paid invoice (``on_failed``: once
#: per failed transaction); a plain ``def`` is taken too, and must not block either.
NotificationCallback = Callable[[VerifiedNotification], Awaitable[None] | None]


class PostLinkOptions(TypedDict, total=False):
    """:class:`PostLinkHandler`'s options, as the framework endpoints take them (``lookup``
    and ``on_paid`` are required unless a ready handler is passed)."""

    lookup: Lookup
    on_paid: NotificationCallback
    on_failed: NotificationCallback | None
    max_body_bytes: int
    verify_timeout: float


async def _settled(value: Awaitable[T] | T) -> T:
    """What a merchant's function returned, awaited when it is awaitable (an ``async def``)."""
    if inspect.isawaitable(value):
        return await value
    return value


class PostLinkHandler:
    """Verifies a notification and calls the merchant's callback once; see the module's table.

    ``epay`` is the client (or a function returning it, for clients made at start-up).
    ``on_paid`` gets every verified successful payment, ``on_failed`` (optional) every verified
    failure. ``on_paid`` is called once per invoice, ``on_failed`` once per failed transaction, in
    this process; every notification is verified (a byte-identical copy of one handled is
    answered 200 at once), and the gateway is answered 200 only after the callback returned;
    concurrent duplicates wait for the first.
    """

    def __init__(
        self,
        epay: EpayClient | Callable[[], EpayClient],
        *,
        lookup: Lookup,
        on_paid: NotificationCallback,
        on_failed: NotificationCallback | None = None,
        max_body_bytes: int = MAX_NOTIFICATION_BYTES,
        verify_timeout: float = DEFAULT_VERIFY_TIMEOUT,
    ) -> None:
        if not callable(lookup):
            raise ValidationError("lookup", "must be a function of the invoice id (async or not)")
        if not callable(on_paid):
            raise ValidationError("on_paid", "must be a function (async or not)")
        if on_failed is not None and not callable(on_failed):
            raise ValidationError("on_failed", "must be a function (async or not)")
        if not 0 < max_body_bytes <= MAX_NOTIFICATION_BYTES:
            raise ValidationError("max_body_bytes", f"must be 1 to {MAX_NOTIFICATION_BYTES}")
        if not verify_timeout > 0:
            raise ValidationError("verify_timeout", "must be a positive number of seconds")
        self._epay = epay
        self._lookup = lookup
        self._on_paid = on_paid
        self._on_failed = on_failed
        self.max_body_bytes = max_body_bytes
        self._verify_timeout = verify_timeout
        #: Handled (invoice or transaction, outcome): the SHA-256 of the body that was handled.
        self._done: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    def _client(self) -> EpayClient:
        from .._client import EpayClient  # noqa: PLC0415 - the client imports nothing of this

        return self._epay if isinstance(self._epay, EpayClient) else self._epay()

    async def handle(self, body: bytes) -> Reply:
        """Answer one notification body (already read, at most ``max_body_bytes``)."""
        if len(body) > self.max_body_bytes:
            return TOO_LARGE
        try:
            notification = parse_notification(body)
        except ValidationError as exc:
            log.info("postLink: refused an unreadable notification (%s)", exc.field)
            return Reply(400, "not a notification")
        invoice_id = notification.invoice_id
        expected = await _settled(self._lookup(invoice_id))
        if expected is None:
            log.info("postLink: no order for invoice %s", invoice_id)
            return Reply(404, "no such order")
        if not isinstance(expected, ExpectedPayment):
            log.error(
                "postLink: lookup returned a %s for invoice %s; return an ExpectedPayment or None",
                type(expected).__name__,
                invoice_id,
            )
            return Reply(500, "not taken")
        outcome = "paid" if notification.is_success else "failed"
        # An invoice is paid once (the gateway declines paying it again), so a payment is known
        # by its invoice, whatever id a body carries or leaves out; a failure by its transaction
        # (an invoice may fail several times before it is paid).
        key = (invoice_id if notification.is_success else notification.id or invoice_id, outcome)
        digest = hashlib.sha256(body).digest()
        if self._done.get(key) == digest:
            # The very notification handled already, sent again: answered as it was, even once
            # the order has moved on (refunded) or the gateway cannot be asked.
            log.info("postLink: invoice %s %s again: already handled", invoice_id, outcome)
            return Reply(200, "ok")
        # Anything else is verified, copies of a handled notification included (a forged one is
        # refused like any other), each on its own: a forged copy never makes a genuine one wait.
        verified = await self._verify(notification, expected)
        if isinstance(verified, Reply):
            return verified
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                if key in self._done:
                    log.info("postLink: invoice %s %s again: already handled", invoice_id, outcome)
                    return Reply(200, "ok")
                reply = await self._call(verified, outcome)
                if reply.status_code == 200:
                    self._remember(key, digest)
                return reply
        finally:
            # Released to a waiter, the lock is still held (and no longer counted as waiting).
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._locks.pop(key, None)

    async def _verify(
        self, notification: PaymentNotification, expected: ExpectedPayment
    ) -> VerifiedNotification | Reply:
        """The notification with the gateway's status backing it, or what to answer."""
        invoice_id = notification.invoice_id
        try:
            with anyio.fail_after(self._verify_timeout):
                status = await self._client().verify_notification(
                    notification,
                    expected_amount=expected.amount,
                    expected_currency=expected.currency,
                    secret_hash=expected.secret_hash,
                )
        except NotificationMismatchError as exc:
            if exc.still_processing:
                log.info("postLink: invoice %s not finished at the gateway yet", invoice_id)
                return Reply(503, "the gateway has not finished with this payment")
            log.warning("postLink: invoice %s not backed by the gateway: refused", invoice_id)
            return Reply(400, "not backed by the gateway")
        except (TimeoutError, EpayError) as exc:
            log.warning(
                "postLink: invoice %s could not be verified now (%s)",
                invoice_id,
                type(exc).__name__,
            )
            return Reply(503, "cannot verify now")
        return VerifiedNotification(notification, status)

    async def _call(self, verified: VerifiedNotification, outcome: str) -> Reply:
        """The merchant's callback for ``outcome``; 200 once it returned."""
        invoice_id = verified.invoice_id
        callback = self._on_paid if outcome == "paid" else self._on_failed
        if callback is not None:
            try:
                await _settled(callback(verified))
            except Exception:
                log.exception(
                    "postLink: the %s callback for invoice %s failed", outcome, invoice_id
                )
                return Reply(500, "not taken")
        log.info("postLink: invoice %s %s, verified", invoice_id, outcome)
        return Reply(200, "ok")

    def _remember(self, key: tuple[str, str], digest: bytes) -> None:
        self._done[key] = digest
        while len(self._done) > _REMEMBERED:
            self._done.popitem(last=False)

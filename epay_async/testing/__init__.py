"""An in-process emulator of the ePay gateway, for demos, this library's tests and yours.

```python
from epay_async.testing import TEST_CARDS, Sandbox

sandbox = Sandbox()
sandbox.add_transaction("123456789", amount=Decimal("100.00"), status=StatusName.AUTH)
async with sandbox.client() as epay:
    status = await epay.get_status("123456789")
    page = await epay.payment_page(order)  # the hosted page, paid as a shopper would:
    result = await sandbox.shopper.pay(page, TEST_CARDS.mastercard_3ds, three_ds="approve")
    assert result.paid and result.redirect_url == order.back_link
```

Controls: ``add_transaction`` (books an earlier payment), ``queue_status`` / ``in_progress``
(scripted check-status answers, also for invoices not paid yet), ``save_card``,
``complete_3ds`` (the ACS's ``PaRes``), ``fail`` / ``clear_faults`` (network faults),
``send_notifications_to`` (where notifications go in-process), ``shopper.pay`` /
``shopper.abandon`` (a hosted page paid with a test card, 3-D Secure approved or declined, or
left). Inspect ``requests``, ``requests_to``, ``token_requests``, ``notifications``.

Unknown invoices answer 102 (invoice not found), as on the gateway (``answer_any_invoice=True``
answers them by last digit, for load tests only). Notifications have the captured production
shape; in-process they are recorded (and delivered inline once ``send_notifications_to`` is
called), served they are POSTed over HTTP to the order's postLink / failurePostLink in the
background, ``notification_attempts`` times at most.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import httpx

from .. import _validation
from .._client import EpayClient
from ..cryptogram import CryptogramPadding
from ..environment import Environment
from ..errors import ValidationError
from ..types.status import ResultCode, StatusName
from ._asgi import SandboxASGIApp
from ._cards import TEST_CARDS, TEST_GOOGLE_PAY, TestCard, TestCards
from ._faults import Fault, FaultKind, ScheduledFault
from ._gateway import Gateway
from ._httpx import SandboxTransport
from ._merchant import (
    TEST_CABINET_PASSWORD,
    TEST_CABINET_USERNAME,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    GatewaySettings,
    Merchant,
)
from ._notify import Delivery, Notifier
from ._records import SandboxTransaction
from ._server import serve
from ._shopper import Shopper, ShopperResult, ThreeDSAnswer
from ._wire import SANDBOX_HOST, SANDBOX_URL, SandboxRequest, SandboxResponse

__all__ = [
    "SANDBOX_URL",
    "TEST_CABINET_PASSWORD",
    "TEST_CABINET_USERNAME",
    "TEST_CARDS",
    "TEST_CLIENT_ID",
    "TEST_CLIENT_SECRET",
    "TEST_GOOGLE_PAY",
    "TEST_TERMINAL_ID",
    "Delivery",
    "Fault",
    "FaultKind",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxTransaction",
    "Shopper",
    "ShopperResult",
    "TestCard",
    "TestCards",
    "ThreeDSAnswer",
]


class Sandbox:
    """The emulated gateway plus controls to script what it answers.

    Check-status answers 102 (invoice not found) for an invoice it never saw, as the gateway
    does. ``answer_any_invoice=True`` answers those by their last digit instead (0-6 CHARGE,
    7 AUTH, 8 REJECT, 9 not found), cheaply and storing nothing: for load tests and
    benchmarks only, never for a shop's tests (an unpaid order would look paid).
    ``latency`` delays every answer; ``key_bits`` sizes its RSA key (the gateway's is 4096).
    ``notification_attempts`` and ``notification_backoff`` bound the HTTP deliveries of a
    served sandbox (attempt ``n`` waits ``backoff * 2 ** (n - 1)`` seconds after a failure).
    """

    def __init__(
        self,
        *,
        client_id: str = TEST_CLIENT_ID,
        client_secret: str = TEST_CLIENT_SECRET,
        terminal_id: str = TEST_TERMINAL_ID,
        key_bits: int = 4096,
        token_lifetime: int = 7200,
        expires_in_as_string: bool = False,
        two_step: bool = True,
        padding: CryptogramPadding = CryptogramPadding.PKCS1_V15,
        latency: float = 0.0,
        answer_any_invoice: bool = False,
        record_requests: bool = True,
        clock: Callable[[], float] | None = None,
        notification_attempts: int = 5,
        notification_backoff: float = 1.0,
    ) -> None:
        settings = GatewaySettings(
            Merchant(client_id, client_secret, frozenset({terminal_id})),
            key_bits=key_bits,
            token_lifetime=token_lifetime,
            expires_in_as_string=expires_in_as_string,
            two_step=two_step,
            padding=padding,
            answer_any_invoice=answer_any_invoice,
        )
        if clock is not None:
            settings.clock = clock
        notifier = Notifier(attempts=notification_attempts, backoff=notification_backoff)
        #: The emulated gateway: its ``ledger`` (what it remembers), ``router`` and handlers.
        self.gateway = Gateway(settings, notifier)
        self.terminal_id = terminal_id
        self.latency = latency
        #: Off for long runs (benchmarks, a served sandbox): ``requests`` would grow forever.
        self.record_requests = record_requests
        self.requests: list[SandboxRequest] = []
        self._faults: list[ScheduledFault] = []
        self.transport = SandboxTransport(self)
        self.asgi_app = SandboxASGIApp(self)
        #: Plays the shopper on a hosted payment page: ``await sandbox.shopper.pay(page, card)``.
        self.shopper = Shopper(self.transport, self.gateway.ledger)

    # -- wiring ---------------------------------------------------------------------------

    @staticmethod
    def environment(base_url: str = SANDBOX_URL) -> Environment:
        return Environment.served(base_url)

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve this sandbox over HTTP on ``host:port`` until cancelled (asyncio or trio).

        ``port = await task_group.start(sandbox.serve)`` picks a free port and returns it;
        point a client at ``Sandbox.environment(f"http://127.0.0.1:{port}")``. While served
        (and unless ``send_notifications_to`` chose otherwise), notifications are POSTed over
        HTTP to each order's postLink / failurePostLink in the background, with retries.
        """
        await serve(self, host, port, task_status=task_status)

    def client(self, **kwargs: Any) -> EpayClient:
        """An ``EpayClient`` wired to this sandbox with the test merchant's credentials; other
        keywords are the constructor's. Given another ``environment`` (the URL this sandbox
        is served on, on another host), it goes there over HTTP unless ``transport=`` says
        otherwise."""
        merchant = self.gateway.merchant
        options: dict[str, Any] = {
            "client_id": merchant.client_id,
            "client_secret": merchant.client_secret,
            "terminal_id": self.terminal_id,
            "environment": self.environment(),
            "transport": self.transport,
        }
        environment = kwargs.get("environment")
        if isinstance(environment, Environment) and urlsplit(environment.api_url).hostname != (
            SANDBOX_HOST
        ):
            options["transport"] = "httpx"  # not this in-process transport: it answers any URL
        options.update(kwargs)
        return EpayClient(**options)

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A plain ``httpx.AsyncClient`` on the sandbox transport (to borrow to a client)."""
        return httpx.AsyncClient(transport=self.transport, **kwargs)

    # -- inspection -----------------------------------------------------------------------

    def record(self, request: SandboxRequest) -> None:
        if self.record_requests:
            self.requests.append(request)

    def requests_to(self, path_contains: str, method: str | None = None) -> list[SandboxRequest]:
        """Requests that reached the gateway whose path contains ``path_contains``."""
        return [
            r
            for r in self.requests
            if path_contains in r.path and (method is None or r.method == method)
        ]

    @property
    def notification_attempts(self) -> int:
        """HTTP attempts a served sandbox makes per notification, at most."""
        return self.gateway.notifier.attempts

    @property
    def token_requests(self) -> list[SandboxRequest]:
        return self.requests_to("oauth2/token")

    # -- scripting ------------------------------------------------------------------------

    def add_transaction(
        self,
        invoice_id: str,
        *,
        amount: Decimal | int | str = Decimal("100.00"),
        currency: str = "KZT",
        status: StatusName | str = StatusName.CHARGE,
        kind: str = "payment",
        **fields: Any,
    ) -> SandboxTransaction:
        """Put a transaction on the gateway's books, as if it had been paid earlier.
        ``status`` is a :class:`StatusName` or its name (``"CHARGE"``)."""
        status = StatusName(status)
        transaction = SandboxTransaction(
            invoice_id=invoice_id,
            amount=Decimal(amount),
            currency=currency,
            status=status,
            kind=kind,
            terminal_id=self.terminal_id,
            **fields,
        )
        taken = status in (StatusName.CHARGE, StatusName.REFUND)
        transaction.charged = transaction.amount if taken else Decimal(0)
        if status is StatusName.REFUND:  # refunded in full
            transaction.refunded = transaction.amount
        return self.gateway.ledger.record_transaction(transaction)

    def queue_status(
        self, invoice_id: str, *answers: ResultCode | StatusName, kind: str = "payment"
    ) -> None:
        """Answer the next check-status calls with ``answers`` (result codes, or status names
        under code 100) before the transaction's real state, one per call.

        The invoice need not exist yet (script "in doubt, then still processing" before the
        payment is made): its answers are given first, and once it is paid, the rest before
        its real state. A status name answered while the invoice still does not exist is
        answered 102 (invoice not found): there is no transaction to show."""
        if not answers:
            return
        self.gateway.ledger.script(kind, invoice_id, answers)

    def in_progress(self, invoice_id: str, polls: int, *, kind: str = "payment") -> None:
        """Answer 107 (in progress) to the next ``polls`` status checks of ``invoice_id``
        (which need not exist yet; see :meth:`queue_status`)."""
        self.queue_status(invoice_id, *([ResultCode.IN_PROGRESS] * polls), kind=kind)

    def transaction(self, invoice_id: str, kind: str = "payment") -> SandboxTransaction:
        found = self.gateway.ledger.find_transaction(kind, invoice_id)
        if found is None:
            raise KeyError(f"no {kind} transaction {invoice_id!r} in the sandbox")
        return found

    def send_notifications_to(
        self,
        *,
        asgi_app: Any = None,
        http_client: httpx.AsyncClient | None = None,
        callback: Callable[[str, dict[str, Any]], Awaitable[object]] | None = None,
    ) -> None:
        """Deliver postLink notifications through exactly one of: an ASGI app (your FastAPI or
        Starlette app, in-process), an ``httpx.AsyncClient``, or ``async callback(url, body)``:
        once each, inline, before the answer to the request that caused them (deterministic
        for tests), whether in-process or served. Until this is called they are recorded in
        :attr:`notifications`, and, while the sandbox is served, POSTed over HTTP to the
        order's URLs in the background (bounded retries, each attempt logged)."""
        self.gateway.notifier.configure(
            asgi_app=asgi_app, http_client=http_client, callback=callback
        )

    @property
    def notifications(self) -> list[Delivery]:
        """Every notification the sandbox sent or would have sent, with its outcome."""
        return self.gateway.notifier.deliveries

    def complete_3ds(self, md: str, *, approve: bool = True) -> str:
        """Play the payer at the ACS: the ``PaRes`` the bank would post to your TermUrl."""
        return self.gateway.ledger.complete_3ds(md, approve)

    def save_card(self, pan: str, *, account_id: str, payer_name: str = "TEST CARDHOLDER") -> str:
        """Put a saved card on the books for ``account_id``; returns its card id. ``pan`` must
        be a card number (12-19 digits, Luhn-valid). Paying with a saved card
        (``paymentType: "cardId"``, seed 001) never asks for 3-D Secure, as the gateway's
        documentation says of this flow (epay-api.md §6, §9): not even the 5522… card that
        does when paid by card data. A locked test card's saved payment is declined (487)."""
        try:
            pan = _validation.pan(pan)
        except ValidationError as exc:
            raise ValueError(f"save_card: {exc}") from None
        return self.gateway.ledger.save_card(pan, account_id, payer_name, self.terminal_id, "").id

    def fail(
        self, path_contains: str, fault: Fault, *, times: int = 1, method: str | None = None
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests whose path contains ``path_contains``."""
        self._faults.append(ScheduledFault(path_contains, fault, times, method))

    def clear_faults(self) -> None:
        """Forget every fault still scheduled."""
        self._faults.clear()

    def take_fault(self, method: str, path: str, *, unreached_only: bool = False) -> Fault | None:
        """The fault for this request, if one is scheduled (and counts it as used).

        ``unreached_only``: take it only if it stops the request before the gateway (connect
        faults), as an HTTP client's connector does where it would fail: a served sandbox
        cannot fail a connection that is already open.
        """
        for scheduled in self._faults:
            if scheduled.matches(method, path):
                if unreached_only and scheduled.fault.reaches_gateway:
                    return None
                scheduled.remaining -= 1
                return scheduled.fault
        return None

"""The emulated ePay gateway: routes requests to handlers that follow the seeds."""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa

from ..cryptogram import CryptogramPadding
from ..types.status import ResultCode, StatusName
from ._cards import SavedCard
from ._invoice_links import InvoiceLinkEndpoints
from ._keys import generated_key, public_pem
from ._notify import Notifier
from ._operations import OperationEndpoints
from ._payments import PaymentEndpoints
from ._register import RegisterEndpoints
from ._state import IssuedToken, SandboxTransaction
from ._wire import SandboxRequest, SandboxResponse

Handler = Callable[[SandboxRequest, "re.Match[str]"], Awaitable[SandboxResponse]]

#: The documented test merchant (seeds 000-004, epay-api.md §10).
TEST_CLIENT_ID = "test"
TEST_CLIENT_SECRET = "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"  # noqa: S105 - public test secret
#: The sandbox merchant cabinet's user, for the invoice-link token (a password grant).
TEST_CABINET_USERNAME = "merchant@sandbox.invalid"
TEST_CABINET_PASSWORD = "sandbox-cabinet"  # noqa: S105 - the sandbox's own
TEST_TERMINAL_ID = "67e34d63-102f-4bd1-898e-370781d0074d"

_NOT_FOUND_MESSAGE = "invoice not found, try again later or check transaction type (payment/p2p)"
_RESULT_MESSAGES = {
    ResultCode.SUCCESS: "SUCCESS",
    ResultCode.REJECT: "reject",
    ResultCode.INVOICE_NOT_FOUND: _NOT_FOUND_MESSAGE,
    ResultCode.RETRY_OR_SUPPORT: "try again or contact support",
    ResultCode.TERMINAL_ABSENT_IN_TOKEN: "field terminal absent in token",
    ResultCode.INCORRECT_TERMINAL: "error, incorrect terminalID",
    ResultCode.IN_PROGRESS: "IN PROGRESS",
    ResultCode.TERMINAL_NOT_OWNED: "terminal does not belong to the client",
}


@attrs.define
class Merchant:
    client_id: str = TEST_CLIENT_ID
    client_secret: str = attrs.field(default=TEST_CLIENT_SECRET, repr=False)
    terminal_ids: frozenset[str] = frozenset({TEST_TERMINAL_ID})


class Gateway:
    """State and handlers. Every handler is synchronous in its state changes (no await
    between reading and writing state), so concurrent requests never see half an update."""

    def __init__(
        self,
        merchant: Merchant,
        *,
        key_bits: int = 4096,
        token_lifetime: int = 7200,
        expires_in_as_string: bool = False,
        two_step: bool = True,
        padding: CryptogramPadding = CryptogramPadding.PKCS1_V15,
        clock: Callable[[], float] = time.monotonic,
        notification_attempts: int = 5,
        notification_backoff: float = 1.0,
    ) -> None:
        self.merchant = merchant
        self.key_bits = key_bits
        self.token_lifetime = token_lifetime
        self.expires_in_as_string = expires_in_as_string
        self.clock = clock
        #: DMS terminal (AUTH, then charge or cancel) when True; SMS (straight to CHARGE) if not.
        self.two_step = two_step
        #: The cryptogram padding this terminal is configured for.
        self.padding = padding
        #: Answer check-status for invoices never paid here (see ``synthesized_status``).
        self.answer_any_invoice = False
        self.tokens: dict[str, IssuedToken] = {}
        self.transactions: dict[tuple[str, str], SandboxTransaction] = {}
        #: Status scripts for invoices not on the books yet, by (kind, invoice id).
        self.scripts: dict[tuple[str, str], deque[ResultCode | StatusName]] = {}
        self.saved_cards: dict[str, SavedCard] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.route("POST", r"/(?:.*/)?oauth2/token", self.token)
        self.route("GET", r"/public\.rsa", self.public_key)
        self.route("GET", r"/check-status/(payment|p2p)/transaction/([^/]+)", self.check_status)
        self.notifier = Notifier(attempts=notification_attempts, backoff=notification_backoff)
        #: Notifications due, delivered before the answer to the request that caused them.
        self.outbox: list[tuple[SandboxTransaction, bool]] = []
        self.payments = PaymentEndpoints(self)
        self.operations = OperationEndpoints(self)
        self.invoice_links = InvoiceLinkEndpoints(self)
        self.register = RegisterEndpoints(self)

    # -- plumbing -------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    async def handle(self, request: SandboxRequest) -> SandboxResponse:
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                response = await handler(request, match)
                while self.outbox:
                    tx, success = self.outbox.pop(0)
                    await self.notifier.deliver(tx, success)
                return response
        return SandboxResponse.error(404, 404, f"no such endpoint: {request.method} {request.path}")

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return generated_key(self.key_bits)

    def authorize(self, request: SandboxRequest) -> IssuedToken | SandboxResponse:
        value = request.bearer()
        token = self.tokens.get(value or "")
        if token is None or token.expires_at <= self.clock():
            return SandboxResponse.json(401, {"error": "invalid_token"})
        return token

    def find(self, kind: str, invoice_id: str) -> SandboxTransaction | None:
        return self.transactions.get((kind, invoice_id))

    def notify(self, transaction: SandboxTransaction, success: bool) -> None:
        """Queue the postLink notification for ``transaction``."""
        self.outbox.append((transaction, success))

    def add(self, transaction: SandboxTransaction) -> SandboxTransaction:
        key = (transaction.kind, transaction.invoice_id)
        self.transactions[key] = transaction
        early = self.scripts.pop(key, None)
        if early:  # scripted before the invoice existed: those answers come first
            transaction.scripted.extendleft(reversed(early))
        return transaction

    def script(
        self, kind: str, invoice_id: str, answers: tuple[ResultCode | StatusName, ...]
    ) -> None:
        """Queue check-status answers for an invoice, whether or not it exists yet."""
        transaction = self.find(kind, invoice_id)
        if transaction is not None:
            transaction.scripted.extend(answers)
        else:
            self.scripts.setdefault((kind, invoice_id), deque()).extend(answers)

    # -- token ----------------------------------------------------------------------------

    async def token(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        merchant = self.merchant
        grant = form.get("grant_type")
        cabinet_ok = (form.get("username"), form.get("password")) == (
            TEST_CABINET_USERNAME,
            TEST_CABINET_PASSWORD,
        )
        if (
            grant not in ("client_credentials", "password")
            or (grant == "password" and not cabinet_ok)
            or form.get("client_id") != merchant.client_id
            or not secrets.compare_digest(
                form.get("client_secret", "").encode(), merchant.client_secret.encode()
            )
        ):
            return SandboxResponse.json(401, {"error": "invalid_client"})
        invoice_id = form.get("invoiceID") or None
        amount: Decimal | None = None
        if invoice_id is not None:
            try:
                amount = Decimal(form.get("amount", ""))
            except InvalidOperation:
                return SandboxResponse.json(400, {"error": "invalid_request"})
        scope = form.get("scope", "")
        value = secrets.token_urlsafe(24)
        self.tokens[value] = IssuedToken(
            value=value,
            scope=scope,
            terminal=form.get("terminal") or None,
            expires_at=self.clock() + self.token_lifetime,
            invoice_id=invoice_id,
            amount=amount,
            currency=form.get("currency") or None,
            post_link=form.get("postLink") or None,
            failure_post_link=form.get("failurePostLink") or None,
            secret_hash=form.get("secret_hash") or None,
            grant=grant or "",
        )
        lifetime: int | str = (
            str(self.token_lifetime) if self.expires_in_as_string else self.token_lifetime
        )
        return SandboxResponse.json(
            200,
            {
                "access_token": value,
                "expires_in": lifetime,
                # A password grant's answer carries a refresh token (the invoice-link page).
                "refresh_token": secrets.token_urlsafe(16) if grant == "password" else "",
                "scope": scope,
                "token_type": "Bearer",
            },
        )

    async def public_key(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        return SandboxResponse(200, public_pem(self.private_key), {"content-type": "text/plain"})

    # -- check-status (seed 002) ----------------------------------------------------------

    async def check_status(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = self.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        kind, invoice_id = match.group(1), match.group(2)
        envelope = _p2p_envelope if kind == "p2p" else _envelope
        if token.terminal is None:
            return envelope(ResultCode.TERMINAL_ABSENT_IN_TOKEN)
        if token.terminal not in self.merchant.terminal_ids:
            return envelope(ResultCode.INCORRECT_TERMINAL)
        transaction = self.find(kind, invoice_id)
        early = self.scripts.get((kind, invoice_id)) if transaction is None else None
        if early:
            answer = early.popleft()
            if not early:
                del self.scripts[(kind, invoice_id)]
            # A status name needs a transaction to show: none yet, so "not found".
            code = answer if isinstance(answer, ResultCode) else ResultCode.INVOICE_NOT_FOUND
            return envelope(code)
        if transaction is None and self.answer_any_invoice and kind == "payment":
            return synthesized_status(invoice_id, token.terminal)
        if transaction is None:
            return envelope(ResultCode.INVOICE_NOT_FOUND)
        wire = transaction.to_p2p_wire if kind == "p2p" else transaction.to_wire
        if transaction.scripted:
            answer = transaction.scripted.popleft()
            if isinstance(answer, StatusName):
                return envelope(ResultCode.SUCCESS, wire(answer))
            return envelope(answer)
        return envelope(ResultCode.SUCCESS, wire())


#: By an unknown invoice's last digit: the status ``answer_any_invoice`` reports.
SYNTHESIZED = {
    **dict.fromkeys("0123456", StatusName.CHARGE),
    "7": StatusName.AUTH,
    "8": StatusName.REJECT,
}
_SYNTHESIZED_TEMPLATE = (
    '{"resultCode":"100","resultMessage":"SUCCESS","transaction":{'
    '"id":"00000000-0000-4000-8000-%(id)s","createdDate":"2026-01-01T12:00:00+05:00",'
    '"invoiceID":"%(invoice)s","amount":%(amount)s,"amountBonus":0,"currency":"KZT",'
    '"terminal":"98120001","terminalID":"%(terminal)s","accountID":"","description":"",'
    '"language":"RU","cardMask":"440563...5096","cardType":"VISA","issuer":"Halyk Bank",'
    '"reference":"%(reference)s","reason":"%(reason)s","reasonCode":"%(code)s",'
    '"secure":false,"statusName":"%(status)s","cardID":""}}'
)


def synthesized_status(invoice_id: str, terminal: str) -> SandboxResponse:
    """A deterministic answer for an invoice the sandbox never saw: by its last digit 0-6
    CHARGE, 7 AUTH, 8 REJECT, 9 not found. Cheap, and nothing is stored per invoice."""
    status = SYNTHESIZED.get(invoice_id[-1:])
    if status is None:
        return _envelope(ResultCode.INVOICE_NOT_FOUND)
    declined = status is StatusName.REJECT
    body = _SYNTHESIZED_TEMPLATE % {
        "id": invoice_id[-12:].rjust(12, "0"),
        "invoice": invoice_id,
        "amount": f"{int(invoice_id[-5:]) % 50000 + 100}.00",
        "terminal": terminal,
        "reference": invoice_id[-12:].rjust(12, "0"),
        "reason": "Not sufficient funds" if declined else "Approved",
        "code": "484" if declined else "00",
        "status": status.value,
    }
    return SandboxResponse(200, body.encode(), {"content-type": "application/json"})


def _p2p_envelope(code: ResultCode, transaction: object = None) -> SandboxResponse:
    """P2P check-status, as the documentation's "P2P check status" page shows it."""
    return SandboxResponse.json(
        200,
        {
            "result": {"code": str(int(code)), "message": _RESULT_MESSAGES.get(code, "error")},
            "transaction": None if transaction is None else {"p2p": transaction},
        },
    )


def _envelope(code: ResultCode, transaction: object = None) -> SandboxResponse:
    return SandboxResponse.json(
        200,
        {
            "resultCode": str(int(code)),
            "resultMessage": _RESULT_MESSAGES.get(code, "error"),
            "transaction": transaction,
        },
    )

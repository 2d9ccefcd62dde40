"""``EpayClient``: the public entry point. Wires transport, tokens and operations together."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterable, Container, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import attrs
import httpx

from . import _constants as C
from ._http import Backend
from ._http.httpx_backend import HttpxBackend, check_lent_client
from ._in_doubt import OutcomeCallback
from ._ops import card_verification as _card_verification
from ._ops import cards as _cards
from ._ops import invoice_links as _invoice_links
from ._ops import notifications as _notifications
from ._ops import payment_page as _payment_page
from ._ops import payments as _payments
from ._ops import payouts as _payouts
from ._ops import post_auth as _post_auth
from ._ops import register as _register
from ._ops import status as _status
from ._ops import transfers as _transfers
from ._pipeline import Pipeline
from ._polling import wait_for_status
from ._public_key import PublicKeyCache
from ._raw import raw_response
from ._reconcile import Reconciliation
from ._retry import RetryPolicy
from ._secret import Secret
from ._telemetry import Telemetry
from ._tokens import Credentials, TokenAcquirer
from ._transport import Transport
from .cryptogram import CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC, CryptogramPadding
from .environment import Environment
from .errors import ValidationError
from .journal import Journal, Recovered
from .journal._recover import recover
from .types.cards import Card, CardPan, PhoneRecipient, SavedCardInfo, SavedCardRef
from .types.invoice_links import CabinetLogin, InvoiceLink, InvoiceLinkResult
from .types.notifications import PaymentNotification
from .types.operations import OperationResult
from .types.order import CardVerification, Order
from .types.payment_page import PaymentPage
from .types.payments import ApplePayPayment, ConfirmResult, GooglePayToken, PaymentResult
from .types.status import TransactionStatus
from .types.transfers import TransferResult

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Unpack

__all__ = ["NOT_GIVEN", "ClientOptions", "EpayClient", "EpayClientWithRawResponse", "NotGiven"]

TransportName = Literal["httpx", "aiohttp"]


def _is_aiohttp_session(value: object) -> bool:
    aiohttp = sys.modules.get("aiohttp")  # a session cannot exist without it imported
    return aiohttp is not None and isinstance(value, aiohttp.ClientSession)


def _backend(
    transport: TransportName | httpx.AsyncBaseTransport | aiohttp.ClientSession,
    timeout: httpx.Timeout,
    http_client: httpx.AsyncClient | None,
) -> Backend:
    """The HTTP client behind the seam: a lent httpx client, the library's own httpx client
    (over ``transport`` when it is an httpx transport), or aiohttp (own session or lent)."""
    if http_client is not None:
        check_lent_client(http_client)
        return HttpxBackend(http_client, direct=None)
    if transport == "httpx" or isinstance(transport, httpx.AsyncBaseTransport):
        return HttpxBackend.owned(timeout, transport if transport != "httpx" else None)
    session = _is_aiohttp_session(transport)
    if transport == "aiohttp" or session:
        try:
            from ._http.aiohttp_backend import AiohttpBackend  # noqa: PLC0415 - an optional extra
        except ImportError:
            raise ValidationError(
                "transport", "'aiohttp' needs the aiohttp extra: pip install 'epay-async[aiohttp]'"
            ) from None
        return AiohttpBackend(transport if session else None, timeout)  # type: ignore[arg-type]
    raise ValidationError(
        "transport",
        "must be 'httpx', 'aiohttp', an httpx.AsyncBaseTransport or an aiohttp.ClientSession",
    )


class NotGiven:
    """The type of :data:`NOT_GIVEN`: an option left as it is, where ``None`` means "none"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: Passed for an option of :meth:`EpayClient.with_options` that keeps its value.
NOT_GIVEN = NotGiven()


class ClientOptions(TypedDict, total=False):
    """The constructor's keywords beside the credentials (for :meth:`EpayClient.from_env`)."""

    environment: Environment
    http_client: httpx.AsyncClient | None
    timeout: float | httpx.Timeout
    public_key_pem: str | bytes | None
    cryptogram_padding: CryptogramPadding
    cryptogram_field: str
    retry: RetryPolicy | None
    reuse_read_tokens: bool
    transport: TransportName | httpx.AsyncBaseTransport | aiohttp.ClientSession
    on_outcome_unknown: OutcomeCallback | None
    journal: Journal | None
    tracer_provider: object | None
    meter_provider: object | None


@attrs.frozen
class _Options:
    """A client's options after validation: ``with_options`` builds a copy from a changed one."""

    credentials: Credentials
    keys: PublicKeyCache
    cryptogram_field: str
    retry: RetryPolicy
    #: A per-client override of the HTTP client's timeout (``with_options``), or None.
    timeout: httpx.Timeout | None
    on_outcome_unknown: OutcomeCallback | None
    reuse_read_tokens: bool
    journal: Journal | None
    telemetry: Telemetry


def _http_timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _journal(value: Journal | None) -> Journal | None:
    if value is not None and not isinstance(value, Journal):
        raise ValidationError("journal", "must be a Journal (SqliteJournal, PostgresJournal...)")
    return value


def _callback(value: OutcomeCallback | None) -> OutcomeCallback | None:
    if value is not None and not callable(value):
        raise ValidationError("on_outcome_unknown", "must be a function (sync or async)")
    return value


class EpayClient:
    """Asynchronous client for the Halyk ePay gateway.

    Use it as ``async with EpayClient(...) as epay:`` or call :meth:`aclose`. It owns one
    ``httpx.AsyncClient`` unless you lend it yours (``http_client=``), which it never closes.
    ``transport="aiohttp"`` (the ``aiohttp`` extra, asyncio only) sends through an
    ``aiohttp.ClientSession`` instead, its own or one you lend (``transport=session``): the
    faster choice for high concurrency, with the same guarantees.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        terminal_id: str,
        environment: Environment = Environment.TEST,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = C.DEFAULT_TIMEOUT,
        public_key_pem: str | bytes | None = None,
        cryptogram_padding: CryptogramPadding = CryptogramPadding.PKCS1_V15,
        cryptogram_field: str = CRYPTOGRAM_FIELD,
        retry: RetryPolicy | None = None,
        reuse_read_tokens: bool = True,
        transport: TransportName | httpx.AsyncBaseTransport | aiohttp.ClientSession = "httpx",
        on_outcome_unknown: OutcomeCallback | None = None,
        journal: Journal | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
    ) -> None:
        for field, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("terminal_id", terminal_id),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(field, "must be a non-empty string")
        if not isinstance(environment, Environment):
            raise ValidationError("environment", "must be an Environment")
        exposed = environment.plain_http_hosts()
        if exposed and client_secret != C.PUBLIC_TEST_CLIENT_SECRET:
            raise ValidationError(
                "environment",
                f"reaches {exposed[0]} over plain http, so the client secret and tokens would"
                " cross the network unencrypted: use https (plain http is taken for this"
                " machine, or for a sandbox with its public test credentials)",
            )
        if cryptogram_field not in (CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC):
            raise ValidationError(
                "cryptogram_field", "must be CRYPTOGRAM_FIELD or its Cyrillic form"
            )
        keys = PublicKeyCache(environment.public_key_url, cryptogram_padding, public_key_pem)
        backend = _backend(transport, _http_timeout(timeout), http_client)
        # A lent httpx client or aiohttp session is never closed here.
        self._owns_http = http_client is None and getattr(backend, "owned", True)
        self._backend = backend
        self.environment = environment
        self._options = _Options(
            credentials=Credentials(client_id, client_secret, terminal_id),
            keys=keys,
            cryptogram_field=cryptogram_field,
            retry=retry or RetryPolicy(),
            timeout=None,
            on_outcome_unknown=_callback(on_outcome_unknown),
            reuse_read_tokens=reuse_read_tokens,
            journal=_journal(journal),
            telemetry=Telemetry(tracer_provider, meter_provider),
        )
        self._pipeline = self._build(self._options)

    def _build(self, options: _Options, *, shared: Pipeline | None = None) -> Pipeline:
        """The transport, token acquirer and pipeline for ``options``; a copy (``shared``)
        keeps the original's read-token cache and in-flight guard."""
        transport = Transport(self._backend, options.retry, timeout=options.timeout)
        if shared is None:
            tokens = TokenAcquirer(
                transport,
                self.environment.token_url,
                options.credentials,
                reuse_read_tokens=options.reuse_read_tokens,
            )
        else:
            tokens = shared.tokens.using(transport, reuse_read_tokens=options.reuse_read_tokens)
        return Pipeline(
            transport,
            tokens,
            environment=self.environment,
            credentials=options.credentials,
            keys=options.keys,
            cryptogram_field=options.cryptogram_field,
            on_outcome_unknown=options.on_outcome_unknown,
            journal=options.journal,
            telemetry=options.telemetry,
            in_flight=shared.in_flight if shared is not None else None,
        )

    @classmethod
    def from_env(
        cls,
        prefix: str = "EPAY_",
        *,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ClientOptions],
    ) -> EpayClient:
        """Build a client from ``{prefix}CLIENT_ID``, ``CLIENT_SECRET``, ``TERMINAL_ID`` and
        ``ENVIRONMENT``: ``test`` (the default), ``prod``, ``test-epayment-kz``, ``sandbox`` (the
        sandbox served by ``epay-async sandbox`` on its default port) or the base URL of any
        served sandbox or proxy (``http://127.0.0.1:8099``). ``options`` are the constructor's
        other keywords; ``environment=`` overrides the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for key in ("CLIENT_ID", "CLIENT_SECRET", "TERMINAL_ID"):
            value = env.get(prefix + key, "")
            if not value:
                raise ValidationError(prefix + key, "environment variable is not set")
            values[key.lower()] = value
        if options.get("environment") is None:
            try:
                options["environment"] = Environment.from_name(
                    env.get(prefix + "ENVIRONMENT") or "test"  # set but empty: the default
                )
            except ValueError as exc:
                raise ValidationError(prefix + "ENVIRONMENT", str(exc)) from None
        return cls(
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            terminal_id=values["terminal_id"],
            **options,
        )

    def with_options(
        self,
        *,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        on_outcome_unknown: OutcomeCallback | NotGiven | None = NOT_GIVEN,
        reuse_read_tokens: bool | NotGiven = NOT_GIVEN,
    ) -> EpayClient:
        """A client for some calls with another retry policy, timeout, in-doubt callback or
        read-token reuse. It is built anew from this one's options (its transport, token
        acquirer and operations all follow the new ones: ``retry=`` governs token requests
        too) and shares this one's HTTP client, read-token cache, public key and in-flight
        guard; closing it closes nothing. ``on_outcome_unknown=None`` clears the callback,
        ``timeout=None`` goes back to the HTTP client's own.

        ``await epay.with_options(retry=RetryPolicy(deadline=5)).get_status(invoice_id)``
        """
        changes: dict[str, Any] = {}
        if not isinstance(retry, NotGiven):
            changes["retry"] = retry
        if not isinstance(timeout, NotGiven):
            changes["timeout"] = _http_timeout(timeout) if timeout is not None else None
        if not isinstance(on_outcome_unknown, NotGiven):
            changes["on_outcome_unknown"] = _callback(on_outcome_unknown)
        if not isinstance(reuse_read_tokens, NotGiven):
            changes["reuse_read_tokens"] = reuse_read_tokens
        options = attrs.evolve(self._options, **changes)
        clone = object.__new__(EpayClient)
        clone._options = options
        clone._backend = self._backend
        clone._owns_http = False
        clone.environment = self.environment
        clone._pipeline = self._build(options, shared=self._pipeline)
        return clone

    @property
    def with_raw_response(self) -> EpayClientWithRawResponse:
        """The same calls, each returning a :class:`~epay_async.RawResponse` (the convention
        of openai-python): ``await epay.with_raw_response.get_status(invoice_id)``."""
        return EpayClientWithRawResponse(self)

    @property
    def client_id(self) -> str:
        return self._pipeline.credentials.client_id

    @property
    def terminal_id(self) -> str:
        return self._pipeline.credentials.terminal_id

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient`` shared by the token acquirer and every endpoint
        (``AttributeError`` with ``transport="aiohttp"``, which has none)."""
        if not isinstance(self._backend, HttpxBackend):
            raise AttributeError("this client sends through aiohttp: it has no httpx client")
        return self._backend.client

    def __repr__(self) -> str:
        return (
            f"EpayClient(client_id={self.client_id!r}, terminal_id={self.terminal_id!r}, "
            f"environment={self.environment.name!r})"
        )

    async def __aenter__(self) -> EpayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned HTTP client; a borrowed one is left open."""
        if self._owns_http:
            await self._backend.aclose()

    # -- status ---------------------------------------------------------------------------

    async def get_status(
        self, invoice_id: str, *, kind: _status.StatusKind = "payment"
    ) -> TransactionStatus:
        """Check-status for an invoice (``kind="p2p"`` for transfers, by order id).

        Codes 100, 101, 102 and 107 are returned; 103 is retried and then raised as
        :class:`StatusError`, like 104, 106 and 109.
        """
        return await self._pipeline.call("get_status", _status.get_status, invoice_id, kind)

    async def wait_for_status(
        self,
        invoice_id: str,
        *,
        timeout: float = C.POLL_TIMEOUT,
        interval: float = C.POLL_INTERVAL,
        max_interval: float = C.POLL_MAX_INTERVAL,
        kind: _status.StatusKind = "payment",
        not_found_grace: float = C.POLL_NOT_FOUND_GRACE,
    ) -> TransactionStatus:
        """Poll :meth:`get_status` while the gateway answers 107 or NEW (or 102, briefly).

        Raises :class:`StatusTimeoutError` carrying the last status at the deadline.
        """

        async def fetch() -> TransactionStatus:
            return await self.get_status(invoice_id, kind=kind)

        return await wait_for_status(
            fetch,
            invoice_id,
            timeout=timeout,
            interval=interval,
            max_interval=max_interval,
            not_found_grace=not_found_grace,
        )

    def reconcile(
        self,
        invoice_ids: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        kind: _status.StatusKind = "payment",
        skip: Container[str] = (),
    ) -> Reconciliation:
        """Check-status for every id of an iterable or async iterable (read lazily), at most
        ``concurrency`` at a time, giving :class:`ReconcileResult` as each completes. A bad
        invoice gives a result with ``error`` and the batch goes on::

            async with epay.reconcile(ids) as results:
                async for result in results:
                    ...

        Leaving the block, early or not, stops the workers there and then. ``skip`` (a set)
        names ids not to check again: those a resumed job already has.
        """

        async def fetch(invoice_id: str) -> TransactionStatus:
            return await self._pipeline.call("reconcile", _status.get_status, invoice_id, kind)

        return Reconciliation(fetch, invoice_ids, concurrency, skip)

    async def verify_notification(
        self,
        notification: PaymentNotification,
        *,
        expected_amount: Decimal | int | str | None = None,
        expected_currency: str | None = None,
        secret_hash: str | None = None,
        kind: _status.StatusKind = "payment",
        accept_bonus: bool = False,
    ) -> TransactionStatus:
        """Confirm a postLink notification with check-status, or raise
        :class:`NotificationMismatchError` naming what the gateway does not back: invoice,
        amount (and ``expected_amount``), currency (and ``expected_currency``), terminal, a
        status agreeing with ``code``, and the echoed ``secret_hash`` when you set one.
        Returns the gateway's status.

        A payment made partly with bonuses (check-status ``amount`` is the card part,
        ``amountBonus`` the rest) is a mismatch against ``expected_amount`` saying so, unless
        ``accept_bonus=True``: then card part plus bonus must equal ``expected_amount``
        (``status.transaction.amount``, ``.amount_bonus`` and ``.total_amount`` show both).
        A card-verification notification may carry ``cardId: null``: the saved card's id is
        ``status.transaction.card_id``, read from check-status."""
        if isinstance(secret_hash, str):
            secret_hash = Secret(secret_hash)  # '***' in tracebacks
        return await self._pipeline.call(
            "verify_notification",
            _notifications.verify_notification,
            notification,
            expected_amount=expected_amount,
            expected_currency=expected_currency,
            secret_hash=secret_hash,
            kind=kind,
            accept_bonus=accept_bonus,
        )

    async def recover(
        self, *, older_than: float | None = None, include_under_way: bool = False
    ) -> list[Recovered]:
        """Settle the journal's open records (``intent`` or ``in_doubt``) with check-status,
        and return what was done with each (:class:`~epay_async.journal.Recovered`). Run it
        at start-up and on a timer; several processes may run it at once (each record is
        closed once).

        A record is settled when it is older than ``older_than`` seconds (default: the retry
        deadline plus 60 s, so a request still under way in another process is left alone)
        or when the process of this machine that wrote it is gone (a crash, a kill); a younger
        record of a gone process that the gateway answers 102 (no such invoice) stays open
        until it is old enough, as a request that process sent may not have arrived yet.
        ``include_under_way=True`` also returns the records left alone, young and written by a
        process that still runs (``Recovered.under_way``), without asking about them."""
        journal = self._options.journal
        if journal is None:
            raise ValidationError("journal", "recover() needs a client built with journal=...")
        if older_than is None:
            older_than = (self._options.retry.deadline or 0) + 60
        if not isinstance(older_than, (int, float)) or older_than < 0:
            raise ValidationError("older_than", "must be a number of seconds, 0 or more")

        async def lookup(invoice_id: str, kind: str) -> TransactionStatus:
            return await self.get_status(invoice_id, kind="p2p" if kind == "p2p" else "payment")

        return await recover(
            journal,
            lookup,
            older_than=timedelta(seconds=older_than),
            include_under_way=include_under_way,
        )

    # -- payments -------------------------------------------------------------------------

    async def pay_with_saved_card(self, order: Order, card_id: str) -> PaymentResult:
        """Pay with a card saved earlier (``POST /payments/cards/auth``, seed 001)."""
        return await self._pipeline.call(
            "pay_with_saved_card", _payments.pay_with_saved_card, order, card_id
        )

    async def pay_with_card(self, order: Order, card: Card) -> PaymentResult:
        """Pay with card data sent as an RSA cryptogram (``POST /payment/cryptopay``)."""
        return await self._pipeline.call("pay_with_card", _payments.pay_with_card, order, card)

    async def pay_with_google_pay(self, order: Order, google_pay: GooglePayToken) -> PaymentResult:
        """Pay with Google Pay ``PaymentData`` (seed 000)."""
        return await self._pipeline.call(
            "pay_with_google_pay", _payments.pay_with_google_pay, order, google_pay
        )

    async def pay_with_apple_pay(self, order: Order, apple_pay: ApplePayPayment) -> PaymentResult:
        """Pay with a decrypted Apple Pay token (seed 004)."""
        return await self._pipeline.call(
            "pay_with_apple_pay", _payments.pay_with_apple_pay, order, apple_pay
        )

    async def payment_page(self, order: Order, *, card_id: str | None = None) -> PaymentPage:
        """Open ePay's hosted payment page for ``order`` (the path for merchants without PCI
        DSS): mints the order's own payment token and returns the ``PaymentPage`` whose
        ``payment_object()`` the shopper's browser passes to ``halyk.pay``, or whose
        ``html()`` does it all. ``card_id`` pays with a saved card on the page. The order
        needs ``back_link`` and ``post_link``. Trust neither the redirect back nor an
        unverified notification: confirm with ``verify_notification`` or ``get_status``."""
        return await self._pipeline.call("payment_page", _payment_page.payment_page, order, card_id)

    async def confirm_3ds(self, payment_id: str, *, pa_res: str, md: str) -> ConfirmResult:
        """Send the ACS's ``PaRes``/``MD`` to ``/payment/confirm``; confirm with ``get_status``."""
        pa_res = Secret(pa_res) if isinstance(pa_res, str) else pa_res  # '***' in tracebacks
        return await self._pipeline.call(
            "confirm_3ds", _payments.confirm_3ds, payment_id, pa_res, md
        )

    async def transfer(
        self,
        order: Order,
        *,
        sender: CardPan | SavedCardRef,
        receiver: CardPan | SavedCardRef,
    ) -> TransferResult:
        """A P2P transfer (seed 003); its status is ``get_status(order.invoice_id, kind="p2p")``."""
        return await self._pipeline.call("transfer", _transfers.transfer, order, sender, receiver)

    async def payout(
        self,
        order: Order,
        *,
        kind: _payouts.PayoutKind,
        sender: CardPan | SavedCardRef,
        receiver: CardPan | SavedCardRef | PhoneRecipient,
    ) -> TransferResult:
        """A payout: ``kind="aft"`` (``/chdebit/transfer``, funds taken from ``sender``'s
        card) or ``"oct"`` (``/chpayment/transfer``, funds sent to ``receiver``'s card, or by
        phone with a :class:`PhoneRecipient`). The P2P body and ``transfer`` token; never sent
        twice once it may have left.

        Rests on one source, the bank's iOS SDK (its paths and transfer types): no
        documentation page covers payouts. Check the outcome with
        ``get_status(order.invoice_id, kind="p2p")``, the status of the same P2P body (the
        SDK's; not documented for payouts either)."""
        return await self._pipeline.call(
            f"payout ({kind})", _payouts.payout, order, kind, sender, receiver
        )

    async def create_invoice_link(
        self, link: InvoiceLink, *, login: CabinetLogin
    ) -> InvoiceLinkResult:
        """Send the payer a payment link (``POST /invoice``, the documentation's invoice-link
        page): by e-mail (``recipient_contact``) and/or SMS. Its token is a ``password`` grant
        with the merchant cabinet's user (``login``), as that page shows; it is never sent
        twice once it may have left. The answer's shape is not documented, so it is kept as
        received; confirm the payment with ``get_status(link.invoice_id)``."""
        return await self._pipeline.call(
            "create_invoice_link", _invoice_links.create_invoice_link, link, login
        )

    async def verify_card(self, verification: CardVerification, card: Card) -> PaymentResult:
        """Check ``card`` and save it without charging it (the documentation's card
        verification: a token for 0 USD, then a cryptogram payment of 0). The saved card's id
        is ``result.card_id``; pay with it later through :meth:`pay_with_saved_card`."""
        return await self._pipeline.call(
            "verify_card", _card_verification.verify_card, verification, card
        )

    # -- after authorisation --------------------------------------------------------------

    async def charge(
        self, payment_id: str, amount: Decimal | int | str | None = None
    ) -> OperationResult:
        """Capture an AUTH transaction, in part when ``amount`` is given."""
        return await self._pipeline.call(
            "charge", _post_auth.operate, "charge", payment_id, amount=amount
        )

    async def cancel(self, payment_id: str) -> OperationResult:
        """Release an AUTH hold."""
        return await self._pipeline.call("cancel", _post_auth.operate, "cancel", payment_id)

    async def refund(
        self,
        payment_id: str,
        amount: Decimal | int | str | None = None,
        external_id: str | None = None,
    ) -> OperationResult:
        """Refund a CHARGE transaction, in part when ``amount`` is given (10 KZT at least)."""
        return await self._pipeline.call(
            "refund",
            _post_auth.operate,
            "refund",
            payment_id,
            amount=amount,
            external_id=external_id,
        )

    # -- saved cards ----------------------------------------------------------------------

    async def list_cards(self, account_id: str) -> list[SavedCardInfo]:
        """Cards saved for ``account_id`` (empty when there are none)."""
        return await self._pipeline.call("list_cards", _cards.list_cards, account_id)

    async def deactivate_card(self, card_id: str) -> None:
        """Deactivate a saved card."""
        await self._pipeline.call("deactivate_card", _cards.deactivate_card, card_id)

    # -- operations register --------------------------------------------------------------

    def operations(
        self,
        since: datetime,
        until: datetime,
        *,
        invoice_ids: Iterable[str] | None = None,
        account_id: str | None = None,
        reference: str | None = None,
        amount: Decimal | int | str | None = None,
        min_amount: Decimal | int | str | None = None,
        max_amount: Decimal | int | str | None = None,
        card_mask: str | None = None,
        payer_phone: str | None = None,
        payer_email: str | None = None,
        page_size: int = 500,
        concurrency: int = 4,
        login: CabinetLogin | None = None,
    ) -> _register.OperationsWalk:
        """Every payment operation with ``since <= created < until`` (tz-aware datetimes),
        from the register (``POST /operations``), each exactly once::

            async with epay.operations(since, until) as records:
                async for record in records:
                    ...

        Filters narrow the search (``card_mask`` is a ``like`` pattern with ``%``). At most
        ``concurrency`` page requests are in flight, each a read under the client's deadline
        and retry rules; memory is about ``concurrency`` pages. The token is the client's
        read token, or a cabinet ``login`` (the documentation's password grant). Leaving the
        block stops every request."""
        return self._register_walk(
            "payment", since, until, page_size=page_size, concurrency=concurrency, login=login,
            invoice_ids=invoice_ids, account_id=account_id, reference=reference, amount=amount,
            min_amount=min_amount, max_amount=max_amount, card_mask=card_mask,
            payer_phone=payer_phone, payer_email=payer_email,
        )  # fmt: skip

    def transfer_operations(
        self,
        since: datetime,
        until: datetime,
        *,
        invoice_ids: Iterable[str] | None = None,
        account_id: str | None = None,
        reference: str | None = None,
        amount: Decimal | int | str | None = None,
        min_amount: Decimal | int | str | None = None,
        max_amount: Decimal | int | str | None = None,
        card_mask: str | None = None,
        payer_phone: str | None = None,
        payer_email: str | None = None,
        page_size: int = 500,
        concurrency: int = 4,
        login: CabinetLogin | None = None,
    ) -> _register.OperationsWalk:
        """As :meth:`operations`, for P2P transfers (``POST /p2p/operations``, ``transfer``
        scope)."""
        return self._register_walk(
            "transfer", since, until, page_size=page_size, concurrency=concurrency, login=login,
            invoice_ids=invoice_ids, account_id=account_id, reference=reference, amount=amount,
            min_amount=min_amount, max_amount=max_amount, card_mask=card_mask,
            payer_phone=payer_phone, payer_email=payer_email,
        )  # fmt: skip

    def _register_walk(
        self,
        kind: _register.RegisterKind,
        since: datetime,
        until: datetime,
        *,
        page_size: int,
        concurrency: int,
        login: CabinetLogin | None,
        **filters: Any,
    ) -> _register.OperationsWalk:
        return _register.OperationsWalk(
            self._pipeline,
            kind,
            since,
            until,
            _register.RegisterFilters.build(**filters),
            page_size=page_size,
            concurrency=concurrency,
            login=login,
        )


class EpayClientWithRawResponse:
    """``epay.with_raw_response``: every call of the client, returning a
    :class:`~epay_async.RawResponse` (``.status_code``, ``.headers``, ``.elapsed``,
    ``.attempts`` of the gateway's last answer to it, and ``.parse()``: what the plain call
    returns)::

        raw = await epay.with_raw_response.get_status(invoice_id)
        print(raw.status_code, raw.headers.get("date"), raw.attempts)
        status = raw.parse()
    """

    def __init__(self, client: EpayClient) -> None:
        self.get_status = raw_response(client.get_status)
        self.wait_for_status = raw_response(client.wait_for_status)
        self.verify_notification = raw_response(client.verify_notification)
        self.pay_with_saved_card = raw_response(client.pay_with_saved_card)
        self.pay_with_card = raw_response(client.pay_with_card)
        self.pay_with_google_pay = raw_response(client.pay_with_google_pay)
        self.pay_with_apple_pay = raw_response(client.pay_with_apple_pay)
        self.payment_page = raw_response(client.payment_page)
        self.confirm_3ds = raw_response(client.confirm_3ds)
        self.transfer = raw_response(client.transfer)
        self.payout = raw_response(client.payout)
        self.create_invoice_link = raw_response(client.create_invoice_link)
        self.verify_card = raw_response(client.verify_card)
        self.charge = raw_response(client.charge)
        self.cancel = raw_response(client.cancel)
        self.refund = raw_response(client.refund)
        self.list_cards = raw_response(client.list_cards)
        self.deactivate_card = raw_response(client.deactivate_card)

"""The request pipeline: every public call and every request to the gateway goes through it.

An operation (``_ops/``) declares what it sends as an :class:`Operation`: method, URL, the
token it needs, its body, whether it moves money and how its answer is read. The pipeline
does the rest, the same way for all of them:

1. :meth:`Pipeline.call` opens the public call: its deadline and in-doubt records
   (:mod:`._call`), its span (:mod:`._telemetry`) and its raw-response capture (:mod:`._raw`).
2. :meth:`Pipeline.send` sends one operation: at most one money request per invoice or
   transaction (this client, and every process sharing the journal); the journal's intent,
   committed before the request can leave; the token; the retry rule (:mod:`._transport`);
   the answer checked (:mod:`._answers`) and read; the journal's outcome.

No operation opens a call scope, picks a retry or maps an answer to an error by itself.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar

import anyio
import attrs

from . import _constants as C
from ._answers import gateway_error
from ._call import CallScope, current_call
from ._converter import dumps
from ._http import Answer
from ._in_doubt import OutcomeCallback
from ._logs import logger
from ._raw import answer_info, record_answer
from ._request import ApiRequest
from ._secret import Secret
from ._shield import run_to_end
from ._telemetry import NO_CALL_TELEMETRY, CallTelemetry, Telemetry
from ._tokens import Credentials, OperationGrant, TokenAcquirer
from ._transport import Attempts, Transport
from .environment import Environment
from .errors import (
    ApiError,
    AuthenticationError,
    EpayError,
    OutcomeUnknownError,
    ProtocolError,
    RequestInFlightError,
    TransportError,
    ValidationError,
)
from .journal import Journal, JournalRecord, JournalState, JournalUnavailableError

if TYPE_CHECKING:
    from ._public_key import PublicKeyCache

P = ParamSpec("P")

__all__ = [
    "SERVICE_TOKEN",
    "CabinetToken",
    "Operation",
    "OrderToken",
    "Pipeline",
    "RetryAnswer",
    "ServiceToken",
]

T = TypeVar("T")
R = TypeVar("R")


class TokenSource(Protocol):
    """Where an operation's bearer token comes from."""

    async def get(self, tokens: TokenAcquirer) -> str: ...

    async def refresh(self, tokens: TokenAcquirer, stale: str) -> str | None:
        """A new token after ``stale`` was refused (401/403), or None: the refusal stands."""
        ...


@attrs.frozen
class ServiceToken:
    """The client's cached service token; a refused one is replaced once (a refused token
    means nothing was done, so even a money request may then be sent again)."""

    async def get(self, tokens: TokenAcquirer) -> str:
        return await tokens.read_token()

    async def refresh(self, tokens: TokenAcquirer, stale: str) -> str | None:
        tokens.invalidate(stale)
        return await tokens.read_token()


SERVICE_TOKEN = ServiceToken()


@attrs.frozen
class OrderToken:
    """A fresh token bound to one order (invoice, amount, currency, links): never reused."""

    grant: OperationGrant

    async def get(self, tokens: TokenAcquirer) -> str:
        return await tokens.operation_token(self.grant)

    async def refresh(self, tokens: TokenAcquirer, stale: str) -> str | None:
        return None


@attrs.frozen
class CabinetToken:
    """A ``password`` grant with the merchant cabinet's user (invoice links, registers)."""

    username: str
    password: Secret = attrs.field(converter=Secret, repr=False)

    async def get(self, tokens: TokenAcquirer) -> str:
        return await tokens.password_token(self.username, self.password)

    async def refresh(self, tokens: TokenAcquirer, stale: str) -> str | None:
        return None


class RetryAnswer(Exception):
    """Raised by an operation's ``read`` for an answer that says "ask again" (check-status's
    103): the pipeline sends a read again under the retry rule, and raises ``error`` when
    the attempts or the deadline run out."""

    def __init__(self, reason: str, error: Exception) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


JournalKind = Literal["payment", "p2p"]


@attrs.define(kw_only=True)  # not frozen: built on every call, and frozen costs ~1 us more
class Operation(Generic[T]):
    """One request to the gateway, as an operation declares it (never changed once built)."""

    #: The name in errors, logs and spans (``get_status (payment)``, ``refund``).
    name: str
    method: str
    url: str
    #: Reads a successful answer (2xx, and 4xx with ``reads_error_answers``) into the result;
    #: raises :class:`ProtocolError` when it cannot (never success).
    read: Callable[[Answer], T]
    moves_money: bool = False
    token: TokenSource = SERVICE_TOKEN
    #: The JSON body (``None``: none).
    body: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    invoice_id: str | None = None
    transaction_id: str | None = None
    #: The money it moves, for the journal (``None`` for a whole cancel or refund).
    amount: Decimal | None = None
    currency: str | None = None
    #: How ``recover()`` checks it: the payment's or the transfer's status.
    kind: JournalKind = "payment"
    #: The error a 4xx ``{code, message}`` answer raises.
    declined: type[ApiError] = ApiError
    #: 4xx answers go to ``read`` too (check-status and the card list read their bodies).
    reads_error_answers: bool = False
    #: The answer is a redirect (``/payment/confirm``); any other 3xx is an error.
    redirect_is_answer: bool = False
    #: The transaction id in a money answer, for the journal.
    transaction_of: Callable[[T], str | None] | None = None
    #: The gateway's result code in the answer, for the span.
    result_code_of: Callable[[T], int | str | None] | None = None

    @property
    def in_flight_key(self) -> str:
        if self.invoice_id is not None:
            return f"invoice {self.invoice_id}"
        return f"transaction {self.transaction_id}"

    def request(self) -> ApiRequest:
        return ApiRequest(
            self.method,
            self.url,
            operation=self.name,
            idempotent=not self.moves_money,
            invoice_id=self.invoice_id,
            transaction_id=self.transaction_id,
            content=dumps(self.body) if self.body is not None else None,
            params=self.params,
            redirect_is_answer=self.redirect_is_answer,
        )


class Pipeline:
    """The client's wiring and its one path for calls and requests (see the module doc)."""

    def __init__(
        self,
        transport: Transport,
        tokens: TokenAcquirer,
        *,
        environment: Environment,
        credentials: Credentials,
        keys: PublicKeyCache,
        cryptogram_field: str,
        on_outcome_unknown: OutcomeCallback | None = None,
        journal: Journal | None = None,
        telemetry: Telemetry | None = None,
        in_flight: set[str] | None = None,
    ) -> None:
        self.transport = transport
        self.tokens = tokens
        self.environment = environment
        self.credentials = credentials
        self.keys = keys
        self.cryptogram_field = cryptogram_field
        self.on_outcome_unknown = on_outcome_unknown
        self.journal = journal
        self.telemetry = telemetry or Telemetry.disabled()
        #: Invoices and transactions with a money request under way (shared by copies).
        self.in_flight: set[str] = set() if in_flight is None else in_flight

    def url(self, path: str) -> str:
        return f"{self.environment.api_url}{path}"

    async def call(
        self,
        name: str,
        operation: Callable[Concatenate[Pipeline, P], Awaitable[R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run one public call: ``operation(self, *args, **kwargs)`` under the call's
        deadline, in-doubt records and span. Nested calls join the outer one."""
        if current_call() is not None:
            return await operation(self, *args, **kwargs)
        with self.telemetry.call(name) as span:
            async with CallScope(name, self.transport.retry.deadline, self.on_outcome_unknown):
                current = current_call()
                assert current is not None
                current.span = span
                return await operation(self, *args, **kwargs)

    async def send(self, operation: Operation[T]) -> T:
        """Send ``operation`` and read its answer (see the module doc)."""
        call = current_call()
        if call is not None:
            call.span.describe(
                invoice_id=operation.invoice_id,
                transaction_id=operation.transaction_id,
                moves_money=operation.moves_money,
            )
        if not operation.moves_money:
            return await self._exchange(operation)
        with self._one_at_a_time(operation):
            if self.journal is None:
                return await self._exchange(operation)
            return await self._journaled(operation, self.journal)

    @contextmanager
    def _one_at_a_time(self, operation: Operation[Any]) -> Iterator[None]:
        """At most one money request per invoice (or transaction) at a time on this client:
        a second one raises :class:`RequestInFlightError` before anything is sent."""
        key = operation.in_flight_key
        if key in self.in_flight:
            raise RequestInFlightError(key, operation.name)
        self.in_flight.add(key)
        try:
            yield
        finally:
            self.in_flight.discard(key)

    async def _exchange(self, operation: Operation[T], tried: list[Attempts] | None = None) -> T:
        request = operation.request()
        attempt = 0
        while True:
            attempt += 1
            attempts = Attempts()
            if tried is not None:
                tried.append(attempts)
            try:
                try:
                    answer = await self._send(operation, request, attempts)
                    result = self._read(operation, request, answer)
                    if operation.result_code_of is not None:
                        _span().set_result_code(operation.result_code_of(result))
                    return result
                finally:
                    record_answer(attempts)
            except RetryAnswer as again:
                if isinstance(again.error, EpayError):
                    again.error.attempts = attempts.count
                    again.error.response = answer_info(attempts)
                if operation.moves_money or attempt >= self.transport.retry.max_attempts:
                    raise again.error from None
                if not await self.transport.pause(operation.name, attempt, None, again.reason):
                    raise again.error from None
            except EpayError as exc:
                if exc.attempts is None:  # the innermost exchange's own answer
                    exc.attempts, exc.response = attempts.count, answer_info(attempts)
                code = getattr(exc, "code", None)
                if code is not None:
                    _span().set_result_code(code)
                raise

    async def _send(
        self, operation: Operation[Any], request: ApiRequest, attempts: Attempts
    ) -> Answer:
        source = operation.token
        # The common case without a coroutine of its own (every status check takes this path).
        token = await (
            self.tokens.read_token() if source is SERVICE_TOKEN else source.get(self.tokens)
        )
        try:
            return await self.transport.send(request, token=token, attempts=attempts)
        except AuthenticationError:
            fresh = await operation.token.refresh(self.tokens, token)
            if fresh is None:
                raise
            return await self.transport.send(request, token=fresh, attempts=attempts)

    @staticmethod
    def _read(operation: Operation[T], request: ApiRequest, answer: Answer) -> T:
        if 400 <= answer.status_code < 500 and not operation.reads_error_answers:
            raise gateway_error(request, answer, operation.declined)
        try:
            return operation.read(answer)
        except ProtocolError as exc:
            if operation.moves_money:
                # It may have been carried out: never success, never "not done".
                raise request.outcome_unknown(f"unreadable answer: {exc}") from exc
            raise

    async def _journaled(self, operation: Operation[T], journal: Journal) -> T:
        """A money request between its journal records: the intent, committed before it can
        leave (a store that cannot be written refuses the request), and its outcome."""
        record = JournalRecord.new(
            operation.name,
            kind=operation.kind,
            invoice_id=operation.invoice_id,
            transaction_id=operation.transaction_id,
            amount=operation.amount,
            currency=operation.currency,
        )
        try:
            await journal.begin(record)
        except (RequestInFlightError, ValidationError, JournalUnavailableError):
            raise  # nothing was written (or the store cannot be written now anyway)
        except BaseException as exc:
            # A cancelled begin may still have committed the intent (SQLite ends the
            # statement on its thread; a PostgreSQL commit may land). Nothing was sent:
            # close it, or it would block this invoice until recover() settles it.
            await _later(journal, record.id, JournalState.NOT_SENT, None, _reason(exc))
            raise
        tried: list[Attempts] = []
        state = JournalState.IN_DOUBT
        detail: str | None = None
        transaction_id: str | None = None
        try:
            result = await self._exchange(operation, tried)
        except OutcomeUnknownError as exc:
            detail = exc.reason
            raise
        except BaseException as exc:
            detail = _reason(exc)
            if not any(attempts.count for attempts in tried):
                state = JournalState.NOT_SENT  # failed before its first attempt (the token)
            elif isinstance(exc, (TransportError, AuthenticationError)):
                state = JournalState.NOT_SENT  # provably never left, or refused unread
            elif isinstance(exc, ApiError):
                state, detail = JournalState.DECLINED, f"code {exc.code}"
            # else: cancelled, or the deadline, while it may have left: in doubt
            raise
        else:
            state = JournalState.SUCCEEDED
            if operation.transaction_of is not None:
                transaction_id = operation.transaction_of(result)
            return result
        finally:
            await _later(journal, record.id, state, transaction_id, detail)


async def _later(
    journal: Journal,
    record_id: str,
    state: JournalState,
    transaction_id: str | None,
    detail: str | None,
) -> None:
    """Write a record's outcome at the call's end, outside its deadline (at once when there is
    no call)."""
    job = functools.partial(_finish, journal, record_id, state, transaction_id, detail)
    call = current_call()
    if call is None:
        await job()
    else:
        call.after.append(job)


def _reason(exc: BaseException) -> str:
    return "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else type(exc).__name__


def _span() -> CallTelemetry:
    call = current_call()
    return call.span if call is not None else NO_CALL_TELEMETRY


async def _finish(
    journal: Journal,
    record_id: str,
    state: JournalState,
    transaction_id: str | None,
    detail: str | None,
) -> None:
    """Write a record's outcome, shielded from cancellation and bounded; a store that fails
    now leaves the record open, for ``recover()`` to settle (logged, never raised over the
    call's own result)."""

    async def write() -> None:
        try:
            await journal.finish(record_id, state, transaction_id=transaction_id, detail=detail)
        except Exception as exc:
            logger.error(
                "journal: could not record %s for record %s (%s); recover() will settle it",
                state,
                record_id,
                type(exc).__name__,
            )

    await run_to_end(write, C.OUTCOME_CALLBACK_TIMEOUT)

"""What every operation shares: the context, and the ways of sending and reading answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import attrs

from .._converter import dumps, loads, structure, to_int
from .._tokens import Credentials, OperationGrant, TokenAcquirer
from .._transport import ApiRequest, ApiResponse, Transport, json_body
from ..environment import Environment
from ..errors import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    PaymentDeclinedError,
    ProtocolError,
    RequestInFlightError,
)
from ..types.order import Order
from ._keys import PublicKeyCache

__all__ = [
    "Context",
    "gateway_error",
    "read_money_answer",
    "send_order",
    "send_with_service_token",
]

T = TypeVar("T")

#: Statuses in a payment or transfer answer that mean it did not go through (seed 002's table).
REFUSED_STATUSES = frozenset({"REJECT", "FAILED", "3D", "CANCEL", "CANCEL_OLD"})


class OrderAnswer(Protocol):
    """What payment and transfer answers share (read-only, as the frozen models are)."""

    @property
    def id(self) -> str: ...

    @property
    def code(self) -> int | None: ...

    @property
    def status(self) -> str | None: ...

    @property
    def extra(self) -> dict[str, Any]: ...


A = TypeVar("A", bound=OrderAnswer)


@attrs.define
class Context:
    """The client's wiring, handed to every operation."""

    transport: Transport
    tokens: TokenAcquirer
    environment: Environment
    credentials: Credentials
    keys: PublicKeyCache
    cryptogram_field: str
    #: Invoices and transactions with a money request under way (shared by ``with_options``).
    in_flight: set[str] = attrs.field(factory=set)

    def url(self, path: str) -> str:
        return f"{self.environment.api_url}{path}"

    @contextmanager
    def one_at_a_time(self, key: str, operation: str) -> Iterator[None]:
        """At most one money request per invoice (or transaction) at a time on this client:
        a second one raises :class:`RequestInFlightError` before anything is sent."""
        if key in self.in_flight:
            raise RequestInFlightError(key, operation)
        self.in_flight.add(key)
        try:
            yield
        finally:
            self.in_flight.discard(key)


async def send_with_service_token(ctx: Context, request: ApiRequest) -> ApiResponse:
    """Send ``request`` with the cached service token; on a 401/403 mint a new token and try
    exactly once more. Safe for money requests too: a refused token means nothing was done."""
    token = await ctx.tokens.read_token()
    try:
        return await ctx.transport.send(request, token=token)
    except AuthenticationError:
        ctx.tokens.invalidate(token)
        fresh = await ctx.tokens.read_token()
        return await ctx.transport.send(request, token=fresh)


def read_money_answer(
    request: ApiRequest,
    response: ApiResponse,
    parse: Callable[[ApiResponse], T],
    *,
    declined: type[ApiError] = ApiError,
) -> T:
    """Turn a money request's answer into its result, a gateway error, or — when the answer
    cannot be understood — :class:`OutcomeUnknownError`: it may have been carried out."""
    if 400 <= response.status_code < 500:
        raise gateway_error(request, response, declined)
    try:
        return parse(response)
    except ProtocolError as exc:
        raise request.outcome_unknown(f"unreadable answer: {exc}") from exc


def gateway_error(
    request: ApiRequest, response: ApiResponse, cls: type[ApiError] = ApiError
) -> ApiError | ProtocolError | OutcomeUnknownError:
    """A 4xx answer: ``{code, message}`` is the gateway saying no; anything else is unreadable."""
    try:
        body: Any = loads(response.content)
    except ProtocolError:
        body = None
    code = body.get("code") if isinstance(body, Mapping) else None
    if isinstance(code, int) and not isinstance(code, bool):
        message = str(body.get("message") or "").strip() or "refused"
        return cls(
            message, http_status=response.status_code, code=code, invoice_id=request.invoice_id
        )
    if request.idempotent:
        return ProtocolError(
            f"{request.operation}: HTTP {response.status_code} without a gateway error body",
            http_status=response.status_code,
        )
    return request.outcome_unknown(f"HTTP {response.status_code} without a gateway error body")


def refuse_error_code(
    body: Any, request: ApiRequest, cls: type[ApiError], http_status: int
) -> None:
    """An HTTP 200 answer whose ``code`` is not 0 is a refusal, however the code is written
    (``-1``, ``"1"``, ``-1.0``); a code that is not a number at all is unreadable
    (:class:`ProtocolError`), never success."""
    if not isinstance(body, Mapping):
        return
    code = body.get("code")
    if code in (None, "", 0):
        return
    number = to_int(code)
    if number != 0:
        message = str(body.get("message") or "").strip() or "refused"
        raise cls(message, http_status=http_status, code=number, invoice_id=request.invoice_id)


def grant_for(order: Order, scope: str) -> OperationGrant:
    """The token binding of a money operation on ``order``."""
    return OperationGrant(
        scope=scope,
        invoice_id=order.invoice_id,
        amount=order.amount,
        currency=order.currency,
        post_link=order.post_link,
        failure_post_link=order.failure_post_link,
        secret_hash=order.secret_hash,
    )


async def send_order(
    ctx: Context,
    order: Order,
    *,
    scope: str,
    path: str,
    operation: str,
    body: Mapping[str, Any],
    answer: type[A],
    echoed_order: str,
) -> A:
    """A payment or transfer: a fresh token bound to ``order``, one request, and an answer
    that must carry a transaction id, no refusal code, and ``order``'s id where it echoes one
    (attribute ``echoed_order``). Anything unreadable is :class:`OutcomeUnknownError`."""
    with ctx.one_at_a_time(f"invoice {order.invoice_id}", operation):
        request = ApiRequest(
            "POST",
            ctx.url(path),
            operation=operation,
            idempotent=False,
            invoice_id=order.invoice_id,
            content=dumps(body),
            token=await ctx.tokens.operation_token(grant_for(order, scope)),
        )
        response = await ctx.transport.send(request)

    def parse(reply: ApiResponse) -> A:
        what = f"{operation} answer"
        if reply.status_code != 200:  # 201, 202, a 3xx with a body: not the documented success
            raise ProtocolError(f"{what}: unexpected HTTP {reply.status_code}")
        body = json_body(reply, what=what)
        refuse_error_code(body, request, PaymentDeclinedError, reply.status_code)
        result = structure(body, answer, what=what)
        message = str(result.extra.get("message", ""))
        if (result.status or "").upper() in REFUSED_STATUSES:
            raise PaymentDeclinedError(
                message or f"the gateway answered status {result.status}",
                http_status=reply.status_code,
                code=result.code,
                invoice_id=request.invoice_id,
            )
        if not result.id:
            raise ProtocolError(f"{what} has no transaction id", field="$.id")
        echoed = getattr(result, echoed_order)
        if echoed is not None and echoed != order.invoice_id:
            raise ProtocolError(
                f"{what} is for {echoed}, not {order.invoice_id}", field=f"$.{echoed_order}"
            )
        return result

    return read_money_answer(request, response, parse, declined=PaymentDeclinedError)

"""What the payment and transfer operations share: the order's token and the answer's reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from .._answers import json_body, refuse_error_code
from .._converter import structure
from .._http import Answer
from .._pipeline import JournalKind, Operation, OrderToken, Pipeline
from .._tokens import OperationGrant
from ..errors import PaymentDeclinedError, ProtocolError
from ..types.order import Order

__all__ = ["Pipeline", "grant_for", "order_operation"]

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


def order_operation(
    ctx: Pipeline,
    order: Order,
    *,
    scope: str,
    path: str,
    name: str,
    body: Mapping[str, Any],
    answer: type[A],
    echoed_order: str,
    kind: JournalKind = "payment",
) -> Operation[A]:
    """A payment or transfer: a fresh token bound to ``order``, one request, and an answer
    that must carry a transaction id, no refusal code, and ``order``'s id where it echoes one
    (attribute ``echoed_order``)."""
    what = f"{name} answer"

    def read(reply: Answer) -> A:
        if reply.status_code != 200:  # 201, 202, a 3xx with a body: not the documented success
            raise ProtocolError(f"{what}: unexpected HTTP {reply.status_code}")
        body = json_body(reply, what=what)
        refuse_error_code(
            body, PaymentDeclinedError, reply.status_code, invoice_id=order.invoice_id
        )
        result = structure(body, answer, what=what)
        message = str(result.extra.get("message", ""))
        if (result.status or "").upper() in REFUSED_STATUSES:
            raise PaymentDeclinedError(
                message or f"the gateway answered status {result.status}",
                http_status=reply.status_code,
                code=result.code,
                invoice_id=order.invoice_id,
            )
        if not result.id:
            raise ProtocolError(f"{what} has no transaction id", field="$.id")
        echoed = getattr(result, echoed_order)
        if echoed is not None and echoed != order.invoice_id:
            raise ProtocolError(
                f"{what} is for {echoed}, not {order.invoice_id}", field=f"$.{echoed_order}"
            )
        return result

    return Operation(
        name=name,
        method="POST",
        url=ctx.url(path),
        read=read,
        moves_money=True,
        token=OrderToken(grant_for(order, scope)),
        body=body,
        invoice_id=order.invoice_id,
        amount=order.amount,
        currency=order.currency,
        kind=kind,
        declined=PaymentDeclinedError,
        transaction_of=lambda result: result.id,
        result_code_of=lambda result: result.code,
    )

"""What the journal stores: one record per money request, and its states."""

from __future__ import annotations

import datetime as dt
import enum
import os
import socket
import uuid
from decimal import Decimal

import attrs

from epay_async.errors import ValidationError

__all__ = ["OPEN_STATES", "JournalRecord", "JournalState", "utcnow", "writer_id"]


class JournalState(str, enum.Enum):
    """Where a money request stands.

    - ``INTENT``: committed before the request could leave; it may or may not have left.
    - ``SUCCEEDED``: the gateway answered and accepted it.
    - ``DECLINED``: the gateway answered and refused it (no money moved).
    - ``NOT_SENT``: provably never left the machine (refused before sending).
    - ``IN_DOUBT``: it may have reached the gateway but no answer was read
      (``OutcomeUnknownError``, a cancellation, a deadline).
    - ``SETTLED``: ``recover()`` closed it with the gateway's word (see ``result_code``,
      ``status_name`` and ``payment_state``).

    ``INTENT`` and ``IN_DOUBT`` are *open*: at most one open record per (kind, invoice).
    """

    INTENT = "intent"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    NOT_SENT = "not_sent"
    IN_DOUBT = "in_doubt"
    SETTLED = "settled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = frozenset({JournalState.INTENT, JournalState.IN_DOUBT})
#: States ``finish`` may move an open record to.
FINISH_STATES = frozenset(
    {JournalState.SUCCEEDED, JournalState.DECLINED, JournalState.NOT_SENT, JournalState.IN_DOUBT}
)
KINDS = frozenset({"payment", "p2p"})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def writer_id() -> str:
    """``hostname:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


@attrs.frozen(kw_only=True)
class JournalRecord:
    """One money request. It has no field for a secret, token, PAN, CVC or cryptogram.

    ``kind`` says how ``recover()`` checks it: ``"payment"`` by check-status of ``invoice_id``,
    ``"p2p"`` by the transfer status of ``invoice_id`` (the transfer's order id). For charge,
    cancel and refund ``invoice_id`` is the transaction's invoice when known, and
    ``transaction_id`` is set. ``amount`` is exact (``None`` for a full cancel or refund).
    """

    id: str
    operation: str
    kind: str
    invoice_id: str | None
    transaction_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    state: JournalState = JournalState.INTENT
    created_at: dt.datetime
    updated_at: dt.datetime
    writer: str
    detail: str | None = None
    result_code: int | None = None
    status_name: str | None = None
    payment_state: str | None = None

    @classmethod
    def new(
        cls,
        operation: str,
        *,
        kind: str,
        invoice_id: str | None,
        amount: Decimal | None = None,
        currency: str | None = None,
        transaction_id: str | None = None,
    ) -> JournalRecord:
        """A fresh ``INTENT`` record for a request about to be sent."""
        if kind not in KINDS:
            raise ValidationError("kind", f"must be one of {sorted(KINDS)}")
        if invoice_id is None and transaction_id is None:
            raise ValidationError("invoice_id", "an invoice id or a transaction id is needed")
        if amount is not None and not isinstance(amount, Decimal):
            raise ValidationError("amount", "must be a decimal.Decimal")
        now = utcnow()
        return cls(
            id=str(uuid.uuid4()),
            operation=operation,
            kind=kind,
            invoice_id=invoice_id,
            transaction_id=transaction_id,
            amount=amount,
            currency=currency,
            created_at=now,
            updated_at=now,
            writer=writer_id(),
        )

    @property
    def key(self) -> str:
        """What makes two open records collide: the invoice, else the transaction."""
        if self.invoice_id is not None:
            return f"{self.kind} invoice {self.invoice_id}"
        return f"transaction {self.transaction_id}"

    @property
    def is_open(self) -> bool:
        return self.state.is_open

"""Check-status answers (seed 002): result codes, status names, the transaction."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._enum import OpenIntEnum, OpenStrEnum
from ._fields import WIRE, wire

__all__ = ["PaymentState", "ResultCode", "StatusName", "Transaction", "TransactionStatus"]


class ResultCode(OpenIntEnum):
    """``resultCode`` of check-status. Unknown codes are kept as ``UNKNOWN_<n>``."""

    SUCCESS = 100
    REJECT = 101
    INVOICE_NOT_FOUND = 102
    RETRY_OR_SUPPORT = 103
    TERMINAL_ABSENT_IN_TOKEN = 104
    INCORRECT_TERMINAL = 106
    IN_PROGRESS = 107
    TERMINAL_NOT_OWNED = 109


class StatusName(OpenStrEnum):
    """``statusName`` of a transaction. Unknown names are kept as ``UNKNOWN_<name>``."""

    AUTH = "AUTH"
    CHARGE = "CHARGE"
    CANCEL = "CANCEL"
    CANCEL_OLD = "CANCEL_OLD"
    REFUND = "REFUND"
    FAILED = "FAILED"
    THREE_D = "3D"
    NEW = "NEW"
    REJECT = "REJECT"


#: Statuses in which the customer's money is held or taken.
PAID_STATUSES = frozenset({StatusName.AUTH, StatusName.CHARGE})


class PaymentState(str, enum.Enum):
    """What a check-status answer means for the merchant's order, in one word.

    Settle orders on this rather than on :attr:`TransactionStatus.is_final`: ``is_final`` is also
    true for 102 (no such invoice at the gateway), which only means that no payment has arrived
    *yet*: a shopper may still be on the payment page.

    - ``PAID``: the money is held (``AUTH``) or taken (``CHARGE``). A two-step terminal must
      still charge an ``AUTH`` (``epay.charge``) or cancel it.
    - ``PENDING``: 107 or ``NEW``; ask again later.
    - ``NOT_FOUND``: 102; nothing at the gateway for this invoice (yet). Keep the order open
      until the payment page's lifetime is over, then treat it as abandoned.
    - ``FAILED``: 101, or ``FAILED``, ``REJECT``, ``3D``; no money was taken.
    - ``CANCELLED``: ``CANCEL`` or ``CANCEL_OLD``; the hold was released.
    - ``REFUNDED``: ``REFUND``; all or part of the money went back. After a partial refund
      the status is ``REFUND`` too: seed 002's reads ``amount`` 12.22 (what is left),
      ``payoutAmount`` 10 (given back) and ``orgAmount`` 22.22 (the order's).
    - ``UNKNOWN``: a result code or status name this version does not know (one source saw a
      ``FINGERPRINT`` status): neither paid nor failed; look at it before settling the order.
    """

    PAID = "paid"
    PENDING = "pending"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @property
    def is_settled(self) -> bool:
        """True when an order can be closed on this state: paid, failed, cancelled or refunded."""
        return self in _SETTLED


_SETTLED = frozenset(
    {PaymentState.PAID, PaymentState.FAILED, PaymentState.CANCELLED, PaymentState.REFUNDED}
)
_STATE_OF_NAME = {
    StatusName.AUTH: PaymentState.PAID,
    StatusName.CHARGE: PaymentState.PAID,
    StatusName.NEW: PaymentState.PENDING,
    StatusName.FAILED: PaymentState.FAILED,
    StatusName.REJECT: PaymentState.FAILED,
    StatusName.THREE_D: PaymentState.FAILED,
    StatusName.CANCEL: PaymentState.CANCELLED,
    StatusName.CANCEL_OLD: PaymentState.CANCELLED,
    StatusName.REFUND: PaymentState.REFUNDED,
}


def _hidden(default: Any = None, *, wire_as: str | None = None) -> Any:
    """A field left out of the repr; ``wire_as``: the gateway's spelling, when it is not the
    camelCase of the name (``invoiceID``, ``xlsRRN``)."""
    if wire_as is not None:
        return wire(wire_as, default=default, repr=False)
    return attrs.field(default=default, repr=False)


@attrs.frozen
class Transaction:
    """``transaction`` of a check-status answer; every documented field, snake_case."""

    id: str
    invoice_id: str = attrs.field(metadata={WIRE: "invoiceID"})
    amount: Decimal
    currency: str
    #: Always present for payments. The P2P status page's example carries none: see
    #: :attr:`TransactionStatus.is_paid`.
    status_name: StatusName | None = None
    reason_code: str | None = None
    reason: str | None = _hidden()
    created_date: datetime | None = _hidden()
    amount_bonus: Decimal | None = _hidden()
    #: Once refunded (``REFUND``), what was given back (seed 002).
    payout_amount: Decimal | None = _hidden()
    #: The order's amount; ``amount`` is what is left once part of it was refunded.
    org_amount: Decimal | None = _hidden()
    approval_code: str | None = _hidden()
    data: str | None = _hidden()
    terminal: str | None = _hidden()
    terminal_id: str | None = _hidden(wire_as="terminalID")
    account_id: str | None = _hidden(wire_as="accountID")
    description: str | None = _hidden()
    language: str | None = _hidden()
    card_mask: str | None = _hidden()
    card_type: str | None = _hidden()
    issuer: str | None = _hidden()
    reference: str | None = _hidden()
    int_reference: str | None = _hidden()
    secure: bool | None = _hidden()
    secure_details: str | None = _hidden()
    status_id: str | None = _hidden(wire_as="statusID")
    name: str | None = _hidden()
    email: str | None = _hidden()
    phone: str | None = _hidden()
    card_id: str | None = _hidden(wire_as="cardID")
    xls_rrn: str | None = _hidden(wire_as="xlsRRN")
    ip: str | None = _hidden()
    ip_country: str | None = _hidden()
    ip_city: str | None = _hidden()
    ip_region: str | None = _hidden()
    ip_district: str | None = _hidden()
    ip_latitude: Decimal | None = _hidden()
    ip_longitude: Decimal | None = _hidden()
    #: Keys the gateway sent that this version does not know, as received.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def total_amount(self) -> Decimal:
        """``amount`` plus ``amount_bonus``: what the order was worth when part of it was paid
        with bonuses (one source: 50 paid as 15 by card, ``amountBonus`` 35)."""
        return self.amount + (self.amount_bonus or Decimal(0))


@attrs.frozen
class TransactionStatus:
    """A check-status answer: ``result_code``, ``result_message`` and the transaction."""

    result_code: ResultCode
    result_message: str = ""
    transaction: Transaction | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def status_name(self) -> StatusName | None:
        return self.transaction.status_name if self.transaction else None

    @property
    def state(self) -> PaymentState:
        """What this answer means for the order: see :class:`PaymentState`. Settle on this."""
        code = self.result_code
        if code == ResultCode.IN_PROGRESS:
            return PaymentState.PENDING
        if code == ResultCode.INVOICE_NOT_FOUND:
            return PaymentState.NOT_FOUND
        if code == ResultCode.REJECT:
            return PaymentState.FAILED
        if code != ResultCode.SUCCESS or self.transaction is None:
            return PaymentState.UNKNOWN
        name = self.transaction.status_name
        if name is None:  # a P2P answer: see is_paid
            return PaymentState.PAID
        return _STATE_OF_NAME.get(name, PaymentState.UNKNOWN)

    @property
    def is_final(self) -> bool:
        """False while the gateway is still working on it: code 107 or status NEW.

        Also true for 102 (invoice not found), which does not mean the payment failed: settle
        orders on :attr:`state` instead.
        """
        if self.result_code == ResultCode.IN_PROGRESS:
            return False
        return self.status_name != StatusName.NEW

    @property
    def is_paid(self) -> bool:
        """True when the money is held (AUTH) or taken (CHARGE).

        A P2P answer may carry no ``statusName`` (the P2P status page's example has none). Then
        code 100 with the transfer means it went through: a failed transfer is answered 101
        (REJECT) and one still in progress 107, and a transfer has no AUTH-then-CHARGE steps.
        """
        if self.result_code != ResultCode.SUCCESS or self.transaction is None:
            return False
        name = self.transaction.status_name
        return name is None or name in PAID_STATUSES

    def describe(self) -> str:
        text = f"{int(self.result_code)} {self.result_message}".strip()
        return f"{text}, {self.status_name}" if self.status_name else text

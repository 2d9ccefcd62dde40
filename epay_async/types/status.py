"""Check-status answers (seed 002): result codes, status names, the transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._enum import OpenIntEnum, OpenStrEnum

__all__ = ["ResultCode", "StatusName", "Transaction", "TransactionStatus"]


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


def _hidden(default: Any = None) -> Any:
    return attrs.field(default=default, repr=False)


@attrs.frozen
class Transaction:
    """``transaction`` of a check-status answer; every documented field, snake_case."""

    id: str
    invoice_id: str
    amount: Decimal
    currency: str
    #: Always present for payments. The P2P status page's example carries none: see
    #: :attr:`TransactionStatus.is_paid`.
    status_name: StatusName | None = None
    reason_code: str | None = None
    reason: str | None = _hidden()
    created_date: datetime | None = _hidden()
    amount_bonus: Decimal | None = _hidden()
    payout_amount: Decimal | None = _hidden()
    org_amount: Decimal | None = _hidden()
    approval_code: str | None = _hidden()
    data: str | None = _hidden()
    terminal: str | None = _hidden()
    terminal_id: str | None = _hidden()
    account_id: str | None = _hidden()
    description: str | None = _hidden()
    language: str | None = _hidden()
    card_mask: str | None = _hidden()
    card_type: str | None = _hidden()
    issuer: str | None = _hidden()
    reference: str | None = _hidden()
    int_reference: str | None = _hidden()
    secure: bool | None = _hidden()
    secure_details: str | None = _hidden()
    status_id: str | None = _hidden()
    name: str | None = _hidden()
    email: str | None = _hidden()
    phone: str | None = _hidden()
    card_id: str | None = _hidden()
    xls_rrn: str | None = _hidden()
    ip: str | None = _hidden()
    ip_country: str | None = _hidden()
    ip_city: str | None = _hidden()
    ip_region: str | None = _hidden()
    ip_district: str | None = _hidden()
    ip_latitude: Decimal | None = _hidden()
    ip_longitude: Decimal | None = _hidden()
    #: Keys the gateway sent that this version does not know, as received.
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


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
    def is_final(self) -> bool:
        """False while the gateway is still working on it: code 107 or status NEW."""
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

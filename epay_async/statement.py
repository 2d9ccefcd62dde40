"""The discrepancy report: the merchant's orders of a period against the gateway's register.

::

    from epay_async.statement import LocalOrder, Statement

    orders = [LocalOrder("000123", Decimal("1500.00"), "KZT", "paid"), ...]
    async with Statement(epay, orders, since, until) as report:
        async for discrepancy in report:
            print(discrepancy.kind.value, discrepancy.invoice_id)
    print(report.operations, "operations;", "agree" if report.agree else report.by_kind)

A local order's ``state`` is the merchant's own word for it:

- ``paid``: the merchant counts the money as received (goods shipped or owed);
- ``unpaid``: the order exists, no payment recorded yet (pending, or abandoned);
- ``failed``: the merchant recorded the payment as failed or declined;
- ``refunded``: the merchant refunded the money;
- ``cancelled``: the merchant cancelled the order (nothing taken, or a hold released).

The gateway's record status is read as paid (``AUTH``, ``CHARGE``), refunded (``REFUND``,
``PARTIAL_REFUND``), cancelled (``CANCEL``, ``CANCEL_OLD``) or failed (anything else).

Memory: the local orders of the period are held in a dict keyed by invoice id (bounded by their
number; pass the orders of the same period). The gateway's side is streamed: per known invoice
only a few numbers are kept; an operation for an unknown invoice is reported as it comes.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from . import _validation
from ._converter import loads
from .errors import ProtocolError, ValidationError
from .types.register import OperationRecord

if TYPE_CHECKING:
    from ._client import EpayClient

__all__ = [
    "Discrepancy",
    "DiscrepancyKind",
    "LocalOrder",
    "LocalState",
    "Statement",
    "read_orders",
]


class LocalState(str, enum.Enum):
    PAID = "paid"
    UNPAID = "unpaid"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class DiscrepancyKind(str, enum.Enum):
    #: Paid at the gateway, no local order for the invoice.
    PAID_UNKNOWN_LOCALLY = "paid_unknown_locally"
    #: Paid at the gateway, unpaid, failed or cancelled locally.
    PAID_UNPAID_LOCALLY = "paid_unpaid_locally"
    #: Paid at the gateway, refunded locally (the refund never reached the gateway).
    PAID_REFUNDED_LOCALLY = "paid_refunded_locally"
    #: Paid locally, no operation at the gateway in the period.
    PAID_LOCALLY_ABSENT = "paid_locally_absent"
    #: Paid locally, failed at the gateway.
    PAID_LOCALLY_FAILED = "paid_locally_failed"
    #: Paid locally, cancelled (hold released) at the gateway.
    PAID_LOCALLY_CANCELLED = "paid_locally_cancelled"
    #: Paid locally, refunded at the gateway.
    PAID_LOCALLY_REFUNDED = "paid_locally_refunded"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    #: More than one gateway operation (failed ones aside) for one invoice.
    DUPLICATE_OPERATIONS = "duplicate_operations"


_PAID = frozenset({"AUTH", "CHARGE"})
_REFUNDED = frozenset({"REFUND", "PARTIAL_REFUND"})
_CANCELLED = frozenset({"CANCEL", "CANCEL_OLD"})


def gateway_state(status: str | None) -> str:
    name = (status or "").upper()
    if name in _PAID:
        return "paid"
    if name in _REFUNDED:
        return "refunded"
    if name in _CANCELLED:
        return "cancelled"
    return "failed"


_RANK = {"failed": 0, "paid": 1, "cancelled": 2, "refunded": 3}


def _local_state(value: object) -> LocalState:
    try:
        return LocalState(str(getattr(value, "value", value)).strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in LocalState)
        raise ValidationError("state", f"must be one of {allowed}") from None


@attrs.frozen
class LocalOrder:
    """One order of the merchant's own books."""

    invoice_id: str = attrs.field(converter=_validation.invoice_id)
    amount: Decimal = attrs.field(converter=_validation.money)
    currency: str = attrs.field(converter=_validation.currency)
    state: LocalState = attrs.field(converter=_local_state)


@attrs.frozen
class Discrepancy:
    kind: DiscrepancyKind
    invoice_id: str
    local_state: str | None = None
    local_amount: Decimal | None = None
    local_currency: str | None = None
    gateway_status: str | None = None
    gateway_amount: Decimal | None = None
    gateway_currency: str | None = None
    operation_ids: tuple[str, ...] = ()

    def row(self) -> dict[str, str]:
        """As a flat row (CSV, JSONL): money as exact decimal text."""
        return {
            "kind": self.kind.value,
            "invoice_id": self.invoice_id,
            "local_state": self.local_state or "",
            "local_amount": "" if self.local_amount is None else str(self.local_amount),
            "local_currency": self.local_currency or "",
            "gateway_status": self.gateway_status or "",
            "gateway_amount": "" if self.gateway_amount is None else str(self.gateway_amount),
            "gateway_currency": self.gateway_currency or "",
            "operation_ids": " ".join(self.operation_ids),
        }


COLUMNS = tuple(Discrepancy(DiscrepancyKind.AMOUNT_MISMATCH, "x").row())


@attrs.define
class _Seen:
    """What the gateway said about one known invoice: its weightiest record, and the ids of
    its operations that are not failed (two or more: duplicates)."""

    state: str
    status: str | None
    amount: Decimal
    currency: str | None
    ids: list[str]


class Statement:
    """The discrepancies between ``orders`` and the payment register of
    ``since <= created < until``::

        async with Statement(epay, orders, since, until) as report:
            async for discrepancy in report:
                ...
        print(report.operations, report.by_kind)

    Those of invoices with no local order come as the register is read, then those of the
    local orders. Leaving the block early stops every request. Counts: ``operations`` (records
    read), ``orders``, ``by_kind`` and ``agree`` once the discrepancies are consumed.
    """

    def __init__(
        self,
        epay: EpayClient,
        orders: Iterable[LocalOrder] | AsyncIterable[LocalOrder],
        since: datetime,
        until: datetime,
        *,
        page_size: int = 500,
        concurrency: int = 4,
        on_record: Callable[[OperationRecord], None] | None = None,
    ) -> None:
        if isinstance(orders, str | bytes | Path):
            raise ValidationError(
                "orders", "must be an iterable of LocalOrder (or read_orders(path))"
            )
        self._walk = epay.operations(since, until, page_size=page_size, concurrency=concurrency)
        self._source = orders
        self._orders: dict[str, LocalOrder] = {}
        self._seen: dict[str, _Seen] = {}
        self._on_record = on_record
        self._records: AsyncIterator[OperationRecord] | None = None
        self._pending: Iterator[Discrepancy] | None = None
        self.operations = 0
        self.by_kind: dict[DiscrepancyKind, int] = {}

    @property
    def orders(self) -> int:
        return len(self._orders)

    @property
    def agree(self) -> bool:
        return not self.by_kind

    async def __aenter__(self) -> Statement:
        self._orders = await _collect(self._source)
        self._records = await self._walk.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._walk.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> Statement:
        return self

    async def __anext__(self) -> Discrepancy:
        if self._records is None:
            raise TypeError("use `async with Statement(...) as discrepancies: async for ...`")
        if self._pending is None:
            async for record in self._records:
                if self._on_record is not None:
                    self._on_record(record)
                found = self._add(record)
                if found is not None:
                    return found
            self._pending = self._finish()
        found = next(self._pending, None)
        if found is None:
            raise StopAsyncIteration
        return found

    def _count(self, found: Discrepancy) -> Discrepancy:
        self.by_kind[found.kind] = self.by_kind.get(found.kind, 0) + 1
        return found

    def _add(self, record: OperationRecord) -> Discrepancy | None:
        self.operations += 1
        state = gateway_state(record.status)
        order = self._orders.get(record.invoice_id)
        if order is None:
            if state != "paid":
                return None
            return self._count(
                Discrepancy(
                    DiscrepancyKind.PAID_UNKNOWN_LOCALLY,
                    record.invoice_id,
                    gateway_status=record.status,
                    gateway_amount=record.amount,
                    gateway_currency=record.currency,
                    operation_ids=(record.id,),
                )
            )
        seen = self._seen.get(record.invoice_id)
        if seen is None:
            seen = self._seen[record.invoice_id] = _Seen(
                state, record.status, record.amount, record.currency, []
            )
        elif _RANK[state] > _RANK[seen.state]:
            seen.state, seen.status = state, record.status
            seen.amount, seen.currency = record.amount, record.currency
        if state != "failed":
            seen.ids.append(record.id)
        return None

    def _finish(self) -> Iterator[Discrepancy]:
        for invoice_id, order in self._orders.items():
            seen = self._seen.get(invoice_id)
            for kind in _judge(order, seen):
                yield self._count(
                    Discrepancy(
                        kind,
                        invoice_id,
                        local_state=order.state.value,
                        local_amount=order.amount,
                        local_currency=order.currency,
                        gateway_status=seen.status if seen else None,
                        gateway_amount=seen.amount if seen else None,
                        gateway_currency=seen.currency if seen else None,
                        operation_ids=tuple(seen.ids) if seen else (),
                    )
                )


def _judge(order: LocalOrder, seen: _Seen | None) -> list[DiscrepancyKind]:
    local = order.state
    out: list[DiscrepancyKind] = []
    if seen is not None and len(seen.ids) > 1:
        out.append(DiscrepancyKind.DUPLICATE_OPERATIONS)
    gateway = seen.state if seen else None
    if gateway == "paid":
        if local in (LocalState.UNPAID, LocalState.FAILED, LocalState.CANCELLED):
            out.append(DiscrepancyKind.PAID_UNPAID_LOCALLY)
        elif local == LocalState.REFUNDED:
            out.append(DiscrepancyKind.PAID_REFUNDED_LOCALLY)
    elif local == LocalState.PAID:
        out.append(
            {
                None: DiscrepancyKind.PAID_LOCALLY_ABSENT,
                "failed": DiscrepancyKind.PAID_LOCALLY_FAILED,
                "cancelled": DiscrepancyKind.PAID_LOCALLY_CANCELLED,
                "refunded": DiscrepancyKind.PAID_LOCALLY_REFUNDED,
            }[gateway]
        )
    if seen is not None and gateway == "paid" and local == LocalState.PAID:
        if seen.amount != order.amount:
            out.append(DiscrepancyKind.AMOUNT_MISMATCH)
        if (seen.currency or "").upper() != order.currency.upper():
            out.append(DiscrepancyKind.CURRENCY_MISMATCH)
    return out


async def _collect(
    orders: Iterable[LocalOrder] | AsyncIterable[LocalOrder],
) -> dict[str, LocalOrder]:
    book: dict[str, LocalOrder] = {}

    def put(order: Any) -> None:
        if not isinstance(order, LocalOrder):
            raise ValidationError("orders", "must hold LocalOrder items")
        if order.invoice_id in book:
            raise ValidationError("orders", f"invoice {order.invoice_id} is listed twice")
        book[order.invoice_id] = order

    if isinstance(orders, AsyncIterable):
        async for order in orders:
            put(order)
    else:
        for order in orders:
            put(order)
    return book


_ORDER_COLUMNS = ("invoice_id", "amount", "currency", "state")


def read_orders(path: str | Path) -> Iterator[LocalOrder]:
    """Local orders from a CSV file (header ``invoice_id,amount,currency,state``) or a JSONL
    file (``.jsonl``: one object with those keys a line; amounts as numbers or strings). A bad
    line raises :class:`ValidationError` naming the line."""
    name = str(path)
    # utf-8-sig: a spreadsheet's UTF-8 export starts with a byte-order mark.
    with open(name, encoding="utf-8-sig", newline="") as handle:
        if name.endswith((".jsonl", ".ndjson")):
            rows: Iterable[Any] = (
                (number, _json_line(line, number))
                for number, line in enumerate(handle, 1)
                if line.strip()
            )
        else:
            reader = csv.DictReader(handle)
            fields = _ORDER_COLUMNS if reader.fieldnames is None else reader.fieldnames
            missing = [c for c in _ORDER_COLUMNS if c not in fields]
            if missing:  # (an empty file has no header, and no orders)
                header = ",".join(reader.fieldnames or ())[:80]
                raise ValidationError(
                    "orders",
                    f"line 1: the header names no {', '.join(missing)} (comma-separated"
                    f" {','.join(_ORDER_COLUMNS)} expected, found {header!r})",
                )
            rows = enumerate(reader, 2)
        for number, row in rows:
            if not isinstance(row, dict):
                raise ValidationError("orders", f"line {number}: not an object")
            try:
                yield LocalOrder(
                    str(row.get("invoice_id", "")),
                    _amount(row.get("amount")),
                    str(row.get("currency") or ""),
                    str(row.get("state") or ""),
                )
            except ValidationError as exc:
                raise ValidationError("orders", f"line {number}: {exc}") from None


def _json_line(line: str, number: int) -> Any:
    try:
        return loads(line)
    except ProtocolError:
        raise ValidationError("orders", f"line {number}: not JSON") from None


def _amount(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError("amount", "must be a decimal number") from None


def dumps_row(row: dict[str, str]) -> str:
    return json.dumps(row, ensure_ascii=False)

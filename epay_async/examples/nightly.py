"""The example shops' nightly statement: the day before, the shop's orders against the gateway's
register (:mod:`epay_async.statement` does the comparing), the report kept in the shop's SQLite.

Both web layers reach it through :class:`~epay_async.examples.shop.Shop` (``run_statement``,
``statement_forever``, the ``/admin/statement`` page); nothing here knows a web framework.

- **When**: every night at ``statement_hour`` o'clock (default 3) in the shop's time zone
  (Kazakhstan, UTC+5, as the gateway's dates are), for the calendar day before; and whenever the
  admin presses **Run now** (or POSTs ``/admin/statement/run`` with the admin token).
- **Which orders**: those the shop created that day, each with its state in the statement's
  words: ``paid`` (also ``review``, and a refund or charge still in doubt: the shop counts that
  money as taken), ``unpaid`` (``created``, ``pending``), ``failed``, ``refunded``,
  ``cancelled``. An order created just before midnight and paid after it shows as a
  discrepancy of both days: look at it by hand.
- **What is kept**: one report per day (a new run replaces it), with its counts, whether the
  register was read to the end, and every discrepancy with its kind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import aiosqlite
import attrs

from epay_async import EpayClient, EpayError
from epay_async.statement import DiscrepancyKind, LocalOrder, LocalState, Statement

__all__ = [
    "KZ_TIME",
    "LOCAL_STATES",
    "StatementBook",
    "StatementReport",
    "day_before",
    "next_run",
    "period",
    "run_statement",
]

#: The shop's time zone: Kazakhstan, UTC+5 (the gateway's dates are in it too).
KZ_TIME = timezone(timedelta(hours=5), "UTC+05:00")

#: The shop's order states in the statement's words (see the module's docstring).
LOCAL_STATES: Mapping[str, LocalState] = {
    "created": LocalState.UNPAID,
    "pending": LocalState.UNPAID,
    "paid": LocalState.PAID,
    "review": LocalState.PAID,
    "refund_in_doubt": LocalState.PAID,
    "charge_in_doubt": LocalState.PAID,
    "failed": LocalState.FAILED,
    "refunded": LocalState.REFUNDED,
    "cancelled": LocalState.CANCELLED,
}

#: Each kind as the admin page names it, in the order the page shows them.
KIND_WORDS: Mapping[DiscrepancyKind, str] = {
    DiscrepancyKind.PAID_UNKNOWN_LOCALLY: "Paid at the gateway, no order in the shop",
    DiscrepancyKind.PAID_UNPAID_LOCALLY: "Paid at the gateway, not paid in the shop",
    DiscrepancyKind.PAID_REFUNDED_LOCALLY: "Paid at the gateway, refunded in the shop",
    DiscrepancyKind.PAID_LOCALLY_ABSENT: "Paid in the shop, no operation at the gateway",
    DiscrepancyKind.PAID_LOCALLY_FAILED: "Paid in the shop, failed at the gateway",
    DiscrepancyKind.PAID_LOCALLY_CANCELLED: "Paid in the shop, cancelled at the gateway",
    DiscrepancyKind.PAID_LOCALLY_REFUNDED: "Paid in the shop, refunded at the gateway",
    DiscrepancyKind.AMOUNT_MISMATCH: "Amounts differ",
    DiscrepancyKind.CURRENCY_MISMATCH: "Currencies differ",
    DiscrepancyKind.DUPLICATE_OPERATIONS: "More than one operation for one order",
}

SCHEMA = """
-- One nightly statement per day of the shop's calendar (a new run replaces the day's).
CREATE TABLE IF NOT EXISTS statements (
    day        TEXT PRIMARY KEY,           -- ISO date, the shop's time zone
    ran_at     REAL NOT NULL,
    operations INTEGER NOT NULL,           -- register records read
    orders     INTEGER NOT NULL,           -- the shop's orders of the day
    complete   INTEGER NOT NULL,           -- 0: the register could not be read to the end
    error      TEXT
);
CREATE TABLE IF NOT EXISTS discrepancies (
    day              TEXT NOT NULL,
    kind             TEXT NOT NULL,
    invoice_id       TEXT NOT NULL,
    local_state      TEXT NOT NULL,
    local_amount     TEXT NOT NULL,
    local_currency   TEXT NOT NULL,
    gateway_status   TEXT NOT NULL,
    gateway_amount   TEXT NOT NULL,
    gateway_currency TEXT NOT NULL,
    operation_ids    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS discrepancies_day ON discrepancies (day);
"""
_COLUMNS = (
    "kind",
    "invoice_id",
    "local_state",
    "local_amount",
    "local_currency",
    "gateway_status",
    "gateway_amount",
    "gateway_currency",
    "operation_ids",
)


def day_before(now: datetime, tz: tzinfo = KZ_TIME) -> date:
    """The calendar day before ``now`` (tz-aware) in ``tz``."""
    return now.astimezone(tz).date() - timedelta(days=1)


def period(day: date, tz: tzinfo = KZ_TIME) -> tuple[datetime, datetime]:
    """``day`` in ``tz``: from its midnight (inclusive) to the next (exclusive)."""
    since = datetime(day.year, day.month, day.day, tzinfo=tz)
    return since, since + timedelta(days=1)


def next_run(now: datetime, hour: int, tz: tzinfo = KZ_TIME) -> datetime:
    """The first ``hour``:00 in ``tz`` strictly after ``now`` (tz-aware)."""
    if not 0 <= hour <= 23:
        raise ValueError("the statement's hour must be 0 to 23")
    local = now.astimezone(tz)
    run = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    return run if run > local else run + timedelta(days=1)


@attrs.frozen
class StatementReport:
    """One day's statement as kept: its counts and its discrepancies (flat rows)."""

    day: str
    ran_at: float
    operations: int
    orders: int
    complete: bool
    error: str | None
    #: How many discrepancies it found (``rows`` holds them when they were read).
    found: int = 0
    rows: tuple[Mapping[str, str], ...] = ()

    @property
    def agree(self) -> bool:
        return self.complete and not self.found

    def by_kind(self) -> dict[str, list[Mapping[str, str]]]:
        """The rows grouped by kind, in the order of :data:`KIND_WORDS`."""
        grouped: dict[str, list[Mapping[str, str]]] = {k.value: [] for k in KIND_WORDS}
        for row in self.rows:
            grouped.setdefault(row["kind"], []).append(row)
        return {kind: rows for kind, rows in grouped.items() if rows}

    def summary(self) -> dict[str, Any]:
        """For a script (the bearer-token answer of ``/admin/statement/run``)."""
        return {
            "day": self.day,
            "operations": self.operations,
            "orders": self.orders,
            "complete": self.complete,
            "error": self.error,
            "agree": self.agree,
            "by_kind": {kind: len(rows) for kind, rows in self.by_kind().items()},
        }


class StatementBook:
    """The ``statements`` and ``discrepancies`` tables, on the shop's SQLite connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def create_tables(self) -> None:
        await self._db.executescript(SCHEMA)
        await self._db.commit()

    async def save(self, report: StatementReport) -> None:
        """Keep ``report``, replacing the same day's, in one transaction."""
        marks = ", ".join("?" * (len(_COLUMNS) + 1))
        await self._db.execute("DELETE FROM discrepancies WHERE day = ?", (report.day,))
        await self._db.execute(
            "INSERT OR REPLACE INTO statements VALUES (?, ?, ?, ?, ?, ?)",
            (
                report.day,
                report.ran_at,
                report.operations,
                report.orders,
                int(report.complete),
                report.error,
            ),
        )
        await self._db.executemany(
            f"INSERT INTO discrepancies (day, {', '.join(_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            [(report.day, *(row[c] for c in _COLUMNS)) for row in report.rows],
        )
        await self._db.commit()

    async def days(self, limit: int = 14) -> list[StatementReport]:
        """The latest ``limit`` days' reports, newest first, without their rows."""
        async with self._db.execute(
            "SELECT *, (SELECT COUNT(*) FROM discrepancies d WHERE d.day = s.day) AS found"
            " FROM statements s ORDER BY day DESC LIMIT ?",
            (limit,),
        ) as rows:
            return [_report(dict(row)) async for row in rows]

    async def report(self, day: str | None = None) -> StatementReport | None:
        """The report of ``day`` (ISO date; the latest if None) with its discrepancies."""
        query = (
            "SELECT * FROM statements WHERE day = ?"
            if day
            else ("SELECT * FROM statements ORDER BY day DESC LIMIT 1")
        )
        async with self._db.execute(query, (day,) if day else ()) as rows:
            found = await rows.fetchone()
        if found is None:
            return None
        head = _report(dict(found))
        async with self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM discrepancies WHERE day = ?"  # noqa: S608
            " ORDER BY kind, invoice_id",
            (head.day,),
        ) as rows:
            lines = tuple([{c: str(row[c]) for c in _COLUMNS} async for row in rows])
        return attrs.evolve(head, found=len(lines), rows=lines)


def _report(row: dict[str, Any]) -> StatementReport:
    return StatementReport(
        day=str(row["day"]),
        ran_at=float(row["ran_at"]),
        operations=int(row["operations"]),
        orders=int(row["orders"]),
        complete=bool(row["complete"]),
        error=row["error"],
        found=int(row.get("found") or 0),
    )


def local_orders(orders: Iterable[Mapping[str, Any]]) -> list[LocalOrder]:
    """The shop's order rows (``invoice_id``, ``amount``, ``currency``, ``status``) as the
    statement's :class:`LocalOrder`."""
    return [
        LocalOrder(
            str(order["invoice_id"]),
            Decimal(str(order["amount"])),
            str(order["currency"]),
            LOCAL_STATES.get(str(order["status"]), LocalState.UNPAID),
        )
        for order in orders
    ]


async def run_statement(
    epay: EpayClient,
    orders: Iterable[Mapping[str, Any]],
    day: date,
    book: StatementBook,
    *,
    tz: tzinfo = KZ_TIME,
) -> StatementReport:
    """Compare ``orders`` (the shop's rows created on ``day``) with the register of ``day`` in
    ``tz``, keep the report in ``book`` and return it. A register that cannot be read to the
    end is kept too, as incomplete with what was found, never as "the books agree"."""
    since, until = period(day, tz)
    orders = list(orders)
    # The admin knows the shop's words: "review (paid)", not only the statement's "paid".
    words = {str(o["invoice_id"]): str(o["status"]) for o in orders}
    found: list[Mapping[str, str]] = []
    error: str | None = None
    statement = Statement(epay, local_orders(orders), since, until)
    try:
        async with statement as discrepancies:
            async for discrepancy in discrepancies:
                row = discrepancy.row()
                shop_word = words.get(row["invoice_id"], row["local_state"])
                if row["local_state"] and shop_word != row["local_state"]:
                    row["local_state"] = f"{shop_word} ({row['local_state']})"
                found.append(row)
    except EpayError as exc:
        error = f"{type(exc).__name__}: {exc}"
    report = StatementReport(
        day=day.isoformat(),
        ran_at=time.time(),
        operations=statement.operations,
        orders=statement.orders,
        complete=error is None,
        error=error,
        found=len(found),
        rows=tuple(found),
    )
    await book.save(report)
    return report

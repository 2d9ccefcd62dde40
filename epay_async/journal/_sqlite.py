"""``SqliteJournal``: the embedded store (the standard library's sqlite3 on a worker thread)."""

from __future__ import annotations

import builtins
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio.to_thread

from epay_async.errors import RequestInFlightError, ValidationError
from epay_async.journal._common import check_finish_state, payment_state_text, short
from epay_async.journal._errors import JournalUnavailableError
from epay_async.journal._record import JournalRecord, JournalState, utcnow
from epay_async.journal._schema import COLUMNS, SQLITE_SCHEMA
from epay_async.types.status import PaymentState

__all__ = ["SqliteJournal"]

T = TypeVar("T")
_OPEN_SQL = "state IN ('intent', 'in_doubt')"


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def _row(row: tuple[Any, ...]) -> JournalRecord:
    return JournalRecord(
        id=row[0],
        operation=row[1],
        kind=row[2],
        invoice_id=row[3],
        transaction_id=row[4],
        amount=None if row[5] is None else Decimal(row[5]),
        currency=row[6],
        state=JournalState(row[7]),
        created_at=dt.datetime.fromisoformat(row[8]),
        updated_at=dt.datetime.fromisoformat(row[9]),
        writer=row[10],
        detail=row[11],
        result_code=row[12],
        status_name=row[13],
        payment_state=row[14],
    )


class SqliteJournal:
    """A journal in one SQLite file, shareable by several processes on one machine.

    Every call runs on a worker thread (``anyio.to_thread``), on one connection per journal
    object guarded by a lock, so it works under asyncio and trio. The file is in WAL mode with
    a 10 s ``busy_timeout``; each write is one autocommitted statement.

    Durability: ``synchronous=FULL`` by default — every intent's commit fsyncs the WAL, so it
    survives a process kill *and* a power loss or kernel crash right after the payment left.
    An outcome (``finish``) is committed without waiting for its fsync (``NORMAL`` for that
    statement): it survives a process kill, and a power loss can only take the record back to
    its open intent, which ``recover()`` settles with check-status. One fsync per request.
    ``NORMAL`` (WAL not fsynced at commit) survives a process kill only; it is offered for
    measurement, not recommended.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 10.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValidationError("synchronous", "'FULL' or 'NORMAL'")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self._busy_ms = int(busy_timeout * 1000)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteJournal({self.path!r})"

    # -- plumbing -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_ms / 1000,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            mode = self._switch_to_wal(conn)
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch {self.path} to WAL mode")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.executescript(SQLITE_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> Any:
        """``PRAGMA journal_mode = WAL``, tried again until the busy timeout while the file is
        locked: switching a new file takes an exclusive lock, and SQLite answers "database is
        locked" at once rather than wait (the busy timeout does not apply to it) when another
        process is opening the same new journal."""
        deadline = time.monotonic() + self._busy_ms / 1000
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.005)

    async def _run(self, action: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                if self._closed:
                    raise JournalUnavailableError(action, "the journal is closed")
                if self._conn is None:
                    self._conn = self._connect()
                return fn(self._conn)

        try:
            return await anyio.to_thread.run_sync(call)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise JournalUnavailableError(
                action, f"{type(exc).__name__}: {exc} ({self.path})"
            ) from exc

    # -- the protocol ---------------------------------------------------------------------

    async def begin(self, record: JournalRecord) -> None:
        if record.state is not JournalState.INTENT:
            raise ValidationError("record", "begin takes a record in state 'intent'")
        values = (
            record.id,
            record.operation,
            record.kind,
            record.invoice_id,
            record.transaction_id,
            None if record.amount is None else str(record.amount),
            record.currency,
            record.state.value,
            _ts(record.created_at),
            _ts(record.updated_at),
            record.writer,
            short(record.detail),
            None,
            None,
            None,
        )

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO epay_journal ({COLUMNS}) VALUES ({', '.join('?' * 15)})", values
            )

        try:
            await self._run("begin", insert)
        except sqlite3.IntegrityError as exc:
            if "epay_journal.id" in str(exc):
                raise ValidationError("record", f"{record.id} is already in the journal") from exc
            raise RequestInFlightError(record.key, record.operation, in_journal=True) from exc

    async def finish(
        self,
        record_id: str,
        state: JournalState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        state = check_finish_state(state)
        args = (state.value, transaction_id, short(detail), _ts(utcnow()), record_id)

        relaxed = self.synchronous == "FULL"

        def update(conn: sqlite3.Connection) -> None:
            # An outcome need not wait for its fsync: a power loss can only take it back to
            # the open intent, which recover() settles with the gateway's word. It is still
            # committed to the WAL, so it survives a process kill.
            if relaxed:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute(
                    "UPDATE epay_journal SET state = ?, "
                    "transaction_id = COALESCE(?, transaction_id), "
                    "detail = COALESCE(?, detail), updated_at = ? "
                    f"WHERE id = ? AND {_OPEN_SQL}",
                    args,
                )
            finally:
                if relaxed:
                    conn.execute("PRAGMA synchronous = FULL")

        await self._run("finish", update)

    async def settle(
        self,
        record_id: str,
        *,
        result_code: int,
        status_name: str | None,
        state: PaymentState | str,
    ) -> bool:
        args = (int(result_code), status_name, payment_state_text(state), _ts(utcnow()), record_id)

        def update(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE epay_journal SET state = 'settled', result_code = ?, status_name = ?, "
                f"payment_state = ?, updated_at = ? WHERE id = ? AND {_OPEN_SQL}",
                args,
            )
            return cur.rowcount == 1

        return await self._run("settle", update)

    async def open_records(
        self, older_than: dt.timedelta | None = None
    ) -> builtins.list[JournalRecord]:
        cutoff = _ts(utcnow() - older_than) if older_than is not None else None

        def select(conn: sqlite3.Connection) -> builtins.list[JournalRecord]:
            sql = f"SELECT {COLUMNS} FROM epay_journal WHERE {_OPEN_SQL}"
            params: tuple[str, ...] = ()
            if cutoff is not None:
                sql += " AND created_at < ?"
                params = (cutoff,)
            return [_row(r) for r in conn.execute(sql + " ORDER BY created_at", params)]

        return await self._run("read", select)

    async def get(self, record_id: str) -> JournalRecord | None:
        def select(conn: sqlite3.Connection) -> JournalRecord | None:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM epay_journal WHERE id = ?", (record_id,)
            ).fetchone()
            return None if row is None else _row(row)

        return await self._run("read", select)

    async def list(
        self, limit: int = 100, *, states: Collection[JournalState] | None = None
    ) -> builtins.list[JournalRecord]:
        wanted = [JournalState(s).value for s in states] if states is not None else None

        def select(conn: sqlite3.Connection) -> builtins.list[JournalRecord]:
            sql = f"SELECT {COLUMNS} FROM epay_journal"
            params: builtins.list[object] = []
            if wanted is not None:
                sql += f" WHERE state IN ({', '.join('?' * len(wanted))})"
                params.extend(wanted)
            sql += " ORDER BY created_at DESC LIMIT ?"
            params.append(int(limit))
            return [_row(r) for r in conn.execute(sql, params)]

        if wanted == []:
            return []
        return await self._run("read", select)

    async def aclose(self) -> None:
        def close() -> None:
            with self._lock:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await anyio.to_thread.run_sync(close)

    async def __aenter__(self) -> SqliteJournal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

"""``PostgresJournal``: the shared store for several processes or machines (asyncpg)."""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from epay_async.errors import RequestInFlightError, ValidationError
from epay_async.journal._common import check_finish_state, payment_state_text, short
from epay_async.journal._errors import JournalUnavailableError
from epay_async.journal._record import JournalRecord, JournalState, utcnow
from epay_async.journal._schema import COLUMNS, POSTGRES_SCHEMA
from epay_async.types.status import PaymentState

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresJournal"]

T = TypeVar("T")
_OPEN_SQL = "state IN ('intent', 'in_doubt')"
#: Serialises ``CREATE ... IF NOT EXISTS`` between processes starting at once.
_SCHEMA_LOCK = 0x65_70_61_79_6A_72  # "epayjr"


def _row(row: Any) -> JournalRecord:
    return JournalRecord(
        id=str(row["id"]),
        operation=row["operation"],
        kind=row["kind"],
        invoice_id=row["invoice_id"],
        transaction_id=row["transaction_id"],
        amount=row["amount"],
        currency=row["currency"],
        state=JournalState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        writer=row["writer"],
        detail=row["detail"],
        result_code=row["result_code"],
        status_name=row["status_name"],
        payment_state=row["payment_state"],
    )


class PostgresJournal:
    """A journal in a PostgreSQL table (``epay_journal``, created if missing), through an
    asyncpg pool. asyncpg runs under asyncio only: under trio every call raises
    :class:`JournalUnavailableError` saying so (use :class:`SqliteJournal` there).

    Each write is one statement committed with the server's ``synchronous_commit`` (on by
    default: the commit returns once the WAL is flushed). Needs ``pip install
    'epay-async[postgres]'``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None
        self._pool_lock: asyncio.Lock | None = None
        self._closed = False
        try:
            self._password = urlsplit(dsn).password
        except ValueError:
            self._password = None

    def __repr__(self) -> str:
        try:
            parts = urlsplit(self._dsn)
            where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        except ValueError:
            where = "?"
        return f"PostgresJournal({where!r})"

    # -- plumbing -----------------------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return text

    async def _get_pool(self, action: str) -> asyncpg.Pool:
        try:
            asyncio.get_running_loop()
            library = "asyncio"
        except RuntimeError:  # trio (sniffio is not a dependency of this package)
            library = "trio"
        if library != "asyncio":
            raise JournalUnavailableError(
                action, f"PostgresJournal runs under asyncio only (asyncpg), not {library}"
            )
        if self._closed:
            raise JournalUnavailableError(action, "the journal is closed")
        if self._pool is not None:
            return self._pool
        try:
            import asyncpg  # noqa: PLC0415 - an optional extra
        except ImportError as exc:
            raise JournalUnavailableError(
                action, "asyncpg is not installed: pip install 'epay-async[postgres]'"
            ) from exc
        if self._pool_lock is None:
            self._pool_lock = asyncio.Lock()
        async with self._pool_lock:
            if self._pool is None:
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._connect_timeout,
                )
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                        await conn.execute(POSTGRES_SCHEMA)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    async def _run(self, action: str, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        import asyncpg  # noqa: PLC0415

        try:
            return await fn(await self._get_pool(action))
        except JournalUnavailableError:
            raise
        except (
            OSError,
            asyncio.TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
        ) as exc:
            raise JournalUnavailableError(action, self._reason(exc)) from exc

    # -- the protocol ---------------------------------------------------------------------

    async def begin(self, record: JournalRecord) -> None:
        if record.state is not JournalState.INTENT:
            raise ValidationError("record", "begin takes a record in state 'intent'")
        values = (
            uuid.UUID(record.id),
            record.operation,
            record.kind,
            record.invoice_id,
            record.transaction_id,
            record.amount,
            record.currency,
            record.state.value,
            record.created_at,
            record.updated_at,
            record.writer,
            short(record.detail),
        )
        placeholders = ", ".join(f"${i}" for i in range(1, 13))

        async def insert(pool: asyncpg.Pool) -> None:
            import asyncpg  # noqa: PLC0415 - present once there is a pool

            try:
                await pool.execute(
                    f"INSERT INTO epay_journal ({COLUMNS}) "
                    f"VALUES ({placeholders}, NULL, NULL, NULL)",
                    *values,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "epay_journal_pkey":
                    raise ValidationError(
                        "record", f"{record.id} is already in the journal"
                    ) from exc
                raise RequestInFlightError(record.key, record.operation, in_journal=True) from exc

        await self._run("begin", insert)

    async def finish(
        self,
        record_id: str,
        state: JournalState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        state = check_finish_state(state)

        async def update(pool: asyncpg.Pool) -> None:
            await pool.execute(
                "UPDATE epay_journal SET state = $1, "
                "transaction_id = COALESCE($2, transaction_id), "
                "detail = COALESCE($3, detail), updated_at = $4 "
                f"WHERE id = $5 AND {_OPEN_SQL}",
                state.value,
                transaction_id,
                short(detail),
                utcnow(),
                uuid.UUID(record_id),
            )

        await self._run("finish", update)

    async def settle(
        self,
        record_id: str,
        *,
        result_code: int,
        status_name: str | None,
        state: PaymentState | str,
    ) -> bool:
        text = payment_state_text(state)

        async def update(pool: asyncpg.Pool) -> bool:
            done = await pool.execute(
                "UPDATE epay_journal SET state = 'settled', result_code = $1, "
                "status_name = $2, payment_state = $3, updated_at = $4 "
                f"WHERE id = $5 AND {_OPEN_SQL}",
                int(result_code),
                status_name,
                text,
                utcnow(),
                uuid.UUID(record_id),
            )
            return str(done) == "UPDATE 1"

        return await self._run("settle", update)

    async def open_records(
        self, older_than: dt.timedelta | None = None
    ) -> builtins.list[JournalRecord]:
        cutoff = utcnow() - older_than if older_than is not None else None

        async def select(pool: asyncpg.Pool) -> builtins.list[JournalRecord]:
            rows = await pool.fetch(
                f"SELECT {COLUMNS} FROM epay_journal WHERE {_OPEN_SQL} "
                "AND ($1::timestamptz IS NULL OR created_at < $1) ORDER BY created_at",
                cutoff,
            )
            return [_row(r) for r in rows]

        return await self._run("read", select)

    async def get(self, record_id: str) -> JournalRecord | None:
        try:
            key = uuid.UUID(record_id)
        except ValueError:
            return None

        async def select(pool: asyncpg.Pool) -> JournalRecord | None:
            row = await pool.fetchrow(f"SELECT {COLUMNS} FROM epay_journal WHERE id = $1", key)
            return None if row is None else _row(row)

        return await self._run("read", select)

    async def list(
        self, limit: int = 100, *, states: Collection[JournalState] | None = None
    ) -> builtins.list[JournalRecord]:
        wanted = [JournalState(s).value for s in states] if states is not None else None

        async def select(pool: asyncpg.Pool) -> builtins.list[JournalRecord]:
            rows = await pool.fetch(
                f"SELECT {COLUMNS} FROM epay_journal "
                "WHERE ($1::text[] IS NULL OR state = ANY($1)) "
                "ORDER BY created_at DESC LIMIT $2",
                wanted,
                int(limit),
            )
            return [_row(r) for r in rows]

        return await self._run("read", select)

    async def aclose(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresJournal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

"""The ``Journal`` protocol: what the client needs from a store."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Collection
from types import TracebackType
from typing import Protocol, runtime_checkable

from epay_async.journal._record import JournalRecord, JournalState
from epay_async.types.status import PaymentState


@runtime_checkable
class Journal(Protocol):
    """A durable store of money requests. All methods are coroutines.

    A store raises :class:`JournalUnavailableError` when it cannot be written or read, and
    :class:`~epay_async.errors.RequestInFlightError` from ``begin`` when an open record already
    exists for the same (kind, invoice) or transaction — a rule the database must enforce
    (see :mod:`epay_async.journal._schema`).
    """

    async def begin(self, record: JournalRecord) -> None:
        """Commit ``record`` (state ``intent``) durably; return only once it is on disk."""
        ...

    async def finish(
        self,
        record_id: str,
        state: JournalState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Move an open record to ``state``; a record already closed is left as it is."""
        ...

    async def open_records(
        self, older_than: dt.timedelta | None = None
    ) -> builtins.list[JournalRecord]:
        """Open records (oldest first); with ``older_than``, only those created before then."""
        ...

    async def settle(
        self,
        record_id: str,
        *,
        result_code: int,
        status_name: str | None,
        state: PaymentState | str,
    ) -> bool:
        """Close an open record with the gateway's word; whether *this* call closed it."""
        ...

    async def get(self, record_id: str) -> JournalRecord | None:
        """The record, or ``None``."""
        ...

    async def list(
        self, limit: int = 100, *, states: Collection[JournalState] | None = None
    ) -> builtins.list[JournalRecord]:
        """The newest records first, at most ``limit``, optionally only in ``states``."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Journal: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

"""A write-ahead journal of money requests, so that none is lost when the process dies.

ePay has no idempotency keys: a payment whose answer was lost can only be settled by asking
check-status, and only if someone remembers it was sent. The journal remembers, durably and
across processes.

How the client uses a journal (``EpayClient(journal=...)``), per money request:

1. **Before anything is sent**: ``await journal.begin(JournalRecord.new(...))`` commits an
   ``intent`` record. If it raises, the request is refused and nothing leaves:
   :class:`JournalUnavailableError` (the store cannot be written) or
   :class:`~epay_async.errors.RequestInFlightError` (an open record for the same (kind,
   invoice) or transaction exists, in this or any process sharing the store).
2. **After the gateway's answer**: ``finish(id, SUCCEEDED or DECLINED, transaction_id=...)``;
   refused before sending: ``finish(id, NOT_SENT)``.
3. **When the outcome is unknown** (``OutcomeUnknownError``, a cancellation, a deadline):
   ``finish(id, IN_DOUBT, detail="ReadTimeout after sending")`` (shielded from cancellation).
4. **``recover()``**: for each of ``open_records(older_than=...)`` ask check-status (``kind
   "payment"``: the invoice's status; ``"p2p"``: the transfer's), then
   ``settle(id, result_code=..., status_name=..., state=status.state)``. ``settle`` closes only
   an open record and returns whether *this* call closed it, so several processes may recover
   at once and each record is settled once.

Cancellation: a cancelled ``begin`` may still have committed its intent (SQLite finishes the
statement on its thread; a PostgreSQL commit may have landed). The caller must then not send,
and should ``finish(id, NOT_SENT)`` in a shielded scope; a record left ``intent`` by a killed
process is closed by ``recover()`` (by the gateway's 102 "no such invoice" too, once the
record is older than the deadline: a request the process sent may still arrive before).

States (:class:`JournalState`): ``intent`` and ``in_doubt`` are *open*; ``succeeded``,
``declined``, ``not_sent`` and ``settled`` are closed. ``finish`` on a closed record (already
settled by a recoverer) changes nothing.

A record (:class:`JournalRecord`) holds the operation, kind, invoice id, transaction id,
the exact amount and currency, the state with its times (UTC), the writer (``hostname:pid``),
a short reason and the status found at recovery. It has no field for a secret, token, PAN, CVC
or cryptogram, so none can be stored.

Stores:

- :class:`SqliteJournal` (embedded, one machine): sqlite3 on a worker thread (asyncio and trio),
  WAL, ``synchronous=FULL`` for the intent (it survives a process kill and a power loss) and
  one fsync per request: the outcome is committed without waiting for its own (a power loss
  can only take it back to the open intent, which ``recover()`` settles); see
  ``benchmarks/README.md`` for what it costs.
- :class:`PostgresJournal` (several processes or machines; asyncio only): asyncpg and a pool.
- Your own: implement :class:`Journal` on the schema in :data:`POSTGRES_SCHEMA` (the partial
  unique indexes on open records are what make the one-request-per-invoice rule hold).
"""

from __future__ import annotations

from epay_async.journal._errors import JournalUnavailableError
from epay_async.journal._postgres import PostgresJournal
from epay_async.journal._protocol import Journal
from epay_async.journal._record import OPEN_STATES, JournalRecord, JournalState
from epay_async.journal._recover import Recovered
from epay_async.journal._schema import POSTGRES_SCHEMA, SQLITE_SCHEMA
from epay_async.journal._sqlite import SqliteJournal

__all__ = [
    "OPEN_STATES",
    "POSTGRES_SCHEMA",
    "SQLITE_SCHEMA",
    "Journal",
    "JournalRecord",
    "JournalState",
    "JournalUnavailableError",
    "PostgresJournal",
    "Recovered",
    "SqliteJournal",
]

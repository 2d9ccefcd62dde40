"""The journal's SQL schema, for SQLite and PostgreSQL.

A merchant who implements :class:`~epay_async.journal.Journal` in their own database can use
:data:`POSTGRES_SCHEMA` as it is. What matters is the partial unique indexes: at most one *open*
record (``intent`` or ``in_doubt``) per (kind, invoice) and per transaction, enforced by the
database so it holds across processes and machines.
"""

from __future__ import annotations

TABLE = "epay_journal"

_OPEN = "state IN ('intent', 'in_doubt')"
_STATES = "'intent', 'succeeded', 'declined', 'not_sent', 'in_doubt', 'settled'"

#: SQLite: amounts as exact decimal TEXT, times as ISO 8601 UTC TEXT (microseconds, ``+00:00``).
SQLITE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS epay_journal (
    id             TEXT PRIMARY KEY,
    operation      TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('payment', 'p2p')),
    invoice_id     TEXT,
    transaction_id TEXT,
    amount         TEXT,
    currency       TEXT,
    state          TEXT NOT NULL CHECK (state IN ({_STATES})),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    writer         TEXT NOT NULL,
    detail         TEXT,
    result_code    INTEGER,
    status_name    TEXT,
    payment_state  TEXT,
    CHECK (invoice_id IS NOT NULL OR transaction_id IS NOT NULL)
);
CREATE UNIQUE INDEX IF NOT EXISTS epay_journal_open_invoice
    ON epay_journal (kind, invoice_id) WHERE {_OPEN} AND invoice_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS epay_journal_open_transaction
    ON epay_journal (transaction_id) WHERE {_OPEN} AND transaction_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS epay_journal_open_created
    ON epay_journal (created_at) WHERE {_OPEN};
CREATE INDEX IF NOT EXISTS epay_journal_created ON epay_journal (created_at);
"""

#: PostgreSQL: ``NUMERIC`` keeps an amount's digits and scale (100.10 stays 100.10).
POSTGRES_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS epay_journal (
    id             UUID PRIMARY KEY,
    operation      TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('payment', 'p2p')),
    invoice_id     TEXT,
    transaction_id TEXT,
    amount         NUMERIC,
    currency       TEXT,
    state          TEXT NOT NULL CHECK (state IN ({_STATES})),
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    writer         TEXT NOT NULL,
    detail         TEXT,
    result_code    INTEGER,
    status_name    TEXT,
    payment_state  TEXT,
    CHECK (invoice_id IS NOT NULL OR transaction_id IS NOT NULL)
);
CREATE UNIQUE INDEX IF NOT EXISTS epay_journal_open_invoice
    ON epay_journal (kind, invoice_id) WHERE {_OPEN} AND invoice_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS epay_journal_open_transaction
    ON epay_journal (transaction_id) WHERE {_OPEN} AND transaction_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS epay_journal_open_created
    ON epay_journal (created_at) WHERE {_OPEN};
CREATE INDEX IF NOT EXISTS epay_journal_created ON epay_journal (created_at);
"""

COLUMNS = (
    "id, operation, kind, invoice_id, transaction_id, amount, currency, state, created_at, "
    "updated_at, writer, detail, result_code, status_name, payment_state"
)

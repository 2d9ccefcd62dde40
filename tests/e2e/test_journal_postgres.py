"""The journal's contract on a real PostgreSQL (started on 127.0.0.1, stopped after)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import pytest
import trio

from epay_async.journal import Journal, JournalUnavailableError, PostgresJournal
from tests.e2e.postgres_server import postgres_server
from tests.test_journal import JournalContract, intent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
async def dsn(server: str) -> str:
    """A fresh database per test, so every test starts with an empty journal."""
    name = f"j{uuid.uuid4().hex}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.rsplit("/", 1)[0] + "/" + name


class TestPostgresJournal(JournalContract):
    @pytest.fixture
    def make(self, dsn: str) -> Callable[[], Journal]:
        return lambda: PostgresJournal(dsn)

    @pytest.fixture
    def stored_text(self, dsn: str) -> Callable[[], Awaitable[str]]:
        async def dump() -> str:
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch("SELECT t::text FROM epay_journal t")
            finally:
                await conn.close()
            return "\n".join(r[0] for r in rows)

        return dump


@pytest.mark.anyio
async def test_postgres_down_is_a_clear_error(server: str) -> None:
    port = int(server.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    dead = f"postgresql://postgres:hunter2-secret@127.0.0.1:{port + 1 if port < 65535 else 1}/x"
    async with PostgresJournal(dead, connect_timeout=2) as journal:
        with pytest.raises(JournalUnavailableError) as caught:
            await journal.begin(intent())
        assert caught.value.action == "begin"
        assert "hunter2-secret" not in str(caught.value)
        assert "hunter2-secret" not in repr(journal)
        with pytest.raises(JournalUnavailableError, match=r"\(read\)"):
            await journal.open_records()


@pytest.mark.anyio
async def test_numeric_keeps_scale_in_the_table(dsn: str) -> None:
    async with PostgresJournal(dsn) as journal:
        rec = intent("pg-1", "100.10")
        await journal.begin(rec)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT amount::text FROM epay_journal") == "100.10"
    finally:
        await conn.close()


def test_trio_is_refused_clearly() -> None:
    async def main() -> None:
        async with PostgresJournal("postgresql://127.0.0.1:1/x") as journal:
            with pytest.raises(JournalUnavailableError, match="asyncio only"):
                await journal.begin(intent())

    trio.run(main)

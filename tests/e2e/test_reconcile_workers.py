"""The job-engine recipe (``epay_async/examples/reconcile_workers.py``) for real: a Redis (Debian's
``redis-server``), the sandbox in its own process and two arq worker processes, all on
127.0.0.1, started here and stopped after. One worker is killed (SIGKILL) while it holds a
chunk: the job still finishes, with every invoice in the results exactly once."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from epay_async._cli import COLUMNS
from epay_async.examples.reconcile_workers import (
    JobNameInUse,
    Local,
    chunks_key,
    enqueue,
    export,
    progress,
    read_ids,
    results_key,
    wait_for,
)

pytestmark = pytest.mark.anyio

JOB = "e2e"
COUNT = 3000
CHUNK = 100
#: Short, so an abandoned chunk goes to the other worker 3 + 10 s after it started.
CHUNK_TIMEOUT = 3
#: Sandbox latency: a 100-id chunk at 16 in flight takes about 0.6 s, long enough to be cut.
LATENCY = 0.1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # arq runs on asyncio


def expected_status(invoice_id: str) -> str | None:
    """The served sandbox's rule for invoices it never saw, by last digit."""
    digit = int(invoice_id[-1])
    return "CHARGE" if digit <= 6 else "AUTH" if digit == 7 else "REJECT" if digit == 8 else None


async def test_a_worker_killed_mid_chunk_loses_nothing_and_duplicates_nothing() -> None:
    with Local(2, latency=LATENCY, chunk_timeout=CHUNK_TIMEOUT) as here:
        ids = [str(400_000_000 + n) for n in range(COUNT)]
        chunks = await enqueue(JOB, ids, CHUNK, here.redis_url)
        assert chunks == COUNT // CHUNK
        assert await enqueue(JOB, ids, CHUNK, here.redis_url) == chunks  # again: nothing new
        client = aioredis.from_url(here.redis_url)
        try:
            victim = await a_worker_holding_a_chunk(client, here)
            here.kill(victim)
            killed_at = time.monotonic()
            state = await wait_for(JOB, timeout=60, redis_url=here.redis_url)
            rows = {
                key.decode(): json.loads(value)
                for key, value in (await client.hgetall(results_key(JOB))).items()
            }
        finally:
            await client.aclose()
        killed = next(p for p in here.worker_processes if p.pid == victim)
        assert killed.poll() is not None, "the killed worker is gone"
        survivor = next(p for p in here.worker_processes if p.pid != victim)
        assert survivor.poll() is None, "the other worker kept going"
    assert state["chunks_done"] == chunks, state
    assert state["chunk_starts"] > chunks, "the killed worker's chunk was run again"
    assert sorted(rows) == ids  # every invoice, each once (a hash field per invoice)
    for invoice_id, row in rows.items():
        assert row["invoice_id"] == invoice_id
        assert row["error"] is None
        assert row["status_name"] == expected_status(invoice_id)
    assert time.monotonic() - killed_at < 60


async def a_worker_holding_a_chunk(client: aioredis.Redis, here: Local) -> int:
    """The pid of a worker with a chunk started and not finished (bounded wait), stopped
    (SIGSTOP) so that it cannot finish the chunk before it is killed."""
    pids = {p.pid for p in here.worker_processes}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = await client.hgetall(f"{chunks_key(JOB)}:running")
        for chunk, pid in running.items():
            if int(pid) not in pids or chunk.decode() in await done_chunks(client):
                continue
            os.kill(int(pid), signal.SIGSTOP)
            if chunk.decode() not in await done_chunks(client):
                return int(pid)  # frozen while holding it
            os.kill(int(pid), signal.SIGCONT)  # it finished just before: another one
        await anyio.sleep(0.02)
    raise AssertionError("no worker took a chunk within 30 s")


# -- headers, a used job name, export (issue 22 §4) -------------------------------------------


async def test_headers_a_used_name_and_export_as_the_cli_writes(tmp_path: Path) -> None:
    ids = [str(500_000_000 + n) for n in range(250)]
    source = tmp_path / "ids.csv"
    source.write_bytes(
        b"\xef\xbb\xbfinvoice_id\n# tonight\n" + "\n".join([*ids, ids[0], ids[1]]).encode() + b"\n"
    )
    with Local(1) as here:
        with read_ids(str(source)) as lines:  # the CLI's reader: no header, each id once
            chunks = await enqueue("nightly", lines, 100, here.redis_url)
        assert chunks == 3
        state = await wait_for("nightly", timeout=60, redis_url=here.redis_url)
        assert state["invoices"] == len(ids), state
        # the same ids again: nothing new; other ids under the name: refused, nothing enqueued
        assert await enqueue("nightly", ids, 100, here.redis_url) == 3
        other = [str(600_000_000 + n) for n in range(250)]
        for refused in (other, [*ids, "600000000"], ids[:200], ids):
            size = 50 if refused is ids else 100
            with pytest.raises(JobNameInUse):
                await enqueue("nightly", refused, size, here.redis_url)
        state = await progress("nightly", here.redis_url)
        assert (state["chunks"], state["invoices"]) == (3, len(ids))
        # export: the rows and writer of `epay-async reconcile --output`
        jsonl, csv_file = tmp_path / "out.jsonl", tmp_path / "out.csv"
        assert await export("nightly", str(jsonl), None, here.redis_url) == len(ids)
        assert await export("nightly", str(csv_file), None, here.redis_url) == len(ids)
    cli = tmp_path / "cli.jsonl"
    args = ["reconcile", str(source), "--sandbox", "--no-progress", "--output", str(cli)]
    await anyio.run_process([sys.executable, "-m", "epay_async", *args])  # the CLI, as run
    rows = sorted(jsonl.read_text("utf-8").splitlines())
    assert rows == sorted(cli.read_text("utf-8").splitlines())
    with csv_file.open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == list(COLUMNS)
    assert sorted(row[0] for row in table[1:]) == ids


# -- a chunk longer than its timeout, retried until done --------------------------------------


async def test_a_chunk_past_its_timeout_is_retried_and_keeps_its_progress() -> None:
    """300 ids at 8 in flight against a gateway answering in 0.3 s take about 11 s; a try has
    2 s. Every try keeps what it finished, so the chunk ends complete after a few tries."""
    ids = [str(700_000_000 + n) for n in range(300)]
    with Local(1, latency=0.3, chunk_timeout=2, concurrency=8) as here:
        assert await enqueue("slow", ids, 300, here.redis_url) == 1
        state = await wait_for("slow", timeout=90, redis_url=here.redis_url)
        client = aioredis.from_url(here.redis_url)
        try:
            rows = {
                key.decode(): json.loads(value)
                for key, value in (await client.hgetall(results_key("slow"))).items()
            }
        finally:
            await client.aclose()
    assert state["chunks_done"] == 1, state
    assert state["chunk_starts"] >= 3, state  # retried, not failed
    assert sorted(rows) == ids
    assert all(row["error"] is None for row in rows.values())


async def done_chunks(client: aioredis.Redis) -> set[str]:
    return {value.decode() for value in await client.smembers(f"{chunks_key(JOB)}:done")}

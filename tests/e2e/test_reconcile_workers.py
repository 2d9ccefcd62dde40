"""The job-engine recipe (``epay_async/examples/reconcile_workers.py``) for real: a Redis (Debian's
``redis-server``), the sandbox in its own process and two arq worker processes, all on
127.0.0.1, started here and stopped after. One worker is killed (SIGKILL) while it holds a
chunk: the job still finishes, with every invoice in the results exactly once."""

from __future__ import annotations

import json
import time

import anyio
import pytest
import redis.asyncio as aioredis

from epay_async.examples.reconcile_workers import Local, chunks_key, enqueue, results_key, wait_for

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
        assert row["status"] == expected_status(invoice_id)
    assert time.monotonic() - killed_at < 60


async def a_worker_holding_a_chunk(client: aioredis.Redis, here: Local) -> int:
    """The pid of a worker with a chunk started and not finished (bounded wait)."""
    pids = {p.pid for p in here.worker_processes}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = await client.hgetall(f"{chunks_key(JOB)}:running")
        done = {value.decode() for value in await client.smembers(f"{chunks_key(JOB)}:done")}
        for chunk, pid in running.items():
            if chunk.decode() not in done and int(pid) in pids:
                return int(pid)
        await anyio.sleep(0.02)
    raise AssertionError("no worker took a chunk within 30 s")

"""Reconciliation beyond one machine: invoice ids in chunks on arq over Redis, many workers.

    export REDIS_URL=redis://127.0.0.1:6379        # and the EPAY_* variables of your terminal
    python -m epay_async.examples.reconcile_workers enqueue invoices.txt --job nightly --chunk 500
    python -m epay_async.examples.reconcile_workers worker     # as many as you like, on any machine
    python -m epay_async.examples.reconcile_workers report --job nightly

    python -m epay_async.examples.reconcile_workers local --workers 2 --ids 20000
        # all of it on this machine: a Redis, the sandbox and the workers on 127.0.0.1

Each chunk is one arq job with an id of its own (``nightly:chunk:7``): enqueueing the same
job twice adds nothing. A worker runs ``epay.reconcile`` over its chunk and writes each result
into a Redis hash keyed by invoice id, one field per invoice: writing an invoice again replaces
it. arq takes a job off the queue only once it has finished, so the chunk of a worker that
died half way is run again by another worker (once its in-progress mark expires, the job
timeout plus 10 s later), and every invoice still ends up in the results exactly once.
Check-status is a read, so running a chunk twice is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func, run_worker

from epay_async import EpayClient, ReconcileResult
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID

#: A chunk must finish within this many seconds (a 500-id chunk at 16 in flight takes about a
#: second against a gateway answering in 100 ms). arq gives an abandoned chunk to another
#: worker this long after it started, plus 10 s.
CHUNK_TIMEOUT = int(os.environ.get("RECONCILE_CHUNK_TIMEOUT", "60"))
#: Requests in flight per chunk; a worker runs up to ``MAX_CHUNKS`` chunks at once.
CONCURRENCY = int(os.environ.get("RECONCILE_CONCURRENCY", "16"))
MAX_CHUNKS = 4
#: Results written to Redis in one command.
WRITE_BATCH = 100


def redis_settings(url: str | None = None) -> RedisSettings:
    return RedisSettings.from_dsn(url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))


def results_key(job: str) -> str:
    return f"{job}:results"


def chunks_key(job: str) -> str:
    return f"{job}:chunks"


def row(result: ReconcileResult) -> dict[str, Any]:
    """One invoice's result as stored: JSON-safe, money as a string."""
    status = result.status
    transaction = status.transaction if status else None
    return {
        "invoice_id": result.invoice_id,
        "result_code": int(status.result_code) if status else None,
        "status": status.status_name.value if status and status.status_name else None,
        "paid": bool(status and status.is_paid),
        "amount": str(transaction.amount) if transaction else None,
        "error": str(result.error) if result.error else None,
    }


# -- the worker -------------------------------------------------------------------------------


async def reconcile_chunk(ctx: dict[str, Any], job: str, number: int, ids: list[str]) -> int:
    """Check-status for one chunk; results are written as they come, ``WRITE_BATCH`` at a
    time (a chunk cut short is run again whole, so nothing is lost by waiting)."""
    redis: ArqRedis = ctx["redis"]
    epay: EpayClient = ctx["epay"]
    await redis.hset(f"{chunks_key(job)}:running", str(number), str(os.getpid()))
    await redis.hincrby(f"{chunks_key(job)}:starts", str(number), 1)
    written = 0
    batch: dict[str, str] = {}
    async with epay.reconcile(ids, concurrency=CONCURRENCY) as results:
        async for result in results:
            batch[result.invoice_id] = json.dumps(row(result))
            if len(batch) == WRITE_BATCH:
                await redis.hset(results_key(job), mapping=batch)
                written += len(batch)
                batch = {}
    if batch:
        await redis.hset(results_key(job), mapping=batch)
        written += len(batch)
    await redis.sadd(f"{chunks_key(job)}:done", str(number))
    return written


async def startup(ctx: dict[str, Any]) -> None:
    # aiohttp when installed: several times httpx's throughput at high concurrency.
    transport = "aiohttp" if _installed("aiohttp") else "httpx"
    ctx["epay"] = EpayClient.from_env(transport=transport)  # type: ignore[arg-type]


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["epay"].aclose()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class WorkerSettings:
    """``arq epay_async.examples.reconcile_workers.WorkerSettings`` runs a worker too."""

    functions: ClassVar = [func(reconcile_chunk, timeout=CHUNK_TIMEOUT, max_tries=5)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = MAX_CHUNKS
    job_timeout = CHUNK_TIMEOUT
    keep_result = 60


# -- enqueueing and progress ------------------------------------------------------------------


def chunked(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for invoice_id in ids:
        chunk.append(invoice_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_ids(path: str) -> Iterator[str]:
    """One id per line; blank lines and ``#`` comments skipped (as ``epay-async reconcile``)."""
    with open(path, encoding="utf-8-sig") as lines:
        for line in lines:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text


async def enqueue(job: str, ids: Iterable[str], chunk: int, redis_url: str | None = None) -> int:
    """Put ``ids`` on the queue in chunks; returns how many chunks. Idempotent per job."""
    redis = await create_pool(redis_settings(redis_url))
    try:
        count = 0
        for count, ids_of_chunk in enumerate(chunked(ids, chunk), start=1):
            await redis.enqueue_job(
                "reconcile_chunk", job, count, ids_of_chunk, _job_id=f"{job}:chunk:{count}"
            )
        await redis.set(f"{chunks_key(job)}:total", count)
        return count
    finally:
        await redis.aclose()


async def progress(job: str, redis_url: str | None = None) -> dict[str, int]:
    redis = await create_pool(redis_settings(redis_url))
    try:
        total = int(await redis.get(f"{chunks_key(job)}:total") or 0)
        done = await redis.scard(f"{chunks_key(job)}:done")
        starts = await redis.hvals(f"{chunks_key(job)}:starts")
        rows = await redis.hlen(results_key(job))
        return {
            "invoices": rows,
            "chunks": total,
            "chunks_done": done,
            "chunk_starts": sum(int(value) for value in starts),
        }
    finally:
        await redis.aclose()


async def wait_for(
    job: str, *, timeout: float, poll: float = 0.2, redis_url: str | None = None
) -> dict[str, int]:
    """Progress, once every chunk is done (or at ``timeout``: then whatever there is)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await progress(job, redis_url)
        if (state["chunks"] and state["chunks_done"] == state["chunks"]) or (
            time.monotonic() > deadline
        ):
            return state
        await asyncio.sleep(poll)


# -- everything on this machine ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.05)


class Local:
    """A Redis, the sandbox (in its own process) and ``workers`` arq workers, all on
    127.0.0.1, started by ``with`` and stopped after. ``kill(pid)`` ends one worker hard."""

    def __init__(self, workers: int, *, latency: float = 0.0, chunk_timeout: int = 60) -> None:
        self.workers = workers
        self.latency = latency
        self.chunk_timeout = chunk_timeout
        self.processes: list[subprocess.Popen[bytes]] = []
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}
        self.redis_url = ""

    def __enter__(self) -> Local:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("needs Debian's redis-server: apt-get install redis-server")
        self._dir = tempfile.TemporaryDirectory(prefix="epay-workers-")
        try:
            redis_port, sandbox_port = free_port(), free_port()
            redis = self._start(
                [
                    redis_server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._dir.name,
                ]
            )
            wait_for_port(redis_port, redis)
            sandbox_command = [sys.executable, "-m", "epay_async", "sandbox"]
            sandbox_command += ["--port", str(sandbox_port), "--latency", str(self.latency)]
            sandbox_command.append("--answer-any-invoice")  # unknown ids answered by last digit
            sandbox = self._start(sandbox_command)
            wait_for_port(sandbox_port, sandbox)
            self.redis_url = f"redis://127.0.0.1:{redis_port}"
            self.env = {
                **os.environ,
                "REDIS_URL": self.redis_url,
                "EPAY_CLIENT_ID": TEST_CLIENT_ID,
                "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
                "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
                "EPAY_ENVIRONMENT": f"http://127.0.0.1:{sandbox_port}",
                "RECONCILE_CHUNK_TIMEOUT": str(self.chunk_timeout),
            }
            for _ in range(self.workers):
                self.worker_processes.append(self._start(self.worker_command(), env=self.env))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def worker_command() -> list[str]:
        return [sys.executable, "-m", "epay_async.examples.reconcile_workers", "worker"]

    def _start(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        root = Path(__file__).parents[1]
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.processes.append(process)
        return process

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._dir.cleanup()


async def local(workers: int, count: int, chunk: int, latency: float) -> dict[str, float]:
    """Reconcile ``count`` ids with ``workers`` workers on this machine; the rate."""
    with Local(workers, latency=latency) as here:
        ids = [str(100_000_000 + n) for n in range(count)]
        started = time.perf_counter()
        chunks = await enqueue("local", ids, chunk, here.redis_url)
        state = await wait_for("local", timeout=600, redis_url=here.redis_url)
        elapsed = time.perf_counter() - started
    if state["invoices"] != count or state["chunks_done"] != chunks:
        raise RuntimeError(f"unfinished: {state}")
    return {"workers": workers, "invoices": count, "seconds": elapsed, "rate": count / elapsed}


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("enqueue", help="put a file of invoice ids on the queue")
    put.add_argument("file")
    put.add_argument("--job", required=True, help="a name for this run (results go under it)")
    put.add_argument("--chunk", type=int, default=500)
    commands.add_parser("worker", help="run a worker until stopped")
    report = commands.add_parser("report", help="how far a job is")
    report.add_argument("--job", required=True)
    here = commands.add_parser("local", help="Redis, the sandbox and workers on this machine")
    here.add_argument("--workers", type=int, default=2)
    here.add_argument("--ids", type=int, default=20_000)
    here.add_argument("--chunk", type=int, default=500)
    here.add_argument("--latency", type=float, default=0.0, help="the sandbox's, in seconds")
    args = parser.parse_args(argv)
    if args.command == "worker":
        run_worker(WorkerSettings)
        return 0
    if args.command == "enqueue":
        chunks = asyncio.run(enqueue(args.job, read_ids(args.file), args.chunk))
        print(f"{chunks} chunks enqueued for job {args.job}")
        return 0
    if args.command == "report":
        print(json.dumps(asyncio.run(progress(args.job))))
        return 0
    if not 1 <= args.workers <= 16 or not 1 <= args.ids <= 1_000_000:
        parser.error("--workers must be from 1 to 16 and --ids from 1 to 1000000")
    print(json.dumps(asyncio.run(local(args.workers, args.ids, args.chunk, args.latency))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

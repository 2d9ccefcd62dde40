"""Reconciliation beyond one machine: invoice ids in chunks on arq over Redis, many workers.

    pip install 'epay-async[examples]'               # arq and redis with the rest
    export REDIS_URL=redis://127.0.0.1:6379        # and the EPAY_* variables of your terminal
    python -m epay_async.examples.reconcile_workers enqueue invoices.txt --job nightly --chunk 500
    python -m epay_async.examples.reconcile_workers worker     # as many as you like, on any machine
    python -m epay_async.examples.reconcile_workers report --job nightly
    python -m epay_async.examples.reconcile_workers export --job nightly --output nightly.csv

    python -m epay_async.examples.reconcile_workers local --workers 2 --ids 20000
        # all of it on this machine: a Redis, the sandbox and the workers on 127.0.0.1

The ids file is read as ``epay-async reconcile`` reads it (the same reader: a header line,
blank lines and ``#`` comments skipped), and each distinct id is enqueued once. Each chunk is
one arq job with an id of its own (``nightly:chunk:7``), and a job name belongs to one list
of ids: enqueueing the same ids under the same name again adds nothing (a run cut short is
finished that way), and other ids under a used name are refused, never mixed with the old
results. A worker writes each result into a Redis hash keyed by invoice id as it comes (in
the CLI's row format, a batch at a time), and skips the ids a chunk already has there, so a
chunk makes progress across tries: one that runs out of its time (``RECONCILE_CHUNK_TIMEOUT``)
or meets a transient failure (Redis, the network, the gateway) is retried with arq's
``Retry``, and only given up, its ids reported failed, after ``MAX_STALLS`` tries in a row
that finished nothing. arq takes a job off the queue only once it has finished, so the chunk
of a worker that died half way is run again by another worker (once its in-progress mark
expires, the job timeout plus 10 s later). Check-status is a read: running an id twice is
harmless, and a hash field per invoice keeps one row each. ``export`` writes the results as
``epay-async reconcile --output`` does (JSON lines or CSV, the same writer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import logging
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

import anyio
from arq import Retry, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func, run_worker
from redis.exceptions import RedisError

from epay_async import EpayClient, ReconcileResult, RedactingFilter, StatusError, ValidationError
from epay_async._cli import IdFile, RowWriter, UsageError, open_output, output_format, result_row
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

#: arq's timeout of one try of a chunk, in seconds. A try stops itself a little before it
#: (``try_budget``), keeps what it finished and asks arq for another try, so a chunk of any
#: size finishes in as many tries as it needs. arq gives the chunk of a worker that died to
#: another worker this long after it started, plus 10 s.
CHUNK_TIMEOUT = float(os.environ.get("RECONCILE_CHUNK_TIMEOUT", "60"))
#: Requests in flight per chunk; a worker runs up to ``MAX_CHUNKS`` chunks at once.
CONCURRENCY = int(os.environ.get("RECONCILE_CONCURRENCY", "16"))
MAX_CHUNKS = 4
#: Results written to Redis in one command, or sooner: at least every ``WRITE_EVERY`` s.
WRITE_BATCH = 100
WRITE_EVERY = 0.5
#: A chunk is given up after this many tries in a row that finished no invoice.
MAX_STALLS = 5
#: arq's own cap on tries, counting those of workers that died: far above what progress needs.
MAX_TRIES = 1000
#: Errors that are an answer about the invoice; any other is transient and retried.
PERMANENT = (ValidationError, StatusError)


logger = logging.getLogger(__name__)
logger.addFilter(RedactingFilter())  # secret-shaped text scrubbed, as in the library's own


class JobNameInUse(Exception):
    """A job name already holds other ids (or another chunk size)."""


def try_budget(timeout: float = CHUNK_TIMEOUT) -> float:
    """How long one try of a chunk checks invoices: the timeout less the time to write what it
    has and hand the chunk back (a fifth, at most 5 s)."""
    return timeout - min(5.0, timeout / 5)


def redis_settings(url: str | None = None) -> RedisSettings:
    return RedisSettings.from_dsn(url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"))


def results_key(job: str) -> str:
    return f"{job}:results"


def chunks_key(job: str) -> str:
    return f"{job}:chunks"


def row(result: ReconcileResult) -> dict[str, Any]:
    """One invoice's result as stored: the row of ``epay-async reconcile``, money a string."""
    return result_row(result)


# -- the worker -------------------------------------------------------------------------------


async def reconcile_chunk(ctx: dict[str, Any], job: str, number: int, ids: list[str]) -> int:
    """Check-status for the ids of one chunk that have no result yet, writing results as they
    come; returns how many this try wrote. Out of time or on a transient failure, what was
    finished is kept and arq is asked for another try (``Retry``)."""
    redis: ArqRedis = ctx["redis"]
    epay: EpayClient = ctx["epay"]
    chunks = chunks_key(job)
    transient: dict[str, str] = {}
    writer = _Batches(redis, results_key(job))
    failure: str | None = None
    try:
        await redis.hset(f"{chunks}:running", str(number), str(os.getpid()))
        await redis.hincrby(f"{chunks}:starts", str(number), 1)
        present = await redis.hmget(results_key(job), ids)
        todo = [invoice_id for invoice_id, value in zip(ids, present, strict=True) if value is None]
        with anyio.move_on_after(try_budget()) as budget:
            async with epay.reconcile(todo, concurrency=CONCURRENCY) as results:
                async for result in results:
                    if result.error is not None and not isinstance(result.error, PERMANENT):
                        transient[result.invoice_id] = json.dumps(row(result))
                        continue
                    await writer.add(result.invoice_id, json.dumps(row(result)))
        await writer.flush()
        if budget.cancelled_caught:
            failure = f"out of time after {try_budget():.1f} s"
        elif transient:
            failure = f"{len(transient)} transient errors"
        else:
            await redis.hdel(f"{chunks}:stalls", str(number))
            await redis.sadd(f"{chunks}:done", str(number))
            return writer.written
    except RedisError as exc:
        failure = f"Redis: {exc}"
        with contextlib.suppress(RedisError, OSError):
            with anyio.fail_after(2):
                await writer.flush()
    return await _again(redis, job, number, writer.written, transient, why=failure)


async def _again(
    redis: ArqRedis, job: str, number: int, written: int, transient: dict[str, str], *, why: str
) -> int:
    """Another try for the chunk (``Retry``), unless ``MAX_STALLS`` tries in a row finished
    nothing: then its transient errors are written as its results and the chunk is failed."""
    chunks = chunks_key(job)
    stalls = 1
    try:
        if written:
            await redis.hdel(f"{chunks}:stalls", str(number))
            stalls = 0
        else:
            stalls = await redis.hincrby(f"{chunks}:stalls", str(number), 1)
        if stalls >= MAX_STALLS:
            if transient:
                await redis.hset(results_key(job), mapping=transient)
            await redis.sadd(f"{chunks}:failed", str(number))
            logger.error(
                "%s chunk %d given up after %d tries without progress: %s", job, number, stalls, why
            )
            return written
    except RedisError:
        pass  # Redis is the trouble: try again later
    logger.warning("%s chunk %d: %s; %d written, tried again", job, number, why, written)
    raise Retry(defer=min(10.0, 0.2 * 2 ** max(0, stalls - 1)))  # backs off while stalled


class _Batches:
    """Results for a Redis hash, written ``WRITE_BATCH`` at a time or every ``WRITE_EVERY``."""

    def __init__(self, redis: ArqRedis, key: str) -> None:
        self.redis, self.key = redis, key
        self.batch: dict[str, str] = {}
        self.written = 0
        self.last = time.monotonic()

    async def add(self, invoice_id: str, value: str) -> None:
        self.batch[invoice_id] = value
        if len(self.batch) >= WRITE_BATCH or time.monotonic() - self.last >= WRITE_EVERY:
            await self.flush()

    async def flush(self) -> None:
        if self.batch:
            await self.redis.hset(self.key, mapping=self.batch)
            self.written += len(self.batch)
            self.batch = {}
        self.last = time.monotonic()


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

    functions: ClassVar = [func(reconcile_chunk, timeout=CHUNK_TIMEOUT, max_tries=MAX_TRIES)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = MAX_CHUNKS
    job_timeout = CHUNK_TIMEOUT
    keep_result = 60


# -- enqueueing, progress and export ----------------------------------------------------------


def chunked(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for invoice_id in ids:
        chunk.append(invoice_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def distinct(ids: Iterable[str]) -> Iterator[str]:
    """Each id once (the ids seen are kept in a set: memory grows with distinct ids)."""
    seen: set[str] = set()
    for invoice_id in ids:
        if invoice_id not in seen:
            seen.add(invoice_id)
            yield invoice_id


@contextlib.contextmanager
def read_ids(path: str) -> Iterator[Iterator[str]]:
    """The ids of a file (``-``: stdin) as ``epay-async reconcile`` reads them, each once."""
    with IdFile(path) as ids:
        yield distinct(ids)


async def enqueue(job: str, ids: Iterable[str], chunk: int, redis_url: str | None = None) -> int:
    """Put ``ids`` (each once) on the queue in chunks; returns how many chunks. The same ids
    under the same name again add nothing; other ids, or another chunk size, under a used
    name raise :class:`JobNameInUse` before any of their chunks is enqueued."""
    redis = await create_pool(redis_settings(redis_url))
    chunks = chunks_key(job)
    try:
        if not await redis.hsetnx(f"{job}:meta", "chunk", chunk):
            used = int(await redis.hget(f"{job}:meta", "chunk") or 0)
            if used != chunk:
                raise JobNameInUse(f"job {job} was enqueued in chunks of {used}, not {chunk}")
        total = await redis.get(f"{chunks}:total")
        done = {int(n) for n in await redis.smembers(f"{chunks}:done")}
        count = 0
        for count, ids_of_chunk in enumerate(chunked(distinct(ids), chunk), start=1):
            digest = hashlib.sha256("\n".join(ids_of_chunk).encode()).hexdigest()
            if total is not None and count > int(total):
                raise JobNameInUse(f"job {job} has other ids: it had {int(total)} chunks")
            known = await redis.hsetnx(f"{chunks}:digests", str(count), digest) == 0
            if known and (await redis.hget(f"{chunks}:digests", str(count))).decode() != digest:
                raise JobNameInUse(f"job {job} has other ids (chunk {count} differs)")
            if count in done:
                continue
            await redis.enqueue_job(
                "reconcile_chunk", job, count, ids_of_chunk, _job_id=f"{job}:chunk:{count}"
            )
        if not await redis.set(f"{chunks}:total", count, nx=True) and int(total or 0) != count:
            raise JobNameInUse(f"job {job} has other ids: it had {int(total or 0)} chunks")
        return count
    finally:
        await redis.aclose()


async def progress(job: str, redis_url: str | None = None) -> dict[str, int]:
    redis = await create_pool(redis_settings(redis_url))
    try:
        total = int(await redis.get(f"{chunks_key(job)}:total") or 0)
        done = await redis.scard(f"{chunks_key(job)}:done")
        failed = await redis.scard(f"{chunks_key(job)}:failed")
        starts = await redis.hvals(f"{chunks_key(job)}:starts")
        rows = await redis.hlen(results_key(job))
        return {
            "invoices": rows,
            "chunks": total,
            "chunks_done": done,
            "chunks_failed": failed,
            "chunk_starts": sum(int(value) for value in starts),
        }
    finally:
        await redis.aclose()


async def wait_for(
    job: str, *, timeout: float, poll: float = 0.2, redis_url: str | None = None
) -> dict[str, int]:
    """Progress, once every chunk is done or failed (or at ``timeout``: whatever there is)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await progress(job, redis_url)
        finished = state["chunks_done"] + state["chunks_failed"]
        if (state["chunks"] and finished == state["chunks"]) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(poll)


async def export(
    job: str, output: str | None, requested: str | None, redis_url: str | None = None
) -> int:
    """Write a job's results as ``epay-async reconcile --output`` does (the same rows and
    writer; a ``.csv`` name means CSV), to ``output`` (locked while written) or stdout."""
    redis = await create_pool(redis_settings(redis_url))
    try:
        with contextlib.ExitStack() as files:
            if output is None:
                writer = RowWriter(sys.stdout, output_format(None, requested))
            else:
                target = open_output(output, requested, resume=False)
                files.callback(target.file.close)
                writer = RowWriter(target.file, target.format)
            count = 0
            async for _, value in redis.hscan_iter(results_key(job), count=1000):
                writer.write(json.loads(value))
                count += 1
            return count
    finally:
        await redis.aclose()


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

    def __init__(
        self,
        workers: int,
        *,
        latency: float = 0.0,
        chunk_timeout: float = 60,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.workers = workers
        self.latency = latency
        self.chunk_timeout = chunk_timeout
        self.concurrency = concurrency
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
            sandbox_command = [*self.recipe_command(), "sandbox", "--port", str(sandbox_port)]
            sandbox_command += ["--latency", str(self.latency)]
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
                "RECONCILE_CONCURRENCY": str(self.concurrency),
            }
            for _ in range(self.workers):
                self.worker_processes.append(self._start(self.worker_command(), env=self.env))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def recipe_command() -> list[str]:
        return [sys.executable, "-m", "epay_async.examples.reconcile_workers"]

    @classmethod
    def worker_command(cls) -> list[str]:
        return [*cls.recipe_command(), "worker"]

    def _start(
        self, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        root = Path(__file__).parents[2]  # the directory holding epay_async
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


async def serve_sandbox(port: int, latency: float) -> None:
    """The sandbox of ``local``: it answers any invoice by its last digit (0-6 CHARGE, 7 AUTH,
    8 REJECT, 9 not found) from a template, so it is not the bottleneck of a benchmark."""
    sandbox = Sandbox(answer_any_invoice=True, record_requests=False, latency=latency)
    await sandbox.serve("127.0.0.1", port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("enqueue", help="put a file of invoice ids on the queue")
    put.add_argument("file", help="one id per line, as epay-async reconcile reads it; - for stdin")
    put.add_argument("--job", required=True, help="a name for this run (results go under it)")
    put.add_argument("--chunk", type=int, default=500)
    commands.add_parser("worker", help="run a worker until stopped")
    report = commands.add_parser("report", help="how far a job is")
    report.add_argument("--job", required=True)
    out = commands.add_parser("export", help="a job's results as epay-async reconcile writes them")
    out.add_argument("--job", required=True)
    out.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    out.add_argument("--format", choices=("jsonl", "csv"), help="default: csv for *.csv")
    here = commands.add_parser("local", help="Redis, the sandbox and workers on this machine")
    here.add_argument("--workers", type=int, default=2)
    here.add_argument("--ids", type=int, default=20_000)
    here.add_argument("--chunk", type=int, default=500)
    here.add_argument("--latency", type=float, default=0.0, help="the sandbox's, in seconds")
    served = commands.add_parser("sandbox")  # local's sandbox, in its own process
    served.add_argument("--port", type=int, required=True)
    served.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (UsageError, JobNameInUse) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "worker":
        run_worker(WorkerSettings)
        return 0
    if args.command == "sandbox":
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(serve_sandbox, args.port, args.latency)
        return 0
    if args.command == "enqueue":
        if not 1 <= args.chunk <= 100_000:
            parser.error("--chunk must be from 1 to 100000")
        with read_ids(args.file) as ids:
            chunks = asyncio.run(enqueue(args.job, ids, args.chunk))
        print(f"{chunks} chunks enqueued for job {args.job}")
        return 0
    if args.command == "report":
        print(json.dumps(asyncio.run(progress(args.job))))
        return 0
    if args.command == "export":
        count = asyncio.run(export(args.job, args.output, args.format))
        sys.stderr.write(f"{count} results of job {args.job}\n")
        return 0
    if not 1 <= args.workers <= 16 or not 1 <= args.ids <= 1_000_000:
        parser.error("--workers must be from 1 to 16 and --ids from 1 to 1000000")
    print(json.dumps(asyncio.run(local(args.workers, args.ids, args.chunk, args.latency))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

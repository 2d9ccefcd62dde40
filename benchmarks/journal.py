"""What the payment journal adds to a money request: ``python -m benchmarks.journal``.

For each store (SQLite with ``synchronous=FULL`` — the default — and ``NORMAL`` for
comparison, and PostgreSQL started on 127.0.0.1 when its binaries are installed): the latency
of one ``begin`` + ``finish`` pair, one after another (p50, p99), and the throughput of 64
tasks each doing begin/finish pairs at once, against the same pairs done one at a time. Every
loop is bounded in count. The files live on a disk-backed temporary directory, so every
commit's fsync is real. ``--write`` puts the table into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path

from benchmarks.run import write_block
from epay_async.journal import Journal, JournalRecord, JournalState, PostgresJournal, SqliteJournal

BEGIN, END = "<!-- journal: begin -->", "<!-- journal: end -->"
CONCURRENCY = 64


def _record(n: int, run: str) -> JournalRecord:
    return JournalRecord.new(
        "pay_with_card",
        kind="payment",
        invoice_id=f"{run}-{n}",
        amount=Decimal("100.10"),
        currency="KZT",
    )


async def _pair(journal: Journal, n: int, run: str) -> None:
    rec = _record(n, run)
    await journal.begin(rec)
    await journal.finish(rec.id, JournalState.SUCCEEDED, transaction_id=f"tx-{n}")


async def measure(journal: Journal, sequential: int, concurrent: int, run: str) -> dict[str, float]:
    await _pair(journal, -1, run)  # connect, create the schema
    times = []
    for n in range(sequential):
        start = time.perf_counter()
        await _pair(journal, n, run)
        times.append(time.perf_counter() - start)
    times.sort()
    seq_rate = len(times) / sum(times)

    queue = iter(range(sequential, sequential + concurrent))

    async def worker() -> None:
        for n in queue:
            await _pair(journal, n, run)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    conc_rate = concurrent / (time.perf_counter() - start)
    return {
        "p50": statistics.median(times) * 1000,
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "seq": seq_rate,
        "conc": conc_rate,
    }


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    from tests.e2e.postgres_server import find_bin_dir, postgres_server  # noqa: PLC0415

    try:
        find_bin_dir()
    except RuntimeError as exc:
        print(f"PostgreSQL left out: {exc}")
        yield None
        return
    with postgres_server() as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def _stores(base: Path, dsn: str | None, run: str) -> AsyncIterator[dict[str, Journal]]:
    stores: dict[str, Journal] = {
        "SQLite, synchronous=FULL (default)": SqliteJournal(base / f"full-{run}.db"),
        "SQLite, synchronous=NORMAL": SqliteJournal(
            base / f"normal-{run}.db", synchronous="NORMAL"
        ),
    }
    if dsn is not None:
        stores["PostgreSQL 15, asyncpg pool of 10"] = PostgresJournal(dsn)
    try:
        yield stores
    finally:
        for store in stores.values():
            await store.aclose()


def report(sequential: int, concurrent: int, runs: int) -> str:
    results: dict[str, list[dict[str, float]]] = {}
    with _postgres() as dsn, tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        for r in range(runs):
            run = f"r{r}"

            async def one(run: str = run) -> None:
                async with _stores(Path(tmp), dsn, run) as stores:
                    for name, store in stores.items():
                        got = await measure(store, sequential, concurrent, run)
                        results.setdefault(name, []).append(got)
                        print(name, {k: round(v, 2) for k, v in got.items()})

            asyncio.run(one())

    def span(values: list[float], fmt: Callable[[float], str]) -> str:
        low, high = min(values), max(values)
        return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}-{fmt(high)}"

    ms: Callable[[float], str] = lambda v: f"{v:.2f}"  # noqa: E731
    rate: Callable[[float], str] = lambda v: f"{v:.0f}"  # noqa: E731
    lines = [
        f"Measured on {time.strftime('%Y-%m-%d')}: {sequential} pairs one at a time, then "
        f"{concurrent} pairs by {CONCURRENCY} concurrent tasks, {runs} runs (ranges cover both), "
        "2 cores, ext4 on a virtual disk.",
        "",
        "| store | begin+finish p50, ms | p99, ms | pairs/s, one at a time "
        f"| pairs/s, {CONCURRENCY} at once |",
        "|---|---|---|---|---|",
    ]
    for name, got in results.items():
        lines.append(
            f"| {name} | {span([g['p50'] for g in got], ms)} | {span([g['p99'] for g in got], ms)} "
            f"| {span([g['seq'] for g in got], rate)} | {span([g['conc'] for g in got], rate)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=640)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    block = report(args.sequential, args.concurrent, args.runs)
    print(block)
    if args.write:
        write_block(block + "\n", BEGIN, END)


if __name__ == "__main__":
    main()

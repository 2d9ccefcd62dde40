"""What the payment journal adds to a money request through the client:
``python -m benchmarks.journal_client [--write]``.

The same client (``pay_with_saved_card``: a token request and the payment) without a journal
and with each store, against a gateway that costs almost nothing (canned answers from another
process, ``benchmarks/canned_gateway.py``), the configurations interleaved in each run:

- the latency of one payment after another (p50, p99), and what the journal adds to it (the
  difference with the client without a journal, in the same run);
- the throughput of 64 payments at once, against the client without a journal and against the
  store's own rate of 64 concurrent begin+finish pairs (``benchmarks.journal.measure``): a
  journal that serialised payments behind one another would be capped near the one-at-a-time
  rate instead.

Every loop is bounded in count and in time (``--budget`` seconds per phase). ``--write`` puts
the table into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.canned_gateway import canned_gateway
from benchmarks.journal import _pair, _postgres
from benchmarks.run import machine, write_block
from epay_async import EpayClient, Order
from epay_async.journal import Journal, PostgresJournal, SqliteJournal
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

BEGIN, END = "<!-- journal-client: begin -->", "<!-- journal-client: end -->"
CONCURRENCY = 64
CARD = str(uuid.uuid4())
_invoices = itertools.count(100_000_000)
NONE, SQLITE, POSTGRES = "no journal", "SQLite (synchronous=FULL)", "PostgreSQL (asyncpg)"


def client(url: str, journal: Journal | None) -> EpayClient:
    return EpayClient(
        client_id=TEST_CLIENT_ID,
        client_secret=TEST_CLIENT_SECRET,
        terminal_id=TEST_TERMINAL_ID,
        environment=Sandbox.environment(url),
        journal=journal,
    )


async def pay(epay: EpayClient) -> None:
    order = Order(invoice_id=str(next(_invoices)), amount="150.00", description="benchmark")
    await epay.pay_with_saved_card(order, CARD)


async def sequential_chunk(epay: EpayClient, count: int, stop: float) -> list[float]:
    times: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        await pay(epay)
        times.append(time.perf_counter() - start)
        if time.monotonic() > stop:
            break
    return times


async def concurrent_chunk(epay: EpayClient, count: int, stop: float) -> float:
    """Payments/s of ``count`` payments by ``CONCURRENCY`` tasks."""
    left = iter(range(count))
    done = 0

    async def worker() -> None:
        nonlocal done
        for _ in left:
            if time.monotonic() > stop:
                return
            await pay(epay)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


async def store_chunk(journal: Journal, count: int, run: str) -> float:
    """begin+finish pairs/s of the store alone, ``count`` pairs by ``CONCURRENCY`` tasks."""
    left = iter(range(count))

    async def worker() -> None:
        for n in left:
            await _pair(journal, n, run)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - start)


async def one_run(
    url: str, base: Path, dsn: str | None, run: str, *, rounds: int, chunk: int, budget: float
) -> dict[str, dict[str, float]]:
    """Every configuration open at once and warmed up; ``rounds`` rounds, each giving every
    configuration in turn ``chunk`` payments one at a time, then each ``2 * CONCURRENCY`` at
    once, then each store its own ``2 * CONCURRENCY`` begin+finish pairs at once: the
    machine's drift hits them alike."""
    journals: dict[str, Journal | None] = {
        NONE: None,
        SQLITE: SqliteJournal(base / f"client-{run}.db"),
    }
    if dsn is not None:
        journals[POSTGRES] = PostgresJournal(dsn)
    times: dict[str, list[float]] = {name: [] for name in journals}
    medians: dict[str, list[float]] = {name: [] for name in journals}
    rates: dict[str, list[float]] = {name: [] for name in journals}
    store: dict[str, list[float]] = {name: [] for name in journals}
    stop = time.monotonic() + budget
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(client(url, journal))
            for name, journal in journals.items()
        }
        for journal in journals.values():
            if journal is not None:
                stack.push_async_callback(journal.aclose)
        for epay in clients.values():  # connections (the whole pool), the schema, statements
            await sequential_chunk(epay, 20, stop)
            await concurrent_chunk(epay, 2 * CONCURRENCY, stop)
        for r in range(rounds):
            for name, epay in clients.items():
                chunk_times = await sequential_chunk(epay, chunk, stop)
                times[name] += chunk_times
                medians[name].append(statistics.median(chunk_times))
            for name, epay in clients.items():
                rates[name].append(await concurrent_chunk(epay, 2 * CONCURRENCY, stop))
            for name, journal in journals.items():
                if journal is not None:
                    store[name].append(await store_chunk(journal, 2 * CONCURRENCY, f"{run}{r}"))
            if time.monotonic() > stop:
                break
    got: dict[str, dict[str, float]] = {}
    for name in journals:
        ordered = sorted(times[name])
        paired = [a / b for a, b in zip(rates[name], rates[NONE], strict=True)]
        got[name] = {
            "p50": statistics.median(ordered) * 1000,
            # What the journal adds: the median over rounds of this round's p50 difference.
            "added": statistics.median(
                a - b for a, b in zip(medians[name], medians[NONE], strict=True)
            )
            * 1000,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "seq": len(ordered) / sum(ordered),
            "conc": statistics.median(rates[name]),
            "ratio": statistics.median(paired),
            "store": statistics.median(store[name]) if store[name] else 0.0,
        }
        print(run, name, {k: round(v, 2) for k, v in got[name].items()}, flush=True)
    return got


def report(rounds: int, chunk: int, runs: int, budget: float) -> str:
    results: list[dict[str, dict[str, float]]] = []
    load_before = os.getloadavg()[0]
    with (
        canned_gateway() as url,
        _postgres() as dsn,
        tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp,
    ):
        for r in range(runs):
            results.append(
                asyncio.run(
                    one_run(url, Path(tmp), dsn, f"r{r}", rounds=rounds, chunk=chunk, budget=budget)
                )
            )

    def span(values: list[float], fmt: str) -> str:
        low, high = format(min(values), fmt), format(max(values), fmt)
        return low if low == high else f"{low}-{high}"

    def of(name: str, key: str) -> list[float]:
        return [run[name][key] for run in results]

    def added(name: str, key: str) -> list[float]:
        return [run[name][key] - run[NONE][key] for run in results]

    lines = [
        f"Measured on {time.strftime('%Y-%m-%d')}: {machine()}. {runs} runs (ranges cover "
        f"them) of {rounds} rounds; each round gives every configuration in turn {chunk} "
        f"payments one at a time, then each {2 * CONCURRENCY} by {CONCURRENCY} concurrent "
        "tasks (payments/s: the median round; added p50 and vs no journal: the median of "
        "the rounds' differences and ratios). A payment is a token "
        "request and `pay_with_saved_card` against canned answers from another process. The 2 "
        "cores were shared with other jobs during the runs: load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        "| journal | p50, ms | p99, ms | added p50, ms | added p99, ms | payments/s, one at "
        f"a time | payments/s, {CONCURRENCY} at once | vs no journal | store alone, pairs/s at "
        f"{CONCURRENCY} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results[0]:
        extra = name != NONE
        lines.append(
            f"| {name} | {span(of(name, 'p50'), '.2f')} | {span(of(name, 'p99'), '.2f')} "
            f"| {span(of(name, 'added'), '.2f') if extra else '—'} "
            f"| {span(added(name, 'p99'), '.2f') if extra else '—'} "
            f"| {span(of(name, 'seq'), '.0f')} | {span(of(name, 'conc'), '.0f')} "
            f"| {span(of(name, 'ratio'), '.2f') + '×' if extra else '—'} "
            f"| {span(of(name, 'store'), '.0f') if extra else '—'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=30, help="payments one at a time per round")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per run, at most")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    block = report(args.rounds, args.chunk, args.runs, args.budget)
    print(block)
    if args.write:
        write_block(block + "\n", BEGIN, END)


if __name__ == "__main__":
    main()

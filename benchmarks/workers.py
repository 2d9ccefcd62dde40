"""Throughput of the worker recipe (``epay_async.examples.reconcile_workers``):
``make bench-workers``.

A Redis, the sandbox (its own process) and 1 or 2 arq worker processes on 127.0.0.1, the
same ids reconciled by each set-up, best of ``--repeats``. ``--write`` puts the table into
``benchmarks/README.md`` between its markers.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.run import write_block
from epay_async.examples.reconcile_workers import local

BEGIN, END = "<!-- workers: begin -->", "<!-- workers: end -->"


def report(count: int, repeats: int, latency: float) -> str:
    best: dict[int, float] = {}
    for _ in range(repeats):
        for workers in (1, 2):  # interleaved: the machine's noise falls on both
            rate = asyncio.run(local(workers, count, 500, latency))["rate"]
            best[workers] = max(best.get(workers, 0.0), rate)
    lines = [
        f"Measured on {time.strftime('%Y-%m-%d')}: {count} ids in chunks of 500, sandbox "
        f"latency {latency * 1000:.0f} ms, best of {repeats}.",
        "",
        "| workers | invoices/s | vs 1 worker |",
        "|---|---|---|",
    ]
    for workers, rate in best.items():
        lines.append(f"| {workers} | {rate:.0f} | {rate / best[1]:.2f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    text = report(args.ids, args.repeats, args.latency)
    print(text)
    if args.write:
        write_block(text, BEGIN, END)


if __name__ == "__main__":
    main()

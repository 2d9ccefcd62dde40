"""epay_async benchmarks: ``make bench`` (``python -m benchmarks.run [--write]``).

Every figure that has a target is a ratio measured in the same run against a baseline doing
the same work, so the machine's speed cancels out. ``--write`` puts the report into
``benchmarks/README.md`` between its markers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx

from benchmarks.canned_gateway import canned_gateway
from epay_async import Card, EpayClient, Order, TransactionStatus
from epay_async._converter import loads, structure
from epay_async._http import Answer
from epay_async._ops.status import parse_status
from epay_async.cryptogram import CryptogramEncryptor
from epay_async.testing import TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox
from epay_async.testing._gateway import synthesized_status
from epay_async.testing._keys import generated_key

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- results: begin -->", "<!-- results: end -->"
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "scope": "webapi usermanagement email_send verification statement statistics payment",
    "client_id": "test",
    "client_secret": TEST_CLIENT_SECRET,
    "terminal": TEST_TERMINAL_ID,
}


def ids(count: int, start: int = 100_000_000) -> Iterator[str]:
    return (str(start + n) for n in range(count))


def best_of(repeats: int, seconds: Callable[[], float]) -> float:
    return min(seconds() for _ in range(repeats))


# -- 1. per-call overhead, in-process ---------------------------------------------------------


async def per_call_overhead(
    calls: int = 2000, repeats: int = 5
) -> list[tuple[str, str, float, float]]:
    """(call, client, library µs/call, raw httpx µs/call) over the same in-process sandbox
    transport: the library's own client built with ``transport=``, and a lent ``http_client``."""
    sandbox = Sandbox(key_bits=2048, answer_any_invoice=True, record_requests=False)
    env = Sandbox.environment()
    card_id = sandbox.save_card("4405639704015096", account_id="bench")
    async with (
        sandbox.client() as own,
        httpx.AsyncClient(transport=sandbox.transport) as lent,
        sandbox.client(http_client=lent, transport="httpx") as borrowed,
        httpx.AsyncClient(transport=sandbox.transport) as http,
    ):
        token = (await http.post(env.token_url, data=TOKEN_FORM)).json()["access_token"]
        status_url = f"{env.api_url}/check-status/payment/transaction/100000001"
        invoices = ids(10_000_000, start=300_000_000)

        def lib_status(epay: EpayClient) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for _ in range(calls):
                    await epay.get_status("100000001")

            return run

        async def raw_status() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(calls):
                (await http.get(status_url, headers=headers)).json()

        def order() -> Order:
            return Order(invoice_id=next(invoices), amount=Decimal("100.00"), description="b")

        def lib_pay(epay: EpayClient) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                for _ in range(calls // 4):
                    await epay.pay_with_saved_card(order(), card_id)

            return run

        async def raw_pay() -> None:
            for _ in range(calls // 4):
                invoice = next(invoices)
                form = {**TOKEN_FORM, "invoiceID": invoice, "amount": "100.00", "currency": "KZT"}
                token = (await http.post(env.token_url, data=form)).json()["access_token"]
                body = {
                    "amount": 100.00,
                    "currency": "KZT",
                    "terminalId": TEST_TERMINAL_ID,
                    "invoiceId": invoice,
                    "description": "b",
                    "paymentType": "cardId",
                    "cardId": {"id": card_id},
                }
                answer = await http.post(
                    f"{env.api_url}/payments/cards/auth",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                answer.json()

        for epay in (own, borrowed):
            await epay.get_status("100000001")  # the read token, cached
        rows = []
        for name, lib, raw, count in (
            ("get_status", lib_status, raw_status, calls),
            ("pay_with_saved_card (token + payment)", lib_pay, raw_pay, calls // 4),
        ):
            runs = {"own": lib(own), "lent": lib(borrowed), "raw": raw}
            timings = dict.fromkeys(runs, float("inf"))
            for _ in range(repeats):  # interleaved, best of: the machine's noise cancels out
                for key, run in runs.items():
                    started = time.perf_counter()
                    await run()
                    timings[key] = min(timings[key], time.perf_counter() - started)
            raw_us = timings["raw"] / count * 1e6
            rows.append((name, "own (`transport=`)", timings["own"] / count * 1e6, raw_us))
            rows.append((name, "lent `http_client`", timings["lent"] / count * 1e6, raw_us))
    return rows


# -- 2. reconcile throughput over loopback ----------------------------------------------------


async def _workers(concurrency: int, count: int, one: Callable[[str], Awaitable[object]]) -> None:
    source = ids(count)

    async def worker() -> None:
        for invoice in source:
            await one(invoice)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


async def _token(url: str) -> str:
    async with httpx.AsyncClient() as http:
        return str((await http.post(f"{url}/oauth2/token", data=TOKEN_FORM)).json()["access_token"])


async def library_rate(url: str, transport: str, concurrency: int, count: int) -> float:
    environment = Sandbox.environment(url)
    async with EpayClient(
        client_id="test",
        client_secret=TEST_CLIENT_SECRET,
        terminal_id=TEST_TERMINAL_ID,
        environment=environment,
        transport=transport,
    ) as epay:  # type: ignore[arg-type]
        async with epay.reconcile(ids(50), concurrency=concurrency) as results:  # warm the pool
            async for _ in results:
                pass
        started = time.perf_counter()
        async with epay.reconcile(ids(count), concurrency=concurrency) as results:
            async for result in results:
                assert result.error is None, result.error
        return count / (time.perf_counter() - started)


async def raw_httpx_rate(url: str, concurrency: int, count: int) -> float:
    headers = {"Authorization": f"Bearer {await _token(url)}"}
    async with httpx.AsyncClient() as http:

        async def one(invoice: str) -> None:
            response = await http.get(
                f"{url}/check-status/payment/transaction/{invoice}", headers=headers
            )
            response.json()

        await _workers(concurrency, 50, one)
        started = time.perf_counter()
        await _workers(concurrency, count, one)
        return count / (time.perf_counter() - started)


async def _raw_aiohttp(
    url: str, concurrency: int, count: int, read: Callable[[aiohttp.ClientResponse, str], Any]
) -> float:
    """Requests/s of raw aiohttp asking check-status, each answer given to ``read``."""
    headers = {"Authorization": f"Bearer {await _token(url)}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one(invoice: str) -> None:
            async with session.get(
                f"{url}/check-status/payment/transaction/{invoice}", headers=headers
            ) as response:
                await read(response, invoice)

        await _workers(concurrency, 50, one)
        started = time.perf_counter()
        await _workers(concurrency, count, one)
        return count / (time.perf_counter() - started)


async def _json(response: aiohttp.ClientResponse, _: str) -> None:
    await response.json()


async def _typed(response: aiohttp.ClientResponse, invoice: str) -> None:
    body = await response.read()
    parse_status(Answer(response.status, response.headers, body, 0.0), invoice)


async def raw_aiohttp_rate(url: str, concurrency: int, count: int) -> float:
    return await _raw_aiohttp(url, concurrency, count, _json)


async def raw_aiohttp_typed_rate(url: str, concurrency: int, count: int) -> float:
    """Raw aiohttp that reads each answer into the library's typed ``TransactionStatus``
    (``Decimal`` money, checked fields): the work a payment client cannot skip, so the ratio
    against it shows what the library's own pipeline costs over aiohttp. Informative: the
    target stays the ratio against raw aiohttp's untyped ``response.json()``."""
    return await _raw_aiohttp(url, concurrency, count, _typed)


async def throughput(
    url: str, count: int, repeats: int = 3
) -> list[tuple[int, float, float, float, float, float]]:
    """Requests/s, best of ``repeats`` with the five clients interleaved: on a small shared
    machine a single run of each can differ by a third from one minute to the next."""
    rows = []
    for concurrency in (16, 64, 256):
        n = count
        runs: list[Callable[[], Awaitable[float]]] = [
            functools.partial(library_rate, url, "httpx", concurrency, n),
            functools.partial(raw_httpx_rate, url, concurrency, n),
            functools.partial(library_rate, url, "aiohttp", concurrency, n),
            functools.partial(raw_aiohttp_rate, url, concurrency, n),
            functools.partial(raw_aiohttp_typed_rate, url, concurrency, n),
        ]
        best = [0.0] * len(runs)
        for _ in range(repeats):
            for index, run in enumerate(runs):
                best[index] = max(best[index], await run())
        rows.append((concurrency, best[0], best[1], best[2], best[3], best[4]))
    return rows


# -- 3. tokens, 4. memory, 5. cryptogram and converter ----------------------------------------


async def token_counts() -> tuple[int, int]:
    sandbox = Sandbox(key_bits=2048, answer_any_invoice=True)
    async with sandbox.client() as epay:
        async with epay.reconcile(ids(10_000), concurrency=32) as results:
            async for _ in results:
                pass
        status_tokens = len(sandbox.token_requests)
        card_id = sandbox.save_card("4405639704015096", account_id="bench")
        for invoice in ids(1000, start=200_000_000):
            order = Order(invoice_id=invoice, amount=Decimal("10.00"), description="b")
            await epay.pay_with_saved_card(order, card_id)
    return status_tokens, len(sandbox.token_requests) - status_tokens


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _reconcile_100k() -> None:
    sandbox = Sandbox(key_bits=2048, answer_any_invoice=True, record_requests=False)
    async with sandbox.client() as epay:

        async def generated() -> AsyncIterator[str]:
            for invoice in ids(100_000):
                yield invoice

        async with epay.reconcile(ids(1000), concurrency=64) as results:  # warm up
            async for _ in results:
                pass
        baseline = peak_rss_mib()
        done = 0
        async with (
            contextlib.aclosing(generated()) as source,
            epay.reconcile(source, concurrency=64) as results,
        ):
            async for _ in results:
                done += 1
        assert done == 100_000
        print(f"{peak_rss_mib() - baseline:.1f}")


def memory_growth_mib() -> float:
    """Peak RSS growth while reconciling 100 000 ids, in a fresh process."""
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--memory-child"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def micro() -> dict[str, float]:
    key = generated_key(4096).public_key()
    encryptor = CryptogramEncryptor(key)
    card = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
    body = synthesized_status("100000001", TEST_TERMINAL_ID).body

    def timed(fn: Callable[[], Any], number: int) -> float:
        def once() -> float:
            started = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - started) / number * 1e6

        return best_of(5, once)

    return {
        "cryptogram (RSA-4096, PKCS#1 v1.5), µs": timed(
            lambda: encryptor.encrypt_card(card, TEST_TERMINAL_ID), 500
        ),
        "converter: check-status body -> TransactionStatus, µs": timed(
            lambda: structure(loads(body), TransactionStatus, what="status"), 5000
        ),
        "of which JSON parsing with Decimal, µs": timed(lambda: loads(body), 5000),
    }


# -- report -----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("httpx", "aiohttp", "uvicorn", "anyio", "cattrs")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; {versions}"
    )


def ratio(value: float, target: str) -> str:
    return f"**{value:.2f}×** (target {target})"


async def report(count: int) -> str:
    lines = [f"Measured on {time.strftime('%Y-%m-%d')}: {machine()}.", ""]
    lines += [
        "### Per-call overhead (in-process sandbox transport, best of 5, interleaved)",
        "",
        "| call | library's client | library µs | raw httpx µs | ratio |",
        "|---|---|---|---|---|",
    ]
    for name, client, lib, raw in await per_call_overhead():
        target = "≤ 1.10×" if client.startswith("own") else "≤ 1.35×"
        lines.append(f"| {name} | {client} | {lib:.0f} | {raw:.0f} | {ratio(lib / raw, target)} |")
    with canned_gateway() as url:
        rows = await throughput(url, count)
    lines += [
        "",
        "### Reconcile throughput over loopback (a canned-answer gateway in its own process), "
        "requests/s, best of 3 interleaved",
        "",
        "| in flight | library (httpx) | raw httpx | ratio | library (native aiohttp) | "
        "raw aiohttp | ratio | raw aiohttp + typed answer | ratio to it |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for concurrency, lib, raw, lib_aio, raw_aio, typed_aio in rows:
        lines.append(
            f"| {concurrency} | {lib:.0f} | {raw:.0f} | {ratio(lib / raw, '≥ 1.0×')} | "
            f"{lib_aio:.0f} | {raw_aio:.0f} | {ratio(lib_aio / raw_aio, '≥ 0.85×')} | "
            f"{typed_aio:.0f} | {lib_aio / typed_aio:.2f}× |"
        )
    status_tokens, payment_tokens = await token_counts()
    growth = memory_growth_mib()
    lines += [
        "",
        "### Tokens, memory, cryptography",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| token requests for 10 000 status checks | {status_tokens} | 1 |",
        f"| token requests for 1 000 payments | {payment_tokens} | 1 000 |",
        f"| peak memory growth, reconciling 100 000 ids from a generator | "
        f"{growth:.1f} MiB | < 50 MiB |",
    ]
    for name, value in micro().items():
        lines.append(f"| {name} | {value:.1f} | — |")
    return "\n".join(lines) + "\n"


def write_block(text: str, begin: str, end: str) -> None:
    """Put ``text`` into ``benchmarks/README.md`` between its ``begin`` and ``end`` markers."""
    readme = README.read_text(encoding="utf-8")
    head, _, rest = readme.partition(begin)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{begin}\n{text}{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    parser.add_argument("--requests", type=int, default=2000, help="per throughput run")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        anyio.run(_reconcile_100k)
        return
    text = anyio.run(report, args.requests)
    print(text)
    if args.write:
        write_block(text, BEGIN, END)


if __name__ == "__main__":
    main()

"""No money request lost when the process dies: real merchant processes, SIGKILLed.

A merchant process (tests/e2e/journal_merchant.py) pays against the sandbox served over HTTP
by this test, on a real journal (a SQLite file under asyncio and trio; a real PostgreSQL on
127.0.0.1), and is killed with SIGKILL at each stage of its last payment. A fresh process on
the same journal then runs ``recover()``. Every payment must be accounted for exactly once,
none sent twice, none left open, and the journal must say what the sandbox recorded.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import asyncpg
import pytest

from epay_async.journal import SqliteJournal
from epay_async.testing import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    Fault,
    Sandbox,
)
from tests.e2e.postgres_server import postgres_server

ROOT = Path(__file__).resolve().parents[2]
PAN = "4405639704015096"
PAY_PATH = "/payments/cards/auth"
#: Every wait for a process or the sandbox is bounded by this.
WAIT = 60.0
_numbers = itertools.count(random.randrange(10_000_000, 90_000_000, 1000))


def invoice_ids(count: int) -> list[str]:
    return [f"{next(_numbers):09d}" for _ in range(count)]


class Merchant:
    """One ``python -m tests.e2e.journal_merchant`` process; its stdout read line by line on
    a thread, so that every wait is bounded."""

    def __init__(self, *args: str, prefix: tuple[str, ...] = ()) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own script
            [*prefix, sys.executable, "-m", "tests.e2e.journal_merchant", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, key: str) -> dict[str, Any]:
        """The next line holding ``key`` (earlier lines are skipped); fails after ``WAIT``."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no {key!r} from the merchant within {WAIT} s")
            if line is None:
                self.proc.wait(timeout=WAIT)
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                pytest.fail(
                    f"the merchant exited ({self.proc.returncode}) before {key!r}:\n{stderr}"
                )
            found: dict[str, Any] = json.loads(line)
            if key in found:
                return found

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL, and reap it: its pid is then gone, as after a crash."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT)
        self.kill()
        return code


class Served:
    """The sandbox served over HTTP from a thread of its own, for sync tests."""

    def __init__(self, sandbox: Sandbox, portal: anyio.from_thread.BlockingPortal, url: str):
        self.sandbox, self.portal, self.url = sandbox, portal, url

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(functools.partial(fn, *args, **kwargs))

    def payments_of(self, invoice_id: str) -> int:
        """Payment requests for ``invoice_id`` that reached the gateway."""
        requests = self.call(self.sandbox.requests_to, PAY_PATH, "POST")
        return sum(1 for r in requests if r.json().get("invoiceId") == invoice_id)

    def transaction(self, invoice_id: str) -> Any:
        return self.call(self.sandbox.gateway.ledger.find_transaction, "payment", invoice_id)

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"the sandbox never saw {what} within {WAIT} s")
            time.sleep(0.02)


@pytest.fixture
def served() -> Iterator[Served]:
    sandbox = Sandbox(key_bits=2048)
    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(sandbox.serve, "127.0.0.1", 0)
        try:
            yield Served(sandbox, portal, f"http://127.0.0.1:{port}")
        finally:
            future.cancel()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


def fresh_database(server: str) -> str:
    name = f"k{uuid.uuid4().hex}"

    async def create() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return server.rsplit("/", 1)[0] + "/" + name


STORES = ["sqlite-asyncio", "sqlite-trio", "postgres-asyncio"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(journal: a SQLite path or a PostgreSQL DSN, event loop backend)."""
    name, backend = str(request.param).split("-")
    if name == "postgres":
        return fresh_database(request.getfixturevalue("pg_server")), backend
    return str(tmp_path / "journal.db"), backend


def recover(served: Served, journal: str, backend: str) -> dict[str, Any]:
    merchant = Merchant("recover", "--journal", journal, "--url", served.url, "--backend", backend)
    found = merchant.expect("recovered")
    assert merchant.finish() == 0
    return found


# -- killed at each stage -----------------------------------------------------------------


@pytest.mark.parametrize("stage", ["before_intent", "intent_committed", "sending", "answered"])
def test_killed_at_each_stage_every_payment_is_accounted_for_once(
    served: Served, store: tuple[str, str], stage: str
) -> None:
    journal, backend = store
    card = served.call(served.sandbox.save_card, PAN, account_id="kill-test")
    invoices = invoice_ids(3)
    last = invoices[-1]
    merchant = Merchant(
        "pay", "--journal", journal, "--url", served.url, "--card", card,
        *itertools.chain.from_iterable(("--invoice", i) for i in invoices),
        "--stop-at", stage, "--backend", backend,
    )  # fmt: skip
    try:
        for invoice_id in invoices[:-1]:
            assert merchant.expect("paid")["paid"] == invoice_id
        announced = merchant.expect("stage")
        assert announced["stage"] == stage
        if stage == "sending":
            # The gateway acts on the payment, then holds its answer back; the merchant is
            # killed once the request has arrived and been carried out.
            served.call(served.sandbox.fail, PAY_PATH, Fault.slow(WAIT))
            merchant.send("go")
            served.wait_until(
                f"the payment of {last}",
                lambda: served.payments_of(last) == 1 and served.transaction(last) is not None,
            )
    finally:
        merchant.kill()
    assert merchant.proc.returncode == -signal.SIGKILL

    result = recover(served, journal, backend)
    records = {r["invoice"]: r for r in result["records"]}
    recovered = {r["invoice"]: r for r in result["recovered"]}

    # None sent twice; the first two paid and closed by the merchant itself.
    for invoice_id in invoices:
        assert served.payments_of(invoice_id) <= 1, invoice_id
    assert len(result["records"]) == len(records)  # one record per payment, no duplicates
    for invoice_id in invoices[:-1]:
        rec, tx = records[invoice_id], served.transaction(invoice_id)
        assert served.payments_of(invoice_id) == 1
        assert (rec["state"], rec["transaction"]) == ("succeeded", tx.id)
    # None left open once old enough; a second recovery at once finds only what the first
    # had to leave open.
    assert all(r["state"] not in ("intent", "in_doubt") for r in result["records"])
    assert [r["invoice"] for r in result["again"]] == [
        r["invoice"] for r in result["recovered"] if not r["settled"]
    ]

    reached = served.payments_of(last)
    transaction = served.transaction(last)
    if stage == "before_intent":  # nothing committed, nothing sent: no trace anywhere
        assert last not in records
        assert recovered == {}
        assert (reached, transaction) == (0, None)
        return
    assert list(recovered) == [last]
    rec = records[last]
    assert rec["state"] == "settled"
    assert rec["writer"].endswith(f":{merchant.proc.pid}")
    assert rec["amount"] == "150.00"
    if stage == "intent_committed":  # committed, never sent: the gateway has no such invoice
        assert (reached, transaction) == (0, None)
        # Not closed at the restart: a request of the killed process might still arrive.
        assert recovered[last]["settled"] is False
        assert recovered[last]["reason"].startswith("not at the gateway yet")
        assert [r["invoice"] for r in result["later"]] == [last]
        assert (rec["result_code"], rec["payment_state"]) == (102, "not_found")
    else:  # it reached the gateway: the journal says what the gateway did
        assert recovered[last]["settled"] is True
        assert result["later"] == []
        assert reached == 1
        assert transaction is not None
        assert (rec["result_code"], rec["payment_state"]) == (100, "paid")
        assert rec["status_name"] == str(transaction.status.value)


# -- two processes, one invoice -------------------------------------------------------------


@pytest.mark.parametrize(
    "store", ["sqlite-asyncio", "sqlite-trio", "postgres-asyncio"], indirect=True
)
def test_two_processes_paying_one_invoice_at_once_send_one_request(
    served: Served, store: tuple[str, str]
) -> None:
    journal, backend = store
    card = served.call(served.sandbox.save_card, PAN, account_id="race-test")
    (invoice_id,) = invoice_ids(1)
    # The winner's answer takes a while, so the loser certainly starts while it is open.
    served.call(served.sandbox.fail, PAY_PATH, Fault.slow(2.0), times=2)
    args = ["race", "--journal", journal, "--url", served.url, "--card", card]
    args += ["--invoice", invoice_id, "--backend", backend]
    racers = [Merchant(*args) for _ in range(2)]
    try:
        for racer in racers:
            racer.expect("ready")
        for racer in racers:
            racer.send("go")
        said = [racer.expect("outcome") for racer in racers]
        assert [racer.finish() for racer in racers] == [0, 0]
    finally:
        for racer in racers:
            racer.kill()
    assert sorted(found["outcome"] for found in said) == ["RequestInFlightError", "paid"], said
    assert served.payments_of(invoice_id) == 1


# -- the journal unreachable ----------------------------------------------------------------


def _assert_refused_and_reads_work(
    served: Served, found: list[dict[str, Any]], invoice: str
) -> None:
    refusal, read = found
    assert refusal["pay"] == "JournalUnavailableError"
    assert refusal["message"].startswith("payment journal unavailable (begin)")
    assert served.payments_of(invoice) == 0  # refused before it left
    assert (read["read"], read["state"]) == (102, "not_found")  # check-status still answered


def test_an_unwritable_sqlite_file_refuses_money_requests_and_reads_still_work(
    served: Served,
) -> None:
    base = Path(tempfile.mkdtemp(prefix="epay-ro-"))
    try:
        path = base / "journal.db"

        async def create() -> None:
            async with SqliteJournal(path) as journal:
                await journal.open_records()

        anyio.run(create)
        # Root writes anything: the merchant runs without CAP_DAC_OVERRIDE (util-linux's
        # setpriv), so the file's mode holds for it as for any user.
        prefix = ("setpriv", "--bounding-set=-dac_override", "--") if os.geteuid() == 0 else ()
        for name in os.listdir(base):
            (base / name).chmod(0o444)
        base.chmod(0o555)
        card = served.call(served.sandbox.save_card, PAN, account_id="ro-test")
        (invoice_id,) = invoice_ids(1)
        merchant = Merchant(
            "refused", "--journal", str(path), "--url", served.url, "--card", card,
            "--invoice", invoice_id, prefix=prefix,
        )  # fmt: skip
        try:
            found = [merchant.expect("pay"), merchant.expect("read")]
            assert merchant.finish() == 0
        finally:
            merchant.kill()
        _assert_refused_and_reads_work(served, found, invoice_id)
        assert str(path) in found[0]["message"]
    finally:
        base.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_down_refuses_money_requests_and_reads_still_work(served: Served) -> None:
    card = served.call(served.sandbox.save_card, PAN, account_id="pg-down-test")
    paid, refused = invoice_ids(2)
    with postgres_server() as dsn:  # up: a payment goes through
        merchant = Merchant(
            "refused", "--journal", dsn, "--url", served.url, "--card", card, "--invoice", paid
        )
        try:
            assert merchant.expect("pay")["pay"] == "paid"
            assert merchant.finish() == 0
        finally:
            merchant.kill()
    # The same server, stopped.
    merchant = Merchant(
        "refused", "--journal", dsn, "--url", served.url, "--card", card, "--invoice", refused
    )
    try:
        found = [merchant.expect("pay"), merchant.expect("read")]
        assert merchant.finish() == 0
    finally:
        merchant.kill()
    _assert_refused_and_reads_work(served, found, refused)
    assert served.payments_of(paid) == 1


# -- the CLI on a PostgreSQL journal a killed merchant left open ----------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own CLI
        [sys.executable, "-m", "epay_async", "journal", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=WAIT,
        check=False,
    )


def test_the_cli_lists_and_recovers_what_a_killed_merchant_left_in_postgres(
    served: Served, pg_server: str
) -> None:
    dsn = fresh_database(pg_server)
    card = served.call(served.sandbox.save_card, PAN, account_id="cli-test")
    (invoice_id,) = invoice_ids(1)
    merchant = Merchant(
        "pay", "--journal", dsn, "--url", served.url, "--card", card,
        "--invoice", invoice_id, "--stop-at", "answered",
    )  # fmt: skip
    try:
        merchant.expect("stage")
    finally:
        merchant.kill()

    listed = cli("list", dsn, "--state", "open", "--format", "jsonl")
    assert listed.returncode == 0, listed.stderr
    (row,) = map(json.loads, listed.stdout.splitlines())
    assert (row["invoice_id"], row["state"], row["amount"]) == (invoice_id, "intent", "150.00")

    assert cli("recover", dsn).returncode == 2  # no credentials: a usage error, nothing done
    credentials = {
        "EPAY_CLIENT_ID": TEST_CLIENT_ID,
        "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
        "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
        "EPAY_ENVIRONMENT": served.url,
    }
    recovered = cli("recover", dsn, "--format", "jsonl", env=credentials)
    assert recovered.returncode == 0, recovered.stderr
    (row,) = map(json.loads, recovered.stdout.splitlines())
    assert (row["invoice_id"], row["settled"], row["payment_state"]) == (invoice_id, True, "paid")
    assert cli("list", dsn, "--state", "open").stdout.count("\n") == 1  # the header alone
    assert served.payments_of(invoice_id) == 1

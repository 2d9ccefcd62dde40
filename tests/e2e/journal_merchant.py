"""A merchant process for the journal's kill tests (tests/e2e/test_journal_kill.py).

    python -m tests.e2e.journal_merchant pay --journal J --url URL --card CARD \\
        --invoice 000000001 --invoice 000000002 [--stop-at STAGE] [--backend trio]
    python -m tests.e2e.journal_merchant recover --journal J --url URL
    python -m tests.e2e.journal_merchant race --journal J --url URL --card CARD --invoice I
    python -m tests.e2e.journal_merchant refused --journal J --url URL --card CARD --invoice I

``J`` is a SQLite path or a ``postgresql://`` DSN. Each line on stdout is one JSON object.

``pay`` pays the invoices one after another with a saved card; with ``--stop-at`` the *last*
one stops at a stage, says so on stdout (``{"stage": ...}``) and blocks there, for the test to
SIGKILL it:

- ``before_intent``: ``journal.begin`` called, nothing committed yet;
- ``intent_committed``: the intent is committed, the request not sent;
- ``sending``: the intent is committed; the process waits for ``go`` on stdin and then sends
  (the test has made the gateway slow to answer, and kills it once the request arrived);
- ``answered``: the answer was read, its outcome not committed.

Every block is bounded (``BLOCK_SECONDS``): a merchant nobody kills exits with status 3.
"""

from __future__ import annotations

import argparse
import builtins
import datetime as dt
import json
import sys
from collections.abc import Collection
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from epay_async import EpayClient, Order
from epay_async.errors import EpayError
from epay_async.journal import (
    Journal,
    JournalRecord,
    JournalState,
    PostgresJournal,
    Recovered,
    SqliteJournal,
)
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox
from epay_async.types.status import PaymentState

STAGES = ("before_intent", "intent_committed", "sending", "answered")
BLOCK_SECONDS = 60.0


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields, default=str) + "\n")
    sys.stdout.flush()


async def block() -> None:
    await anyio.sleep(BLOCK_SECONDS)
    say(error=f"not killed within {BLOCK_SECONDS} s")
    sys.stdout.flush()
    raise SystemExit(3)


async def wait_for_go() -> None:
    with anyio.fail_after(BLOCK_SECONDS):
        line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    if line.strip() != "go":
        raise SystemExit(f"expected go on stdin, got {line!r}")


class StoppingJournal:
    """A journal that stops at ``stage`` on the record of ``invoice_id`` (see the module doc)."""

    def __init__(self, inner: Journal, stage: str | None, invoice_id: str) -> None:
        self.inner = inner
        self.stage = stage
        self.invoice_id = invoice_id
        self._target: str | None = None

    async def begin(self, record: JournalRecord) -> None:
        hit = self.stage is not None and record.invoice_id == self.invoice_id
        if hit:
            self._target = record.id
        if hit and self.stage == "before_intent":
            say(stage="before_intent", invoice=record.invoice_id)
            await block()
        await self.inner.begin(record)
        if hit and self.stage == "intent_committed":
            say(stage="intent_committed", invoice=record.invoice_id, record=record.id)
            await block()
        if hit and self.stage == "sending":
            say(stage="sending", invoice=record.invoice_id, record=record.id)
            await wait_for_go()

    async def finish(
        self,
        record_id: str,
        state: JournalState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        if self.stage == "answered" and record_id == self._target:
            say(stage="answered", record=record_id, outcome=str(state), transaction=transaction_id)
            await block()
        await self.inner.finish(record_id, state, transaction_id=transaction_id, detail=detail)

    async def open_records(
        self, older_than: dt.timedelta | None = None
    ) -> builtins.list[JournalRecord]:
        return await self.inner.open_records(older_than)

    async def settle(
        self,
        record_id: str,
        *,
        result_code: int,
        status_name: str | None,
        state: PaymentState | str,
    ) -> bool:
        return await self.inner.settle(
            record_id, result_code=result_code, status_name=status_name, state=state
        )

    async def get(self, record_id: str) -> JournalRecord | None:
        return await self.inner.get(record_id)

    async def list(
        self, limit: int = 100, *, states: Collection[JournalState] | None = None
    ) -> builtins.list[JournalRecord]:
        return await self.inner.list(limit, states=states)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> StoppingJournal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def open_journal(spec: str) -> Journal:
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresJournal(spec, connect_timeout=3)
    return SqliteJournal(spec)


def client(url: str, journal: Journal) -> EpayClient:
    return EpayClient(
        client_id=TEST_CLIENT_ID,
        client_secret=TEST_CLIENT_SECRET,
        terminal_id=TEST_TERMINAL_ID,
        environment=Sandbox.environment(url),
        journal=journal,
        timeout=90.0,  # the gateway made slow must not time out before the kill
    )


def record_row(record: JournalRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "invoice": record.invoice_id,
        "state": str(record.state),
        "transaction": record.transaction_id,
        "amount": None if record.amount is None else str(record.amount),
        "writer": record.writer,
        "result_code": record.result_code,
        "status_name": record.status_name,
        "payment_state": record.payment_state,
    }


def recovered_row(item: Recovered) -> dict[str, Any]:
    return {
        "invoice": item.record.invoice_id,
        "settled": item.settled,
        "state": str(item.record.state),
        "payment_state": item.record.payment_state,
        "reason": item.reason,
    }


def order(invoice_id: str) -> Order:
    return Order(invoice_id=invoice_id, amount="150.00", description="kill test")


async def pay(args: argparse.Namespace) -> None:
    journal = StoppingJournal(open_journal(args.journal), args.stop_at, args.invoice[-1])
    async with client(args.url, journal) as epay:
        say(ready=True)
        for invoice_id in args.invoice:
            result = await epay.pay_with_saved_card(order(invoice_id), args.card)
            say(paid=invoice_id, transaction=result.id, status=str(result.status))


async def recover(args: argparse.Namespace) -> None:
    """``recover()`` as at a restart, then again; then once more as a timer would once the
    records are old enough (``later``)."""
    journal = open_journal(args.journal)
    async with client(args.url, journal) as epay:
        first = await epay.recover()
        second = await epay.recover()  # only what the first had to leave open
        later = await epay.recover(older_than=0)
        say(
            recovered=[recovered_row(r) for r in first],
            again=[recovered_row(r) for r in second],
            later=[recovered_row(r) for r in later],
            records=[record_row(r) for r in await journal.list(1000)],
        )


async def race(args: argparse.Namespace) -> None:
    async with client(args.url, open_journal(args.journal)) as epay:
        await epay.get_status("000000000")  # connected, token cached, schema ready
        say(ready=True)
        await wait_for_go()
        try:
            result = await epay.pay_with_saved_card(order(args.invoice[0]), args.card)
        except EpayError as exc:
            say(outcome=type(exc).__name__, message=str(exc))
        else:
            say(outcome="paid", transaction=result.id)


async def refused(args: argparse.Namespace) -> None:
    async with client(args.url, open_journal(args.journal)) as epay:
        try:
            await epay.pay_with_saved_card(order(args.invoice[0]), args.card)
        except EpayError as exc:
            say(pay=type(exc).__name__, message=str(exc))
        else:
            say(pay="paid")
        status = await epay.get_status(args.invoice[0])
        say(read=int(status.result_code), state=str(status.state))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("pay", "recover", "race", "refused"))
    parser.add_argument("--journal", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--card")
    parser.add_argument("--invoice", action="append", default=[])
    parser.add_argument("--stop-at", choices=STAGES)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    commands = {"pay": pay, "recover": recover, "race": race, "refused": refused}
    anyio.run(commands[args.command], args, backend=args.backend)


if __name__ == "__main__":
    main()

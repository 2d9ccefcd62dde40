"""The payment journal's store layer: one contract suite, run here on SQLite (asyncio and trio)
and in tests/e2e/test_journal_postgres.py on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import anyio
import attrs
import pytest

from epay_async.errors import EpayError, RequestInFlightError, ValidationError
from epay_async.journal import (
    Journal,
    JournalRecord,
    JournalState,
    JournalUnavailableError,
    SqliteJournal,
)
from epay_async.journal._common import check_finish_state, payment_state_text, short
from epay_async.types.status import PaymentState

from .conftest import BOTH_BACKENDS

ANYIO_BACKENDS = BOTH_BACKENDS  # sqlite3 on a worker thread under both loops

ROOT = Path(__file__).resolve().parent.parent

#: What a card payment carries that must never reach the journal.
PAN, CVC, CRYPTOGRAM, TOKEN = "4405639704015096", "815", "Q3J5cHRvZ3JhbS1zZWNyZXQ=", "tok-9f8e7d6c"


def intent(invoice: str = "000001", amount: str = "100.10", **kw: object) -> JournalRecord:
    return JournalRecord.new(
        str(kw.pop("operation", "pay_with_card")),
        kind=str(kw.pop("kind", "payment")),
        invoice_id=invoice,
        amount=Decimal(amount),
        currency="KZT",
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.anyio
class JournalContract:
    """What every store must do. A subclass provides ``make``: a factory of journal objects on
    one shared store (two calls: two connections/pools on the same data)."""

    @pytest.fixture
    async def journal(self, make: Callable[[], Journal]) -> AsyncIterator[Journal]:
        async with make() as journal:
            yield journal

    async def test_round_trip_keeps_decimal_exact(self, journal: Journal) -> None:
        rec = intent("100001", "100.10")
        await journal.begin(rec)
        got = await journal.get(rec.id)
        assert got is not None
        assert got.amount == Decimal("100.10")
        assert str(got.amount) == "100.10"
        assert got.state is JournalState.INTENT
        assert got.writer == f"{os.uname().nodename}:{os.getpid()}"
        assert got.created_at.utcoffset() == dt.timedelta(0)

        await journal.finish(rec.id, JournalState.SUCCEEDED, transaction_id="tx-1")
        got = await journal.get(rec.id)
        assert got is not None
        assert (got.state, got.transaction_id) == (JournalState.SUCCEEDED, "tx-1")
        assert got.updated_at >= got.created_at
        assert await journal.open_records() == []

    async def test_small_and_large_amounts_are_exact(self, journal: Journal) -> None:
        for i, text in enumerate(["0.01", "1234567890123.45", "7"]):
            rec = intent(f"20000{i}", text)
            await journal.begin(rec)
            got = await journal.get(rec.id)
            assert got is not None
            assert str(got.amount) == text

    async def test_open_record_blocks_a_second_begin_on_another_connection(
        self, journal: Journal, make: Callable[[], Journal]
    ) -> None:
        first = intent("300001")
        await journal.begin(first)
        async with make() as other:
            with pytest.raises(RequestInFlightError) as caught:
                await other.begin(intent("300001", operation="pay_with_saved_card"))
            assert "300001" in caught.value.key
            assert caught.value.operation == "pay_with_saved_card"
            assert caught.value.in_journal
            assert "the payment journal holds an open record" in str(caught.value)
            assert "epay.recover()" in str(caught.value)
            # A transfer with the same order id is another kind: not blocked.
            await other.begin(intent("300001", kind="p2p", operation="transfer"))
            # In doubt is still open: still blocked.
            await journal.finish(
                first.id, JournalState.IN_DOUBT, detail="ReadTimeout after sending"
            )
            with pytest.raises(RequestInFlightError):
                await other.begin(intent("300001"))
            # Closed: a new request for the invoice may start.
            assert await other.settle(
                first.id, result_code=100, status_name="CHARGE", state=PaymentState.PAID
            )
            await other.begin(intent("300001"))

    async def test_open_record_for_a_transaction_blocks_another_on_it(
        self, journal: Journal
    ) -> None:
        await journal.begin(
            JournalRecord.new("refund", kind="payment", invoice_id=None, transaction_id="tx-7")
        )
        with pytest.raises(RequestInFlightError):
            await journal.begin(
                JournalRecord.new("charge", kind="payment", invoice_id=None, transaction_id="tx-7")
            )

    async def test_finish_does_not_reopen_or_overwrite_a_closed_record(
        self, journal: Journal
    ) -> None:
        rec = intent("400001")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.IN_DOUBT, detail="cancelled after sending")
        assert await journal.settle(
            rec.id, result_code=100, status_name="AUTH", state=PaymentState.PAID
        )
        await journal.finish(rec.id, JournalState.DECLINED)
        got = await journal.get(rec.id)
        assert got is not None
        assert got.state is JournalState.SETTLED
        assert (got.result_code, got.status_name, got.payment_state) == (100, "AUTH", "paid")
        assert got.detail == "cancelled after sending"
        with pytest.raises(ValueError, match="state"):
            await journal.finish(rec.id, JournalState.SETTLED)

    async def test_settle_is_idempotent_across_concurrent_recoverers(
        self, journal: Journal, make: Callable[[], Journal]
    ) -> None:
        records = [intent(f"50000{i}") for i in range(8)]
        for rec in records:
            await journal.begin(rec)
            await journal.finish(rec.id, JournalState.IN_DOUBT)
        closed: list[tuple[int, str]] = []

        async def recover(n: int, store: Journal) -> None:
            for rec in await store.open_records():
                if await store.settle(
                    rec.id, result_code=102, status_name=None, state=PaymentState.NOT_FOUND
                ):
                    closed.append((n, rec.id))

        async with make() as a, make() as b, anyio.create_task_group() as tg:
            tg.start_soon(recover, 1, a)
            tg.start_soon(recover, 2, b)
        assert sorted(rid for _, rid in closed) == sorted(r.id for r in records)
        assert await journal.open_records() == []
        assert not await journal.settle(
            records[0].id, result_code=100, status_name="CHARGE", state="paid"
        )
        got = await journal.get(records[0].id)
        assert got is not None
        assert got.payment_state == "not_found"

    async def test_open_records_older_than_and_list(self, journal: Journal) -> None:
        old = attrs.evolve(
            intent("600001"),
            created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10),
        )
        new = intent("600002")
        done = intent("600003")
        for rec in (old, new, done):
            await journal.begin(rec)
        await journal.finish(done.id, JournalState.NOT_SENT)
        assert [r.id for r in await journal.open_records()] == [old.id, new.id]
        assert [r.id for r in await journal.open_records(dt.timedelta(minutes=1))] == [old.id]
        assert next(r.id for r in await journal.list()) in {new.id, done.id}
        assert {r.id for r in await journal.list(states=[JournalState.NOT_SENT])} == {done.id}
        assert len(await journal.list(limit=2)) == 2

    async def test_no_secret_reaches_the_store(
        self, journal: Journal, stored_text: Callable[[], Awaitable[str]]
    ) -> None:
        # A card payment's request: what the pipeline knows when it begins.
        request = {
            "invoiceId": "700001",
            "amount": Decimal("5000.00"),
            "currency": "KZT",
            "hpan": PAN,
            "cvc": CVC,
            "cryptogram": CRYPTOGRAM,
            "token": TOKEN,
        }
        rec = JournalRecord.new(
            "pay_with_card",
            kind="payment",
            invoice_id=str(request["invoiceId"]),
            amount=request["amount"],  # type: ignore[arg-type]
            currency=str(request["currency"]),
        )
        names = {f.name for f in attrs.fields(JournalRecord)}
        assert not names & {"pan", "hpan", "cvc", "cryptogram", "token", "secret", "card"}
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.IN_DOUBT, detail="ReadTimeout after sending")
        text = await stored_text()
        assert "700001" in text  # the dump does hold the record
        for secret in (PAN, PAN[-4:] + "x", CVC + "\x00", CRYPTOGRAM, TOKEN):
            assert secret not in text
        assert repr(rec).count(PAN) == 0

    async def test_detail_is_kept_short(self, journal: Journal) -> None:
        rec = intent("800001")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.IN_DOUBT, detail="x" * 5000)
        got = await journal.get(rec.id)
        assert got is not None
        assert got.detail is not None
        assert len(got.detail) <= 200

    async def test_bad_input_is_a_validation_error_naming_the_field(self, journal: Journal) -> None:
        with pytest.raises(ValidationError) as caught:
            JournalRecord.new("pay", kind="payment", invoice_id="1", amount=1.5)  # type: ignore[arg-type]
        assert caught.value.field == "amount"
        with pytest.raises(ValidationError, match="kind"):
            JournalRecord.new("pay", kind="card", invoice_id="1")
        rec = intent("990001")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.SUCCEEDED)
        with pytest.raises(ValidationError) as caught:
            await journal.begin(rec)
        assert caught.value.field == "record"

    async def test_is_a_journal(self, journal: Journal) -> None:
        assert isinstance(journal, Journal)


class TestSqliteJournal(JournalContract):
    @pytest.fixture
    def make(self, tmp_path: Path) -> Callable[[], Journal]:
        return lambda: SqliteJournal(tmp_path / "journal.db")

    @pytest.fixture
    def stored_text(self, tmp_path: Path) -> Callable[[], Awaitable[str]]:
        async def dump() -> str:
            # Every byte SQLite wrote: the database, its WAL and shared-memory index.
            chunks = [p.read_bytes() for p in tmp_path.iterdir()]  # noqa: ASYNC240
            return b"".join(chunks).decode("latin-1")

        return dump


@pytest.mark.anyio
async def test_sqlite_uses_wal_and_full_sync(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        await journal.begin(intent())
        conn = journal._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.anyio
async def test_unwritable_path_is_a_clear_error_before_anything(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "journal.db"
    async with SqliteJournal(missing) as journal:
        with pytest.raises(JournalUnavailableError) as caught:
            await journal.begin(intent())
        assert caught.value.action == "begin"
        assert str(missing) in str(caught.value)
        assert isinstance(caught.value, EpayError)
        with pytest.raises(JournalUnavailableError, match=r"\(read\)"):
            await journal.open_records()


@pytest.mark.anyio
async def test_a_path_sqlite_cannot_open_refuses_begin(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path) as journal:  # a directory, not a file
        with pytest.raises(JournalUnavailableError, match=r"\(begin\).*OperationalError"):
            await journal.begin(intent())


@pytest.mark.anyio
async def test_closed_journal_refuses(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    await journal.aclose()
    with pytest.raises(JournalUnavailableError, match="closed"):
        await journal.begin(intent())


_RACER = textwrap.dedent(
    """
    import sys, time, anyio
    from decimal import Decimal
    from pathlib import Path
    from epay_async.errors import RequestInFlightError
    from epay_async.journal import JournalRecord, SqliteJournal

    path, go = sys.argv[1], Path(sys.argv[2])

    async def main():
        async with SqliteJournal(path) as journal:
            await journal.open_records()  # schema ready before the start line
            print("ready", flush=True)
            while not go.exists():
                time.sleep(0.001)
            rec = JournalRecord.new("pay_with_card", kind="payment", invoice_id="race-1",
                                    amount=Decimal("10.00"), currency="KZT")
            try:
                await journal.begin(rec)
                print("won", flush=True)
            except RequestInFlightError:
                print("refused", flush=True)

    anyio.run(main)
    """
)


def test_two_writers_opening_a_new_journal_at_once_both_open_it(tmp_path: Path) -> None:
    """Two processes (here two connections in two threads) starting on a journal file that does
    not exist yet: switching it to WAL takes an exclusive lock, and SQLite refused the second at
    once ("database is locked", no busy timeout) in about one start in ten: a payment refused
    with JournalUnavailableError. Each now waits its turn: one begin wins, the other is told
    the invoice is in flight."""
    for round_ in range(120):
        path = tmp_path / f"journal-{round_}.db"
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def begin(
            path: Path = path, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            async def run() -> None:
                async with SqliteJournal(path) as journal:
                    barrier.wait()
                    try:
                        await journal.begin(intent("000777"))
                    except EpayError as exc:
                        outcomes.append(type(exc).__name__)
                    else:
                        outcomes.append("began")

            anyio.run(run)

        threads = [threading.Thread(target=begin) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["RequestInFlightError", "began"], (round_, outcomes)


@pytest.mark.slow  # a subprocess or a soak: make test-slow
def test_processes_racing_begin_on_one_invoice_exactly_one_wins(tmp_path: Path) -> None:
    db, go = tmp_path / "journal.db", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", _RACER, str(db), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        go.touch()
        outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert outcomes == ["refused", "refused", "refused", "won"]
    assert all(p.returncode == 0 for p in procs)


_FINISHER = textwrap.dedent(
    """
    import sys, time, anyio
    from decimal import Decimal
    from epay_async.journal import JournalRecord, JournalState, SqliteJournal

    async def main():
        journal = SqliteJournal(sys.argv[1])
        rec = JournalRecord.new("pay_with_card", kind="payment", invoice_id="kill-1",
                                amount=Decimal("10.00"), currency="KZT")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.SUCCEEDED, transaction_id="tx-1")
        print("finished", flush=True)
        time.sleep(60)  # killed here, the connection never closed

    anyio.run(main)
    """
)


def test_an_outcome_committed_without_its_fsync_survives_a_kill(tmp_path: Path) -> None:
    """``finish`` skips the fsync (one per request, the intent's); it is still committed to
    the WAL, so SIGKILL right after it loses nothing."""
    db = tmp_path / "journal.db"
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _FINISHER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "finished"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()

    async def read() -> list[JournalRecord]:
        async with SqliteJournal(db) as journal:
            found = await journal.list()
            conn = journal._conn
            assert conn is not None
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
            return found

    (rec,) = anyio.run(read)
    assert (rec.state, rec.transaction_id) == (JournalState.SUCCEEDED, "tx-1")


@pytest.mark.anyio
async def test_finish_leaves_the_connection_at_full_sync(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        rec = intent()
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.SUCCEEDED)
        conn = journal._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # the next intent: FULL
    async with SqliteJournal(tmp_path / "j.db", synchronous="NORMAL") as journal:
        rec = intent("000002")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.SUCCEEDED)
        conn = journal._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL stays NORMAL


# -- the record, its helpers and the SQLite store's own rules ----------------------------------


def test_a_new_record_is_an_intent_with_its_own_id_and_one_time() -> None:
    rec = intent("000042", "5.00")
    assert rec.state is JournalState.INTENT
    assert rec.is_open
    assert rec.created_at == rec.updated_at
    assert rec.created_at.tzinfo is dt.timezone.utc
    assert rec.id != intent("000042").id
    assert str(uuid.UUID(rec.id, version=4)) == rec.id
    assert (rec.operation, rec.kind, rec.invoice_id, rec.amount, rec.currency) == (
        "pay_with_card",
        "payment",
        "000042",
        Decimal("5.00"),
        "KZT",
    )
    assert (rec.transaction_id, rec.detail, rec.result_code) == (None, None, None)
    assert rec.writer == f"{os.uname().nodename}:{os.getpid()}"
    assert rec.key == "payment invoice 000042"
    by_tx = JournalRecord.new("refund", kind="p2p", invoice_id=None, transaction_id="tx-9")
    assert by_tx.key == "transaction tx-9"
    assert (by_tx.amount, by_tx.currency, by_tx.transaction_id) == (None, None, "tx-9")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"kind": "card"}, "kind", "must be one of ['p2p', 'payment']"),
        ({"invoice_id": None}, "invoice_id", "an invoice id or a transaction id is needed"),
        ({"amount": 1.5}, "amount", "must be a decimal.Decimal"),
        ({"amount": 5}, "amount", "must be a decimal.Decimal"),
    ],
)
def test_a_bad_record_is_refused_by_field_and_reason(
    changes: dict[str, object], field: str, message: str
) -> None:
    fields: dict[str, object] = {"kind": "payment", "invoice_id": "000001"} | changes
    with pytest.raises(ValidationError) as caught:
        JournalRecord.new("pay", **fields)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.message) == (field, message)


def test_open_states_and_their_names() -> None:
    assert {s for s in JournalState if s.is_open} == {JournalState.INTENT, JournalState.IN_DOUBT}
    assert str(JournalState.NOT_SENT) == "not_sent"


def test_short_cuts_a_detail_at_its_limit() -> None:
    assert short(None) is None
    assert short("x" * 200) == "x" * 200
    assert short("x" * 201) == "x" * 199 + "…"
    assert short("abcdef", limit=4) == "abc…"


def test_finish_takes_only_a_finishing_state() -> None:
    assert check_finish_state("declined") is JournalState.DECLINED  # type: ignore[arg-type]
    for state in (JournalState.INTENT, JournalState.SETTLED):
        with pytest.raises(ValidationError) as caught:
            check_finish_state(state)
        assert caught.value.field == "state"
        assert caught.value.message == (
            "finish takes one of ['declined', 'in_doubt', 'not_sent', 'succeeded']"
        )
    assert payment_state_text(PaymentState.PAID) == "paid"
    assert payment_state_text("not_found") == "not_found"


def test_journal_unavailable_says_what_failed() -> None:
    error = JournalUnavailableError("begin", "disk full")
    assert str(error) == "payment journal unavailable (begin): disk full"
    assert (error.action, error.reason) == ("begin", "disk full")


def test_sqlite_journal_settings(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db", synchronous="NORMAL", busy_timeout=2.5)
    assert (journal.synchronous, journal._busy_ms) == ("NORMAL", 2500)
    assert repr(journal) == f"SqliteJournal({str(tmp_path / 'j.db')!r})"
    with pytest.raises(ValidationError) as caught:
        SqliteJournal(tmp_path / "j.db", synchronous="OFF")  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.message) == ("synchronous", "'FULL' or 'NORMAL'")


@pytest.mark.anyio
async def test_sqlite_keeps_every_field_of_a_record(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db", synchronous="NORMAL", busy_timeout=3) as journal:
        rec = attrs.evolve(intent("000777", "12.30"), detail="about to send")
        await journal.begin(rec)
        assert await journal.get(rec.id) == rec
        assert journal._conn is not None
        assert journal._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 3000
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        by_tx = JournalRecord.new("cancel", kind="payment", invoice_id=None, transaction_id="t1")
        await journal.begin(by_tx)
        assert await journal.get(by_tx.id) == by_tx
        await journal.finish(rec.id, JournalState.IN_DOUBT, transaction_id="tx-7", detail="lost")
        assert await journal.settle(
            rec.id, result_code=100, status_name="CHARGE", state=PaymentState.PAID
        )
        got = await journal.get(rec.id)
        assert got is not None
        assert attrs.evolve(got, updated_at=rec.updated_at) == attrs.evolve(
            rec,
            state=JournalState.SETTLED,
            transaction_id="tx-7",
            detail="lost",
            result_code=100,
            status_name="CHARGE",
            payment_state="paid",
        )
        assert got.updated_at > rec.updated_at
        assert got.updated_at.utcoffset() == dt.timedelta(0)
        assert await journal.get("no-such-id") is None


@pytest.mark.anyio
async def test_sqlite_finish_keeps_what_it_is_not_given(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        rec = attrs.evolve(intent("000778"), detail="first")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.IN_DOUBT, transaction_id="tx-1")
        await journal.finish(rec.id, JournalState.SUCCEEDED)
        got = await journal.get(rec.id)
        assert got is not None
        assert (got.state, got.transaction_id, got.detail) == (
            JournalState.SUCCEEDED,
            "tx-1",
            "first",
        )
        assert not await journal.settle(
            rec.id, result_code=100, status_name=None, state=PaymentState.PAID
        )


@pytest.mark.anyio
async def test_sqlite_lists_newest_first_within_the_limit_and_states(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        records = [
            attrs.evolve(intent(f"00090{i}"), created_at=base + dt.timedelta(minutes=i))
            for i in range(4)
        ]
        for rec in records:
            await journal.begin(rec)
        await journal.finish(records[1].id, JournalState.DECLINED)
        await journal.finish(records[2].id, JournalState.NOT_SENT)
        newest = [r.id for r in reversed(records)]
        assert [r.id for r in await journal.list()] == newest
        assert [r.id for r in await journal.list(limit=1)] == newest[:1]
        assert [r.id for r in await journal.list(3)] == newest[:3]
        both = [JournalState.DECLINED, JournalState.NOT_SENT]
        assert [r.id for r in await journal.list(states=both)] == [records[2].id, records[1].id]
        assert [r.id for r in await journal.list(states=["declined"])] == [records[1].id]  # type: ignore[list-item]
        assert await journal.list(states=[]) == []
        assert [r.id for r in await journal.open_records()] == [records[0].id, records[3].id]
        cutoff = dt.datetime.now(dt.timezone.utc) - base
        assert await journal.open_records(cutoff + dt.timedelta(days=1)) == []


@pytest.mark.anyio
async def test_sqlite_lists_100_records_unless_told_otherwise(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db", synchronous="NORMAL") as journal:
        for i in range(101):
            await journal.begin(intent(f"{700000 + i}"))
        assert len(await journal.list()) == 100
        assert len(await journal.list(101)) == 101


@pytest.mark.anyio
async def test_each_call_names_what_failed_when_the_store_cannot_be_used(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "no" / "dir" / "j.db") as journal:
        calls = {
            "finish": journal.finish("x", JournalState.SUCCEEDED),
            "settle": journal.settle("x", result_code=100, status_name=None, state="paid"),
            "read": journal.list(),
        }
        for action, call in calls.items():
            with pytest.raises(JournalUnavailableError) as caught:
                await call
            assert caught.value.action == action
        with pytest.raises(JournalUnavailableError) as caught:
            await journal.get("x")
        assert caught.value.action == "read"


@pytest.mark.anyio
async def test_sqlite_begin_takes_only_an_intent(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        with pytest.raises(ValidationError) as caught:
            await journal.begin(attrs.evolve(intent(), state=JournalState.IN_DOUBT))
        assert (caught.value.field, caught.value.message) == (
            "record",
            "begin takes a record in state 'intent'",
        )
        rec = intent("000321")
        await journal.begin(rec)
        await journal.finish(rec.id, JournalState.DECLINED)
        with pytest.raises(ValidationError) as caught:
            await journal.begin(rec)
        assert caught.value.message == f"{rec.id} is already in the journal"


@pytest.mark.anyio
async def test_sqlite_keeps_an_amount_without_a_currency_and_the_reverse(tmp_path: Path) -> None:
    async with SqliteJournal(tmp_path / "j.db") as journal:
        no_currency = JournalRecord.new(
            "pay", kind="payment", invoice_id="000401", amount=Decimal("3.30")
        )
        no_amount = JournalRecord.new("refund", kind="payment", invoice_id="000402", currency="KZT")
        for rec in (no_currency, no_amount):
            await journal.begin(rec)
            assert await journal.get(rec.id) == rec


@pytest.mark.anyio
async def test_a_closed_sqlite_journal_says_so_for_the_call_made(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    assert journal._busy_ms == 10_000
    await journal.aclose()
    with pytest.raises(JournalUnavailableError) as caught:
        await journal.open_records()
    assert (caught.value.action, caught.value.reason) == ("read", "the journal is closed")


@pytest.mark.anyio
async def test_a_store_that_cannot_be_put_in_wal_mode_is_refused() -> None:
    async with SqliteJournal(":memory:") as journal:
        with pytest.raises(JournalUnavailableError) as caught:
            await journal.begin(intent())
    assert caught.value.action == "begin"
    assert "cannot switch :memory: to WAL mode" in caught.value.reason


@pytest.mark.anyio
async def test_times_are_stored_in_utc_whatever_the_local_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Almaty")
    time.tzset()
    try:
        async with SqliteJournal(tmp_path / "j.db") as journal:
            rec = intent("000501")
            await journal.begin(rec)
            assert journal._conn is not None
            stored = journal._conn.execute("SELECT created_at FROM epay_journal").fetchone()[0]
    finally:
        monkeypatch.undo()
        time.tzset()
    assert stored.endswith("+00:00")

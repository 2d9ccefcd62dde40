"""The pipeline's journal hook, on a real SQLite journal and the in-process sandbox: each
outcome of a money request is recorded, and no record is left open by the client itself."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import attrs
import pytest

from epay_async import Order, StatusName
from epay_async.errors import (
    ApiError,
    OutcomeUnknownError,
    RequestInFlightError,
    TransportError,
)
from epay_async.journal import Journal, JournalRecord, JournalState, SqliteJournal
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # locks, worker threads and cancellation under both loops

VISA, LOCKED = "4405639704015096", "4003032704547597"


def order(invoice_id: str) -> Order:
    return Order(invoice_id=invoice_id, amount="150.00", description="journal")


async def only_record(journal: Journal, invoice_id: str) -> JournalRecord:
    records = [r for r in await journal.list(100) if r.invoice_id == invoice_id]
    assert len(records) == 1, records
    return records[0]


@pytest.fixture
async def journal(tmp_path: Path) -> SqliteJournal:
    return SqliteJournal(tmp_path / "journal.db")


async def test_each_outcome_is_recorded(sandbox: Sandbox, journal: SqliteJournal) -> None:
    card, locked = (sandbox.save_card(pan, account_id="j") for pan in (VISA, LOCKED))
    async with journal, sandbox.client(journal=journal, retry=FAST_RETRY) as epay:
        paid = await epay.pay_with_saved_card(order("000300001"), card)
        with pytest.raises(ApiError):
            await epay.pay_with_saved_card(order("000300002"), locked)
        sandbox.fail("cards/auth", Fault.connect_error(), times=10)
        with pytest.raises(TransportError):
            await epay.pay_with_saved_card(order("000300003"), card)
        sandbox.clear_faults()
        sandbox.fail("cards/auth", Fault.read_timeout())
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order("000300004"), card)

        rec = await only_record(journal, "000300001")
        assert (rec.state, rec.transaction_id) == (JournalState.SUCCEEDED, paid.id)
        rec = await only_record(journal, "000300002")
        assert (rec.state, rec.detail) == (JournalState.DECLINED, "code 487")
        assert (await only_record(journal, "000300003")).state is JournalState.NOT_SENT
        in_doubt = await only_record(journal, "000300004")
        assert in_doubt.state is JournalState.IN_DOUBT
        # An in-doubt payment blocks the invoice until recovered: it is never sent again.
        with pytest.raises(RequestInFlightError) as blocked:
            await epay.pay_with_saved_card(order("000300004"), card)
        assert blocked.value.in_journal
        assert "left in doubt by one that stopped" in str(blocked.value)
        assert len(sandbox.requests_to("cards/auth")) == 3  # the connect errors never reached it

        # Young, and written by this process, which still runs: left alone, and said so.
        checks = len(sandbox.requests_to("check-status"))
        assert await epay.recover() == []  # left alone, and not said unless asked
        (left,) = await epay.recover(include_under_way=True)
        assert (left.under_way, left.settled, left.status) == (True, False, None)
        assert left.record.invoice_id == "000300004"
        assert len(sandbox.requests_to("check-status")) == checks  # not asked about
        (recovered,) = await epay.recover(older_than=0)
        assert recovered.settled
        assert not recovered.under_way
        assert recovered.record.payment_state == "paid"
        assert await journal.open_records() == []


def gone_writer() -> str:
    """The writer id of a process of this machine that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


async def test_a_gone_writers_fresh_record_is_settled_at_once_unless_the_gateway_lacks_it(
    sandbox: Sandbox, journal: SqliteJournal
) -> None:
    # A process killed moments ago: what the gateway has settles its record at once; a 102
    # does not, as a request it sent may not have arrived yet (closing the record would let
    # the invoice be paid a second time) until the record is older than the deadline.
    writer = gone_writer()
    sandbox.add_transaction("000300020", status=StatusName.AUTH)
    paid, absent = (
        attrs.evolve(
            JournalRecord.new("pay_with_card", kind="payment", invoice_id=invoice_id),
            writer=writer,
        )
        for invoice_id in ("000300020", "000300021")
    )
    async with journal, sandbox.client(journal=journal, retry=FAST_RETRY) as epay:
        for record in (paid, absent):
            await journal.begin(record)
        first = {r.record.invoice_id: r for r in await epay.recover()}
        assert first["000300020"].settled
        assert first["000300020"].record.payment_state == "paid"
        assert not first["000300021"].settled
        assert first["000300021"].reason is not None
        assert first["000300021"].reason.startswith("not at the gateway yet")
        assert [r.id for r in await journal.open_records()] == [absent.id]
        # Old enough: the 102 is the gateway's word.
        (later,) = await epay.recover(older_than=0)
        assert later.settled
        assert later.record.payment_state == "not_found"
        assert await journal.open_records() == []


class SlowToAcknowledge(SqliteJournal):
    """A store whose commit lands, and whose acknowledgement then takes 30 s (a PostgreSQL
    commit answered late; an SQLite statement ending on its thread after a cancellation)."""

    async def begin(self, record: JournalRecord) -> None:
        await super().begin(record)
        await anyio.sleep(30)


async def test_a_begin_cancelled_after_its_commit_leaves_no_open_record(
    sandbox: Sandbox, journal: SqliteJournal
) -> None:
    card = sandbox.save_card(VISA, account_id="j")
    slow = SlowToAcknowledge(journal.path)
    async with slow, sandbox.client(journal=slow, retry=FAST_RETRY) as epay:
        with anyio.move_on_after(0.5) as scope:
            await epay.pay_with_saved_card(order("000300010"), card)
        assert scope.cancelled_caught
    async with journal:
        rec = await only_record(journal, "000300010")
        assert (rec.state, rec.detail) == (JournalState.NOT_SENT, "cancelled")
        assert sandbox.requests_to("cards/auth") == []
        # Nothing was sent and nothing is open: the same invoice can be paid at once.
        async with sandbox.client(journal=journal, retry=FAST_RETRY) as epay:
            await epay.pay_with_saved_card(order("000300010"), card)
        assert len(sandbox.requests_to("cards/auth")) == 1
        assert await journal.open_records(older_than=dt.timedelta(0)) == []


class SlowToFinish(SqliteJournal):
    """A store whose outcome write takes longer than the call's whole deadline (a slow fsync,
    the file locked by another process)."""

    async def finish(self, record_id: str, state: JournalState, **kwargs: object) -> None:
        await anyio.sleep(0.4)
        await super().finish(record_id, state, **kwargs)  # type: ignore[arg-type]


async def test_an_outcome_written_past_the_deadline_keeps_the_calls_result(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The outcome is written at the call's end, outside its deadline: a deadline that would
    # fire during the write cannot turn a payment made into "nothing was sent".
    card = sandbox.save_card(VISA, account_id="j")
    journal = SlowToFinish(tmp_path / "slow.db")
    policy = FAST_RETRY.__class__(deadline=0.3, backoff_base=0.0, jitter=0.0)
    records: list[OutcomeUnknownError] = []
    async with (
        journal,
        sandbox.client(journal=journal, retry=policy, on_outcome_unknown=records.append) as epay,
    ):
        paid = await epay.pay_with_saved_card(order("000300101"), card)
        sandbox.fail("cards/auth", Fault.read_timeout())
        with pytest.raises(OutcomeUnknownError):
            await epay.pay_with_saved_card(order("000300102"), card)
        done = await only_record(journal, "000300101")
        assert (done.state, done.transaction_id) == (JournalState.SUCCEEDED, paid.id)
        assert (await only_record(journal, "000300102")).state is JournalState.IN_DOUBT
    assert [r.invoice_id for r in records] == ["000300102"]


async def test_a_failure_before_the_first_attempt_is_not_sent_and_blocks_nothing(
    sandbox: Sandbox, journal: SqliteJournal
) -> None:
    card = sandbox.save_card(VISA, account_id="j")
    async with journal, sandbox.client(journal=journal, retry=FAST_RETRY) as epay:
        payment = await epay.pay_with_saved_card(order("000300201"), card)
        sandbox.fail("/oauth2/token", Fault.status(500), times=10)  # the order's token
        with pytest.raises(ApiError):
            await epay.pay_with_saved_card(order("000300202"), card)
        sandbox.clear_faults()
        sandbox.fail("/oauth2/token", Fault.slow(5))
        with anyio.move_on_after(0.2):  # the charge's token request hangs, then is cancelled
            await epay.with_options(reuse_read_tokens=False).charge(payment.id)
        sandbox.clear_faults()
        assert (await only_record(journal, "000300202")).state is JournalState.NOT_SENT
        (charge,) = [r for r in await journal.list(100) if r.operation == "charge"]
        assert charge.state is JournalState.NOT_SENT
        assert sandbox.requests_to(f"/operation/{payment.id}/charge") == []
        await epay.charge(payment.id)  # not blocked by a record of a charge never sent
        assert await journal.open_records() == []


async def test_a_payment_cancelled_mid_exchange_is_in_doubt_in_the_journal_and_the_callback(
    sandbox: Sandbox, journal: SqliteJournal
) -> None:
    # The journal's outcome and the in-doubt callback both run, in that order, while the
    # caller's cancel scope keeps cancelling; the call still ends cancelled.
    card = sandbox.save_card(VISA, account_id="j")
    records: list[OutcomeUnknownError] = []
    async with (
        journal,
        sandbox.client(
            journal=journal, retry=FAST_RETRY, on_outcome_unknown=records.append
        ) as epay,
    ):
        await epay.list_cards("j")  # the read token, so the payment's exchange is what hangs
        sandbox.fail("cards/auth", Fault.slow(5))
        with anyio.move_on_after(0.3) as scope:
            await epay.pay_with_saved_card(order("000300301"), card)
        assert scope.cancelled_caught
        assert (await only_record(journal, "000300301")).state is JournalState.IN_DOUBT
    assert [r.invoice_id for r in records] == ["000300301"]

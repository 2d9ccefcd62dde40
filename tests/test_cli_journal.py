"""``epay-async journal list`` and ``epay-async journal recover`` on a real SQLite journal
(PostgreSQL: tests/e2e/test_journal_kill.py)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from epay_async._cli import main
from epay_async.journal import JournalRecord, JournalState, SqliteJournal
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EPAY_CLIENT_ID", "EPAY_CLIENT_SECRET", "EPAY_TERMINAL_ID", "EPAY_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def record(invoice_id: str, amount: str = "150.00") -> JournalRecord:
    return JournalRecord.new(
        "pay_with_card",
        kind="payment",
        invoice_id=invoice_id,
        amount=Decimal(amount),
        currency="KZT",
    )


def write(path: Path, *states: tuple[str, JournalState]) -> None:
    """A journal at ``path`` with one record per (invoice, state), in this order."""

    async def fill() -> None:
        async with SqliteJournal(path) as journal:
            for invoice_id, state in states:
                rec = record(invoice_id)
                await journal.begin(rec)
                if state is not JournalState.INTENT:
                    await journal.finish(rec.id, state, transaction_id=f"tx-{invoice_id}")

    anyio.run(fill)


def records(path: Path) -> dict[str, JournalRecord]:
    async def read() -> list[JournalRecord]:
        async with SqliteJournal(path) as journal:
            return await journal.list(1000)

    return {r.invoice_id or "": r for r in anyio.run(read)}


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    write(
        path,
        ("000400001", JournalState.SUCCEEDED),
        ("000400002", JournalState.IN_DOUBT),
        ("000400003", JournalState.INTENT),
    )
    return path


def test_list_prints_a_table_newest_first(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "list", str(journal)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("\t")
    assert header[:7] == [
        "created_at", "state", "operation", "kind", "invoice_id", "transaction_id", "amount",
    ]  # fmt: skip
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert [(r["invoice_id"], r["state"]) for r in rows] == [
        ("000400003", "intent"),
        ("000400002", "in_doubt"),
        ("000400001", "succeeded"),
    ]
    assert rows[2]["transaction_id"] == "tx-000400001"
    assert rows[0]["transaction_id"] == "-"
    assert rows[0]["amount"] == "150.00"


def test_list_open_records_as_json_lines_and_csv(
    journal: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "list", str(journal), "--state", "open", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["invoice_id"], r["state"]) for r in rows] == [
        ("000400003", "intent"),
        ("000400002", "in_doubt"),
    ]
    assert rows[0]["amount"] == "150.00"  # exact, as text
    assert rows[0]["transaction_id"] is None

    assert main(["journal", "list", str(journal), "--state", "succeeded", "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["invoice_id"], row["state"], row["amount"]) == ("000400001", "succeeded", "150.00")

    assert main(["journal", "list", str(journal), "--limit", "1", "--format", "jsonl"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_list_needs_an_existing_journal_and_never_creates_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert main(["journal", "list", str(missing)]) == 2
    assert "no journal at" in capsys.readouterr().err
    assert not missing.exists()


def test_a_file_that_is_not_a_journal_is_exit_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "orders.csv"
    broken.write_text("invoice_id,amount\n" * 200)
    assert main(["journal", "list", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: payment journal unavailable")
    assert str(broken) in err


def test_recover_needs_credentials(journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "recover", str(journal)]) == 2
    assert "EPAY_CLIENT_ID" in capsys.readouterr().err
    assert records(journal)["000400002"].state is JournalState.IN_DOUBT  # untouched


def test_recover_settles_what_the_gateway_knows_and_exits_1_while_one_stays_open(
    journal: Path,
    epay_sandbox: Sandbox,
    epay_sandbox_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EPAY_CLIENT_ID", TEST_CLIENT_ID)
    monkeypatch.setenv("EPAY_CLIENT_SECRET", TEST_CLIENT_SECRET)
    monkeypatch.setenv("EPAY_TERMINAL_ID", TEST_TERMINAL_ID)
    monkeypatch.setenv("EPAY_ENVIRONMENT", epay_sandbox_url)
    epay_sandbox.add_transaction("000400002", amount="150.00", status="CHARGE")
    write(journal, ("000400004", JournalState.IN_DOUBT))
    epay_sandbox.in_progress("000400004", polls=1)  # still processing at the first look

    # Written by this process, which still runs: left alone until old enough, and said so
    # (not asked about: under way, not left open).
    assert main(["journal", "recover", str(journal), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    under_way = [json.loads(line) for line in captured.out.splitlines()]
    assert {r["invoice_id"] for r in under_way} == {"000400002", "000400003", "000400004"}
    assert all(r["reason"].startswith("younger than older_than") for r in under_way)
    assert "3 open records: 0 settled here, 0 closed by another process, 3 under way, 0 left" in (
        captured.err
    )
    assert epay_sandbox.requests_to("check-status") == []

    assert main(["journal", "recover", str(journal), "--older-than", "0", "--format", "jsonl"]) == 1
    captured = capsys.readouterr()
    rows = {r["invoice_id"]: r for r in map(json.loads, captured.out.splitlines())}
    assert rows["000400002"] == {
        "invoice_id": "000400002",
        "operation": "pay_with_card",
        "settled": True,
        "state": "settled",
        "payment_state": "paid",
        "reason": None,
    }
    assert (rows["000400003"]["settled"], rows["000400003"]["payment_state"]) == (
        True,
        "not_found",
    )
    assert rows["000400004"]["settled"] is False
    assert rows["000400004"]["reason"] == "the gateway is still processing it"
    assert (
        "3 open records: 2 settled here, 0 closed by another process, 0 under way, 1 left open"
        in (captured.err)
    )
    stored = records(journal)
    assert stored["000400002"].status_name == "CHARGE"
    assert stored["000400004"].state is JournalState.IN_DOUBT

    # The gateway has finished with it now: the table says so, and nothing is left open.
    assert main(["journal", "recover", str(journal), "--older-than", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == [
        "invoice_id", "operation", "settled", "state", "payment_state", "reason",
    ]  # fmt: skip
    assert lines[1:] == ["000400004\tpay_with_card\tyes\tsettled\tnot_found\t-"]
    assert len(epay_sandbox.requests_to("check-status")) == 4  # one per open record and look

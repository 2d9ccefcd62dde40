"""The discrepancy report (``epay_async.statement``) and ``epay-async statement``."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from epay_async import EpayClient, ValidationError
from epay_async._cli_statement import add_parser, run
from epay_async.statement import DiscrepancyKind, LocalOrder, Statement, read_orders
from epay_async.testing import Fault, Sandbox
from epay_async.testing._records import RegisterOperation

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

UTC = timezone.utc
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
K = DiscrepancyKind


def _orders(prefix: str, n: int, state: str, amount: str = "1000.00") -> list[LocalOrder]:
    return [LocalOrder(f"{prefix}{i:09d}", Decimal(amount), "KZT", state) for i in range(n)]


def _op(invoice: str, day: int, status: str = "CHARGE", **kw: Any) -> RegisterOperation:
    return RegisterOperation(
        invoice, kw.pop("amount", Decimal("1000.00")), SINCE + timedelta(days=day), status, **kw
    )


def month(sandbox: Sandbox) -> tuple[list[LocalOrder], set[tuple[K, str]], int]:
    """20 000 operations over a month with planted discrepancies: the orders, the expected
    discrepancies, and the number of payment operations the register holds at the end."""
    register = sandbox.gateway.register
    register.add_operations(19_880, since=SINCE, until=UNTIL, invoice_prefix="1")
    register.add_operations(50, since=SINCE, until=UNTIL, status="REFUND", invoice_prefix="2")
    register.add_operations(40, since=SINCE, until=UNTIL, status="CANCEL", invoice_prefix="3")
    register.add_operations(5, since=SINCE, until=UNTIL, status="FAILED", invoice_prefix="4")
    register.add_operations(200, since=SINCE, until=UNTIL, kind="transfer", invoice_prefix="5")
    orders = [
        *_orders("1", 19_880, "paid"),
        *_orders("2", 50, "refunded"),
        *_orders("3", 40, "cancelled"),
        *_orders("4", 5, "failed"),
    ]
    planted = [
        _op("600000001", 1),  # paid at the gateway, no local order
        _op("600000003", 3),  # amount mismatch
        _op("600000004", 4),  # two operations for one invoice
        _op("600000004", 5),
        _op("600000005", 6, "REFUND"),  # refunded at the gateway, paid locally
        _op("600000006", 7, "CANCEL"),  # cancelled at the gateway, paid locally
        _op("600000007", 8),  # paid at the gateway, unpaid locally
        _op("600000008", 9, "FAILED"),  # failed at the gateway, paid locally
        _op("600000009", 10, currency="USD"),  # currency mismatch
    ]
    for op in planted:
        register.add(op)
    orders += [
        LocalOrder("600000002", Decimal("10.00"), "KZT", "paid"),  # no operation at all
        LocalOrder("600000003", Decimal("999.99"), "KZT", "paid"),
        LocalOrder("600000004", Decimal("1000.00"), "KZT", "paid"),
        LocalOrder("600000005", Decimal("1000.00"), "KZT", "paid"),
        LocalOrder("600000006", Decimal("1000.00"), "KZT", "paid"),
        LocalOrder("600000007", Decimal("1000.00"), "KZT", "unpaid"),
        LocalOrder("600000008", Decimal("1000.00"), "KZT", "paid"),
        LocalOrder("600000009", Decimal("1000.00"), "KZT", "paid"),
    ]
    # Payments made while the statement runs, at the end of the period: paid locally too,
    # but for one the shop lost its order.
    orders += [LocalOrder(f"7{i:08d}", Decimal("500.00"), "KZT", "paid") for i in range(10)]
    answers = 0

    def during_walk() -> None:
        nonlocal answers
        answers += 1
        if answers in (1, 5):
            for i in range(5 * (answers == 5), 5 + 5 * (answers == 5)):
                register.add(_op(f"7{i:08d}", 29, amount=Decimal("500.00")))
        if answers == 3:
            register.add(_op("799999999", 29, amount=Decimal("500.00")))

    register.before_answer = during_walk
    expected = {
        (K.PAID_UNKNOWN_LOCALLY, "600000001"),
        (K.PAID_LOCALLY_ABSENT, "600000002"),
        (K.AMOUNT_MISMATCH, "600000003"),
        (K.DUPLICATE_OPERATIONS, "600000004"),
        (K.PAID_LOCALLY_REFUNDED, "600000005"),
        (K.PAID_LOCALLY_CANCELLED, "600000006"),
        (K.PAID_UNPAID_LOCALLY, "600000007"),
        (K.PAID_LOCALLY_FAILED, "600000008"),
        (K.CURRENCY_MISMATCH, "600000009"),
        (K.PAID_UNKNOWN_LOCALLY, "799999999"),
    }
    return orders, expected, 19_880 + 50 + 40 + 5 + len(planted) + 11


@pytest.mark.slow  # a subprocess or a soak: make test-slow
async def test_a_month_of_20000_operations_finds_exactly_the_planted_discrepancies(
    sandbox: Sandbox,
) -> None:
    sandbox.record_requests = False
    orders, expected, total = month(sandbox)
    seen: list[str] = []
    async with sandbox.client(retry=FAST_RETRY) as epay:
        report = Statement(
            epay, orders, SINCE, UNTIL, page_size=1000, on_record=lambda r: seen.append(r.id)
        )
        async with report:
            found = {(d.kind, d.invoice_id) async for d in report}
    assert found == expected
    assert len(seen) == len(set(seen)) == total == report.operations
    assert report.orders == len(orders)
    assert not report.agree
    assert sum(report.by_kind.values()) == len(expected)


async def test_books_that_agree(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.gateway.register.add_operations(30, since=SINCE, until=UNTIL, invoice_prefix="1")

    async def orders() -> Any:  # an async iterable works as well
        for order in _orders("1", 30, "paid"):
            yield order

    async with Statement(epay, orders(), SINCE, UNTIL) as report:
        assert [d async for d in report] == []
    assert report.agree
    assert report.operations == 30


async def test_a_discrepancy_row_keeps_money_exact(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.gateway.register.add(_op("600000003", 3, amount=Decimal("0.10")))
    orders = [LocalOrder("600000003", Decimal("0.1"), "KZT", "paid")]
    async with Statement(epay, orders, SINCE, UNTIL) as report:
        rows = [d.row() async for d in report]
    assert rows == []  # 0.10 == 0.1: the same money
    orders = [LocalOrder("600000003", Decimal("0.11"), "KZT", "paid")]
    async with Statement(epay, orders, SINCE, UNTIL) as report:
        (row,) = [d.row() async for d in report]
    assert (row["kind"], row["local_amount"], row["gateway_amount"]) == (
        "amount_mismatch",
        "0.11",
        "0.10",
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("12", "1", "KZT", "paid"), "invoice_id"),
        (("000123", "-1", "KZT", "paid"), "amount"),
        (("000123", "1", "KZT", "shipped"), "state"),
    ],
)
def test_local_orders_are_validated(args: tuple[str, ...], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        LocalOrder(*args)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_orders_listed_twice_are_refused(sandbox: Sandbox, epay: EpayClient) -> None:
    orders = _orders("1", 1, "paid") * 2
    with pytest.raises(ValidationError, match="twice"):
        async with Statement(epay, orders, SINCE, UNTIL):
            pass
    assert sandbox.requests_to("/operations") == []


def test_read_orders_csv_and_jsonl(tmp_path: Path) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("invoice_id,amount,currency,state\n000123,10.50,KZT,paid\n")
    jsonl = tmp_path / "orders.jsonl"
    jsonl.write_text(
        '{"invoice_id": "000124", "amount": 10.50, "currency": "KZT", "state": "unpaid"}\n'
    )
    assert list(read_orders(csv_file)) == [LocalOrder("000123", Decimal("10.50"), "KZT", "paid")]
    (order,) = read_orders(jsonl)
    assert order.amount == Decimal("10.50")
    assert isinstance(order.amount, Decimal)
    bad = tmp_path / "bad.csv"
    bad.write_text("invoice_id,amount,currency,state\n000123,ten,KZT,paid\n")
    with pytest.raises(ValidationError, match="line 2"):
        list(read_orders(bad))
    exported = tmp_path / "exported.csv"  # a spreadsheet's UTF-8 export: a byte-order mark
    exported.write_bytes(b"\xef\xbb\xbfinvoice_id,amount,currency,state\n000125,1,KZT,paid\n")
    assert [o.invoice_id for o in read_orders(exported)] == ["000125"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert list(read_orders(empty)) == []
    blank_first = tmp_path / "blank-first.csv"  # a blank first line is no header
    blank_first.write_text("\ninvoice_id,amount,currency,state\n000126,1,KZT,paid\n")
    with pytest.raises(ValidationError, match="line 1: the header names no invoice_id"):
        list(read_orders(blank_first))
    semicolons = tmp_path / "semicolons.csv"  # a spreadsheet's export in some locales
    semicolons.write_text("invoice_id;amount;currency;state\n000123;10,50;KZT;paid\n")
    with pytest.raises(ValidationError) as info:
        list(read_orders(semicolons))
    assert str(info.value) == (
        "orders: line 1: the header names no invoice_id, amount, currency, state"
        " (comma-separated invoice_id,amount,currency,state expected,"
        " found 'invoice_id;amount;currency;state')"
    )


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["statement", *argv])


async def test_cli_writes_the_report_and_exits_1_when_the_books_disagree(
    sandbox: Sandbox, epay: EpayClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = sandbox.gateway.register
    register.add_operations(20, since=SINCE, until=UNTIL, invoice_prefix="1")
    register.add(_op("600000001", 2))
    orders = tmp_path / "orders.csv"
    rows = [f"1{i:09d},1000.00,KZT,paid" for i in range(20)] + ["600000002,5,KZT,paid"]
    orders.write_text("invoice_id,amount,currency,state\n" + "\n".join(rows) + "\n")
    out = io.StringIO()
    args = _args("--since", "2026-11-01", "--until", "2026-12-01T00:00:00+05:00", "--orders",
                 str(orders), "--format", "jsonl")  # fmt: skip
    assert await run(args, out, epay) == 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {(line["kind"], line["invoice_id"]) for line in lines} == {
        ("paid_unknown_locally", "600000001"),
        ("paid_locally_absent", "600000002"),
    }
    summary = capsys.readouterr().err
    assert "21 operations, 21 orders" in summary
    assert "paid_locally_absent 1" in summary

    report = tmp_path / "report.csv"
    args = _args("--since", "2026-11-01", "--until", "2026-12-01", "--orders", str(orders),
                 "--output", str(report))  # fmt: skip
    assert await run(args, io.StringIO(), epay) == 1
    assert report.read_text().splitlines()[0].startswith("kind,invoice_id,")
    assert len(report.read_text().splitlines()) == 3


async def test_cli_exits_0_when_the_books_agree(
    sandbox: Sandbox, epay: EpayClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.gateway.register.add_operations(3, since=SINCE, until=UNTIL, invoice_prefix="1")
    orders = tmp_path / "orders.jsonl"
    orders.write_text(
        "".join(
            json.dumps({"invoice_id": f"1{i:09d}", "amount": "1000", "currency": "KZT",
                        "state": "paid"}) + "\n"
            for i in range(3)
        )
    )  # fmt: skip
    out = io.StringIO()
    assert await run(_args("--since", "2026-11-01", "--until", "2026-12-01", "--orders",
                           str(orders)), out, epay) == 0  # fmt: skip
    assert out.getvalue().splitlines() == [",".join(
        ["kind", "invoice_id", "local_state", "local_amount", "local_currency",
         "gateway_status", "gateway_amount", "gateway_currency", "operation_ids"])]  # fmt: skip
    assert "the books agree" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ("--since", "2026-11-01T00:00", "--until", "2026-12-01"),  # no offset
        ("--since", "yesterday", "--until", "2026-12-01"),
        ("--since", "2026-12-01", "--until", "2026-11-01"),
        ("--since", "2026-11-01", "--until", "2026-12-01", "--orders", "/nonexistent.csv"),
        ("--since", "2026-11-01", "--until", "2026-12-01", "--page-size", "0"),
    ],
)
async def test_cli_usage_errors_exit_2(
    sandbox: Sandbox, epay: EpayClient, argv: tuple[str, ...]
) -> None:
    assert await run(_args(*argv), io.StringIO(), epay) == 2
    assert sandbox.requests_to("/operations") == []


def _refuse(*_: object) -> None:
    raise PermissionError(1, "Operation not permitted")


async def test_cli_output_keeps_modes_follows_links_and_writes_devices_in_place(
    sandbox: Sandbox,
    epay: EpayClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox.gateway.register.add(_op("600000001", 2))
    base = ("--since", "2026-11-01", "--until", "2026-12-01", "--no-progress")
    report = tmp_path / "report.csv"
    report.write_text("the last report\n")
    report.chmod(0o640)
    link = tmp_path / "latest.csv"
    link.symlink_to(report)
    assert await run(_args(*base, "--output", str(link)), io.StringIO(), epay) == 1
    assert link.is_symlink()  # the link's target is replaced, the link kept
    assert report.read_text().startswith("kind,invoice_id,")
    assert report.stat().st_mode & 0o777 == 0o640  # the old report's permissions
    assert sorted(os.listdir(tmp_path)) == ["latest.csv", "report.csv"]
    report_text = report.read_text()
    # Not a regular file (a device, a pipe): written as it is, never replaced.
    assert await run(_args(*base, "--output", os.devnull), io.StringIO(), epay) == 1
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    # A new report has the umask's permissions.
    fresh = tmp_path / "fresh.csv"
    assert await run(_args(*base, "--output", str(fresh)), io.StringIO(), epay) == 1
    umask = os.umask(0o022)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    fresh.unlink()
    # Putting it in place fails (another user's file in a sticky directory): said, kept.
    monkeypatch.setattr(os, "replace", _refuse)
    assert await run(_args(*base, "--output", str(report)), io.StringIO(), epay) == 2
    assert capsys.readouterr().err.endswith(
        f"error: cannot write {report}: Operation not permitted; it is left as it was\n"
    )
    monkeypatch.undo()
    assert report.read_text() == report_text
    assert sorted(os.listdir(tmp_path)) == ["latest.csv", "report.csv"]  # no partial left
    # A directory is refused before the register is read.
    reads = len(sandbox.requests_to("/operations"))
    assert await run(_args(*base, "--output", str(tmp_path)), io.StringIO(), epay) == 2
    assert f"error: cannot write {tmp_path}: is a directory" in capsys.readouterr().err
    assert len(sandbox.requests_to("/operations")) == reads


async def test_cli_a_missing_orders_file_is_named(
    epay: EpayClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.csv"
    args = _args("--since", "2026-11-01", "--until", "2026-12-01", "--orders", str(missing))
    assert await run(args, io.StringIO(), epay) == 2
    assert capsys.readouterr().err == f"error: cannot read {missing}: No such file or directory\n"


async def test_cli_sandbox_flag(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert await run(_args("--since", "2026-11-01", "--until", "2026-12-01", "--sandbox"), out) == 0
    assert "0 operations, 0 orders: the books agree" in capsys.readouterr().err


async def test_cli_an_orders_file_listing_an_invoice_twice_exits_2(
    epay: EpayClient, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("invoice_id,amount,currency,state\n000123,1,KZT,paid\n000123,1,KZT,paid\n")
    args = _args("--since", "2026-11-01", "--until", "2026-12-01", "--orders", str(orders))
    out = io.StringIO()
    assert await run(args, out, epay) == 2
    assert out.getvalue() == ""  # no header before the error


@pytest.mark.parametrize("error", ["orders listed twice", "since after until", "register cut"])
async def test_cli_a_report_stopping_short_leaves_the_last_one_as_it_was(
    sandbox: Sandbox, epay: EpayClient, tmp_path: Path, error: str
) -> None:
    """A header alone would read as "no discrepancies": the file is put in place whole."""
    report = tmp_path / "report.csv"
    report.write_text("the last report\n")
    orders = tmp_path / "orders.csv"
    orders.write_text("invoice_id,amount,currency,state\n000123,1,KZT,paid\n")
    since, until = "2026-11-01", "2026-12-01"
    if error == "orders listed twice":
        orders.write_text(orders.read_text() + "000123,1,KZT,paid\n")
    elif error == "since after until":
        since, until = until, since
    else:
        sandbox.gateway.register.add_operations(5, since=SINCE, until=UNTIL)
        sandbox.fail("/operations", Fault.status(500), times=100)
    args = _args("--since", since, "--until", until, "--orders", str(orders),
                 "--output", str(report), "--no-progress")  # fmt: skip
    assert await run(args, io.StringIO(), epay) == (3 if error == "register cut" else 2)
    assert report.read_text() == "the last report\n"
    assert sorted(os.listdir(tmp_path)) == ["orders.csv", "report.csv"]  # no half-written file


def test_cli_output_to_dev_stdout_appends_to_a_redirected_file(tmp_path: Path) -> None:
    """``--output /dev/stdout >> log``: /dev/stdout leads to the log itself, which is written
    into, never resolved and replaced."""
    log = tmp_path / "log"
    log.write_text("old line\n")
    with log.open("a") as stdout:
        subprocess.run(
            [sys.executable, "-m", "epay_async", "statement", "--sandbox", "--since",
             "2026-01-01", "--until", "2026-01-02", "--no-progress", "--output", "/dev/stdout"],
            stdout=stdout, stderr=subprocess.DEVNULL, check=False, timeout=60,
        )  # fmt: skip
    lines = log.read_text().splitlines()
    assert lines[0] == "old line"
    assert lines[1].startswith("kind,invoice_id,")

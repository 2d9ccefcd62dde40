from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from epay_async import EpayClient, StatusName
from epay_async._cli import main
from epay_async.testing import TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

IDS = ["100000001", "100000007", "100000008", "100000009"]


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EPAY_CLIENT_ID", "EPAY_CLIENT_SECRET", "EPAY_TERMINAL_ID", "EPAY_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def test_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--sandbox", *IDS]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split("\t") == ["invoice", "result", "status", "amount"]
    assert [line.split("\t")[0] for line in lines] == IDS
    assert all(line == line.rstrip() and line.count("\t") == 3 for line in lines)
    assert "CHARGE" in lines[0]
    assert "AUTH" in lines[1]
    assert "REJECT" in lines[2]
    assert "102" in lines[3]


def test_status_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--sandbox", "100000001", "no/pe"]) == 1
    assert "ValidationError" in capsys.readouterr().out


def test_missing_credentials_are_explained(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "100000001"]) == 2
    err = capsys.readouterr().err
    assert "EPAY_CLIENT_ID" in err
    assert "--sandbox" in err


def test_reconcile_jsonl_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("# invoices\n" + "\n".join(IDS) + "\n\n", encoding="utf-8")
    assert main(["reconcile", str(source), "--sandbox", "--concurrency", "2"]) == 0
    captured = capsys.readouterr()
    rows = {row["invoice_id"]: row for row in map(json.loads, captured.out.splitlines())}
    assert set(rows) == set(IDS)
    assert rows["100000001"]["status_name"] == "CHARGE"
    assert rows["100000001"]["amount"] == "101.00"
    assert rows["100000009"]["result_code"] == 102
    assert "4 invoices" in captured.err
    assert "CHARGE 1" in captured.err


def test_reconcile_csv_to_a_file_with_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("100000001\nbad-id\n"))
    output = tmp_path / "out.csv"
    assert main(["reconcile", "-", "--sandbox", "--format", "csv", "--output", str(output)]) == 1
    with output.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["invoice_id"] for r in sorted(rows, key=lambda r: r["invoice_id"])] == [
        "100000001",
        "bad-id",
    ]
    assert next(r for r in rows if r["invoice_id"] == "bad-id")["error"].startswith(
        "ValidationError"
    )
    assert "error 1" in capsys.readouterr().err


def test_reconcile_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconcile", str(tmp_path / "missing.txt"), "--sandbox"]) == 2
    assert "cannot read" in capsys.readouterr().err
    source = tmp_path / "ids.txt"
    source.write_text("100000001\n", encoding="utf-8")
    assert main(["reconcile", str(source), "--sandbox", "--output", str(tmp_path)]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["reconcile", str(source), "--sandbox", "--concurrency", "0"]) == 2


def test_sandbox_command_serves_the_emulator() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "epay_async", "sandbox", "--port", "0", "--answer-any-invoice"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split(" on ")[1].split()[0]

        async def check() -> StatusName | None:
            async with EpayClient(
                client_id="test",
                client_secret=TEST_CLIENT_SECRET,
                terminal_id=TEST_TERMINAL_ID,
                environment=Sandbox.environment(url),
            ) as epay:
                return (await epay.get_status("100000007")).status_name

        assert anyio.run(check) is StatusName.AUTH
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_reconcile_unreadable_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ids.txt"
    source.write_bytes(b"100000001\n\xff\xfe\n")
    assert main(["reconcile", str(source), "--sandbox"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("epay-async ")


def test_a_bom_and_a_header_line_are_not_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "ids.csv"
    source.write_bytes(b"\xef\xbb\xbfinvoice_id\n100000001\n")
    assert main(["reconcile", str(source), "--sandbox"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["invoice_id"] for line in captured.out.splitlines()] == ["100000001"]
    assert "1 invoice:" in captured.err  # one, not "1 invoices"


@pytest.mark.parametrize("value", ["0", "1001", "100000"])
def test_concurrency_is_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("100000001\n", encoding="utf-8")
    assert main(["reconcile", str(source), "--sandbox", "--concurrency", value]) == 2
    assert "1 to 1000" in capsys.readouterr().err


def test_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sandbox", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot listen on 127.0.0.1:")
    assert len(err.splitlines()) == 1


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_resume_after_sigint_gives_every_id_exactly_once(tmp_path: Path) -> None:
    """A real subprocess, stopped by SIGINT half way, then resumed: nothing lost, nothing
    twice. Results are flushed line by line, so the first run's are on disk while it runs."""
    ids = [str(100000000 + n) for n in range(20_000)]
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n", encoding="utf-8")
    output = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "epay_async", "reconcile", str(source), "--sandbox"]
    command += ["--output", str(output), "--no-progress", "--concurrency", "4"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # noqa: S603
    deadline = time.monotonic() + 30
    while (not output.exists() or output.stat().st_size < 20_000) and time.monotonic() < deadline:
        time.sleep(0.05)  # flushed as it goes: visible before the run ends
    assert first.poll() is None, "the run should still be going"
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 128 + signal.SIGINT
    assert "--resume" in err
    partial = {row["invoice_id"] for row in _lines(output)}
    assert 0 < len(partial) < len(ids)
    second = subprocess.run(  # noqa: S603
        [*command, "--resume"], capture_output=True, text=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stderr
    assert f"({len(partial)} done earlier)" in second.stderr
    rows = [row["invoice_id"] for row in _lines(output)]
    assert sorted(rows) == ids  # every id exactly once


def test_resume_needs_an_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("100000001\n", encoding="utf-8")
    assert main(["reconcile", str(source), "--sandbox", "--resume"]) == 2
    assert "--output" in capsys.readouterr().err


def test_resume_a_csv_keeps_one_header(tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    output = tmp_path / "out.csv"
    source.write_text("100000001\n100000007\n", encoding="utf-8")
    output.write_text(
        ",".join(["invoice_id", "result_code", "status_name", "amount", "currency", "error"])
        + "\n100000001,100,CHARGE,101.00,KZT,\n",
        encoding="utf-8",
    )
    args = ["reconcile", str(source), "--sandbox", "--format", "csv", "--output", str(output)]
    assert main([*args, "--resume"]) == 0
    with output.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["invoice_id"] for row in rows] == ["100000001", "100000007"]


async def _skipped() -> list[str]:
    sandbox = Sandbox(answer_any_invoice=True)
    async with (
        sandbox.client() as epay,
        epay.reconcile(["100000001", "100000002", "100000003"], skip={"100000002"}) as results,
    ):
        return sorted([r.invoice_id async for r in results])


def test_reconcile_skips_what_is_done() -> None:
    assert anyio.run(_skipped) == ["100000001", "100000003"]

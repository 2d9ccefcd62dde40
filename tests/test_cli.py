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
    # A REJECT or a 102 is an answer: it is shown, and the command went through.
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
    out, err = capsys.readouterr()
    assert out == ""  # no table header before the error
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
    monkeypatch.setattr(sys, "stdin", io.StringIO("100000001\nbad%id\n"))
    output = tmp_path / "out.csv"
    assert main(["reconcile", "-", "--sandbox", "--format", "csv", "--output", str(output)]) == 1
    with output.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["invoice_id"] for r in sorted(rows, key=lambda r: r["invoice_id"])] == [
        "100000001",
        "bad%id",
    ]
    assert next(r for r in rows if r["invoice_id"] == "bad%id")["error"].startswith(
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


# -- resume: the output's format, torn rows, locks and bad input (issue 22 §4) -------------

HEADER = "invoice_id,result_code,status_name,amount,currency,error"


def _ids_file(tmp_path: Path, *ids: str) -> Path:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n", encoding="utf-8")
    return source


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(None not in row and len(row) == 6 for row in rows), rows
    return rows


def _resume(source: Path, output: Path, *extra: str) -> int:
    return main(["reconcile", str(source), "--sandbox", "--no-progress", "--output", str(output),
                 "--resume", *extra])  # fmt: skip


def test_resume_a_csv_without_format_stays_csv(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007")
    output = tmp_path / "out.csv"
    output.write_text(f"{HEADER}\r\n100000001,100,CHARGE,101.00,KZT,\r\n", encoding="utf-8")
    assert _resume(source, output) == 0
    assert [row["invoice_id"] for row in _csv_rows(output)] == ["100000001", "100000007"]


def test_a_new_csv_output_is_csv_without_format(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, "100000001")
    output = tmp_path / "out.csv"
    assert main(["reconcile", str(source), "--sandbox", "--output", str(output)]) == 0
    assert [row["invoice_id"] for row in _csv_rows(output)] == ["100000001"]


def test_resume_refuses_a_format_that_is_not_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007")
    output = tmp_path / "out.csv"
    before = f"{HEADER}\r\n100000001,100,CHARGE,101.00,KZT,\r\n"
    output.write_text(before, encoding="utf-8")
    assert _resume(source, output, "--format", "jsonl") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "--format csv" in err
    assert output.read_bytes() == before.encode()


@pytest.mark.parametrize(
    "content",
    [b"hello\nworld\n", b"\x00\x01\x02", b"invoice;result\n1;2\n", b"[1, 2]\n"],
)
def test_resume_refuses_a_file_that_is_not_an_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    source = _ids_file(tmp_path, "100000001")
    output = tmp_path / "out.jsonl"
    output.write_bytes(content)
    assert _resume(source, output) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot resume")
    assert len(err.splitlines()) == 1
    assert output.read_bytes() == content  # untouched


def test_resume_cuts_a_torn_jsonl_line_and_checks_its_id_again(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007", "100000008")
    output = tmp_path / "out.jsonl"
    done = json.dumps({"invoice_id": "100000001", "result_code": 100, "status_name": "CHARGE",
                       "amount": "101.00", "currency": "KZT", "error": None})  # fmt: skip
    output.write_text(done + '\n{"invoice_id": "100000007", "result_co', encoding="utf-8")
    assert _resume(source, output) == 0
    rows = _lines(output)  # every line whole JSON: nothing glued onto the torn one
    assert sorted(row["invoice_id"] for row in rows) == ["100000001", "100000007", "100000008"]
    assert all(row["result_code"] for row in rows)


def test_resume_cuts_a_torn_csv_row_and_checks_its_id_again(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007", "100000008")
    output = tmp_path / "out.csv"
    output.write_text(
        f"{HEADER}\r\n100000001,100,CHARGE,101.00,KZT,\r\n100000007,100,AU", encoding="utf-8"
    )
    assert _resume(source, output) == 0
    rows = _csv_rows(output)
    assert sorted(row["invoice_id"] for row in rows) == ["100000001", "100000007", "100000008"]
    assert next(row for row in rows if row["invoice_id"] == "100000007")["status_name"] == "AUTH"


def test_resume_cuts_a_csv_row_torn_inside_a_quoted_cell(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007")
    output = tmp_path / "out.csv"
    output.write_text(
        f'{HEADER}\r\n100000001,100,CHARGE,101.00,KZT,\r\n100000007,,,,,"Error: two\r\n',
        encoding="utf-8",
    )
    assert _resume(source, output) == 0
    rows = _csv_rows(output)
    assert sorted(row["invoice_id"] for row in rows) == ["100000001", "100000007"]
    assert all(row["error"] == "" for row in rows)


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000 + "]" * 100_000,  # was RecursionError
        '{"invoice_id": "100000007"}',  # not a whole row: never counted as done
        '{"invoice_id": 100000007, "result_code": 100, "status_name": null, "amount": null, '
        '"currency": null, "error": null}',
        "not json",
    ],
)
def test_resume_refuses_a_line_in_the_middle_that_is_not_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007")
    output = tmp_path / "out.jsonl"
    good = json.dumps({"invoice_id": "100000001"} | dict.fromkeys(COLUMNS[1:]))
    before = f"{good}\n{line}\n{good}\n"
    output.write_text(before, encoding="utf-8")
    assert _resume(source, output) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot resume {output}: line 2 ")
    assert len(err.splitlines()) == 1
    assert output.read_bytes() == before.encode()


def test_resume_refuses_a_csv_row_of_the_wrong_width(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _ids_file(tmp_path, "100000001", "100000007")
    output = tmp_path / "out.csv"
    output.write_text(f"{HEADER}\r\n100000001,100\r\n100000008,,,,,\r\n", encoding="utf-8")
    assert _resume(source, output) == 2
    assert "line 2 has 2 fields" in capsys.readouterr().err


def test_resume_refuses_an_output_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _ids_file(tmp_path, "100000001")
    output = tmp_path / "out.jsonl"
    output.write_bytes(b'{"invoice_id": "\xff"}\n')
    assert _resume(source, output) == 2
    assert "line 1 is not UTF-8" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
@pytest.mark.parametrize("resume", [False, True])
def test_a_second_run_on_one_output_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], resume: bool
) -> None:
    import fcntl  # noqa: PLC0415

    source = _ids_file(tmp_path, "100000001")
    output = tmp_path / "out.jsonl"
    output.write_text("", encoding="utf-8")
    with output.open("a", encoding="utf-8") as first:  # the other run, writing
        fcntl.flock(first.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        first.write('{"partial": "of the other run"}\n')
        first.flush()
        args = ["reconcile", str(source), "--sandbox", "--output", str(output)]
        assert main([*args, "--resume"] if resume else args) == 2
    err = capsys.readouterr().err
    assert "another run" in err
    assert len(err.splitlines()) == 1
    assert output.read_text(encoding="utf-8") == '{"partial": "of the other run"}\n'


def test_undecodable_stdin_keeps_what_was_checked_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"100000001\n\xff\xfe\n100000007\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    output = tmp_path / "out.jsonl"
    assert main(["reconcile", "-", "--sandbox", "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert (
        err == "error: cannot read stdin: line 2 is not UTF-8 text (the ids before it were read)\n"
    )
    assert [row["invoice_id"] for row in _lines(output)] == ["100000001"]


def test_a_line_too_long_to_be_an_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("100000001\n" + "1" * 100_000 + "\n", encoding="utf-8")
    assert main(["reconcile", str(source), "--sandbox"]) == 2
    assert "line 2 is over 4096 characters" in capsys.readouterr().err


# -- progress, duplicates, spreadsheet formulas ------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_what_this_run_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar's total has no header and no id done earlier (nor a duplicate), and its count,
    so its rate, is only of the invoices this run checks."""
    source = tmp_path / "ids.csv"
    source.write_text("invoice_id\n100000001\n100000002\n100000003\n100000002\n", "utf-8")
    output = tmp_path / "out.jsonl"
    done = {"invoice_id": "100000001"} | dict.fromkeys(COLUMNS[1:])
    output.write_text(json.dumps(done) + "\n", encoding="utf-8")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["reconcile", str(source), "--sandbox", "--output", str(output), "--resume"]) == 0
    bar = terminal.getvalue().split("\r")[-1]
    assert "2/2 " in bar, terminal.getvalue()
    assert "(1 done earlier, 1 duplicate id skipped)" in terminal.getvalue()


def test_copies_of_an_id_are_checked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    requests: list[str] = []
    real = EpayClient.reconcile

    def counting(self: EpayClient, ids: Any, **kwargs: Any) -> Any:
        def spy() -> Any:
            for invoice_id in ids:
                requests.append(invoice_id)
                yield invoice_id

        return real(self, spy(), **kwargs)

    monkeypatch.setattr(EpayClient, "reconcile", counting)
    source = _ids_file(tmp_path, *["100000001"] * 100_000, "100000007", "100000001")
    assert main(["reconcile", str(source), "--sandbox", "--concurrency", "32"]) == 0
    captured = capsys.readouterr()
    assert sorted(requests) == ["100000001", "100000007"]
    assert len(captured.out.splitlines()) == 2
    assert "2 invoices (100000 duplicate ids skipped)" in captured.err


COLUMNS = ("invoice_id", "result_code", "status_name", "amount", "currency", "error")
FORMULAS = ["=1+2", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3", '=HYPERLINK("x")', "'quoted"]


def test_csv_output_never_starts_a_cell_with_a_formula(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, *FORMULAS, "100000001")
    output = tmp_path / "out.csv"
    args = ["reconcile", str(source), "--sandbox", "--no-progress", "--output", str(output)]
    assert main(args) == 1  # the formulas are not ids
    rows = _csv_rows(output)
    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert {row["invoice_id"] for row in rows} == {"'" + f for f in FORMULAS} | {"100000001"}
    # resuming reads the ids back as they were: nothing is checked again
    assert main([*args, "--resume"]) == 0
    assert len(_csv_rows(output)) == len(FORMULAS) + 1


def test_jsonl_output_keeps_ids_exactly(tmp_path: Path) -> None:
    source = _ids_file(tmp_path, *FORMULAS)
    output = tmp_path / "out.jsonl"
    assert main(["reconcile", str(source), "--sandbox", "--output", str(output)]) == 1
    assert sorted(row["invoice_id"] for row in _lines(output)) == sorted(FORMULAS)


def test_a_plain_negative_number_is_kept_as_a_number() -> None:
    from epay_async._cli import csv_cell, csv_value  # noqa: PLC0415

    assert csv_cell("-12.50") == "-12.50"
    assert csv_cell("+5") == "+5"
    assert csv_cell("-1+2") == "'-1+2"
    assert csv_cell("\t=1") == "'\t=1"
    assert csv_cell(None) is None
    for value in ["'x", "''x", "=1", "x"]:
        assert csv_value(str(csv_cell(value))) == value

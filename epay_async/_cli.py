"""The ``epay-async`` command line (``python -m epay_async``).

Credentials come from ``EPAY_CLIENT_ID``, ``EPAY_CLIENT_SECRET``, ``EPAY_TERMINAL_ID`` and
``EPAY_ENVIRONMENT``; ``--sandbox`` runs a command against an in-process emulator instead.
``journal list`` and ``journal recover`` read a payment journal (a SQLite file or a PostgreSQL
DSN); ``list`` needs no credentials.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import importlib.util
import io
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, NoReturn

import anyio
import attrs

from . import _cli_statement
from ._client import EpayClient, TransportName
from ._demo import run_demo
from ._reconcile import ReconcileResult
from ._version import __version__
from .errors import EpayError, ValidationError
from .journal import (
    OPEN_STATES,
    Journal,
    JournalRecord,
    JournalState,
    JournalUnavailableError,
    PostgresJournal,
    Recovered,
    SqliteJournal,
)
from .testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: More requests in flight than this only queue up in the pool (100 connections) and cost memory.
MAX_CONCURRENCY = 1000
COLUMNS = ("invoice_id", "result_code", "status_name", "amount", "currency", "error")


class UsageError(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epay-async", description="Halyk ePay from the shell")
    parser.add_argument("--version", action="version", version=f"epay-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run every flow against the in-process sandbox")

    status = commands.add_parser("status", help="check-status of one or more invoices")
    status.add_argument("invoices", nargs="+", metavar="INVOICE")
    _common(status)

    rec = commands.add_parser(
        "reconcile",
        help="check-status for every invoice in a file",
        description="Check-status for every invoice in FILE. Results are written as each "
        "completes, so their order is the order of completion, not of the file.",
    )
    rec.add_argument("file", metavar="FILE", help="one invoice id per line; - for stdin")
    rec.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help=f"requests in flight (default 16, at most {MAX_CONCURRENCY})",
    )
    rec.add_argument("--output", metavar="FILE", help="write results here (default: stdout)")
    rec.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="jsonl (the default) or csv (the default for an --output ending in .csv)",
    )
    rec.add_argument(
        "--resume",
        action="store_true",
        help="with --output: skip the ids already in it and append the rest, in its format",
    )
    rec.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _common(rec)

    _cli_statement.add_parser(commands)
    _journal_parser(commands)
    serve = commands.add_parser("sandbox", help="serve the ePay emulator over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="answer every request this much later, as a real gateway would (default 0)",
    )
    serve.add_argument(
        "--answer-any-invoice",
        action="store_true",
        help="answer check-status for invoices never paid here by their last digit (0-6 CHARGE, "
        "7 AUTH, 8 REJECT, 9 not found), for load tests; by default they are 102 (not found)",
    )
    serve.add_argument(
        "--one-step",
        action="store_true",
        help="a one-step terminal, the gateway's default: a payment is charged at once (CHARGE);"
        " by default the sandbox's terminal is two-step (AUTH, then charge)",
    )
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=("payment", "p2p"), default="payment")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="use an in-process emulator (invoices by last digit: 0-6 CHARGE, 7 AUTH, "
        "8 REJECT, 9 not found)",
    )


def _client(args: argparse.Namespace) -> EpayClient:
    if args.sandbox:  # keeps nothing per request: memory stays flat over any number of ids
        return Sandbox(answer_any_invoice=True, record_requests=False).client()
    # aiohttp when installed: several times httpx's throughput at high concurrency.
    transport: TransportName = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    try:
        return EpayClient.from_env(transport=transport)
    except ValidationError as exc:
        raise UsageError(f"{exc} (set the EPAY_* variables, or use --sandbox)") from None


def result_row(result: ReconcileResult) -> dict[str, Any]:
    status, transaction = result.status, result.status and result.status.transaction
    return {
        "invoice_id": result.invoice_id,
        "result_code": int(status.result_code) if status else None,
        "status_name": str(transaction.status_name) if transaction else None,
        "amount": str(transaction.amount) if transaction else None,
        "currency": transaction.currency if transaction else None,
        "error": f"{type(result.error).__name__}: {result.error}" if result.error else None,
    }


def _label(result: ReconcileResult) -> str:
    if result.error is not None:
        return "error"
    assert result.status is not None
    if result.status.transaction is not None:
        return str(result.status.transaction.status_name)
    return result.status.result_code.name.lower()


async def _status(args: argparse.Namespace, out: IO[str]) -> int:
    failed = False
    async with _client(args) as epay:
        out.write("invoice\tresult\tstatus\tamount\n")  # once the credentials are read
        for invoice_id in args.invoices:
            try:
                status = await epay.get_status(invoice_id, kind=args.kind)
            except EpayError as exc:
                failed = True
                out.write(f"{invoice_id}\terror\t-\t{type(exc).__name__}: {exc}\n")
                continue
            row = result_row(ReconcileResult(invoice_id, status=status))
            amount = f"{row['amount']} {row['currency']}" if row["amount"] else "-"
            result = f"{row['result_code']} {status.result_message}".strip()
            out.write(f"{invoice_id}\t{result}\t{row['status_name'] or '-'}\t{amount}\n")
    return EXIT_FAILED if failed else EXIT_OK


# -- id files (shared with the worker recipe, epay_async.examples.reconcile_workers) ----------

#: A line longer than this is not an invoice id: refused before it is held in memory whole.
MAX_ID_LINE = 4096


class IdFile:
    """The invoice ids of file ``name`` (``-`` for stdin), one per line: iterating reads them
    lazily, as bytes decoded line by line; blank lines, ``#`` comments, a UTF-8 byte order
    mark and a header (a first line without a digit, such as ``invoice_id``) are skipped. A
    missing file is a :class:`UsageError` at once; a line that is not UTF-8 text, or too long
    to be an id, is one when it is reached, naming the line (the ids before it are read).
    Use it with ``with``: leaving closes the file (never stdin)."""

    def __init__(self, name: str) -> None:
        self.label = "stdin" if name == "-" else name
        self._handle: IO[bytes] | IO[str]
        if name == "-":
            self._handle, self._owned = getattr(sys.stdin, "buffer", sys.stdin), False
            return
        try:
            self._handle, self._owned = open(name, "rb"), True  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror}") from None

    def __iter__(self) -> Iterator[str]:
        return _ids(self._handle, self.label)

    def close(self) -> None:
        if self._owned:
            self._handle.close()

    def __enter__(self) -> IdFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _ids(handle: IO[bytes] | IO[str], label: str) -> Iterator[str]:
    number = 0
    header_possible = True
    try:
        while line := handle.readline(MAX_ID_LINE + 1):
            number += 1
            if len(line) > MAX_ID_LINE:
                raise UsageError(
                    f"cannot read {label}: line {number} is over {MAX_ID_LINE} characters "
                    "long (the ids before it were read)"
                )
            if isinstance(line, bytes):
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise UsageError(
                        f"cannot read {label}: line {number} is not UTF-8 text "
                        "(the ids before it were read)"
                    ) from None
            text = line.strip().lstrip("\ufeff").strip() if number == 1 else line.strip()
            if not text or text.startswith("#"):
                continue
            if header_possible:
                header_possible = False
                if not any(character.isdigit() for character in text):
                    continue  # a header such as invoice_id
            yield text
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror or exc}") from None


def _distinct(
    ids: Iterable[str], done: Container[str], duplicate: Callable[[], Any]
) -> Iterator[str]:
    """Each id once per run, and none of ``done``: the ids of this run are kept in a set (an
    output row is per id anyway), so memory grows with the distinct ids, never with copies."""
    seen: set[str] = set()
    for invoice_id in ids:
        if invoice_id in done:
            continue
        if invoice_id in seen:
            duplicate()
            continue
        seen.add(invoice_id)
        yield invoice_id


# -- the output file (shared with the worker recipe's export) -------------------------------

#: A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_CSV_HEADER = ",".join(COLUMNS).encode()
#: A line of an output file longer than this is not one of its rows.
_MAX_ROW = 1 << 20


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: one starting with ``= + - @``, a tab or a
    line break gets a leading ``'`` (as does one already starting with ``'``, so that reading
    drops exactly one). A plain number (``-12.50``) is left alone: it is data, not a formula."""
    starts_a_formula = isinstance(value, str) and value.startswith((*_FORMULA_START, "'"))
    if starts_a_formula and not _NUMBER.fullmatch(str(value)):
        return f"'{value}"
    return value


def csv_value(cell: str) -> str:
    """The value of a cell written by :func:`csv_cell`."""
    return cell[1:] if cell.startswith("'") else cell


class RowWriter:
    """Result rows as ``--output`` writes them: JSON lines exactly as they are, or CSV (one
    header, formulas neutralised by :func:`csv_cell`), each flushed as it is written."""

    def __init__(self, target: IO[str], output_format: str, *, header: bool = True) -> None:
        self._target = target
        self._csv = csv.writer(target) if output_format == "csv" else None
        if self._csv is not None and header:
            self._csv.writerow(COLUMNS)
            target.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([csv_cell(row[column]) for column in COLUMNS])
        else:
            self._target.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._target.flush()  # every finished result is on disk as it completes


def output_format(name: str | None, requested: str | None) -> str:
    """``--format``, or else CSV for a ``.csv`` output and JSON lines for anything else."""
    if requested:
        return requested
    return "csv" if name and name.lower().endswith(".csv") else "jsonl"


@attrs.define
class Output:
    """An output file opened for one run: locked, and on resume scanned (its format, the ids
    it holds) with a cut-off last row removed."""

    file: IO[str]
    format: str
    done: set[str]
    new: bool  # nothing in it yet: a CSV header is due


def open_output(name: str, requested: str | None, *, resume: bool) -> Output:
    """Open ``name`` for writing, holding an exclusive lock on it for the process' life (a
    second run on the same file is refused, not interleaved). Without ``resume`` the file is
    emptied once the lock is held; with it, the rows already there are kept, their ids
    returned as ``done``, and a torn last row cut away before anything is appended."""
    try:
        binary = open(name, "a+b")  # noqa: SIM115 - returned, wrapped
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror}") from None
    try:
        _lock(binary, name)
        done: set[str] = set()
        chosen = output_format(name, requested)
        if resume:
            found, done = _scan(binary, name)
            if found is not None and requested and requested != found:
                raise UsageError(
                    f"{name} holds {found} rows, not {requested}: resume it with "
                    f"--format {found} (or no --format)"
                )
            chosen = found or chosen
        else:
            binary.truncate(0)
        new = binary.seek(0, os.SEEK_END) == 0
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    except BaseException:
        binary.close()
        raise
    return Output(text, chosen, done, new)


def _lock(handle: IO[bytes], name: str) -> None:
    """An exclusive ``flock``, released when the file is closed or the process ends. Windows
    has no ``fcntl``: there the output is not locked."""
    if sys.platform == "win32":  # pragma: no cover - not locked on Windows
        return
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise UsageError(f"{name} is being written by another run (locked)") from None


def _scan(handle: IO[bytes], name: str) -> tuple[str | None, set[str]]:
    """The format of an earlier run's output (None when it has no complete row yet) and the
    ids of its complete rows; a last line cut short (no line end, or a CSV quote left open)
    is truncated away. A file that is not an output of this command is refused untouched."""
    handle.seek(0)
    start = handle.read(len(_CSV_HEADER)).lstrip(b"\xef\xbb\xbf")
    if not start:
        return None, set()
    if start.lstrip().startswith(b"{"):
        found = "jsonl"
    elif _CSV_HEADER.startswith(start):
        found = "csv"
    else:
        raise UsageError(
            f"cannot resume {name}: it is not an output of epay-async reconcile "
            "(neither its JSON lines nor its CSV)"
        )
    state = _Scan(handle, name)
    done = state.csv_ids() if found == "csv" else state.jsonl_ids()
    handle.truncate(state.good_end)
    return (found if state.good_end else None), done


class _Scan:
    """Complete lines of a file with the byte offset after each; the last line, if it has
    no line end, is held back (torn)."""

    def __init__(self, handle: IO[bytes], name: str) -> None:
        self.handle = handle
        self.name = name
        self.consumed = 0  # bytes of the lines handed out so far
        self.good_end = 0  # bytes up to the end of the last complete row
        self.number = 0
        self.at_end = False

    def lines(self) -> Iterator[str]:
        self.handle.seek(0)
        while raw := self.handle.readline(_MAX_ROW):
            if not raw.endswith(b"\n"):
                if len(raw) == _MAX_ROW:
                    self.fail("is too long to be one of its rows")
                break  # torn: held back, truncated away
            self.number += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("is not UTF-8 text")
            self.consumed += len(raw)
            yield text.lstrip("\ufeff") if self.number == 1 else text
        self.at_end = True

    def fail(self, what: str) -> NoReturn:
        raise UsageError(f"cannot resume {self.name}: line {self.number} {what}")

    def jsonl_ids(self) -> set[str]:
        done: set[str] = set()
        for line in self.lines():
            if line.strip():
                done.add(self.json_id(line))
            self.good_end = self.consumed
        return done

    def json_id(self, line: str) -> str:
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            self.fail("is not JSON")
        if not isinstance(row, dict) or not set(COLUMNS) <= row.keys():
            self.fail("is not a result row (a JSON object with " + ", ".join(COLUMNS) + ")")
        invoice_id = row["invoice_id"]
        if not isinstance(invoice_id, str) or not invoice_id:
            self.fail("has no invoice_id")
        return invoice_id

    def csv_ids(self) -> set[str]:
        done: set[str] = set()
        rows = csv.reader(self.lines(), strict=True)
        try:
            first = next(rows, None)
            if first is None:  # the header itself cut short
                return done
            if first != list(COLUMNS):
                self.fail("is not the header " + ",".join(COLUMNS))
            self.good_end = self.consumed
            for row in rows:
                if row and len(row) != len(COLUMNS):
                    self.fail(f"has {len(row)} fields, not {len(COLUMNS)}")
                if row:
                    if not row[0]:
                        self.fail("has no invoice_id")
                    done.add(csv_value(row[0]))
                self.good_end = self.consumed
        except csv.Error:
            if not self.at_end:  # not a quote left open by a cut: a broken file
                self.fail("is not CSV")
        return done


async def _stop_on_signals(scope: anyio.CancelScope, stopped: list[int]) -> None:
    """SIGINT or SIGTERM stops the job cleanly: what finished is kept, the summary printed."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            stopped.append(signum)
            scope.cancel()
            return


def _progress(disabled: bool, name: str, done: Container[str]) -> Any:
    """A tqdm bar on a terminal (the ``cli`` extra) counting the invoices checked by this
    run, so its rate is theirs; for a file, its total is the ids still to check (a first
    pass over it: no header, comment or id done earlier counted; a duplicate, found during
    the run, takes one off)."""
    if disabled or not sys.stderr.isatty() or not importlib.util.find_spec("tqdm"):
        return None
    from tqdm import tqdm  # noqa: PLC0415 - the cli extra

    total = None
    if name != "-":
        with contextlib.suppress(UsageError), IdFile(name) as ids:  # the run says what is wrong
            total = sum(1 for invoice_id in ids if invoice_id not in done)
    return tqdm(unit=" invoices", file=sys.stderr, total=total)


async def _reconcile(args: argparse.Namespace, out: IO[str]) -> int:
    if args.resume and not args.output:
        raise UsageError("--resume needs --output: the file to resume")
    counts: collections.Counter[str] = collections.Counter()
    stopped: list[int] = []
    duplicates = 0
    with contextlib.ExitStack() as files:
        ids = files.enter_context(IdFile(args.file))  # refused before the output is touched
        if args.output:
            output = open_output(args.output, args.format, resume=args.resume)
            files.callback(output.file.close)
            target, done, header = output.file, output.done, output.new
            writer = RowWriter(target, output.format, header=header)
        else:
            done = set()
            writer = RowWriter(out, output_format(None, args.format))
        bar = _progress(args.no_progress, args.file, done)
        if bar is not None:
            files.callback(bar.close)

        def duplicate() -> None:
            nonlocal duplicates
            duplicates += 1
            if bar is not None and bar.total:
                bar.total -= 1
                bar.refresh()

        failure: Exception | None = None
        async with _client(args) as epay, anyio.create_task_group() as tasks:
            with anyio.CancelScope() as job:
                tasks.start_soon(_stop_on_signals, job, stopped)
                reconciliation = epay.reconcile(
                    _distinct(ids, done, duplicate),
                    concurrency=args.concurrency,
                    kind=args.kind,
                )
                try:
                    async with reconciliation as results:
                        async for result in results:
                            counts[_label(result)] += 1
                            writer.write(result_row(result))
                            if bar is not None:
                                bar.update()
                except Exception as exc:  # raised after the task group, not wrapped by it
                    failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    total = sum(counts.values())
    notes = [f"{len(done)} done earlier"] if done else []
    notes += [f"{duplicates} duplicate id{'' if duplicates == 1 else 's'} skipped"] * bool(
        duplicates
    )
    extra = f" ({', '.join(notes)})" if notes else ""
    sys.stderr.write(f"{total} invoice{'' if total == 1 else 's'}{extra}: {summary or 'none'}\n")
    if stopped:
        sys.stderr.write("stopped by a signal: run again with --resume to finish\n")
        return 128 + stopped[0]
    return EXIT_FAILED if counts["error"] else EXIT_OK


async def _serve(args: argparse.Namespace, out: IO[str]) -> int:
    if not 0 <= args.latency <= 60:
        raise UsageError("--latency must be from 0 to 60 seconds")
    sandbox = Sandbox(
        answer_any_invoice=args.answer_any_invoice,
        record_requests=False,
        latency=args.latency,
        two_step=not args.one_step,
    )
    with socket.socket() as probe:  # a port in use is one line, not an exception group
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    import logging  # noqa: PLC0415 - only the served sandbox logs to the terminal

    handler = logging.StreamHandler(sys.stderr)  # each notification attempt, on stderr
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    notes = logging.getLogger("epay_async.testing")
    notes.addHandler(handler)
    notes.setLevel(logging.INFO)
    mode = (
        "answered by their last digit (--answer-any-invoice): 0-6 CHARGE, 7 AUTH, 8 REJECT, "
        "9 not found"
        if args.answer_any_invoice
        else "answered 102, invoice not found (--answer-any-invoice: by their last digit)"
    )
    steps = (
        "one-step (--one-step): a payment is charged at once, as on the gateway by default"
        if args.one_step
        else "two-step: AUTH, then charge (--one-step: charged at once, the gateway's default)"
    )
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve, args.host, args.port)
        host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address
        base = f"http://{host}:{port}"
        # Listening on every address: this machine reaches it on loopback, others by its name.
        loopback = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(args.host)  # noqa: S104
        reach = base
        if loopback is not None:
            reach = f"http://{loopback}:{port} (from another machine: this one's name or address)"
        out.write(
            f"ePay sandbox on {base} (Ctrl+C to stop)\n"
            f"  token URL  {base}/oauth2/token\n  API        {base}\n"
            f"  client_id {TEST_CLIENT_ID}  client_secret {TEST_CLIENT_SECRET}\n"
            f"  terminal  {TEST_TERMINAL_ID}\n"
            f"  your app  EPAY_ENVIRONMENT={reach} (with the credentials above)\n"
            f"  unknown invoices  {mode}\n"
            f"  terminal mode     {steps}\n"
            "  notifications     POSTed to each order's postLink / failurePostLink, "
            f"{sandbox.notification_attempts} attempts at most\n"
        )
        out.flush()
    return EXIT_OK


# -- journal list / journal recover ---------------------------------------------------------

JOURNAL_COLUMNS = (
    "created_at", "state", "operation", "kind", "invoice_id", "transaction_id", "amount",
    "currency", "writer", "detail", "result_code", "status_name", "payment_state", "id",
)  # fmt: skip
RECOVERED_COLUMNS = ("invoice_id", "operation", "settled", "state", "payment_state", "reason")


def _journal_parser(commands: Any) -> None:
    journal = commands.add_parser(
        "journal",
        help="the payment journal: list its records, recover the open ones",
        description="JOURNAL is a SQLite file or a PostgreSQL DSN (postgresql://...). Exit 0 "
        "when done, 1 when the journal cannot be read (or, for recover, a record is left "
        "open), 2 for a usage error.",
    )
    actions = journal.add_subparsers(dest="journal_command", required=True)
    listing = actions.add_parser("list", help="the newest records first (needs no credentials)")
    listing.add_argument("journal", metavar="JOURNAL")
    listing.add_argument(
        "--state",
        action="append",
        choices=["open", *(state.value for state in JournalState)],
        help="only records in this state (repeatable; open: intent or in_doubt)",
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    recovering = actions.add_parser(
        "recover",
        help="settle the open records with check-status (credentials from EPAY_*)",
        description="Settle the journal's open records with check-status, as "
        "EpayClient.recover() does: records older than --older-than seconds, or written by a "
        "process of this machine that is gone. Exit 1 when a record is left open.",
    )
    recovering.add_argument("journal", metavar="JOURNAL")
    recovering.add_argument(
        "--older-than",
        type=float,
        metavar="SECONDS",
        help="settle records older than this (default: the retry deadline plus 60 s)",
    )
    recovering.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")


def _open_journal(spec: str) -> Journal:
    """A PostgreSQL DSN, or the path of an existing SQLite journal (never created here)."""
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresJournal(spec)
    if not os.path.isfile(spec):
        raise UsageError(f"no journal at {spec} (a SQLite file, or a postgresql:// DSN)")
    return SqliteJournal(spec)


def _journal_row(record: JournalRecord) -> dict[str, Any]:
    row = attrs.asdict(record, recurse=False)
    row["state"] = record.state.value
    row["created_at"] = record.created_at.isoformat()
    row["updated_at"] = record.updated_at.isoformat()
    row["amount"] = None if record.amount is None else str(record.amount)
    return {column: row[column] for column in JOURNAL_COLUMNS}


def _recovered_row(item: Recovered) -> dict[str, Any]:
    record = item.record
    return {
        "invoice_id": record.invoice_id,
        "operation": record.operation,
        "settled": item.settled,
        "state": record.state.value,
        "payment_state": record.payment_state,
        "reason": item.reason,
    }


def _table_cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\t", " ").replace("\n", " ")


def _write_rows(
    out: IO[str], output_format: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    if output_format == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif output_format == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row[column]) for column in columns])
    else:  # a tab-separated table, as ``status`` prints
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_table_cell(row[column]) for column in columns) + "\n")
    out.flush()


async def _journal(args: argparse.Namespace, out: IO[str]) -> int:
    journal = _open_journal(args.journal)
    try:
        if args.journal_command == "list":
            return await _journal_list(args, journal, out)
        return await _journal_recover(args, journal, out)
    except JournalUnavailableError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_FAILED
    finally:
        with anyio.CancelScope(shield=True):
            await journal.aclose()


async def _journal_list(args: argparse.Namespace, journal: Journal, out: IO[str]) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    states: set[JournalState] | None = None
    if args.state:
        states = set()
        for name in args.state:
            states |= set(OPEN_STATES) if name == "open" else {JournalState(name)}
    records = await journal.list(args.limit, states=states)
    _write_rows(out, args.format, JOURNAL_COLUMNS, (_journal_row(r) for r in records))
    return EXIT_OK


async def _journal_recover(args: argparse.Namespace, journal: Journal, out: IO[str]) -> int:
    if args.older_than is not None and not 0 <= args.older_than < float("inf"):
        raise UsageError("--older-than must be a number of seconds, 0 or more")
    try:
        client = EpayClient.from_env(journal=journal)
    except ValidationError as exc:
        raise UsageError(f"{exc} (set the EPAY_* variables)") from None
    async with client as epay:
        done = await epay.recover(older_than=args.older_than, include_under_way=True)
    _write_rows(out, args.format, RECOVERED_COLUMNS, (_recovered_row(r) for r in done))
    settled = sum(1 for item in done if item.settled)
    under_way = sum(1 for item in done if item.under_way)
    left = sum(1 for item in done if item.record.is_open) - under_way
    sys.stderr.write(
        f"{len(done)} open record{'' if len(done) == 1 else 's'}: {settled} settled here, "
        f"{len(done) - settled - left - under_way} closed by another process, "
        f"{under_way} under way, {left} left open\n"
    )
    return EXIT_FAILED if left else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    if args.command == "reconcile" and not 1 <= args.concurrency <= MAX_CONCURRENCY:
        sys.stderr.write(f"error: --concurrency must be from 1 to {MAX_CONCURRENCY}\n")
        return EXIT_USAGE
    commands = {"status": _status, "reconcile": _reconcile, "sandbox": _serve, "journal": _journal}
    commands["statement"] = _cli_statement.run
    try:
        if args.command == "demo":
            anyio.run(run_demo)
            return EXIT_OK
        return anyio.run(commands[args.command], args, out)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

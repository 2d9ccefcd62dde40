"""The ``epay-async`` command line (``python -m epay_async``).

Credentials come from ``EPAY_CLIENT_ID``, ``EPAY_CLIENT_SECRET``, ``EPAY_TERMINAL_ID`` and
``EPAY_ENVIRONMENT``; ``--sandbox`` runs a command against an in-process emulator instead.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import importlib.util
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

import anyio

from ._client import EpayClient, TransportName
from ._demo import run_demo
from ._reconcile import ReconcileResult
from ._version import __version__
from .errors import EpayError, ValidationError
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
    rec.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    rec.add_argument(
        "--resume",
        action="store_true",
        help="with --output: skip the ids already in it and append the rest",
    )
    rec.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _common(rec)

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


def _row(result: ReconcileResult) -> dict[str, Any]:
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
    out.write("invoice\tresult\tstatus\tamount\n")
    async with _client(args) as epay:
        for invoice_id in args.invoices:
            try:
                status = await epay.get_status(invoice_id, kind=args.kind)
            except EpayError as exc:
                failed = True
                out.write(f"{invoice_id}\terror\t-\t{type(exc).__name__}: {exc}\n")
                continue
            row = _row(ReconcileResult(invoice_id, status=status))
            amount = f"{row['amount']} {row['currency']}" if row["amount"] else "-"
            result = f"{row['result_code']} {status.result_message}".strip()
            out.write(f"{invoice_id}\t{result}\t{row['status_name'] or '-'}\t{amount}\n")
    return EXIT_FAILED if failed else EXIT_OK


def _open(name: str) -> IO[str]:
    if name == "-":
        return sys.stdin
    try:
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None


def _create(name: str, *, append: bool = False) -> IO[str]:
    try:
        return open(name, "a" if append else "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror}") from None


def _done(name: str, output_format: str) -> tuple[set[str], bool]:
    """The ids an earlier run wrote to ``name`` (a cut-off last line is simply done again),
    and whether the file exists."""
    done: set[str] = set()
    try:
        with open(name, encoding="utf-8", newline="") as handle:
            if output_format == "csv":
                done.update(row.get("invoice_id") or "" for row in csv.DictReader(handle))
            else:
                for line in handle:
                    try:
                        done.add(str(json.loads(line)["invoice_id"]))
                    except (ValueError, KeyError, TypeError):
                        continue
    except FileNotFoundError:
        return set(), False
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name} to resume: {exc}") from None
    done.discard("")
    return done, True


async def _stop_on_signals(scope: anyio.CancelScope, stopped: list[int]) -> None:
    """SIGINT or SIGTERM stops the job cleanly: what finished is kept, the summary printed."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            stopped.append(signum)
            scope.cancel()
            return


def _ids(handle: IO[str], name: str) -> Iterator[str]:
    """Invoice ids, one per line, read lazily; blank lines, # comments, a UTF-8 byte order
    mark and a header line (a first line that is not an id, such as ``invoice_id``) skipped."""
    try:
        for number, line in enumerate(handle):
            text = line.strip().lstrip("\ufeff").strip()
            if number == 0 and text and not text.isdigit() and text.isidentifier():
                continue  # a CSV header
            if text and not text.startswith("#"):
                yield text
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}") from None


def _progress(disabled: bool, name: str) -> Any:
    """A tqdm bar on a terminal (the ``cli`` extra); for a file, with its total and ETA."""
    if disabled or not sys.stderr.isatty() or not importlib.util.find_spec("tqdm"):
        return None
    from tqdm import tqdm  # noqa: PLC0415 - the cli extra

    return tqdm(unit=" invoices", file=sys.stderr, total=_count_lines(name))


def _count_lines(name: str) -> int | None:
    """The number of non-blank lines of a file (a fast pass), or None for stdin."""
    if name == "-":
        return None
    try:
        with open(name, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except OSError:
        return None


async def _reconcile(args: argparse.Namespace, out: IO[str]) -> int:
    if args.resume and not args.output:
        raise UsageError("--resume needs --output: the file to resume")
    counts: collections.Counter[str] = collections.Counter()
    done, appending = _done(args.output, args.format) if args.resume else (set(), False)
    stopped: list[int] = []
    with contextlib.ExitStack() as files:
        source = _open(args.file)
        if source is not sys.stdin:
            files.enter_context(source)
        target = files.enter_context(_create(args.output, append=appending)) if args.output else out
        bar = _progress(args.no_progress, args.file)
        if bar is not None:
            files.callback(bar.close)
            bar.update(len(done))
        writer = csv.DictWriter(target, fieldnames=COLUMNS) if args.format == "csv" else None
        if writer is not None and not (appending and target.tell() > 0):
            writer.writeheader()
        failure: Exception | None = None
        async with _client(args) as epay, anyio.create_task_group() as tasks:
            with anyio.CancelScope() as job:
                tasks.start_soon(_stop_on_signals, job, stopped)
                reconciliation = epay.reconcile(
                    _ids(source, args.file),
                    concurrency=args.concurrency,
                    kind=args.kind,
                    skip=done,
                )
                try:
                    async with reconciliation as results:
                        async for result in results:
                            counts[_label(result)] += 1
                            row = _row(result)
                            if writer is not None:
                                writer.writerow(row)
                            else:
                                target.write(json.dumps(row, ensure_ascii=False) + "\n")
                            target.flush()  # every finished result is on disk as it completes
                            if bar is not None:
                                bar.update()
                except Exception as exc:  # raised after the task group, not wrapped by it
                    failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
    summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    total = sum(counts.values())
    earlier = f" ({len(done)} done earlier)" if done else ""
    sys.stderr.write(f"{total} invoice{'' if total == 1 else 's'}{earlier}: {summary or 'none'}\n")
    if stopped:
        sys.stderr.write("stopped by a signal: run again with --resume to finish\n")
        return 128 + stopped[0]
    return EXIT_FAILED if counts["error"] else EXIT_OK


async def _serve(args: argparse.Namespace, out: IO[str]) -> int:
    if not 0 <= args.latency <= 60:
        raise UsageError("--latency must be from 0 to 60 seconds")
    sandbox = Sandbox(
        answer_any_invoice=args.answer_any_invoice, record_requests=False, latency=args.latency
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
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve, args.host, args.port)
        base = f"http://{args.host}:{port}"
        out.write(
            f"ePay sandbox on {base} (Ctrl+C to stop)\n"
            f"  token URL  {base}/oauth2/token\n  API        {base}\n"
            f"  client_id {TEST_CLIENT_ID}  client_secret {TEST_CLIENT_SECRET}\n"
            f"  terminal  {TEST_TERMINAL_ID}\n"
            f"  unknown invoices  {mode}\n"
            "  notifications     POSTed to each order's postLink / failurePostLink, "
            f"{sandbox.notification_attempts} attempts at most\n"
        )
        out.flush()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = sys.stdout
    if args.command == "reconcile" and not 1 <= args.concurrency <= MAX_CONCURRENCY:
        sys.stderr.write(f"error: --concurrency must be from 1 to {MAX_CONCURRENCY}\n")
        return EXIT_USAGE
    commands = {"status": _status, "reconcile": _reconcile, "sandbox": _serve}
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

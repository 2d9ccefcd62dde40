"""``epay-async statement``: the discrepancy report of a period, for a nightly job.

    epay-async statement --since 2026-12-01 --until 2026-12-02 --orders orders.csv \\
        --output discrepancies.csv

Exit 0 when the books agree, 1 when they do not, 2 for a usage error (a bad date, an unreadable
orders file), 3 when the register could not be read to the end (the report is then partial).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Any

from ._client import EpayClient
from ._converter import GATEWAY_TZ
from .errors import EpayError, ValidationError
from .statement import COLUMNS, LocalOrder, Statement, read_orders

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_DISAGREE, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``statement`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "statement",
        help="compare the merchant's orders of a period with the gateway's register",
        description="Report every discrepancy between your orders and the gateway's register "
        "of operations created from --since (inclusive) to --until (exclusive). Exit 0 when "
        "the books agree, 1 when they do not, 2 for a usage error, 3 when the register could "
        "not be read to the end.",
    )
    parser.add_argument("--since", required=True, help="ISO date or datetime with offset")
    parser.add_argument("--until", required=True, help="ISO date or datetime with offset")
    parser.add_argument(
        "--orders",
        help="your orders: CSV (invoice_id,amount,currency,state) or .jsonl; states "
        "paid/unpaid/failed/refunded/cancelled. Without it every paid operation is reported",
    )
    parser.add_argument("--output", help="the report file (default: standard output)")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--sandbox", action="store_true", help="use an in-process emulator (an empty register)"
    )
    return parser


def parse_instant(text: str, field: str) -> datetime:
    """An ISO datetime with an offset, or a date (midnight, gateway time: UTC+5)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=GATEWAY_TZ)
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, "must be an ISO date or datetime") from None
    if value.tzinfo is None:
        raise ValidationError(field, "needs a UTC offset (e.g. 2026-12-01T00:00+05:00)")
    return value


def _progress(disabled: bool) -> Any:
    if disabled or not sys.stderr.isatty() or not importlib.util.find_spec("tqdm"):
        return None
    from tqdm import tqdm  # noqa: PLC0415 - the cli extra

    return tqdm(unit=" operations", file=sys.stderr)


def _written_in_place(name: str) -> bool:
    """Whether the report goes straight into ``name``: a device, a pipe, ``/dev/stdout`` (which
    may lead to the very file a shell redirected to, so it is never resolved and replaced)."""
    if os.path.abspath(name).startswith(("/dev/", "/proc/")):
        return True
    return os.path.exists(name) and not os.path.isfile(name) and not os.path.isdir(name)


@contextlib.contextmanager
def _report_file(name: str) -> Iterator[IO[str]]:
    """Where the report goes. A regular file (or a new one) is written beside itself, with the
    old file's permissions (a new one's: the umask's) from the start, and takes its place only
    once the report is whole: a usage error or a register read short leaves a report already
    there as it was (a header alone would read as "no discrepancies"). A device or a pipe
    (:func:`_written_in_place`) is written as it is."""
    if os.path.isdir(name):
        raise IsADirectoryError(errno.EISDIR, "is a directory")
    if _written_in_place(name):
        # Appended: /dev/stdout reopened for writing would cut short the file a shell sent
        # standard output to (``>> log``); a device or a pipe has no end to append at.
        with open(name, "a", encoding="utf-8", newline="") as stream:
            yield stream
        return
    target = os.path.realpath(name)  # a symlink's target is replaced, not the link
    folder, base = os.path.split(target)
    if os.path.exists(target):
        mode = os.stat(target).st_mode & 0o7777
    else:
        umask = os.umask(0o022)  # read, then put back (the CLI runs no other thread yet)
        os.umask(umask)
        mode = 0o666 & ~umask
    descriptor, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=".partial", dir=folder)
    try:
        os.fchmod(descriptor, mode)
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class _Unfinished(Exception):
    """The report stops short: its file is not put in place."""

    def __init__(self, code: int) -> None:
        self.code = code


def _client(args: argparse.Namespace) -> EpayClient:
    if args.sandbox:
        from .testing import Sandbox  # noqa: PLC0415 - only for --sandbox

        return Sandbox(record_requests=False).client()
    return EpayClient.from_env()


async def run(args: argparse.Namespace, out: IO[str], epay: EpayClient | None = None) -> int:
    """Run ``statement`` with parsed ``args``, the report to ``out`` (or ``--output``);
    ``epay`` is a client to use instead of one from the environment (tests)."""
    bar: Any = None  # the progress bar, once the report can start
    try:
        since = parse_instant(args.since, "since")
        until = parse_instant(args.until, "until")
        orders: list[LocalOrder] = list(read_orders(args.orders)) if args.orders else []
        client = epay if epay is not None else _client(args)
        report = Statement(
            client,
            orders,
            since,
            until,
            page_size=args.page_size,
            concurrency=args.concurrency,
            on_record=lambda _: bar.update() if bar is not None else None,
        )
    except ValidationError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:  # the orders file
        sys.stderr.write(f"error: cannot read {args.orders}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    bar = _progress(args.no_progress)
    try:
        with contextlib.ExitStack() as files:
            if bar is not None:
                files.callback(bar.close)
            try:
                target = files.enter_context(_report_file(args.output)) if args.output else out
            except OSError as exc:
                sys.stderr.write(f"error: cannot write {args.output}: {exc.strerror or exc}\n")
                return EXIT_USAGE
            await _write(
                report, client if epay is None else None, target, csv_format=args.format == "csv"
            )
    except _Unfinished as unfinished:
        if args.output and not _written_in_place(args.output):
            sys.stderr.write(f"{args.output} is left as it was\n")
        return unfinished.code
    except OSError as exc:  # writing the report, or putting it in place
        if not args.output:
            raise
        kept = "" if _written_in_place(args.output) else "; it is left as it was"
        sys.stderr.write(f"error: cannot write {args.output}: {exc.strerror or exc}{kept}\n")
        return EXIT_USAGE
    kinds = ", ".join(f"{kind.value} {n}" for kind, n in sorted(report.by_kind.items()))
    sys.stderr.write(
        f"{report.operations} operations, {report.orders} orders: "
        f"{'the books agree' if report.agree else kinds}\n"
    )
    return EXIT_OK if report.agree else EXIT_DISAGREE


async def _write(
    report: Statement, owned: EpayClient | None, target: IO[str], *, csv_format: bool
) -> None:
    """Write ``report`` to ``target`` (``owned``: a client to open and close around it): its
    header once the orders are read and the register is open, so a usage error prints
    nothing; raises :class:`_Unfinished` with the exit code when it stops short."""
    try:
        async with contextlib.AsyncExitStack() as stack:
            if owned is not None:
                await stack.enter_async_context(owned)
            async with report:
                writer = csv.DictWriter(target, fieldnames=COLUMNS) if csv_format else None
                if writer is not None:
                    writer.writeheader()
                async for found in report:
                    row = found.row()
                    if writer is not None:
                        writer.writerow(row)
                    else:
                        target.write(json.dumps(row, ensure_ascii=False) + "\n")
    except ValidationError as exc:  # the orders file lists an invoice twice
        sys.stderr.write(f"error: {exc}\n")
        raise _Unfinished(EXIT_USAGE) from None
    except EpayError as exc:
        sys.stderr.write(f"error: the register could not be read to the end: {exc}\n")
        raise _Unfinished(EXIT_INCOMPLETE) from None

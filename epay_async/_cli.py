"""The ``epay-async`` command line (``python -m epay_async``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio

from ._demo import run_demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epay-async", description="Halyk ePay client")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run every flow against the in-process sandbox")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        anyio.run(run_demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Python code blocks of the README and the documentation site (``docs/``) as one module
that ``mypy --strict`` checks (``make types``).

Each block becomes the body of its own ``async def``, so top-level ``await`` and ``async with``
are what they are in a notebook or a handler. The names the blocks take from their context (a
client, an order, a web app) are declared once here with their real types. The first block,
the quick start, is complete and also runs in ``tests/test_readme.py``.

    python -m tests.readme_snippets build/readme_snippets.py
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def sources() -> list[Path]:
    """The README first (its first block is the quick start), then the site's pages."""
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


PREAMBLE = """\
# Generated from README.md and docs/ by tests/readme_snippets.py: do not edit.
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response

from epay_async import Card, EpayClient, Order, OutcomeUnknownError
from epay_async.integrations import ExpectedPayment, VerifiedNotification

epay: EpayClient
order: Order
card: Card
orders: dict[str, Order]
app: FastAPI
pa_res: str
md: str
invoice_ids: list[str]
since: datetime
until: datetime
log: logging.Logger
merchant_private_key_pem: bytes
merchant_certificate_pem: bytes


def mark_paid(invoice_id: str) -> None: ...


class _OrderRow:
    amount: Decimal
    currency: str
    secret_hash: str | None


orders_table: dict[str, _OrderRow]


async def lookup(invoice_id: str) -> ExpectedPayment | None: ...


async def on_paid(verified: VerifiedNotification) -> None: ...


def mark_paid_once(order: Order) -> None: ...


"""


def blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def render(text: str) -> str:
    parts = [PREAMBLE]
    for number, block in enumerate(blocks(text)):
        parts.append(f"async def _block_{number}() -> None:\n{textwrap.indent(block, '    ')}\n\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    target = Path(argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in sources():
        page = path.read_text(encoding="utf-8")
        opened = len(re.findall(r"^\s*```+\s*py(?:thon)?\b", page, re.M))
        if opened != len(blocks(page)):  # a block this module would not see, so not check
            print(f"{path.relative_to(ROOT)}: write Python blocks as ```python", file=sys.stderr)
            return 1
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources())
    target.write_text(render(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

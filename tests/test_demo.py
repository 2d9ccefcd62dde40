"""``python -m epay_async demo`` (``make demo``): every flow runs against the sandbox, and what
it prints is what a newcomer should read."""

from __future__ import annotations

import re

import pytest

from epay_async._demo import run_demo

pytestmark = pytest.mark.anyio


async def test_the_demo_runs_every_flow_and_shows_money_with_two_decimals() -> None:
    lines: list[str] = []
    await run_demo(lines.append)
    text = "\n".join(lines)
    for section in (
        "== card payment (cryptogram)",
        "== 3-D Secure: form, ACS, confirm, wait",
        "== P2P transfer",
        "== a declined card, and a lost answer reconciled instead of paid twice",
        "== hosted payment page, paid by the sandbox's shopper",
    ):
        assert section in text
    assert "cryptopay requests that reached the gateway: 6 for 6 card/wallet payments" in text
    assert "OutcomeUnknownError for invoice 200000008; reconciling..." in text
    amounts = re.findall(r"\b(AUTH|CHARGE|REFUND|CANCEL|REJECT) ([0-9.]+) KZT", text)
    assert len(amounts) >= 10
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}", amount) for _, amount in amounts), amounts
    assert "card 440563******5096" in text
    # A partial refund shows what went back and what is left, not the order's whole amount.
    assert "REFUND 2000.00 given back, 10000.00 KZT left of 15000.00" in text
    assert "4405639704015096" not in text  # the card number is masked wherever it is shown

"""``python -m epay_async demo``: the library's flows end to end against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .errors import EpayError
from .testing import Sandbox
from .types.status import ResultCode, StatusName, TransactionStatus


def _show(status: TransactionStatus) -> str:
    transaction = status.transaction
    if transaction is None:
        return f"resultCode {int(status.result_code)} ({status.result_code.name})"
    return (
        f"{transaction.status_name} {transaction.amount} {transaction.currency} "
        f"(transaction {transaction.id[:8]}…, final={status.is_final})"
    )


async def run_demo(out: Callable[[str], None] = print) -> None:
    sandbox = Sandbox()
    paid = sandbox.add_transaction("100000001", amount=Decimal("12.22"), status=StatusName.CHARGE)
    sandbox.add_transaction("100000002", amount=Decimal("100.10"), status=StatusName.AUTH)
    sandbox.in_progress("100000002", polls=2)
    sandbox.queue_status("100000002", StatusName.NEW)
    sandbox.add_transaction("100000003", amount=Decimal("5000"), status=StatusName.REJECT)
    sandbox.queue_status("100000003", ResultCode.RETRY_OR_SUPPORT)

    async with sandbox.client() as epay:
        out(f"client: {epay!r}")
        out("\n== check-status (seed 002)")
        status = await epay.get_status(paid.invoice_id)
        out(f"invoice {paid.invoice_id}: {_show(status)}")
        status = await epay.get_status("100000404")
        out(f"invoice 100000404: {_show(status)}")

        out("\n== wait_for_status: 107, 107, NEW, then final")
        status = await epay.wait_for_status("100000002", interval=0.05, timeout=10)
        out(f"invoice 100000002: {_show(status)}")

        out("\n== 103 is retried as a read, then the real answer")
        status = await epay.get_status("100000003")
        out(f"invoice 100000003: {_show(status)}")

        out("\n== errors are typed")
        sandbox.add_transaction("100000005", amount=Decimal("1"), status=StatusName.AUTH)
        sandbox.in_progress("100000005", polls=1000)
        try:
            await epay.wait_for_status("100000005", interval=0.05, timeout=0.3)
        except EpayError as exc:
            out(f"{type(exc).__name__}: {exc}")
        try:
            await epay.get_status("12-34")
        except EpayError as exc:
            out(f"{type(exc).__name__}: {exc}")

    reads = len(sandbox.requests_to("/check-status/"))
    out(f"\n{reads} status requests, {len(sandbox.token_requests)} token request(s)")

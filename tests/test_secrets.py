from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest

from epay_async import (
    AuthenticationError,
    EpayClient,
    EpayError,
    RedactingFilter,
    StatusName,
    StatusTimeoutError,
)
from epay_async.testing import TEST_CLIENT_SECRET, Fault, Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio


async def test_debug_logs_of_status_flows_hold_no_secret_or_token(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.add_transaction("123456789", amount=Decimal("10.00"), status=StatusName.AUTH)
    sandbox.in_progress("123456789", polls=2)
    sandbox.fail("/check-status/", Fault.status(503), times=1)
    errors: list[EpayError] = []
    async with sandbox.client(retry=FAST_RETRY) as epay:
        await epay.wait_for_status("123456789", interval=0.001)
        try:
            await epay.wait_for_status("123456789", timeout=0.001, interval=0.001)
        except StatusTimeoutError as exc:
            errors.append(exc)
    async with sandbox.client(client_secret="not-the-secret-xyz", retry=FAST_RETRY) as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.get_status("123456789")
        errors.append(info.value)
    tokens = [t.value for t in sandbox.gateway.tokens.values()]
    assert tokens, "the flow should have minted tokens"
    assert caplog.records, "the flow should have logged"
    text = caplog.text + "".join(repr(e) + str(e) for e in errors)
    for secret in [TEST_CLIENT_SECRET, "not-the-secret-xyz", *tokens]:
        assert secret not in text
    assert "/check-status/payment/transaction/123456789" in caplog.text


def test_redacting_filter_scrubs_secret_shaped_values() -> None:
    record = logging.LogRecord(
        "epay_async",
        logging.DEBUG,
        __file__,
        1,
        "sending %s with Authorization: Bearer abc.DEF-123 and card %s",
        ("client_secret=hunter2&x=1", "4405 6397 0401 5096"),
        None,
    )
    assert RedactingFilter().filter(record)
    message = record.getMessage()
    assert "hunter2" not in message
    assert "abc.DEF-123" not in message
    assert not re.search(r"4405\s?6397", message)
    assert "[REDACTED]" in message


def test_client_repr_and_vars_do_not_expose_the_secret(sandbox: Sandbox) -> None:
    epay: EpayClient = sandbox.client()
    assert TEST_CLIENT_SECRET not in repr(epay)
    assert TEST_CLIENT_SECRET not in repr(vars(epay))

"""The redacting log filter (epay_async._logs)."""

from __future__ import annotations

import logging
import re

from epay_async import RedactingFilter


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


def test_invoice_ids_stay_readable_in_logs() -> None:
    record = logging.LogRecord(
        "epay_async", logging.DEBUG, __file__, 1, "GET %s", ("/transaction/123456787538",), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == "GET /transaction/123456787538"  # fails the card checksum

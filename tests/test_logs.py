"""The redacting log filter (epay_async._logs)."""

from __future__ import annotations

import io
import logging
import re

import pytest

from epay_async import RedactingFilter
from epay_async._logs import redact


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


def test_uuids_stay_whole_and_a_card_number_beside_one_is_still_redacted() -> None:
    # 86212-4155-4091 (13 digits across the dashes) passes the card checksum.
    uuid = "a6b86212-4155-4091-a45f-3ac4cd97135e"
    assert redact(f"journal: could not record succeeded for record {uuid}") == (
        f"journal: could not record succeeded for record {uuid}"
    )
    assert redact(uuid.upper()) == uuid.upper()
    assert redact(f"card {uuid}: 4405639704015096") == f"card {uuid}: [PAN REDACTED]"
    assert redact(f"4405639704015096 {uuid}") == f"[PAN REDACTED] {uuid}"


def test_the_packages_child_loggers_redact_too(caplog: pytest.LogCaptureFixture) -> None:
    """A parent's filters never see what its children log: each child has the filter."""
    import epay_async.integrations  # noqa: PLC0415 - the loggers of the modules, made
    import epay_async.testing  # noqa: F401, PLC0415

    caplog.set_level(logging.INFO)
    for name in ("epay_async.integrations", "epay_async.testing"):
        logging.getLogger(name).warning("receiver failed: card %s", "4405639704015096")
    assert caplog.messages == ["receiver failed: card [PAN REDACTED]"] * 2


def test_a_logged_traceback_is_redacted_too(caplog: pytest.LogCaptureFixture) -> None:
    """``log.exception`` prints the exception's message with its traceback: scrubbed as the
    record's message is."""
    caplog.set_level(logging.ERROR)
    handler = logging.StreamHandler(stream := io.StringIO())
    logger = logging.getLogger("epay_async.integrations")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("card 4405639704015096 refused, Bearer abc.DEF-123")
        except RuntimeError:
            logger.exception("the callback failed")
    finally:
        logger.removeHandler(handler)
    printed = stream.getvalue()
    assert "Traceback" in printed
    assert "RuntimeError: card [PAN REDACTED] refused, Bearer [REDACTED]" in printed
    assert "4405639704015096" not in printed
    assert "abc.DEF-123" not in printed

"""The package logger, and a filter that scrubs anything secret-shaped from its records.

The library never formats a secret into a log message; the filter is the second line of
defence, for values that reach a message through a caller's own objects. No handler is
installed: the application decides where logs go.
"""

from __future__ import annotations

import logging
import re

from ._validation import luhn_ok

__all__ = ["RedactingFilter", "logger", "redact"]

logger = logging.getLogger("epay_async")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [REDACTED]"),
    # key=value or "key": "value" pairs whose key names a secret.
    (
        re.compile(
            r"(?i)(\"?(?:client_secret|access_token|secret_hash|cvc|cvv|cryptogram\w*|"
            r"hpan|password|token)\"?\s*[:=]\s*\"?)[^\"&,\s}]+"
        ),
        r"\1[REDACTED]",
    ),
)
#: A UUID (card, transaction and journal record ids), kept whole; else anything shaped like a
#: card number: 12-19 digits, optionally grouped by spaces or dashes. Without the first, a
#: UUID's digits across its dashes (``a6b86212-4155-4091-...``) may pass the card checksum:
#: about one random UUID in 300 was cut in two.
_PAN = re.compile(
    r"(?P<uuid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})"
    r"|(?<![0-9])(?:[0-9][ -]?){11,18}[0-9](?![0-9])"
)


def _pan(match: re.Match[str]) -> str:
    if match.group("uuid"):
        return match.group()
    digits = re.sub(r"[ -]", "", match.group())
    # Only numbers passing the card checksum: invoice ids (6-15 digits) mostly stay readable.
    return "[PAN REDACTED]" if luhn_ok(digits) else match.group()


def redact(text: str) -> str:
    """Replace secret-shaped substrings of ``text``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _PAN.sub(_pan, text)


_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (args are merged in first), and its
    traceback (``log.exception``, ``exc_info=``): formatted here, redacted, and kept as the
    text handlers print (a formatter uses a record's ``exc_text`` when it has one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_REDACTING = RedactingFilter()
logger.addFilter(_REDACTING)


def child_logger(name: str) -> logging.Logger:
    """The ``epay_async.<name>`` logger, with the same filter: a parent's filters do not see
    the records its children log."""
    child = logging.getLogger(f"epay_async.{name}")
    if _REDACTING not in child.filters:
        child.addFilter(_REDACTING)
    return child

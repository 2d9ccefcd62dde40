"""Input checks that run before any network I/O; each failure names its field."""

from __future__ import annotations

import math
import re

from .errors import ValidationError

_INVOICE = re.compile(r"\d{6,15}")


def invoice_id(value: object, field: str = "invoice_id") -> str:
    """6 to 15 digits, as the gateway requires (seeds 000, 001, 003)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _INVOICE.fullmatch(value):
        raise ValidationError(field, "must be 6 to 15 digits")
    return value


def choice(value: object, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(map(repr, allowed))}")
    return str(value)


def seconds(value: object, field: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "must be a number of seconds")
    number = float(value)
    if math.isnan(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValidationError(field, "must be a positive number of seconds")
    return number


def non_empty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value

"""Input checks that run before any network I/O; each failure names its field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, localcontext
from urllib.parse import urlsplit

from .errors import ValidationError

_INVOICE = re.compile(r"[0-9]{6,15}")


def invoice_id(value: object, field: str = "invoice_id") -> str:
    """6 to 15 digits, as the gateway requires (seeds 000, 001, 003)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _INVOICE.fullmatch(value):
        raise ValidationError(field, "must be 6 to 15 digits")
    return value


#: An id this library only reads (an invoice made elsewhere: ``12-1738952601``): letters,
#: digits, ``_`` and ``-``, nothing that could change a URL path or need quoting.
_LOOKUP = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
MAX_LOOKUP_LENGTH = 64


def lookup_id(value: object, field: str = "invoice_id") -> str:
    """An invoice id to look up (check-status, polling, verifying a notification, reconcile,
    the CLI), which may not have been made by this library: 1 to 64 ASCII letters, digits,
    ``_`` or ``-`` (``12-1738952601``, ``000000001350768``). ``/``, ``..``, ``%``, ``?``,
    ``#``, whitespace, non-ASCII text and lone surrogates are refused, so an id can never
    change the request path. Orders this library creates keep the documented rule
    (:func:`invoice_id`, 6 to 15 digits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _LOOKUP.fullmatch(value):
        raise ValidationError(
            field, f"must be 1 to {MAX_LOOKUP_LENGTH} ASCII letters, digits, '_' or '-'"
        )
    return value


_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PATH_TEXT = re.compile(r"[A-Za-z0-9@._+-]{1,64}")


def path_id(value: object, field: str, *, kind: str = "uuid") -> str:
    """An id that goes into a URL path, checked for what it is, so that it can only ever
    name one resource: ``"uuid"`` for the gateway's ids (transactions, saved cards: UUIDs in
    every documented example), ``"text"`` for the merchant's own ids (an account id: 1 to 64
    letters, digits and ``@._+-``, not only dots). ``..`` or a 100 000-character id never
    reaches the URL."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if kind == "uuid":
        if not _UUID.fullmatch(value):
            raise ValidationError(field, "must be the gateway's id, a UUID")
    elif not _PATH_TEXT.fullmatch(value) or not value.strip("."):
        raise ValidationError(field, "must be 1 to 64 letters, digits or @._+- (not only dots)")
    return value


def choice(value: object, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(map(repr, allowed))}")
    return str(value)


def flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be True or False")
    return value


def seconds(value: object, field: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "must be a number of seconds")
    number = float(value)
    if math.isnan(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValidationError(field, "must be a positive number of seconds")
    return number


def text(value: object, field: str) -> str:
    """A string that can be sent: valid Unicode (no lone surrogates)."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "is not valid Unicode text") from None
    return value


def non_empty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return text(value, field)


# -- money and orders -------------------------------------------------------------------------

_CURRENCY = re.compile(r"[A-Z]{3}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9]{10,15}")
_DIGITS = re.compile(r"[0-9]+")
_LANGUAGES = ("rus", "kaz", "eng")
MAX_DESCRIPTION_BYTES = 125


_AMOUNT_TEXT = re.compile(r"[0-9]{1,15}(?:\.[0-9]+)?")
_CENTS = Decimal("0.01")
MAX_AMOUNT = Decimal("1e13")


_NOT_POSITIVE = {False: "must be greater than zero", True: "must not be negative"}


def money(value: Decimal | int | str) -> Decimal:
    """:func:`amount` typed for an attrs converter: mypy then refuses a ``float`` argument."""
    return amount(value)


def amount(value: object, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """A positive amount with at most 2 decimal places, from ``Decimal``, ``int`` or ``str``.

    A ``float`` is refused: ``0.1 + 0.2`` is not money. Text is plain ASCII digits with an
    optional decimal point (no ``1_000``, no exponent, no other scripts' digits). Zeros past the
    second decimal are dropped (``100.000`` is sent as ``100.00``); any other digit there is an
    error, however many significant digits the number has.
    """
    if isinstance(value, bool):
        raise ValidationError(field, "must be a Decimal, int or str, not a bool")
    if isinstance(value, float):
        raise ValidationError(
            field,
            "must be a Decimal, int or str, never a float: convert it with Decimal(str(value)),"
            " or parse JSON with parse_float=Decimal",
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if abs(value) >= MAX_AMOUNT:
            raise ValidationError(field, "is too large")
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _AMOUNT_TEXT.fullmatch(text):
            unsigned = text.removeprefix("-")
            if not _AMOUNT_TEXT.fullmatch(unsigned):
                raise ValidationError(field, "is not a plain decimal number such as '1500.50'")
            if Decimal(unsigned) != 0:  # "-0.00" is zero, as Decimal("-0.00") is
                raise ValidationError(field, _NOT_POSITIVE[allow_zero])
            text = unsigned
        result = Decimal(text)
    else:
        raise ValidationError(field, "must be a Decimal")
    if not result.is_finite():
        raise ValidationError(field, "must be a finite number (not NaN or Infinity)")
    if result < 0 or (result == 0 and not allow_zero):
        raise ValidationError(field, _NOT_POSITIVE[allow_zero])
    if result.is_signed():  # -0, where zero is allowed: sent as 0
        result = -result
    if result >= MAX_AMOUNT:
        raise ValidationError(field, "is too large")
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        # Exact whatever the context's precision: 16 digits before the point, 2 after, fit.
        with localcontext() as exact:
            exact.prec = 40
            cents = result.quantize(_CENTS)
        if cents != result:
            raise ValidationError(field, "must have at most 2 decimal places")
        result = cents
    return result


def optional_amount(value: object, field: str = "amount") -> Decimal | None:
    return None if value is None else amount(value, field)


def currency(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValidationError(field, "must be a 3-letter ISO 4217 code such as 'KZT'")
    return value


def description(value: object, field: str = "description") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    size = len(text(value, field).encode("utf-8"))
    if size > MAX_DESCRIPTION_BYTES:
        raise ValidationError(
            field, f"is {size} bytes in UTF-8; the gateway allows {MAX_DESCRIPTION_BYTES}"
        )
    return value


def optional_link(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a URL string")
    if not value.isascii():
        raise ValidationError(field, "must be an ASCII URL (percent-encode anything else)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise ValidationError(field, "must be an absolute http(s) URL")
    return value


def optional_email(value: object, field: str = "email") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        raise ValidationError(field, "is not an email address")
    return text(value.strip(), field)


def optional_phone(value: object, field: str = "phone") -> str | None:
    if value is None:
        return None
    cleaned = re.sub(r"[\s()-]", "", value) if isinstance(value, str) else None
    if cleaned is None or not _PHONE.fullmatch(cleaned):
        raise ValidationError(field, "must be 10 to 15 digits, optionally starting with +")
    return cleaned


#: The two-letter forms production integrations send, to the documented code.
_LANGUAGE_ALIASES = {"ru": "rus", "kz": "kaz", "kk": "kaz", "en": "eng"}


def optional_language(value: object, field: str = "language") -> str | None:
    """``rus``, ``kaz`` or ``eng`` in any casing, or ``RU``, ``KZ``/``KK``, ``EN``: always
    returned as the documented lower-case three-letter code."""
    if value is None:
        return None
    if isinstance(value, str):
        lowered = value.strip().lower()
        lowered = _LANGUAGE_ALIASES.get(lowered, lowered)
        if lowered in _LANGUAGES:
            return lowered
    raise ValidationError(
        field, "must be one of 'rus', 'kaz', 'eng' (any casing) or 'RU', 'KZ'/'KK', 'EN'"
    )


def optional_invoice_id(value: object, field: str) -> str | None:
    return None if value is None else invoice_id(value, field)


def optional_text(value: object, field: str, *, max_length: int = 255) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise ValidationError(field, f"must be a string of at most {max_length} characters")
    return text(value, field)


def data(value: object, field: str = "data") -> str | None:
    """Extra merchant data: a mapping (sent as compact JSON) or a string, echoed back."""
    if value is None:
        return None
    if isinstance(value, str):
        return text(value, field)
    if isinstance(value, Mapping):
        try:
            return text(json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False), field)
        except (TypeError, ValueError, RecursionError):
            raise ValidationError(field, "must be JSON-serialisable") from None
    raise ValidationError(field, "must be a mapping or a string")


# -- cards ------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def pan(value: object, field: str = "pan") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string of digits")
    cleaned = re.sub(r"[\s-]", "", value)
    if not _DIGITS.fullmatch(cleaned) or not 12 <= len(cleaned) <= 19:
        raise ValidationError(field, "must be 12 to 19 digits")
    if not luhn_ok(cleaned):
        raise ValidationError(field, "is not a valid card number (checksum failed)")
    return cleaned


def month(value: object, field: str = "exp_month") -> int:
    number = _small_int(value, field)
    if not 1 <= number <= 12:
        raise ValidationError(field, "must be a month from 1 to 12")
    return number


def year(value: object, field: str = "exp_year") -> int:
    """YY or YYYY, returned as YYYY."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _DIGITS.fullmatch(text) or len(text) not in (2, 4):
        raise ValidationError(field, "must be a year as YY or YYYY")
    number = int(text)
    return 2000 + number if len(text) == 2 else number


def not_expired(exp_month: int, exp_year: int, today: date | None = None) -> None:
    current = today or datetime.now(timezone.utc).date()
    if (exp_year, exp_month) < (current.year, current.month):
        raise ValidationError("exp_year", "the card has expired")
    if exp_year > current.year + 30:
        raise ValidationError("exp_year", "is too far in the future")


def cvc(value: object, field: str = "cvc") -> str:
    """3 or 4 digits kept exactly as typed (a leading zero matters)."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or len(value) not in (3, 4):
        raise ValidationError(field, "must be 3 or 4 digits, as a string")
    return value


def _small_int(value: object, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value) and len(value) <= 4:
        return int(value)
    raise ValidationError(field, "must be a number")


def mask_pan(value: str) -> str:
    """``440563******5096``: the first 6 and last 4 digits, as card receipts show them."""
    if len(value) < 12:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]

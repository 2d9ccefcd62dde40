"""Parsing the gateway's postLink notifications, leniently and safely.

``parse_notification`` accepts the raw request body (``bytes``/``str``) or an already decoded
mapping; keys in any casing the gateway uses; ``amount``, ``reasonCode`` and ``secure`` in their
varying types. Anything else raises :class:`ValidationError`, never a crash: the body comes
from whoever chose to POST to your URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from . import _validation
from ._converter import loads, structure
from .errors import ProtocolError, ValidationError
from .types.notifications import PaymentNotification

__all__ = ["MAX_NOTIFICATION_BYTES", "PaymentNotification", "parse_notification"]

#: Larger bodies are refused unread: a real notification is a few kilobytes.
MAX_NOTIFICATION_BYTES = 256 * 1024
#: Amounts above this are refused (the gateway's invoices are far smaller).
_MAX_AMOUNT_DIGITS = 15


def parse_notification(body: bytes | str | Mapping[str, Any]) -> PaymentNotification:
    """Read a postLink notification into a :class:`PaymentNotification`.

    ``body`` is best given as the raw request bytes (``await request.body()``): they are read
    with every number as an exact ``Decimal`` (``json.loads(..., parse_float=Decimal)``). An
    already decoded mapping (``await request.json()``) is accepted too: a ``float`` amount
    there becomes the decimal of its shortest repr (``12.22`` -> ``Decimal("12.22")``;
    ``1500.00`` arrives as the float ``1500.0`` and becomes ``Decimal("1500.0")``, equal by
    value, which is how :func:`verify_notification` compares). NaN, infinities and booleans
    are refused, as is any text that is not valid Unicode (a lone surrogate).
    """
    if isinstance(body, bytes | bytearray | memoryview | str):
        raw = bytes(body) if not isinstance(body, str) else body.encode("utf-8", "replace")
        if len(raw) > MAX_NOTIFICATION_BYTES:
            raise ValidationError("body", f"is larger than {MAX_NOTIFICATION_BYTES} bytes")
        try:
            data: Any = loads(raw)
        except ProtocolError:
            raise ValidationError("body", "is not JSON") from None
    elif isinstance(body, Mapping):
        data = body
    else:
        raise ValidationError("body", "must be bytes, str or a mapping")
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    try:
        notification = structure(data, PaymentNotification, what="notification")
    except ProtocolError as exc:
        field = (exc.field or "$").removeprefix("$.").removeprefix("$") or "body"
        raise ValidationError(field, str(exc).split(" (at ")[0]) from None
    for attribute in attrs.fields(PaymentNotification):
        value = getattr(notification, attribute.name)
        if isinstance(value, str):
            _validation.text(value, attribute.name)
    if not notification.invoice_id.strip():
        raise ValidationError("invoice_id", "is empty")
    amount = notification.amount
    if amount is not None and (amount < 0 or amount.adjusted() >= _MAX_AMOUNT_DIGITS):
        raise ValidationError("amount", "is out of range")
    return notification

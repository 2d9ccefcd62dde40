"""Answers of the operations after authorisation: charge, cancel, refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import attrs

__all__ = ["OperationResult"]

OperationName = Literal["charge", "cancel", "refund"]


@attrs.frozen
class OperationResult:
    """The gateway accepted the operation (HTTP 200; its body is undocumented and often empty).

    Confirm the resulting state with ``get_status`` when it matters.
    """

    operation: OperationName
    transaction_id: str
    amount: Decimal | None = None
    external_id: str | None = None
    body: dict[str, Any] = attrs.field(factory=dict, repr=False)

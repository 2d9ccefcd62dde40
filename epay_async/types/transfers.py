"""P2P transfer answers (seed 003)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from .payments import Secure3D
from .status import StatusName

__all__ = ["TransferResult"]


@attrs.frozen
class TransferResult:
    id: str
    amount: Decimal | None = None
    currency: str | None = None
    reference: str | None = None
    order_id: str | None = None
    sender_card_id: str | None = None
    sender_card_pan: str | None = None
    receiver_card_id: str | None = None
    receiver_card_pan: str | None = None
    status: StatusName | None = None
    secure3d: Secure3D | None = None
    code: int | None = None
    fee: Decimal | None = attrs.field(default=None, repr=False)
    int_reference: str | None = attrs.field(default=None, repr=False)
    terminal_id: str | None = attrs.field(default=None, repr=False)
    email: str | None = attrs.field(default=None, repr=False)
    description: str | None = attrs.field(default=None, repr=False)
    sender_card_type: str | None = attrs.field(default=None, repr=False)
    receiver_card_type: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def requires_3ds(self) -> bool:
        return self.secure3d is not None

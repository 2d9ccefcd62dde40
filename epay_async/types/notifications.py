"""What the gateway POSTs to ``postLink`` / ``failurePostLink`` (epay-api.md §5)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._fields import wire

__all__ = ["PaymentNotification"]


@attrs.frozen
class PaymentNotification:
    """A postLink notification. It carries no signature: treat it as a hint and confirm it
    with ``await epay.verify_notification(notification)`` before acting on it."""

    invoice_id: str
    code: str
    id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    reference: str | None = None
    card_mask: str | None = None
    card_type: str | None = None
    card_id: str | None = None
    account_id: str | None = None
    date_time: datetime | None = None
    terminal: str | None = None
    description: str | None = attrs.field(default=None, repr=False)
    invoice_id_alt: str | None = attrs.field(default=None, repr=False)
    approval_code: str | None = attrs.field(default=None, repr=False)
    issuer: str | None = attrs.field(default=None, repr=False)
    secure: bool | None = attrs.field(default=None, repr=False)
    language: str | None = attrs.field(default=None, repr=False)
    name: str | None = attrs.field(default=None, repr=False)
    email: str | None = attrs.field(default=None, repr=False)
    phone: str | None = attrs.field(default=None, repr=False)
    data: str | None = attrs.field(default=None, repr=False)
    #: Echo of the ``secret_hash`` given in the token request; never shown in repr.
    secret_hash: str | None = wire("secret_hash", default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_success(self) -> bool:
        """The gateway says ``"code": "ok"`` (success) rather than ``"error"``."""
        return self.code.strip().lower() == "ok"

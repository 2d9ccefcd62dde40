"""Records of the operations register (``/operations``, ``/p2p/operations``; epay-api.md §10a).

The answer's shape rests on one public production integration (SINGLE): ``{"totalCount",
"records": [...]}``. Every record key the model does not name is kept in ``extra``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["OperationRecord"]


@attrs.frozen
class OperationRecord:
    """One operation of the register. ``status`` is kept as the gateway writes it (``CHARGE``,
    ``REFUND``, ...): the register's list of statuses is not documented."""

    id: str
    invoice_id: str
    amount: Decimal
    created_date: datetime
    currency: str | None = None
    status: str | None = None
    reference: str | None = None
    org_amount: Decimal | None = None
    payout_date: datetime | None = None
    payout_amount: Decimal | None = None
    card_mask: str | None = attrs.field(default=None, repr=False)
    card_type: str | None = attrs.field(default=None, repr=False)
    issuer: str | None = attrs.field(default=None, repr=False)
    approval_code: str | None = attrs.field(default=None, repr=False)
    payer_name: str | None = attrs.field(default=None, repr=False)
    payer_phone: str | None = attrs.field(default=None, repr=False)
    payer_email: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

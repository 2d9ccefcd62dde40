"""What one HTTP request to the gateway is: its target, its kind (money or read) and its ids."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .errors import OutcomeUnknownError

__all__ = ["ApiRequest"]


@attrs.define  # not frozen (built on every call; frozen costs ~1 us more): never changed
class ApiRequest:
    """What the pipeline sends. ``idempotent`` is False for anything that moves money."""

    method: str
    url: str
    operation: str
    idempotent: bool
    invoice_id: str | None = None
    transaction_id: str | None = None
    content: bytes | None = attrs.field(default=None, repr=False)
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    token: str | None = attrs.field(default=None, repr=False)
    accept: str = "application/json"
    #: Only ``/payment/confirm`` answers with a redirect; any other 3xx is an error.
    redirect_is_answer: bool = False

    def outcome_unknown(self, reason: str) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            self.invoice_id, self.operation, reason, transaction_id=self.transaction_id
        )

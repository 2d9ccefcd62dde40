"""Helpers the stores share."""

from __future__ import annotations

from epay_async.errors import ValidationError
from epay_async.journal._record import FINISH_STATES, JournalState
from epay_async.types.status import PaymentState


def check_finish_state(state: JournalState) -> JournalState:
    state = JournalState(state)
    if state not in FINISH_STATES:
        raise ValidationError(
            "state", f"finish takes one of {sorted(s.value for s in FINISH_STATES)}"
        )
    return state


def payment_state_text(state: PaymentState | str) -> str:
    return PaymentState(state).value


def short(text: str | None, limit: int = 200) -> str | None:
    """A detail text cut to ``limit`` characters (a reason, never a payload)."""
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"

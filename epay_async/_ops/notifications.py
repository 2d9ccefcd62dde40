"""Checking a postLink notification against the gateway's own status (epay-api.md §5).

The gateway signs nothing, so anybody can POST a notification to a merchant's URL. A
notification is believed only when check-status backs every claim it makes.
"""

from __future__ import annotations

import hmac
from decimal import Decimal

from .. import _validation
from ..errors import NotificationMismatchError, ValidationError
from ..types.notifications import PaymentNotification
from ..types.status import ResultCode, TransactionStatus
from ._base import Pipeline
from .status import StatusKind, get_status

__all__ = ["mismatches", "verify_notification"]


def mismatches(
    notification: PaymentNotification,
    status: TransactionStatus,
    *,
    terminal_id: str,
    expected_amount: Decimal | None = None,
    expected_currency: str | None = None,
    secret_hash: str | None = None,
    accept_bonus: bool = False,
) -> list[str]:
    """Every way in which ``status`` (the gateway's word) fails to back ``notification``.

    A bonus-assisted payment (check-status ``amount`` is the card part, ``amountBonus`` the
    bonus part) matches ``expected_amount`` by the card part alone unless ``accept_bonus``:
    then card part plus bonus must equal it. Less money than the order is never accepted
    silently: without ``accept_bonus`` such a payment is a mismatch that says why."""
    found: list[str] = []
    tx = status.transaction
    if status.result_code == ResultCode.IN_PROGRESS:
        return [f"the gateway has not finished ({status.describe()})"]
    if status.result_code != ResultCode.SUCCESS or tx is None:
        return [f"the gateway has no such transaction (resultCode {int(status.result_code)})"]
    if tx.invoice_id != notification.invoice_id:
        found.append("invoice id differs")
    if notification.id and notification.id != tx.id:
        found.append("transaction id differs")
    if notification.amount is None:
        found.append("the notification carries no amount")
    elif notification.amount != tx.amount and not (
        accept_bonus and notification.amount == tx.total_amount
    ):
        found.append("amount differs from the gateway's")
    bonus = tx.amount_bonus or Decimal(0)
    paid = tx.total_amount if accept_bonus else tx.amount
    if expected_amount is not None and expected_amount != paid:
        if bonus > 0 and expected_amount == tx.total_amount:
            found.append(
                f"only {tx.amount} was paid by card, {bonus} in bonuses (amountBonus): "
                "pass accept_bonus=True to accept a bonus-assisted payment"
            )
        else:
            found.append("the gateway's amount is not the order's")
    if notification.currency is None or notification.currency != tx.currency:
        found.append("currency differs")
    if expected_currency is not None and expected_currency != tx.currency:
        found.append("the gateway's currency is not the order's")
    if tx.terminal_id and tx.terminal_id != terminal_id:
        found.append("the transaction belongs to another terminal")
    if notification.terminal and notification.terminal not in (tx.terminal, tx.terminal_id):
        found.append("terminal differs")
    if not status.is_final:
        found.append(f"the gateway has not finished ({status.describe()})")
    elif notification.is_success != status.is_paid:
        found.append(f"the notification says {notification.code!r}, the gateway {tx.status_name}")
    if secret_hash is not None and not (
        notification.secret_hash is not None
        and hmac.compare_digest(notification.secret_hash.encode(), secret_hash.encode())
    ):
        found.append("secret_hash does not match")
    return found


async def verify_notification(
    ctx: Pipeline,
    notification: PaymentNotification,
    *,
    expected_amount: Decimal | int | str | None = None,
    expected_currency: str | None = None,
    secret_hash: str | None = None,
    kind: StatusKind = "payment",
    accept_bonus: bool = False,
) -> TransactionStatus:
    """See :func:`mismatches`. A card-verification notification may carry ``cardId: null``:
    the saved card's id is then the gateway's, ``status.transaction.card_id`` (check-status)."""
    _validation.flag(accept_bonus, "accept_bonus")
    if not isinstance(notification, PaymentNotification):
        raise ValidationError("notification", "must come from parse_notification")
    expected_amount = _validation.optional_amount(expected_amount, "expected_amount")
    if expected_currency is not None:
        expected_currency = _validation.currency(expected_currency, "expected_currency")
    status = await get_status(ctx, notification.invoice_id, kind)
    found = mismatches(
        notification,
        status,
        terminal_id=ctx.credentials.terminal_id,
        expected_amount=expected_amount,
        expected_currency=expected_currency,
        secret_hash=secret_hash,
        accept_bonus=accept_bonus,
    )
    if found:
        raise NotificationMismatchError(
            notification.invoice_id, found, still_processing=not status.is_final
        )
    return status

"""The sandbox gateway's books: what it remembers, and the only code that changes it.

Handlers read a request, ask the ledger, and shape the answer; every change of state (a token
issued or used, a payment approved or declined, a card saved, an operation on a transaction)
goes through a method here. Every method is synchronous, so concurrent requests never see
half an update. Notifications a change causes wait in the ledger until the request's answer
is about to go out (:meth:`Ledger.take_notifications`).
"""

from __future__ import annotations

import base64
import bisect
import itertools
import secrets
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..types.status import ResultCode, StatusName
from ._codes import (
    ALREADY_PAID,
    FORMAT_ERROR,
    INVALID_AMOUNT,
    INVALID_STATE,
    THREE_DS_FAILED,
    TOKEN_MISMATCH,
    Declined,
)
from ._merchant import GatewaySettings
from ._records import (
    IssuedToken,
    Pending3DS,
    RegisterOperation,
    SandboxTransaction,
    SavedCard,
    SentInvoice,
)

__all__ = ["MIN_REFUND", "Ledger", "register_kind"]

#: The smallest refund the gateway accepts (epay-api.md §3), in KZT.
MIN_REFUND = Decimal(10)

ScriptedAnswer = ResultCode | StatusName


def register_kind(kind: str) -> str:
    """The register an operation of ``kind`` is in: ``transfer`` (P2P) or ``payment``."""
    return "transfer" if kind in ("transfer", "p2p") else "payment"


class Ledger:
    """Tokens, transactions, saved cards, 3-D Secure holds, sent invoice links, register
    operations and the notifications due."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        #: Every token issued, by value.
        self.tokens: dict[str, IssuedToken] = {}
        #: Payments and transfers, by (kind, invoice id).
        self._transactions: dict[tuple[str, str], SandboxTransaction] = {}
        #: Status scripts for invoices not on the books yet, by (kind, invoice id).
        self._scripts: dict[tuple[str, str], deque[ScriptedAnswer]] = {}
        self._saved_cards: dict[str, SavedCard] = {}
        self._pending_3ds: dict[str, Pending3DS] = {}
        #: ``PaRes`` the ACS gave out: for which MD, and whether the payer approved.
        self._pa_res: dict[str, tuple[str, bool]] = {}
        #: Invoices sent to payers as links, by invoice id.
        self.sent_invoices: dict[str, SentInvoice] = {}
        #: Bulk register operations per register, sorted by (creation time, sequence).
        self._register_keys: dict[str, list[tuple[datetime, int]]] = {"payment": [], "transfer": []}
        self._register_ops: dict[str, list[RegisterOperation]] = {"payment": [], "transfer": []}
        self._register_seq = itertools.count()
        self._outbox: list[tuple[SandboxTransaction, bool]] = []

    # -- tokens ---------------------------------------------------------------------------

    def issue_token(self, token: IssuedToken) -> IssuedToken:
        self.tokens[token.value] = token
        return token

    def issued_token(self, value: str) -> IssuedToken | None:
        """The token issued as ``value``, expired or not."""
        return self.tokens.get(value)

    def valid_token(self, value: str) -> IssuedToken | None:
        """The token issued as ``value`` if it has not expired."""
        token = self.tokens.get(value)
        return None if token is None or self.expired(token) else token

    def expired(self, token: IssuedToken) -> bool:
        return token.expires_at <= self._settings.clock()

    @staticmethod
    def use_token(token: IssuedToken) -> None:
        """Spend a single-use (payment or transfer) token."""
        token.used = True

    def order_amount(
        self,
        token: IssuedToken,
        invoice_id: Any,
        amount: Any,
        currency: Any,
        *,
        kind: str = "payment",
    ) -> Decimal:
        """The order's amount as the merchant minted its token (``1500.00`` keeps its scale,
        even when a browser's ``JSON.stringify`` sent ``1500``). Raises :class:`Declined`
        when the order is not the token's (469), its invoice (a ``kind`` transaction) is paid
        already (469: a declined one may be paid again) or the amount is not a number (477)."""
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise Declined(*FORMAT_ERROR) from None
        if (str(invoice_id), value, currency) != (token.invoice_id, token.amount, token.currency):
            raise Declined(*TOKEN_MISMATCH)
        existing = self.find_transaction(kind, token.invoice_id or "")
        if existing is not None and existing.status is not StatusName.REJECT:
            raise Declined(*ALREADY_PAID)
        return token.amount if token.amount is not None else value

    # -- transactions ---------------------------------------------------------------------

    def record_transaction(self, transaction: SandboxTransaction) -> SandboxTransaction:
        """Put ``transaction`` on the books (again: recording it twice changes nothing)."""
        key = (transaction.kind, transaction.invoice_id)
        self._transactions[key] = transaction
        early = self._scripts.pop(key, None)
        if early:  # scripted before the invoice existed: those answers come first
            transaction.scripted.extendleft(reversed(early))
        return transaction

    def find_transaction(self, kind: str, invoice_id: str) -> SandboxTransaction | None:
        return self._transactions.get((kind, invoice_id))

    def transaction_by_id(self, transaction_id: str) -> SandboxTransaction | None:
        for transaction in self._transactions.values():
            if transaction.id == transaction_id:
                return transaction
        return None

    def transactions(self, kind: str) -> Iterator[SandboxTransaction]:
        """The ``payment`` or ``p2p`` transactions on the books."""
        return (tx for tx in self._transactions.values() if tx.kind == kind)

    def script(self, kind: str, invoice_id: str, answers: Iterable[ScriptedAnswer]) -> None:
        """Queue check-status answers for an invoice, whether or not it exists yet."""
        transaction = self.find_transaction(kind, invoice_id)
        if transaction is not None:
            transaction.scripted.extend(answers)
        else:
            self._scripts.setdefault((kind, invoice_id), deque()).extend(answers)

    def next_scripted_answer(self, kind: str, invoice_id: str) -> ScriptedAnswer | None:
        """The next scripted check-status answer for the invoice (consumed), if any."""
        transaction = self.find_transaction(kind, invoice_id)
        if transaction is not None:
            return transaction.scripted.popleft() if transaction.scripted else None
        early = self._scripts.get((kind, invoice_id))
        if not early:
            return None
        answer = early.popleft()
        if not early:
            del self._scripts[(kind, invoice_id)]
        return answer

    # -- a payment's outcome --------------------------------------------------------------

    def approve(self, tx: SandboxTransaction) -> None:
        """Authorise ``tx``: AUTH on a two-step terminal, CHARGE on a one-step one; recorded,
        its postLink notified."""
        two_step = self._settings.two_step
        tx.status = StatusName.AUTH if two_step else StatusName.CHARGE
        tx.charged = Decimal(0) if two_step else tx.amount
        self.record_transaction(tx)
        self.notify(tx, success=True)

    def approve_transfer(self, tx: SandboxTransaction) -> None:
        """A transfer that needs no 3-D Secure: AUTH, recorded, its postLink notified."""
        tx.status = StatusName.AUTH
        self.record_transaction(tx)
        self.notify(tx, success=True)

    def decline(self, tx: SandboxTransaction, code: int, message: str) -> None:
        """Refuse ``tx`` (REJECT, with the gateway's code): recorded, its failurePostLink
        notified."""
        tx.status = StatusName.REJECT
        tx.reason, tx.reason_code = message, str(code)
        self.record_transaction(tx)
        self.notify(tx, success=False)

    # -- 3-D Secure -----------------------------------------------------------------------

    def hold_for_3ds(self, tx: SandboxTransaction, pan: str, save_for: str | None) -> str:
        """Hold ``tx`` as NEW until the payer passes 3-D Secure; its MD."""
        tx.status = StatusName.NEW
        tx.secure = True
        self.record_transaction(tx)
        md = secrets.token_hex(12)
        self._pending_3ds[md] = Pending3DS(tx, pan, save_for)
        return md

    def pending_3ds(self, md: str) -> Pending3DS | None:
        return self._pending_3ds.get(md)

    def complete_3ds(self, md: str, approve: bool) -> str:
        """What the ACS posts to the merchant's TermUrl as ``PaRes`` for ``md``."""
        if md not in self._pending_3ds:
            raise KeyError(f"no 3-D Secure pending for MD {md!r}")
        pa_res = base64.b64encode(secrets.token_bytes(24)).decode()
        self._pa_res[pa_res] = (md, approve)
        return pa_res

    def finish_3ds(self, md: str, pa_res: str) -> tuple[SandboxTransaction, bool]:
        """Settle the 3-D Secure pending for ``md`` (which must exist) with ``pa_res``: the
        transaction is authorised, or fails with status 3D; both are notified."""
        pending = self._pending_3ds.pop(md)
        tx = pending.transaction
        outcome = self._pa_res.pop(pa_res, None)
        if outcome is None or outcome[0] != md or not outcome[1]:
            code, message = THREE_DS_FAILED
            tx.status, tx.reason, tx.reason_code = StatusName.THREE_D, message, str(code)
            self.notify(tx, success=False)
            return tx, False
        self.approve(tx)
        if pending.save_for is not None:
            self.save_card_of(tx, pending.pan, pending.save_for)
        return tx, True

    # -- after authorisation (charge, cancel, refund) -------------------------------------

    @staticmethod
    def charge(tx: SandboxTransaction, amount: Decimal | None) -> None:
        if tx.status is not StatusName.AUTH:
            raise Declined(*INVALID_STATE)
        amount = tx.amount if amount is None else amount
        if amount > tx.amount:
            raise Declined(*INVALID_AMOUNT)
        tx.status, tx.charged = StatusName.CHARGE, amount

    @staticmethod
    def cancel(tx: SandboxTransaction, amount: Decimal | None) -> None:
        if tx.status is not StatusName.AUTH:
            raise Declined(*INVALID_STATE)
        if amount is not None and amount != tx.amount:  # only full cancellation is documented
            raise Declined(*INVALID_AMOUNT)
        tx.status = StatusName.CANCEL

    @staticmethod
    def refund(tx: SandboxTransaction, amount: Decimal | None) -> None:
        remaining = tx.charged - tx.refunded
        if tx.status not in (StatusName.CHARGE, StatusName.REFUND) or remaining <= 0:
            raise Declined(*INVALID_STATE)
        amount = remaining if amount is None else amount
        if amount > remaining or (tx.currency == "KZT" and amount < MIN_REFUND):
            raise Declined(*INVALID_AMOUNT)
        tx.refunded += amount
        tx.status = StatusName.REFUND

    # -- saved cards ----------------------------------------------------------------------

    def save_card(
        self, pan: str, account_id: str, payer_name: str, terminal_id: str, transaction_id: str
    ) -> SavedCard:
        card = SavedCard.new(pan, account_id, payer_name, terminal_id, transaction_id)
        self._saved_cards[card.id] = card
        return card

    def save_card_of(self, tx: SandboxTransaction, pan: str, account_id: str) -> None:
        """Save the card ``tx`` was paid with for ``account_id``; ``tx`` shows its id."""
        tx.card_id = self.save_card(pan, account_id, tx.name, tx.terminal_id, tx.id).id

    def saved_card(self, card_id: str) -> SavedCard | None:
        """The card saved as ``card_id``, deactivated or not."""
        return self._saved_cards.get(card_id)

    def payable_card(self, card_id: str) -> SavedCard | None:
        """The card saved as ``card_id`` if it can still pay (not deactivated)."""
        card = self._saved_cards.get(card_id)
        return card if card is not None and card.active else None

    def cards_of(self, account_id: str) -> list[SavedCard]:
        """The active cards saved for ``account_id``."""
        return [c for c in self._saved_cards.values() if c.account_id == account_id and c.active]

    def deactivate_card(self, card_id: str) -> bool:
        """Deactivate the card; False if no card was ever saved as ``card_id``."""
        card = self._saved_cards.get(card_id)
        if card is None:
            return False
        card.active = False
        return True

    # -- invoice links --------------------------------------------------------------------

    def record_invoice(self, invoice: SentInvoice) -> None:
        self.sent_invoices[invoice.invoice_id] = invoice

    # -- registers ------------------------------------------------------------------------

    def add_operation(self, operation: RegisterOperation) -> RegisterOperation:
        """Put one operation in its register (bulk operations, beside the transactions)."""
        kind = register_kind(operation.kind)
        key = (operation.created, next(self._register_seq))
        index = bisect.bisect(self._register_keys[kind], key)
        self._register_keys[kind].insert(index, key)
        self._register_ops[kind].insert(index, operation)
        return operation

    def add_operations(self, kind: str, batch: list[RegisterOperation]) -> None:
        """Put many operations of one register at once (cheaper than one by one)."""
        kind = register_kind(kind)
        merged = sorted(
            [*zip(self._register_keys[kind], self._register_ops[kind], strict=True),
             *(((op.created, next(self._register_seq)), op) for op in batch)],
            key=lambda pair: pair[0],
        )  # fmt: skip
        self._register_keys[kind] = [key for key, _ in merged]
        self._register_ops[kind] = [op for _, op in merged]

    def bulk_operations(self, kind: str) -> list[RegisterOperation]:
        """The operations put in register ``kind`` (``payment`` or ``transfer``), by time."""
        return list(self._register_ops[kind])

    def bulk_operations_between(
        self, kind: str, low: datetime, high: datetime
    ) -> Iterator[RegisterOperation]:
        """Those created in ``low <= created <= high``, found by bisection, by time."""
        keys, ops = self._register_keys[kind], self._register_ops[kind]
        first = bisect.bisect_left(keys, (low, -1))
        last = bisect.bisect_right(keys, (high + timedelta(microseconds=1), -1))
        return (ops[i] for i in range(first, last))

    # -- notifications --------------------------------------------------------------------

    def notify(self, transaction: SandboxTransaction, success: bool) -> None:
        """Queue the postLink (or failurePostLink) notification for ``transaction``."""
        self._outbox.append((transaction, success))

    def take_notifications(self) -> list[tuple[SandboxTransaction, bool]]:
        """The notifications due (transaction, success), in order; none are left queued."""
        due, self._outbox = self._outbox, []
        return due

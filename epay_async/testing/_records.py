"""What the sandbox's ledger holds: issued tokens, transactions, saved cards, payments held
for 3-D Secure, invoices sent as links and register operations, each with its wire shape."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

from ..types.status import ResultCode, StatusName
from ._cards import mask

KZ_TIME = timezone(timedelta(hours=5))


def _new_reference() -> str:
    return str(uuid.uuid4().int)[:12]


def _new_int_reference() -> str:
    return uuid.uuid4().hex[:16].upper()


def status_language(language: str) -> str:
    """The order's language as check-status shows it (seed 002: ``RU``)."""
    return {"rus": "RU", "kaz": "KZ", "kk": "KZ", "eng": "EN"}.get(
        language.lower(), language.upper()
    )


@attrs.define
class IssuedToken:
    value: str = attrs.field(repr=False)
    scope: str
    terminal: str | None
    expires_at: float
    invoice_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = attrs.field(default=None, repr=False)
    used: bool = False
    grant: str = "client_credentials"

    @property
    def bound(self) -> bool:
        """A payment/transfer token, bound to one invoice and usable once."""
        return self.invoice_id is not None


#: The fields of the documentation's "P2P check status" example (then ``statusName``).
_P2P_FIELDS = (
    "id",
    "createdDate",
    "invoiceID",
    "amount",
    "amountBonus",
    "payoutAmount",
    "currency",
    "cardType",
    "terminal",
    "terminalID",
    "accountID",
    "description",
    "language",
    "reference",
    "statusName",
)


@attrs.define
class SandboxTransaction:
    """A payment or transfer as the gateway sees it."""

    invoice_id: str
    amount: Decimal
    currency: str = "KZT"
    status: StatusName = StatusName.CHARGE
    kind: str = "payment"
    id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    terminal_id: str = ""
    created: datetime = attrs.field(factory=lambda: datetime.now(KZ_TIME))
    description: str = ""
    account_id: str = ""
    email: str = ""
    phone: str = ""
    name: str = ""
    #: The order's language as sent (``rus``, ``kaz``, ``eng``; two-letter forms too).
    language: str = "rus"
    card_mask: str = ""
    card_type: str = ""
    card_id: str = ""
    reference: str = attrs.field(factory=_new_reference)
    int_reference: str = attrs.field(factory=_new_int_reference)
    approval_code: str = "170243"
    reason: str = "Successfully"
    reason_code: str = "00"
    secure: bool = False
    data: str = ""
    #: Amount held (AUTH) or taken (CHARGE, and REFUND: refunds do not lower it).
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    secret_hash: str | None = attrs.field(default=None, repr=False)
    post_link: str | None = None
    failure_post_link: str | None = None
    #: A card verification (0 USD, or the page's ``paymentType: "cardVerification"``).
    verification: bool = False
    #: Answers given (and consumed) before the real state: result codes or status names.
    scripted: deque[ResultCode | StatusName] = attrs.field(factory=deque)

    def to_p2p_wire(self, status: StatusName | None = None) -> dict[str, Any]:
        """The ``transaction.p2p`` object of P2P check-status: the fields its page documents,
        and ``statusName`` (inferred: the page's example is cut short)."""
        wire = self.to_wire(status)
        return {key: wire[key] for key in _P2P_FIELDS}

    def to_wire(self, status: StatusName | None = None) -> dict[str, Any]:
        """The ``transaction`` object of check-status, shaped like seed 002. Once refunded, in
        full or in part, its amounts are those of the seed's ``REFUND``: ``amount`` what is
        left (12.22), ``payoutAmount`` what was given back (10), ``orgAmount`` the order's
        (22.22). Before, ``amount`` is the order's (nothing public shows it after a partial
        charge) and ``payoutAmount`` 0: the register's documentation calls it the refund
        amount."""
        if self.refunded:
            amount, payout = (self.charged or self.amount) - self.refunded, self.refunded
        else:
            amount, payout = self.amount, Decimal(0)
        return {
            "id": self.id,
            "createdDate": self.created.isoformat(),
            "invoiceID": self.invoice_id,
            "amount": amount,
            "amountBonus": 0,
            "payoutAmount": payout,
            "orgAmount": self.amount,
            "approvalCode": self.approval_code,
            "data": self.data,
            "currency": self.currency,
            "terminal": "98120001",
            "terminalID": self.terminal_id,
            "accountID": self.account_id,
            "description": self.description,
            "language": status_language(self.language),
            "cardMask": self.card_mask,
            "cardType": self.card_type,
            "issuer": "Halyk Bank",
            "reference": self.reference,
            "reason": self.reason,
            "reasonCode": self.reason_code,
            "intReference": self.int_reference,
            "secure": self.secure,
            "secureDetails": "",
            "statusID": str(uuid.uuid5(uuid.NAMESPACE_OID, self.id + str(self.status))),
            "statusName": str(status or self.status),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "cardID": self.card_id,
            "xlsRRN": "",
            "ip": "127.0.0.1",
            "ipCountry": "Kazakhstan",
            "ipCity": "",
            "ipRegion": "",
            "ipDistrict": "",
            "ipLatitude": Decimal("43.2567"),
            "ipLongitude": Decimal("76.9286"),
        }


@attrs.define
class Pending3DS:
    """A payment or transfer held as NEW until its payer passes 3-D Secure."""

    transaction: SandboxTransaction
    pan: str = attrs.field(repr=False)
    #: Save the card for this account once authorised (``None``: do not save it).
    save_for: str | None = None


@attrs.define
class SavedCard:
    id: str
    account_id: str
    pan: str = attrs.field(repr=False)
    payer_name: str
    terminal_id: str
    transaction_id: str
    active: bool = True
    created: datetime = attrs.field(factory=lambda: datetime.now(KZ_TIME))

    @classmethod
    def new(
        cls, pan: str, account_id: str, payer_name: str, terminal_id: str, tx: str
    ) -> SavedCard:
        return cls(str(uuid.uuid4()), account_id, pan, payer_name, terminal_id, tx)

    def to_wire(self) -> dict[str, object]:
        """One entry of ``GET /cards/{accountId}`` (PascalCase, epay-api.md §6)."""
        return {
            "ID": self.id,
            "TransactionId": self.transaction_id,
            "MerchantID": "test",
            "CardHash": hashlib.sha256(self.pan.encode()).hexdigest(),
            "CardMask": mask(self.pan),
            "PayerName": self.payer_name,
            "Reference": "",
            "IntReference": "",
            "Token": uuid.uuid4().hex,
            "Terminal": "98120001",
            "CreatedDate": self.created.isoformat(),
            "PaymentAvailable": self.active,
            "AccountID": self.account_id,
        }


@attrs.define
class SentInvoice:
    id: str
    invoice_id: str
    amount: Decimal
    currency: str
    recipient: str
    fields: dict[str, Any] = attrs.field(repr=False)


_ids = itertools.count(1)


@attrs.define(slots=True)
class RegisterOperation:
    """One operation of a sandbox register."""

    invoice_id: str
    amount: Decimal
    created: datetime
    status: str = "CHARGE"
    currency: str = "KZT"
    kind: str = "payment"
    id: str = attrs.field(factory=lambda: f"op-{next(_ids):08d}")
    account_id: str = ""
    reference: str = ""
    card_mask: str = "440043******6565"
    payer_phone: str = ""
    payer_email: str = ""
    payout_amount: Decimal | None = None
    card_type: str = "VISA"
    payer_name: str = "TEST CARDHOLDER"

    def to_json(self) -> str:
        """:meth:`to_wire` as JSON, money as JSON numbers (quicker than the general encoder:
        a register answer carries thousands of these)."""
        money = {
            "amount": self.amount,
            "orgAmount": self.amount,
            "payoutAmount": self.payout_amount,
        }
        rest = {k: v for k, v in self.to_wire().items() if k not in money}
        head = ",".join(f'"{k}":{"null" if v is None else str(v)}' for k, v in money.items())
        return "{" + head + "," + json.dumps(rest, ensure_ascii=False)[1:]

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "invoiceId": self.invoice_id,
            "reference": self.reference,
            "amount": self.amount,
            "orgAmount": self.amount,
            "currency": self.currency,
            "createdDate": self.created.isoformat(timespec="milliseconds"),
            "payoutDate": None,
            "payoutAmount": self.payout_amount,
            "status": self.status,
            "cardMask": self.card_mask,
            "cardType": self.card_type,
            "issuer": "Halyk Bank",
            "approvalCode": "170243",
            "payerName": self.payer_name,
            "payerPhone": self.payer_phone,
            "payerEmail": self.payer_email,
            "accountId": self.account_id,
        }

"""Check-status (seed 002): ``/check-status/payment/transaction/{invoiceId}`` and its P2P
twin, with the answers a test scripted first (``Sandbox.queue_status``)."""

from __future__ import annotations

import re

from ...types.status import ResultCode, StatusName
from .._ledger import Ledger
from .._merchant import GatewaySettings
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize

_NOT_FOUND_MESSAGE = "invoice not found, try again later or check transaction type (payment/p2p)"
_RESULT_MESSAGES = {
    ResultCode.SUCCESS: "SUCCESS",
    ResultCode.REJECT: "reject",
    ResultCode.INVOICE_NOT_FOUND: _NOT_FOUND_MESSAGE,
    ResultCode.RETRY_OR_SUPPORT: "try again or contact support",
    ResultCode.TERMINAL_ABSENT_IN_TOKEN: "field terminal absent in token",
    ResultCode.INCORRECT_TERMINAL: "error, incorrect terminalID",
    ResultCode.IN_PROGRESS: "IN PROGRESS",
    ResultCode.TERMINAL_NOT_OWNED: "terminal does not belong to the client",
}


class StatusEndpoints:
    def __init__(self, ledger: Ledger, settings: GatewaySettings) -> None:
        self._ledger = ledger
        self._settings = settings

    def mount(self, router: Router) -> None:
        router.add("GET", r"/check-status/(payment|p2p)/transaction/([^/]+)", self.check_status)

    async def check_status(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        kind, invoice_id = match.group(1), match.group(2)
        envelope = _p2p_envelope if kind == "p2p" else _envelope
        if token.terminal is None:
            return envelope(ResultCode.TERMINAL_ABSENT_IN_TOKEN)
        if token.terminal not in self._settings.merchant.terminal_ids:
            return envelope(ResultCode.INCORRECT_TERMINAL)
        transaction = self._ledger.find_transaction(kind, invoice_id)
        answer = self._ledger.next_scripted_answer(kind, invoice_id)
        if transaction is None:
            if answer is not None:
                # A status name needs a transaction to show: none yet, so "not found".
                code = answer if isinstance(answer, ResultCode) else ResultCode.INVOICE_NOT_FOUND
                return envelope(code)
            if self._settings.answer_any_invoice and kind == "payment":
                return synthesized_status(invoice_id, token.terminal)
            return envelope(ResultCode.INVOICE_NOT_FOUND)
        wire = transaction.to_p2p_wire if kind == "p2p" else transaction.to_wire
        if answer is None:
            return envelope(ResultCode.SUCCESS, wire())
        if isinstance(answer, StatusName):
            return envelope(ResultCode.SUCCESS, wire(answer))
        return envelope(answer)


#: By an unknown invoice's last digit: the status ``answer_any_invoice`` reports.
SYNTHESIZED = {
    **dict.fromkeys("0123456", StatusName.CHARGE),
    "7": StatusName.AUTH,
    "8": StatusName.REJECT,
}
_SYNTHESIZED_TEMPLATE = (
    '{"resultCode":"100","resultMessage":"SUCCESS","transaction":{'
    '"id":"00000000-0000-4000-8000-%(id)s","createdDate":"2026-01-01T12:00:00+05:00",'
    '"invoiceID":"%(invoice)s","amount":%(amount)s,"amountBonus":0,"currency":"KZT",'
    '"terminal":"98120001","terminalID":"%(terminal)s","accountID":"","description":"",'
    '"language":"RU","cardMask":"440563...5096","cardType":"VISA","issuer":"Halyk Bank",'
    '"reference":"%(reference)s","reason":"%(reason)s","reasonCode":"%(code)s",'
    '"secure":false,"statusName":"%(status)s","cardID":""}}'
)


def synthesized_status(invoice_id: str, terminal: str) -> SandboxResponse:
    """A deterministic answer for an invoice the sandbox never saw: by its last digit 0-6
    CHARGE, 7 AUTH, 8 REJECT, 9 not found. Cheap, and nothing is stored per invoice."""
    status = SYNTHESIZED.get(invoice_id[-1:])
    if status is None:
        return _envelope(ResultCode.INVOICE_NOT_FOUND)
    declined = status is StatusName.REJECT
    body = _SYNTHESIZED_TEMPLATE % {
        "id": invoice_id[-12:].rjust(12, "0"),
        "invoice": invoice_id,
        "amount": f"{int(invoice_id[-5:]) % 50000 + 100}.00",
        "terminal": terminal,
        "reference": invoice_id[-12:].rjust(12, "0"),
        "reason": "Not sufficient funds" if declined else "Approved",
        "code": "484" if declined else "00",
        "status": status.value,
    }
    return SandboxResponse(200, body.encode(), {"content-type": "application/json"})


def _p2p_envelope(code: ResultCode, transaction: object = None) -> SandboxResponse:
    """P2P check-status, as the documentation's "P2P check status" page shows it."""
    return SandboxResponse.json(
        200,
        {
            "result": {"code": str(int(code)), "message": _RESULT_MESSAGES.get(code, "error")},
            "transaction": None if transaction is None else {"p2p": transaction},
        },
    )


def _envelope(code: ResultCode, transaction: object = None) -> SandboxResponse:
    return SandboxResponse.json(
        200,
        {
            "resultCode": str(int(code)),
            "resultMessage": _RESULT_MESSAGES.get(code, "error"),
            "transaction": transaction,
        },
    )

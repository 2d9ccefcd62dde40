"""The gateway's refusals: :class:`Declined` and the (code, message) pairs the sandbox answers
with (epay-api.md §8)."""

from __future__ import annotations

FORMAT_ERROR = (477, "Format error")
TOKEN_MISMATCH = (469, "Invalid transaction: the token was issued for another order")
ALREADY_PAID = (469, "Invalid transaction: the invoice has already been paid")
INVOICE_EXISTS = (469, "Invalid invoice: an invoice with this id exists")
INVALID_STATE = (469, "Invalid transaction: not allowed in its current status")
INVALID_AMOUNT = (470, "Invalid amount")
RECORD_NOT_FOUND = (522, "Record not found")
NO_SAVED_CARDS = (1373, "no saved cards")
# The card's issuer: how the test cards are declined.
LOCKED = (487, "Not permitted to merchant")
NO_SUCH_CARD = (471, "No such card")
WRONG_EXPIRY = (457, "Wrong expiry date")
WRONG_CVC = (466, "Declined, call your bank")
THREE_DS_FAILED = (473, "3-D Secure authentication failed")


class Declined(Exception):
    """The gateway refuses the payment with ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

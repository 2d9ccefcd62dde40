"""The exception hierarchy. Every error carries what a caller needs to act, never a secret.

```
EpayError
├── ValidationError          bad input, raised before any I/O; .field
├── AuthenticationError      token refused (bad credentials, scope)
├── ApiError                 the gateway answered no: .http_status, .code, .message, .invoice_id
│   └── PaymentDeclinedError    a payment or transfer was refused
├── StatusError              check-status answered 103 (after retries), 104, 106 or 109
├── TransportError           network failure; for money requests only when nothing was sent
├── OutcomeUnknownError      a money request may have reached the gateway: .invoice_id
├── RequestInFlightError     a money request for the same invoice is under way: nothing sent
├── ProtocolError            the response could not be understood
├── StatusTimeoutError       wait_for_status deadline: .last_status
├── NotificationMismatchError
└── ApplePayError            an Apple Pay token could not be trusted or opened
    ├── ApplePaySignatureError
    └── ApplePayDecryptionError
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .error_codes import lookup

if TYPE_CHECKING:
    from ._raw import ResponseInfo
    from .types.status import TransactionStatus

__all__ = [
    "ApiError",
    "ApplePayDecryptionError",
    "ApplePayError",
    "ApplePaySignatureError",
    "AuthenticationError",
    "EpayError",
    "NotificationMismatchError",
    "OutcomeUnknownError",
    "PaymentDeclinedError",
    "ProtocolError",
    "RequestInFlightError",
    "StatusError",
    "StatusTimeoutError",
    "TransportError",
    "ValidationError",
]


class EpayError(Exception):
    """Base class of every error raised by epay_async.

    An error raised during an exchange with the gateway carries what
    ``epay.with_raw_response`` shows of it: ``response`` (the last answer's status code,
    headers and time, when there was one) and ``attempts`` (how many were made). Neither holds
    a body, a token or card data.
    """

    response: ResponseInfo | None = None
    attempts: int | None = None


class ValidationError(EpayError, ValueError):
    """An argument is invalid; raised before anything is sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AuthenticationError(EpayError):
    """The gateway refused the credentials or the token."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class ApiError(EpayError):
    """The gateway understood the request and answered no."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None,
        code: int | None = None,
        invoice_id: str | None = None,
    ) -> None:
        text = f"gateway error {code}: {message}" if code is not None else message
        if http_status is not None:
            text += f" (HTTP {http_status})"
        if invoice_id:
            text += f" [invoice {invoice_id}]"
        super().__init__(text)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.invoice_id = invoice_id

    @property
    def reason(self) -> str:
        """The documented meaning of ``code`` (epay-api.md §8), else the gateway's message."""
        entry = lookup(self.code)
        return entry.meaning if entry else self.message

    @property
    def is_final(self) -> bool:
        """False for codes after which the money may still move (454, 459): check the status."""
        entry = lookup(self.code)
        return entry.final if entry else True


class PaymentDeclinedError(ApiError):
    """A payment or transfer was refused by the gateway, the issuer or the acquirer."""


class StatusError(EpayError):
    """Check-status answered with a code that needs a person: 103 (after retries), 104, 106, 109."""

    def __init__(
        self, result_code: int, result_message: str, *, invoice_id: str | None = None
    ) -> None:
        super().__init__(
            f"check-status answered {result_code} {result_message!r}"
            + (f" for invoice {invoice_id}" if invoice_id else "")
        )
        self.result_code = result_code
        self.result_message = result_message
        self.invoice_id = invoice_id


class TransportError(EpayError):
    """The network failed. For a money request this is raised only when nothing was sent."""


class OutcomeUnknownError(EpayError):
    """A money request may have reached the gateway, but its answer was lost or unreadable.

    Never re-send it. Reconcile with ``await epay.wait_for_status(exc.invoice_id)``.
    """

    def __init__(
        self,
        invoice_id: str | None,
        operation: str,
        reason: str,
        *,
        transaction_id: str | None = None,
    ) -> None:
        subject = f"invoice {invoice_id}" if invoice_id else f"transaction {transaction_id}"
        super().__init__(
            f"outcome of {operation} for {subject} is unknown ({reason}); "
            "do not resend: check it with wait_for_status"
        )
        self.invoice_id = invoice_id
        self.transaction_id = transaction_id
        self.operation = operation
        self.reason = reason


class RequestInFlightError(EpayError):
    """Another money request for the same invoice (or transaction) is under way on this client,
    or (``in_journal``) the payment journal holds an open record of one: under way in a process
    sharing the journal, or left in doubt by one that stopped.

    Nothing was sent for this one. Two concurrent payments of one invoice are a bug in the
    caller (a double click, a retried job): let the first finish, then check its status. A
    record left open is closed by ``await epay.recover()`` with the gateway's word.
    """

    def __init__(self, key: str, operation: str, *, in_journal: bool = False) -> None:
        if in_journal:
            where = (
                "the payment journal holds an open record of a money request for "
                f"{key} (under way in some process, or left in doubt by one that stopped: "
                "epay.recover() settles it)"
            )
        else:
            where = f"a money request for {key} is already under way on this client"
        super().__init__(f"{operation}: {where}; nothing was sent")
        self.key = key
        self.operation = operation
        self.in_journal = in_journal


class ProtocolError(EpayError):
    """The gateway's answer could not be understood (not JSON, wrong shape, wrong type)."""

    def __init__(
        self, message: str, *, field: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(f"{message} (at {field})" if field else message)
        self.field = field
        self.http_status = http_status


class StatusTimeoutError(EpayError, TimeoutError):
    """``wait_for_status`` reached its deadline; ``last_status`` is the last answer seen."""

    def __init__(self, invoice_id: str, last_status: TransactionStatus | None) -> None:
        seen = "no answer" if last_status is None else last_status.describe()
        super().__init__(f"invoice {invoice_id} not final before the deadline (last: {seen})")
        self.invoice_id = invoice_id
        self.last_status = last_status


class NotificationMismatchError(EpayError):
    """A postLink notification is not backed by the gateway's own status."""

    def __init__(
        self, invoice_id: str | None, mismatches: list[str], *, still_processing: bool = False
    ) -> None:
        super().__init__(
            f"notification for invoice {invoice_id} does not match the gateway: "
            + "; ".join(mismatches)
        )
        self.invoice_id = invoice_id
        self.mismatches = mismatches
        #: True when the gateway has not finished with the payment (107 or NEW): the
        #: notification may still be genuine, so ask again later rather than refuse it.
        self.still_processing = still_processing


class ApplePayError(EpayError):
    """An Apple Pay token could not be trusted or opened."""


class ApplePaySignatureError(ApplePayError):
    """The token's signature, certificate chain or signing time does not hold."""


class ApplePayDecryptionError(ApplePayError):
    """The token is not for this merchant key, or its data does not decrypt."""

"""epay_async: typed asyncio client for Halyk Bank's ePay payment gateway."""

from ._client import EpayClient
from ._logs import RedactingFilter
from ._retry import RetryPolicy
from ._version import __version__
from .environment import Environment
from .errors import (
    ApiError,
    AuthenticationError,
    EpayError,
    NotificationMismatchError,
    OutcomeUnknownError,
    PaymentDeclinedError,
    ProtocolError,
    StatusError,
    StatusTimeoutError,
    TransportError,
    ValidationError,
)
from .types.status import ResultCode, StatusName, Transaction, TransactionStatus

__all__ = [
    "ApiError",
    "AuthenticationError",
    "Environment",
    "EpayClient",
    "EpayError",
    "NotificationMismatchError",
    "OutcomeUnknownError",
    "PaymentDeclinedError",
    "ProtocolError",
    "RedactingFilter",
    "ResultCode",
    "RetryPolicy",
    "StatusError",
    "StatusName",
    "StatusTimeoutError",
    "Transaction",
    "TransactionStatus",
    "TransportError",
    "ValidationError",
    "__version__",
]

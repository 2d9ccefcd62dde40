"""epay_async: typed asyncio client for Halyk Bank's ePay payment gateway."""

from ._client import EpayClient
from ._logs import RedactingFilter
from ._reconcile import ReconcileResult
from ._retry import RetryPolicy
from ._version import __version__
from .cryptogram import CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC, CryptogramPadding
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
from .types import (
    ApplePayPayment,
    Card,
    CardPan,
    ConfirmResult,
    GooglePayToken,
    OperationResult,
    Order,
    PaymentNotification,
    PaymentResult,
    ResultCode,
    SavedCardInfo,
    SavedCardRef,
    Secure3D,
    StatusName,
    Transaction,
    TransactionStatus,
    TransferResult,
)

__all__ = [
    "CRYPTOGRAM_FIELD",
    "CRYPTOGRAM_FIELD_CYRILLIC",
    "ApiError",
    "ApplePayPayment",
    "AuthenticationError",
    "Card",
    "CardPan",
    "ConfirmResult",
    "CryptogramPadding",
    "Environment",
    "EpayClient",
    "EpayError",
    "GooglePayToken",
    "NotificationMismatchError",
    "OperationResult",
    "Order",
    "OutcomeUnknownError",
    "PaymentDeclinedError",
    "PaymentNotification",
    "PaymentResult",
    "ProtocolError",
    "ReconcileResult",
    "RedactingFilter",
    "ResultCode",
    "RetryPolicy",
    "SavedCardInfo",
    "SavedCardRef",
    "Secure3D",
    "StatusError",
    "StatusName",
    "StatusTimeoutError",
    "Transaction",
    "TransactionStatus",
    "TransferResult",
    "TransportError",
    "ValidationError",
    "__version__",
]

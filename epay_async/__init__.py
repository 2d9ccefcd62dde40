"""epay_async: typed asyncio client for Halyk Bank's ePay payment gateway."""

from ._client import EpayClient
from ._logs import RedactingFilter
from ._reconcile import ReconcileResult, Reconciliation
from ._retry import RetryPolicy
from ._version import __version__
from .cryptogram import CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC, CryptogramPadding
from .environment import Environment
from .errors import (
    ApiError,
    ApplePayDecryptionError,
    ApplePayError,
    ApplePaySignatureError,
    AuthenticationError,
    EpayError,
    NotificationMismatchError,
    OutcomeUnknownError,
    PaymentDeclinedError,
    ProtocolError,
    RequestInFlightError,
    StatusError,
    StatusTimeoutError,
    TransportError,
    ValidationError,
)
from .notifications import parse_notification
from .types import (
    ApplePayPayment,
    Card,
    CardPan,
    ConfirmResult,
    GooglePayToken,
    OperationResult,
    Order,
    PaymentNotification,
    PaymentPage,
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
    "ApplePayDecryptionError",
    "ApplePayError",
    "ApplePayPayment",
    "ApplePaySignatureError",
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
    "PaymentPage",
    "PaymentResult",
    "ProtocolError",
    "ReconcileResult",
    "Reconciliation",
    "RedactingFilter",
    "RequestInFlightError",
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
    "parse_notification",
]

# help() and tracebacks name the public home of what is defined in private modules.
for _name in ("EpayClient", "RedactingFilter", "ReconcileResult", "Reconciliation", "RetryPolicy"):
    globals()[_name].__module__ = __name__
del _name

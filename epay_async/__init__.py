"""epay_async: typed asyncio client for Halyk Bank's ePay payment gateway."""

from ._client import EpayClient
from ._logs import RedactingFilter
from ._raw import RawResponse, ResponseInfo
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
    CabinetLogin,
    Card,
    CardPan,
    CardVerification,
    ConfirmResult,
    GooglePayToken,
    InvoiceLink,
    InvoiceLinkResult,
    OperationResult,
    Order,
    PaymentNotification,
    PaymentPage,
    PaymentResult,
    PaymentState,
    PhoneRecipient,
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
    "CabinetLogin",
    "Card",
    "CardPan",
    "CardVerification",
    "ConfirmResult",
    "CryptogramPadding",
    "Environment",
    "EpayClient",
    "EpayError",
    "GooglePayToken",
    "InvoiceLink",
    "InvoiceLinkResult",
    "NotificationMismatchError",
    "OperationResult",
    "Order",
    "OutcomeUnknownError",
    "PaymentDeclinedError",
    "PaymentNotification",
    "PaymentPage",
    "PaymentResult",
    "PaymentState",
    "PhoneRecipient",
    "ProtocolError",
    "RawResponse",
    "ReconcileResult",
    "Reconciliation",
    "RedactingFilter",
    "RequestInFlightError",
    "ResponseInfo",
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
def _publish(cls: type) -> None:
    cls.__module__ = __name__
    for member in vars(cls).values():
        # properties, classmethods and staticmethods wrap the function itself
        function = getattr(member, "fget", None) or getattr(member, "__func__", member)
        if callable(function) and getattr(function, "__module__", "").startswith(__name__ + "._"):
            function.__module__ = __name__


for _name in (
    "EpayClient",
    "RawResponse",
    "ResponseInfo",
    "RedactingFilter",
    "ReconcileResult",
    "Reconciliation",
    "RetryPolicy",
):
    _publish(globals()[_name])
del _name, _publish

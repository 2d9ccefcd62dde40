"""Public request and response models."""

from .cards import Card, CardPan, SavedCardInfo, SavedCardRef
from .notifications import PaymentNotification
from .operations import OperationResult
from .order import Order
from .payment_page import PaymentPage
from .payments import ApplePayPayment, ConfirmResult, GooglePayToken, PaymentResult, Secure3D
from .status import ResultCode, StatusName, Transaction, TransactionStatus
from .transfers import TransferResult

__all__ = [
    "ApplePayPayment",
    "Card",
    "CardPan",
    "ConfirmResult",
    "GooglePayToken",
    "OperationResult",
    "Order",
    "PaymentNotification",
    "PaymentPage",
    "PaymentResult",
    "ResultCode",
    "SavedCardInfo",
    "SavedCardRef",
    "Secure3D",
    "StatusName",
    "Transaction",
    "TransactionStatus",
    "TransferResult",
]

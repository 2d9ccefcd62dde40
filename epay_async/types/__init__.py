"""Public request and response models."""

from .cards import Card, CardPan, PhoneRecipient, SavedCardInfo, SavedCardRef
from .invoice_links import CabinetLogin, InvoiceLink, InvoiceLinkResult
from .notifications import PaymentNotification
from .operations import OperationResult
from .order import CardVerification, Order
from .payment_page import PaymentPage
from .payments import ApplePayPayment, ConfirmResult, GooglePayToken, PaymentResult, Secure3D
from .status import PaymentState, ResultCode, StatusName, Transaction, TransactionStatus
from .transfers import TransferResult

__all__ = [
    "ApplePayPayment",
    "CabinetLogin",
    "Card",
    "CardPan",
    "CardVerification",
    "ConfirmResult",
    "GooglePayToken",
    "InvoiceLink",
    "InvoiceLinkResult",
    "OperationResult",
    "Order",
    "PaymentNotification",
    "PaymentPage",
    "PaymentResult",
    "PaymentState",
    "PhoneRecipient",
    "ResultCode",
    "SavedCardInfo",
    "SavedCardRef",
    "Secure3D",
    "StatusName",
    "Transaction",
    "TransactionStatus",
    "TransferResult",
]

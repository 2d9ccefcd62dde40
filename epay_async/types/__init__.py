"""Public request and response models."""

from .status import ResultCode, StatusName, Transaction, TransactionStatus

__all__ = ["ResultCode", "StatusName", "Transaction", "TransactionStatus"]

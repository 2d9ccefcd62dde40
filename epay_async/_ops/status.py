"""Check-status (seed 002) for payments and P2P transfers.

The two answer in different envelopes. Payments (seed 002): ``{"resultCode", "resultMessage",
"transaction": {...}}``. P2P (the documentation's "P2P check status" page, English and Kazakh):
``{"result": {"code", "message"}, "transaction": {"p2p": {...}}}``. Both are read, for either
kind, into one :class:`TransactionStatus`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .. import _validation
from .._answers import json_body
from .._converter import structure
from .._http import Answer
from .._pipeline import Operation, RetryAnswer
from ..errors import ApiError, ProtocolError, StatusError
from ..types.status import ResultCode, TransactionStatus
from ._base import Pipeline

__all__ = ["StatusKind", "get_status"]

StatusKind = Literal["payment", "p2p"]
_KINDS: tuple[StatusKind, ...] = ("payment", "p2p")

#: Codes that mean the request itself is misconfigured: raised, never returned.
_CONFIG_ERRORS = frozenset(
    {
        ResultCode.TERMINAL_ABSENT_IN_TOKEN,
        ResultCode.INCORRECT_TERMINAL,
        ResultCode.TERMINAL_NOT_OWNED,
    }
)


async def get_status(ctx: Pipeline, invoice_id: str, kind: StatusKind) -> TransactionStatus:
    invoice_id = _validation.lookup_id(invoice_id)
    _validation.choice(kind, _KINDS, "kind")
    # A lookup id is unreserved URL text already: nothing in it to quote.
    path = f"/check-status/{kind}/transaction/{invoice_id}"

    def read(answer: Answer) -> TransactionStatus:
        status = parse_status(answer, invoice_id, kind)
        if status.result_code == ResultCode.RETRY_OR_SUPPORT:
            error = StatusError(
                int(status.result_code), status.result_message, invoice_id=invoice_id
            )
            raise RetryAnswer("result code 103", error)
        return status

    return await ctx.send(
        Operation(
            name=f"get_status ({kind})",
            method="GET",
            url=ctx.url(path),
            read=read,
            invoice_id=invoice_id,
            reads_error_answers=True,
            result_code_of=lambda status: int(status.result_code),
        )
    )


def parse_status(
    response: Answer, invoice_id: str, kind: StatusKind = "payment"
) -> TransactionStatus:
    """Read a check-status answer; raises for configuration errors and shapes it cannot trust."""
    body: Any = flatten_envelope(json_body(response, what="check-status response"))
    if response.status_code >= 300 and not (isinstance(body, dict) and "resultCode" in body):
        raise _api_error(body, response.status_code, invoice_id)
    status = structure(body, TransactionStatus, what="check-status response")
    if status.result_code in _CONFIG_ERRORS:
        raise StatusError(int(status.result_code), status.result_message, invoice_id=invoice_id)
    transaction = status.transaction
    if status.result_code == ResultCode.SUCCESS and transaction is None:
        raise ProtocolError(
            "check-status answered 100 without a transaction", field="$.transaction"
        )
    if transaction is None:
        return status
    if transaction.invoice_id.lstrip("0") != invoice_id.lstrip("0"):
        # Never let another invoice's transaction stand for this one (a paid order, wrongly).
        raise ProtocolError(
            f"check-status for {invoice_id} answered with invoice {transaction.invoice_id[:20]!r}",
            field="$.transaction.invoiceID",
        )
    if kind == "payment" and transaction.status_name is None:
        raise ProtocolError(
            "check-status answered a payment without a statusName",
            field="$.transaction.statusName",
        )
    return status


def flatten_envelope(body: Any) -> Any:
    """The P2P envelope (``result.code``/``result.message``, ``transaction.p2p``) in the
    payment shape (``resultCode``/``resultMessage``, a flat ``transaction``); other bodies as
    they are (the payment shape is returned itself, not copied). Keys are matched in any
    casing, as everywhere else."""
    if not isinstance(body, Mapping):
        return body
    keys = {str(key).lower(): key for key in body}
    flat: dict[Any, Any] | None = None
    result = body[keys["result"]] if "result" in keys else None
    if "resultcode" not in keys and isinstance(result, Mapping):
        inner = {str(key).lower(): value for key, value in result.items()}
        flat = dict(body)
        del flat[keys["result"]]
        flat["resultCode"] = inner.get("code")
        flat["resultMessage"] = inner.get("message") or ""
    transaction = body[keys["transaction"]] if "transaction" in keys else None
    if isinstance(transaction, Mapping) and len(transaction) == 1:
        ((name, nested),) = transaction.items()
        if str(name).lower() == "p2p" and (nested is None or isinstance(nested, Mapping)):
            flat = dict(body) if flat is None else flat
            flat[keys["transaction"]] = nested
    return body if flat is None else flat


def _api_error(body: Any, http_status: int, invoice_id: str) -> ApiError:
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return ApiError(
        str(message) if message else "check-status failed",
        http_status=http_status,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        invoice_id=invoice_id,
    )

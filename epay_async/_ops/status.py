"""Check-status (seed 002) for payments and P2P transfers."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from .. import _validation
from .._converter import structure
from .._transport import ApiRequest, ApiResponse, json_body
from ..errors import ApiError, ProtocolError, StatusError
from ..types.status import ResultCode, TransactionStatus
from ._base import Context, send_with_service_token

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


async def get_status(ctx: Context, invoice_id: str, kind: StatusKind) -> TransactionStatus:
    invoice_id = _validation.invoice_id(invoice_id)
    _validation.choice(kind, _KINDS, "kind")
    path = f"/check-status/{kind}/transaction/{quote(invoice_id, safe='')}"
    policy = ctx.transport.retry
    attempt = 0
    while True:
        attempt += 1
        request = ApiRequest(
            "GET",
            ctx.url(path),
            operation=f"get_status ({kind})",
            idempotent=True,
            invoice_id=invoice_id,
        )
        response = await send_with_service_token(ctx, request)
        status = parse_status(response, invoice_id)
        if status.result_code != ResultCode.RETRY_OR_SUPPORT:
            return status
        if attempt >= policy.max_attempts:
            raise StatusError(int(status.result_code), status.result_message, invoice_id=invoice_id)
        await ctx.transport.backoff(f"get_status ({kind})", attempt, None, "result code 103")


def parse_status(response: ApiResponse, invoice_id: str) -> TransactionStatus:
    """Read a check-status answer; raises for configuration errors and shapes it cannot trust."""
    body: Any = json_body(response, what="check-status response")
    if response.status_code >= 300 and not (isinstance(body, dict) and "resultCode" in body):
        raise _api_error(body, response.status_code, invoice_id)
    status = structure(body, TransactionStatus, what="check-status response")
    if status.result_code in _CONFIG_ERRORS:
        raise StatusError(int(status.result_code), status.result_message, invoice_id=invoice_id)
    if status.result_code == ResultCode.SUCCESS and status.transaction is None:
        raise ProtocolError(
            "check-status answered 100 without a transaction", field="$.transaction"
        )
    return status


def _api_error(body: Any, http_status: int, invoice_id: str) -> ApiError:
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return ApiError(
        str(message) if message else "check-status failed",
        http_status=http_status,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        invoice_id=invoice_id,
    )

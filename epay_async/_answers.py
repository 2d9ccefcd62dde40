"""How the gateway's answers map to results and errors: one module for every operation.

- An HTTP status class decides first (:func:`check_status`): 3xx is an error unless the
  operation reads a redirect, 401/403 is :class:`AuthenticationError`, 429/5xx left after the
  retries is :class:`ApiError` for a read and :class:`OutcomeUnknownError` for money.
- A 4xx is the gateway saying no when its body is ``{code, message}`` (:func:`gateway_error`);
  anything else is unreadable.
- A 200 whose ``code`` is not 0 is a refusal (:func:`refuse_error_code`).
- An answer a money request cannot read is :class:`OutcomeUnknownError` (it may have been
  carried out), never success; a read's is :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._converter import loads, to_int
from ._http import Answer
from ._request import ApiRequest
from .errors import (
    ApiError,
    AuthenticationError,
    OutcomeUnknownError,
    ProtocolError,
)

__all__ = ["check_status", "gateway_error", "json_body", "refuse_error_code"]


def check_status(request: ApiRequest, answer: Answer) -> Answer:
    """Raise for an HTTP status no operation reads as an answer; return ``answer`` otherwise."""
    status = answer.status_code
    if 300 <= status < 400 and not request.redirect_is_answer:
        host = urlsplit(answer.headers.get("location", "")).netloc or "nowhere"
        reason = f"HTTP {status} redirect to {host[:100]}, not followed"
        if not request.idempotent:
            raise request.outcome_unknown(reason)
        raise ProtocolError(f"{request.operation}: {reason}", http_status=status)
    if status in (401, 403):
        if request.form is None:
            refused = "the token"
        elif "username" in request.form:  # the password grant of invoice links
            refused = "the credentials: check the cabinet user and password"
        else:
            refused = "the credentials: check the client id, secret and terminal id"
        raise AuthenticationError(
            f"{request.operation}: the gateway refused {refused} (HTTP {status})",
            http_status=status,
        )
    if status == 429 or status >= 500:
        if not request.idempotent:
            raise request.outcome_unknown(f"HTTP {status}")
        raise ApiError(
            f"{request.operation}: gateway unavailable",
            http_status=status,
            invoice_id=request.invoice_id,
        )
    return answer


def gateway_error(
    request: ApiRequest, answer: Answer, cls: type[ApiError] = ApiError
) -> ApiError | ProtocolError | OutcomeUnknownError:
    """A 4xx answer: ``{code, message}`` is the gateway saying no; anything else is unreadable."""
    try:
        body: Any = loads(answer.content)
    except ProtocolError:
        body = None
    code = body.get("code") if isinstance(body, Mapping) else None
    if isinstance(code, int) and not isinstance(code, bool):
        message = str(body.get("message") or "").strip() or "refused"
        return cls(
            message, http_status=answer.status_code, code=code, invoice_id=request.invoice_id
        )
    reason = f"HTTP {answer.status_code} without a gateway error body"
    if not request.idempotent:
        return request.outcome_unknown(reason)
    return ProtocolError(f"{request.operation}: {reason}", http_status=answer.status_code)


def refuse_error_code(
    body: Any, cls: type[ApiError], http_status: int, *, invoice_id: str | None = None
) -> None:
    """An HTTP 200 answer whose ``code`` is not 0 is a refusal, however the code is written
    (``-1``, ``"1"``, ``-1.0``); a code that is not a number at all is unreadable
    (:class:`ProtocolError`), never success."""
    if not isinstance(body, Mapping):
        return
    code = body.get("code")
    if code in (None, "", 0):
        return
    number = to_int(code)
    if number != 0:
        message = str(body.get("message") or "").strip() or "refused"
        raise cls(message, http_status=http_status, code=number, invoice_id=invoice_id)


def json_body(answer: Answer, *, what: str) -> Any:
    """Parse an answer's body as JSON (money as ``Decimal``) or raise ``ProtocolError``."""
    if not answer.content.strip():
        raise ProtocolError(f"{what}: empty response body", http_status=answer.status_code)
    try:
        return loads(answer.content)
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: {exc}", http_status=answer.status_code) from None

"""What several surfaces share: the bearer token checks, a payment read from its body, the
3-D Secure challenge answered to the payer, and hidden form fields."""

from __future__ import annotations

import base64
import html
import json
from decimal import Decimal
from typing import Any

from .._ledger import Ledger
from .._records import IssuedToken, SandboxTransaction
from .._wire import SandboxRequest, SandboxResponse

#: The sandbox's ACS page (3-D Secure), at its own origin.
ACS_PATH = "/acs"


def authorize(ledger: Ledger, request: SandboxRequest) -> IssuedToken | SandboxResponse:
    """The request's bearer token, or the 401 the gateway answers for a missing, unknown or
    expired one."""
    token = ledger.valid_token(request.bearer() or "")
    if token is None:
        return SandboxResponse.json(401, {"error": "invalid_token"})
    return token


def bound_token(
    ledger: Ledger, request: SandboxRequest, scope: str
) -> IssuedToken | SandboxResponse:
    """A single-use token bound to one order, with ``scope``, spent by this request."""
    token = authorize(ledger, request)
    if isinstance(token, SandboxResponse):
        return token
    if not token.bound or token.used or scope not in token.scope.split():
        return SandboxResponse.json(401, {"error": "invalid_token"})
    ledger.use_token(token)
    return token


def body_field(body: dict[str, Any], *names: str) -> Any:
    """A body value under any casing of ``names`` (the gateway reads keys case-insensitively)."""
    lowered = {str(key).lower(): value for key, value in body.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def payment_from(body: dict[str, Any], token: IssuedToken, amount: Decimal) -> SandboxTransaction:
    """The payment a body (an API payment's, or the payment page's object) asks for."""
    language = body_field(body, "language")
    verification = str(body_field(body, "paymentType") or "").lower() == "cardverification" or (
        amount == 0 and token.currency == "USD"
    )
    return SandboxTransaction(
        invoice_id=token.invoice_id or "",
        amount=amount,
        currency=token.currency or "KZT",
        terminal_id=token.terminal or "",
        description=str(body_field(body, "description") or ""),
        account_id=str(body_field(body, "accountId") or ""),
        email=str(body_field(body, "email") or ""),
        phone=str(body_field(body, "phone") or ""),
        name=str(body_field(body, "name") or ""),
        data=str(body_field(body, "data") or ""),
        language=language if isinstance(language, str) and language else "rus",
        verification=verification,
        secret_hash=token.secret_hash,
        post_link=str(body_field(body, "postLink") or token.post_link or "") or None,
        failure_post_link=(
            str(body_field(body, "failurePostLink") or token.failure_post_link or "") or None
        ),
    )


def three_ds_challenge(
    ledger: Ledger, tx: SandboxTransaction, pan: str, save_for: str | None, origin: str
) -> dict[str, str]:
    """Hold ``tx`` for 3-D Secure; the ``secure3D`` to answer (seed 004), whose ``action`` is
    the sandbox's own ACS page (``acs.py``)."""
    md = ledger.hold_for_3ds(tx, pan, save_for)
    pa_req = base64.b64encode(
        json.dumps({"messageVersion": "2.1.0", "threeDSServerTransID": tx.id}).encode()
    )
    return {"paReq": pa_req.decode(), "md": md, "action": f"{origin}{ACS_PATH}"}


def hidden_fields(**fields: str) -> str:
    return "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value, quote=True)}">'
        for name, value in fields.items()
    )

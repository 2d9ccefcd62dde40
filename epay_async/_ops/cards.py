"""Saved cards (epay-api.md §6): list them by account, deactivate one."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import _validation
from .._converter import structure
from .._transport import ApiRequest, json_body
from ..errors import ApiError, ProtocolError
from ..types.cards import SavedCardInfo
from ._base import Context, gateway_error, refuse_error_code, send_with_service_token

__all__ = ["deactivate_card", "list_cards"]

#: The gateway's answer when an account has no saved cards (epay-api.md §6).
NO_SAVED_CARDS = 1373


async def list_cards(ctx: Context, account_id: str) -> list[SavedCardInfo]:
    account_id = _validation.path_id(account_id, "account_id", kind="text")
    request = ApiRequest(
        "GET",
        ctx.url(f"/cards/{quote(account_id, safe='')}"),
        operation="list_cards",
        idempotent=True,
    )
    response = await send_with_service_token(ctx, request)
    body: Any = json_body(response, what="card list")
    if isinstance(body, dict) and body.get("code") == NO_SAVED_CARDS:
        return []
    if response.status_code >= 400:
        raise gateway_error(request, response)
    if not isinstance(body, list):
        raise ProtocolError("card list: expected a JSON array", field="$")
    return structure(body, list[SavedCardInfo], what="card list")


async def deactivate_card(ctx: Context, card_id: str) -> None:
    card_id = _validation.path_id(card_id, "card_id")
    request = ApiRequest(
        "POST",
        ctx.url(f"/card/deactivate/{quote(card_id, safe='')}"),
        operation="deactivate_card",
        idempotent=True,
    )
    response = await send_with_service_token(ctx, request)
    if response.status_code >= 400:
        raise gateway_error(request, response)
    # The answer's body is undocumented: empty or a JSON object without an error code.
    if response.content.strip():
        body: Any = json_body(response, what="deactivate_card answer")
        if not isinstance(body, dict):
            raise ProtocolError("deactivate_card: the answer is not a JSON object")
        refuse_error_code(body, request, ApiError, response.status_code)

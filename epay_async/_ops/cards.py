"""Saved cards (epay-api.md §6): list them by account, deactivate one."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .. import _validation
from .._answers import gateway_error, json_body, refuse_error_code
from .._converter import structure
from .._http import Answer
from .._pipeline import Operation
from ..errors import ApiError, ProtocolError
from ..types.cards import SavedCardInfo
from ._base import Pipeline

__all__ = ["deactivate_card", "list_cards"]

#: The gateway's answer when an account has no saved cards (epay-api.md §6).
NO_SAVED_CARDS = 1373


async def list_cards(ctx: Pipeline, account_id: str) -> list[SavedCardInfo]:
    account_id = _validation.path_id(account_id, "account_id", kind="text")

    def read(answer: Answer) -> list[SavedCardInfo]:
        body: Any = json_body(answer, what="card list")
        if isinstance(body, dict) and body.get("code") == NO_SAVED_CARDS:
            return []
        if answer.status_code >= 400:
            raise gateway_error(request, answer)
        if not isinstance(body, list):
            raise ProtocolError("card list: expected a JSON array", field="$")
        return structure(body, list[SavedCardInfo], what="card list")

    operation = Operation(
        name="list_cards",
        method="GET",
        url=ctx.url(f"/cards/{quote(account_id, safe='')}"),
        read=read,
        reads_error_answers=True,  # 1373 "no saved cards" is an empty list
    )
    request = operation.request()
    return await ctx.send(operation)


async def deactivate_card(ctx: Pipeline, card_id: str) -> None:
    card_id = _validation.path_id(card_id, "card_id")

    def read(answer: Answer) -> None:
        if answer.content.strip():
            body: Any = json_body(answer, what="deactivate_card answer")
            if not isinstance(body, dict):
                raise ProtocolError("deactivate_card: the answer is not a JSON object")
            refuse_error_code(body, ApiError, answer.status_code)

    await ctx.send(
        Operation(
            name="deactivate_card",
            method="POST",
            url=ctx.url(f"/card/deactivate/{quote(card_id, safe='')}"),
            read=read,
        )
    )

"""Saved cards (epay-api.md §6): ``GET /cards/{accountId}`` and
``POST /card/deactivate/{cardId}``. Paying with one is ``payments.py``'s."""

from __future__ import annotations

import re

from .._codes import NO_SAVED_CARDS, RECORD_NOT_FOUND
from .._ledger import Ledger
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize


class CardEndpoints:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def mount(self, router: Router) -> None:
        router.add("GET", r"/cards/([^/]+)", self.list_cards)
        router.add("POST", r"/card/deactivate/([^/]+)", self.deactivate_card)

    async def list_cards(self, request: SandboxRequest, match: re.Match[str]) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        cards = [card.to_wire() for card in self._ledger.cards_of(match.group(1))]
        if not cards:
            return SandboxResponse.error(400, *NO_SAVED_CARDS)
        return SandboxResponse.json(200, cards)

    async def deactivate_card(
        self, request: SandboxRequest, match: re.Match[str]
    ) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        if not self._ledger.deactivate_card(match.group(1)):
            return SandboxResponse.error(400, *RECORD_NOT_FOUND)
        return SandboxResponse(200)

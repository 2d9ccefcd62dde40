"""Payments (seeds 000, 001, 004): ``/payment/cryptopay`` (card cryptogram, Apple Pay, Google
Pay), ``/payments/cards/auth`` (a saved card) and ``/payment/confirm`` (after 3-D Secure)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from ...cryptogram import CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC
from ...types.payments import is_google_gateway_token
from .._cards import TestCard, card_type, check_card, check_saved_card, mask
from .._codes import FORMAT_ERROR, RECORD_NOT_FOUND, THREE_DS_FAILED, Declined
from .._keys import decrypt
from .._ledger import Ledger
from .._merchant import GatewaySettings
from .._records import IssuedToken, SandboxTransaction, status_language
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize, body_field, bound_token, payment_from, three_ds_challenge

SUCCESS_PAGE = "https://epay.homebank.kz/payform/success.html"
ERROR_PAGE = "https://epay.homebank.kz/payform/"


class PaymentEndpoints:
    def __init__(self, ledger: Ledger, settings: GatewaySettings) -> None:
        self._ledger = ledger
        self._settings = settings

    def mount(self, router: Router) -> None:
        router.add("POST", r"/payment/cryptopay", self.cryptopay)
        router.add("POST", r"/payments/cards/auth", self.saved_card)
        router.add("POST", r"/payment/confirm", self.confirm)

    # -- answers --------------------------------------------------------------------------

    def _decline(self, tx: SandboxTransaction, code: int, message: str) -> SandboxResponse:
        self._ledger.decline(tx, code, message)
        return SandboxResponse.error(
            400,
            code,
            message,
            invoiceId=tx.invoice_id,
            id="",
            reference="",
            accountId=tx.account_id,
        )

    @staticmethod
    def _answer(tx: SandboxTransaction, secure3d: dict[str, str] | None = None) -> SandboxResponse:
        """The payment answer, shaped like seed 001 (and seed 004 with ``secure3D``)."""
        return SandboxResponse.json(
            200,
            {
                "id": tx.id,
                "accountId": tx.account_id,
                "amount": tx.amount,
                "amountBonus": 0,
                "currency": tx.currency,
                "description": tx.description,
                "email": tx.email,
                "invoiceID": tx.invoice_id,
                "language": status_language(tx.language),
                "phone": tx.phone,
                "reference": tx.reference if secure3d is None else "",
                "intReference": tx.int_reference if secure3d is None else "",
                "secure3D": secure3d,
                "cardID": tx.card_id,
                "code": 0,
                "status": str(tx.status),
            },
        )

    def _approve(self, tx: SandboxTransaction, card_mask: str, brand: str) -> SandboxResponse:
        tx.card_mask, tx.card_type = card_mask, brand
        self._ledger.approve(tx)
        return self._answer(tx)

    # -- paying ---------------------------------------------------------------------------

    def _begin(
        self, request: SandboxRequest, payment_type: str | None = None
    ) -> tuple[IssuedToken, dict[str, Any], SandboxTransaction] | SandboxResponse:
        """The checks every payment starts with: a bound single-use token, a JSON body of
        the expected ``paymentType``, an order matching the token. Answers on failure."""
        token = bound_token(self._ledger, request, "payment")
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        if not isinstance(body, dict) or (
            payment_type is not None and body.get("paymentType") != payment_type
        ):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        try:
            amount = self._ledger.order_amount(
                token, body_field(body, "invoiceId"), body.get("amount"), body.get("currency")
            )
        except Declined as exc:
            return SandboxResponse.error(400, exc.code, exc.message)
        return token, body, payment_from(body, token, amount)

    async def cryptopay(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        begun = self._begin(request)
        if isinstance(begun, SandboxResponse):
            return begun
        token, body, tx = begun
        try:
            payment_type = str(body.get("paymentType") or "card").lower()
            if payment_type == "googlepay":
                return self._google_pay(tx, body)
            fields = self._decrypt(body, token)
            if payment_type == "applepay":
                return self._apple_pay(tx, body, fields)
            card = check_card(fields["hpan"], fields["expDate"], fields["cvc"])
            if isinstance(card, tuple):
                return self._decline(tx, *card)
            return self._pay_with(
                tx, card, body, save=body.get("cardSave") is True, origin=request.origin
            )
        except Declined as exc:
            return self._decline(tx, exc.code, exc.message)

    def _decrypt(self, body: dict[str, Any], token: IssuedToken) -> dict[str, str]:
        cryptogram = body.get(CRYPTOGRAM_FIELD) or body.get(CRYPTOGRAM_FIELD_CYRILLIC)
        if not isinstance(cryptogram, str):
            raise Declined(*FORMAT_ERROR)
        try:
            plaintext = decrypt(self._settings.private_key, cryptogram, self._settings.padding)
            fields = json.loads(plaintext)
        except ValueError:
            raise Declined(*FORMAT_ERROR) from None
        if not isinstance(fields, dict) or fields.get("terminalId") != token.terminal:
            raise Declined(*FORMAT_ERROR)
        return {key: str(fields.get(key, "")) for key in ("hpan", "expDate", "cvc", "terminalId")}

    def _pay_with(
        self,
        tx: SandboxTransaction,
        card: TestCard,
        body: dict[str, Any],
        save: bool,
        origin: str,
    ) -> SandboxResponse:
        tx.card_mask, tx.card_type = mask(card.pan), card_type(card.pan)
        account = str(body_field(body, "accountId") or "")
        if card.three_ds:
            challenge = three_ds_challenge(
                self._ledger, tx, card.pan, account if save else None, origin
            )
            return self._answer(tx, challenge)
        self._ledger.approve(tx)
        if save:
            self._ledger.save_card_of(tx, card.pan, account)
        return self._answer(tx)

    def _google_pay(self, tx: SandboxTransaction, body: dict[str, Any]) -> SandboxResponse:
        google = body.get("googlePay")
        method = google.get("paymentMethodData") if isinstance(google, dict) else None
        data = method.get("tokenizationData") if isinstance(method, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise Declined(*FORMAT_ERROR)
        if not is_google_gateway_token(data["token"]):  # never approve what is not Google's
            raise Declined(*FORMAT_ERROR)
        info = method.get("info") if isinstance(method, dict) else None
        last4 = str(info.get("cardDetails", "1111")) if isinstance(info, dict) else "1111"
        return self._approve(tx, f"400000...{last4}", "VISA")

    def _apple_pay(
        self, tx: SandboxTransaction, body: dict[str, Any], fields: dict[str, str]
    ) -> SandboxResponse:
        if fields["hpan"] != "AppleToken" or not isinstance(body.get("cryptogramApplePay"), str):
            raise Declined(*FORMAT_ERROR)
        return self._approve(tx, "520424...0001", "MASTERCARD")

    async def saved_card(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        begun = self._begin(request, payment_type="cardId")
        if isinstance(begun, SandboxResponse):
            return begun
        _token, body, tx = begun
        ref = body.get("cardId")
        saved = self._ledger.payable_card(str(ref.get("id"))) if isinstance(ref, dict) else None
        if saved is None:
            return self._decline(tx, *RECORD_NOT_FOUND)
        refusal = check_saved_card(saved.pan)
        if refusal is not None:
            return self._decline(tx, *refusal)
        tx.card_id = saved.id
        # Saved-card payments never ask for 3-D Secure (epay-api.md §6).
        return self._approve(tx, mask(saved.pan), card_type(saved.pan))

    # -- after 3-D Secure -----------------------------------------------------------------

    async def confirm(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        if not isinstance(body, dict):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        md = str(body.get("MD", ""))
        pending = self._ledger.pending_3ds(md)
        if pending is None or pending.transaction.id != body.get("ID"):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        tx, passed = self._ledger.finish_3ds(md, str(body.get("PaRes", "")))
        if not passed:
            code, message = THREE_DS_FAILED
            query = {"invoiceID": tx.invoice_id, "code": str(code), "message": message}
            return SandboxResponse.redirect(f"{ERROR_PAGE}?{urlencode(query)}")
        query = {
            "amount": format(tx.amount, "f"),
            "currency": tx.currency,
            "invoiceID": tx.invoice_id,
            "accountID": tx.account_id,
            "description": tx.description,
            "reference": tx.reference,
            "language": tx.language,
            "cardid": tx.card_id,
        }
        return SandboxResponse.redirect(f"{SUCCESS_PAGE}?{urlencode(query)}")

"""Sandbox endpoints that move money: payments, 3-D Secure confirmation and P2P transfers."""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import attrs
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ..cryptogram import CRYPTOGRAM_FIELD, CRYPTOGRAM_FIELD_CYRILLIC, CryptogramPadding
from ..types.status import StatusName
from ._acs import AcsPage
from ._cards import (
    LOCKED,
    TEST_CARDS,
    THREE_DS_FAILED,
    SavedCard,
    TestCard,
    card_type,
    check_card,
    mask,
)
from ._payform import PaymentForm
from ._state import IssuedToken, SandboxTransaction, status_language
from ._wire import Declined, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from ._gateway import Gateway

SUCCESS_PAGE = "https://epay.homebank.kz/payform/success.html"
ERROR_PAGE = "https://epay.homebank.kz/payform/"
#: The sandbox's ACS page (3-D Secure), at its own origin.
ACS_PATH = "/acs"

TOKEN_MISMATCH = (469, "Invalid transaction: the token was issued for another order")
DUPLICATE = (469, "Invalid transaction: the invoice has already been paid")
FORMAT_ERROR = (477, "Format error")
NO_SAVED_CARD = (522, "Record not found")


@attrs.define
class Pending3DS:
    transaction: SandboxTransaction
    pan: str = attrs.field(repr=False)
    save_for: str | None = None


def _get(body: dict[str, Any], *names: str) -> Any:
    """A body value under any casing of ``names`` (the gateway reads keys case-insensitively)."""
    lowered = {str(key).lower(): value for key, value in body.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


class PaymentEndpoints:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.pending: dict[str, Pending3DS] = {}
        self.pa_res: dict[str, tuple[str, bool]] = {}
        gateway.route("POST", r"/payment/cryptopay", self.cryptopay)
        gateway.route("POST", r"/payments/cards/auth", self.saved_card)
        gateway.route("POST", r"/payment/confirm", self.confirm)
        gateway.route("POST", r"/p2p/transfer", self.transfer)
        # Payouts (the bank's SDK): the P2P body, AFT and OCT paths; OCT also pays by phone.
        gateway.route("POST", r"/chdebit/transfer", self.transfer)
        gateway.route("POST", r"/chpayment/transfer", self.transfer)
        acs = AcsPage(self)
        gateway.route("POST", ACS_PATH, acs.challenge)
        gateway.route("POST", ACS_PATH + "/answer", acs.answer)
        PaymentForm(self)  # the hosted payment page, over the same machinery

    # -- shared checks --------------------------------------------------------------------

    def _bound_token(self, request: SandboxRequest, scope: str) -> IssuedToken | SandboxResponse:
        token = self.gw.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        if not token.bound or token.used or scope not in token.scope.split():
            return SandboxResponse.json(401, {"error": "invalid_token"})
        token.used = True
        return token

    def _order(self, token: IssuedToken, invoice_id: Any, amount: Any, currency: Any) -> Decimal:
        """The order's amount as the merchant minted its token (``1500.00`` keeps its scale,
        even when a browser's ``JSON.stringify`` sent ``1500``), or ``Declined``."""
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise Declined(*FORMAT_ERROR) from None
        if (str(invoice_id), value, currency) != (token.invoice_id, token.amount, token.currency):
            raise Declined(*TOKEN_MISMATCH)
        existing = self.gw.find("payment", token.invoice_id or "")
        if existing is not None and existing.status is not StatusName.REJECT:
            raise Declined(*DUPLICATE)
        return token.amount if token.amount is not None else value

    def _decrypt(self, body: dict[str, Any], token: IssuedToken) -> dict[str, str]:
        cryptogram = body.get(CRYPTOGRAM_FIELD) or body.get(CRYPTOGRAM_FIELD_CYRILLIC)
        if not isinstance(cryptogram, str):
            raise Declined(*FORMAT_ERROR)
        try:
            plaintext = decrypt(self.gw.private_key, cryptogram, self.gw.padding)
            fields = json.loads(plaintext)
        except ValueError:
            raise Declined(*FORMAT_ERROR) from None
        if not isinstance(fields, dict) or fields.get("terminalId") != token.terminal:
            raise Declined(*FORMAT_ERROR)
        return {key: str(fields.get(key, "")) for key in ("hpan", "expDate", "cvc", "terminalId")}

    def _transaction(
        self, body: dict[str, Any], token: IssuedToken, amount: Decimal, kind: str = "payment"
    ) -> SandboxTransaction:
        language = _get(body, "language")
        verification = str(_get(body, "paymentType") or "").lower() == "cardverification" or (
            amount == 0 and token.currency == "USD"
        )
        return SandboxTransaction(
            invoice_id=token.invoice_id or "",
            amount=amount,
            currency=token.currency or "KZT",
            kind=kind,
            terminal_id=token.terminal or "",
            description=str(_get(body, "description") or ""),
            account_id=str(_get(body, "accountId") or ""),
            email=str(_get(body, "email") or ""),
            phone=str(_get(body, "phone") or ""),
            name=str(_get(body, "name") or ""),
            data=str(_get(body, "data") or ""),
            language=language if isinstance(language, str) and language else "rus",
            verification=verification,
            secret_hash=token.secret_hash,
            post_link=str(_get(body, "postLink") or token.post_link or "") or None,
            failure_post_link=(
                str(_get(body, "failurePostLink") or token.failure_post_link or "") or None
            ),
        )

    def _authorised(self, tx: SandboxTransaction) -> None:
        tx.status = StatusName.AUTH if self.gw.two_step else StatusName.CHARGE
        tx.charged = Decimal(0) if self.gw.two_step else tx.amount
        self.gw.notify(tx, success=True)

    def _save_card(self, tx: SandboxTransaction, pan: str, account_id: str | None) -> None:
        card = SavedCard.new(pan, account_id or "", tx.name, tx.terminal_id, tx.id)
        self.gw.saved_cards[card.id] = card
        tx.card_id = card.id

    def _decline(self, tx: SandboxTransaction, code: int, message: str) -> SandboxResponse:
        tx.status = StatusName.REJECT
        tx.reason, tx.reason_code = message, str(code)
        self.gw.add(tx)
        self.gw.notify(tx, success=False)
        return SandboxResponse.error(
            400,
            code,
            message,
            invoiceId=tx.invoice_id,
            id="",
            reference="",
            accountId=tx.account_id,
        )

    def _answer(
        self, tx: SandboxTransaction, secure3d: dict[str, str] | None = None
    ) -> SandboxResponse:
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

    def _challenge(
        self, tx: SandboxTransaction, pan: str, save_for: str | None, origin: str
    ) -> dict[str, str]:
        """Hold ``tx`` as NEW until the payer passes 3-D Secure; the ``secure3D`` to answer."""
        tx.status = StatusName.NEW
        tx.secure = True
        self.gw.add(tx)
        md = secrets.token_hex(12)
        self.pending[md] = Pending3DS(tx, pan, save_for)
        pa_req = base64.b64encode(
            json.dumps({"messageVersion": "2.1.0", "threeDSServerTransID": tx.id}).encode()
        )
        # The sandbox's own ACS page, where a browser can approve or decline (see _acs.py).
        return {"paReq": pa_req.decode(), "md": md, "action": f"{origin}{ACS_PATH}"}

    def _pay_with(
        self,
        tx: SandboxTransaction,
        card: TestCard,
        body: dict[str, Any],
        save: bool,
        origin: str,
    ) -> SandboxResponse:
        tx.card_mask, tx.card_type = mask(card.pan), card_type(card.pan)
        account = _get(body, "accountId")
        if card.three_ds:
            challenge = self._challenge(tx, card.pan, str(account or "") if save else None, origin)
            return self._answer(tx, challenge)
        self._authorised(tx)
        if save:
            self._save_card(tx, card.pan, str(account or ""))
        self.gw.add(tx)
        return self._answer(tx)

    # -- endpoints ------------------------------------------------------------------------

    def _begin(
        self, request: SandboxRequest, payment_type: str | None = None
    ) -> tuple[IssuedToken, dict[str, Any], SandboxTransaction] | SandboxResponse:
        """The checks every payment starts with: a bound single-use token, a JSON body of
        the expected ``paymentType``, an order matching the token. Answers on failure."""
        token = self._bound_token(request, "payment")
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        if not isinstance(body, dict) or (
            payment_type is not None and body.get("paymentType") != payment_type
        ):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        try:
            amount = self._order(
                token, _get(body, "invoiceId"), body.get("amount"), body.get("currency")
            )
        except Declined as exc:
            return SandboxResponse.error(400, exc.code, exc.message)
        return token, body, self._transaction(body, token, amount)

    def _approve(self, tx: SandboxTransaction, card_mask: str, brand: str) -> SandboxResponse:
        tx.card_mask, tx.card_type = card_mask, brand
        self._authorised(tx)
        self.gw.add(tx)
        return self._answer(tx)

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

    def _google_pay(self, tx: SandboxTransaction, body: dict[str, Any]) -> SandboxResponse:
        google = body.get("googlePay")
        method = google.get("paymentMethodData") if isinstance(google, dict) else None
        data = method.get("tokenizationData") if isinstance(method, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
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
        saved = self.gw.saved_cards.get(str(ref.get("id"))) if isinstance(ref, dict) else None
        if saved is None or not saved.active:
            return self._decline(tx, *NO_SAVED_CARD)
        test_card = TEST_CARDS.get(saved.pan)
        if test_card is not None and test_card.locked:  # as it would be paid by card data
            return self._decline(tx, *LOCKED)
        tx.card_id = saved.id
        # Saved-card payments never ask for 3-D Secure (epay-api.md §6).
        return self._approve(tx, mask(saved.pan), card_type(saved.pan))

    # -- 3-D Secure -----------------------------------------------------------------------

    def complete_3ds(self, md: str, approve: bool) -> str:
        """What the ACS posts to the merchant's TermUrl as ``PaRes`` for ``md``."""
        if md not in self.pending:
            raise KeyError(f"no 3-D Secure pending for MD {md!r}")
        pa_res = base64.b64encode(secrets.token_bytes(24)).decode()
        self.pa_res[pa_res] = (md, approve)
        return pa_res

    def finish_3ds(self, md: str, pa_res: str) -> tuple[SandboxTransaction, bool]:
        """Settle the 3-D Secure pending for ``md`` (which must exist) with ``pa_res``: the
        transaction is authorised, or fails with status 3D; both are notified."""
        pending = self.pending.pop(md)
        tx = pending.transaction
        outcome = self.pa_res.pop(pa_res, None)
        if outcome is None or outcome[0] != md or not outcome[1]:
            code, message = THREE_DS_FAILED
            tx.status, tx.reason, tx.reason_code = StatusName.THREE_D, message, str(code)
            self.gw.notify(tx, success=False)
            return tx, False
        self._authorised(tx)
        if pending.save_for is not None:
            self._save_card(tx, pending.pan, pending.save_for)
        return tx, True

    async def confirm(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = self.gw.authorize(request)
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        if not isinstance(body, dict):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        md = str(body.get("MD", ""))
        pending = self.pending.get(md)
        if pending is None or pending.transaction.id != body.get("ID"):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        tx, passed = self.finish_3ds(md, str(body.get("PaRes", "")))
        if not passed:
            code, message = THREE_DS_FAILED
            query = {"invoiceID": tx.invoice_id, "code": str(code), "message": message}
            return _redirect(f"{ERROR_PAGE}?{urlencode(query)}")
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
        return _redirect(f"{SUCCESS_PAGE}?{urlencode(query)}")

    # -- P2P (seed 003) -------------------------------------------------------------------

    async def transfer(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = self._bound_token(request, "transfer")
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        order = body.get("order") if isinstance(body, dict) else None
        cards = body.get("card") if isinstance(body, dict) else None
        if not isinstance(order, dict) or not isinstance(cards, dict):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        tx = SandboxTransaction(invoice_id=str(order.get("id", "")), amount=Decimal(0), kind="p2p")
        try:
            tx.amount = self._order(
                token, order.get("id"), order.get("amount"), order.get("currency")
            )
            if self.gw.find("p2p", tx.invoice_id) is not None:
                raise Declined(*DUPLICATE)
            sender_pan, sender_id = self._party(cards.get("sender"), sender=True)
            receiver_pan, receiver_id = self._party(
                cards.get("receiver"), sender=False, request_path=_api_path(request.path)
            )
        except Declined as exc:
            return SandboxResponse.error(
                400,
                exc.code,
                exc.message,
                invoiceId=tx.invoice_id,
                id="",
                reference="",
                accountId="",
            )
        tx.terminal_id = token.terminal or ""
        tx.description = str(order.get("description", ""))
        tx.email = str(order.get("senderEmail", ""))
        tx.card_mask = mask(sender_pan)
        tx.secret_hash = token.secret_hash
        tx.post_link = str(order.get("postLink") or token.post_link or "") or None
        tx.failure_post_link = (
            str(order.get("failurePostLink") or token.failure_post_link or "") or None
        )
        secure3d = None
        sender_card = TEST_CARDS.get(sender_pan)
        if sender_card is not None and sender_card.three_ds and not sender_id:
            # seed 003: 3-D Secure for P2P
            secure3d = self._challenge(tx, sender_pan, None, request.origin)
        else:
            tx.status = StatusName.AUTH
            self.gw.add(tx)
            self.gw.notify(tx, success=True)
        sender = cards["sender"]
        if sender.get("save") is True and not sender_id:
            card = SavedCard.new(sender_pan, "", str(sender.get("name", "")), tx.terminal_id, tx.id)
            self.gw.saved_cards[card.id] = card
            sender_id = card.id
        return SandboxResponse.json(
            200,
            {
                "id": tx.id,
                "amount": tx.amount,
                "fee": 0,
                "currency": tx.currency,
                "email": tx.email,
                "description": tx.description,
                "reference": tx.reference,
                "orderID": tx.invoice_id,
                "senderCardID": sender_id or str(uuid.uuid4()),
                "senderCardPAN": f"{sender_pan[:4]}********{sender_pan[-4:]}",
                "receiverCardID": receiver_id or str(uuid.uuid4()),
                "receiverCardPAN": f"{receiver_pan[:4]}********{receiver_pan[-4:]}",
                "intReference": tx.int_reference,
                "terminalID": "95555555",
                "code": 0,
                "status": str(tx.status),
                "secure3D": secure3d,
            },
        )

    def _party(self, party: Any, *, sender: bool, request_path: str = "") -> tuple[str, str]:
        """(PAN, saved card id) of a transfer's sender or receiver."""
        if not isinstance(party, dict):
            raise Declined(*FORMAT_ERROR)
        kind = party.get("transferType")
        if kind == "TYPEPHONE" and not sender and request_path.startswith("/chpayment"):
            phone, iin = party.get("phone"), party.get("iin")
            if not (isinstance(phone, str) and phone and isinstance(iin, str) and len(iin) == 12):
                raise Declined(*FORMAT_ERROR)
            return phone, ""
        if kind == "TYPECARDID":
            card_id = str(party.get("cardCred") if sender else party.get("id"))
            saved = self.gw.saved_cards.get(card_id)
            if saved is None or not saved.active:
                raise Declined(*NO_SAVED_CARD)
            return saved.pan, saved.id
        if kind != "TYPEPAN" or not isinstance(party.get("cardCred"), str):
            raise Declined(*FORMAT_ERROR)
        pan = party["cardCred"]
        if not sender:
            return pan, ""
        expire = party.get("expire")
        if not isinstance(expire, dict):
            raise Declined(*FORMAT_ERROR)
        exp_date = f"{expire.get('month', '')}{expire.get('year', '')}"
        card = check_card(pan, exp_date, str(party.get("cvc", "")))
        if isinstance(card, tuple):
            raise Declined(*card)
        return pan, ""


def _api_path(path: str) -> str:
    """The path under the API base (a served sandbox may sit under a prefix such as /api)."""
    for known in ("/p2p/", "/chdebit/", "/chpayment/"):
        if known in path:
            return path[path.index(known) :]
    return path


def _redirect(url: str) -> SandboxResponse:
    return SandboxResponse(302, b"", {"location": url})


def decrypt(key: RSAPrivateKey, cryptogram: str, padding: CryptogramPadding) -> bytes:
    """What the gateway does with a cryptogram: base64, then RSA with the terminal's padding."""
    return key.decrypt(base64.b64decode(cryptogram, validate=True), padding.padding())

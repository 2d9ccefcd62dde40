"""Card-to-card transfers (seed 003): ``/p2p/transfer``, and the payouts of the bank's SDK on
the same body: ``/chdebit/transfer`` (AFT) and ``/chpayment/transfer`` (OCT, also to a phone)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from .._cards import TEST_CARDS, check_card, check_saved_card, mask
from .._codes import FORMAT_ERROR, RECORD_NOT_FOUND, Declined
from .._ledger import Ledger
from .._records import SandboxTransaction
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import bound_token, three_ds_challenge


class TransferEndpoints:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def mount(self, router: Router) -> None:
        router.add("POST", r"/p2p/transfer", self.transfer)
        router.add("POST", r"/chdebit/transfer", self.transfer)
        router.add("POST", r"/chpayment/transfer", self.transfer)

    async def transfer(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        token = bound_token(self._ledger, request, "transfer")
        if isinstance(token, SandboxResponse):
            return token
        body = request.json()
        order = body.get("order") if isinstance(body, dict) else None
        cards = body.get("card") if isinstance(body, dict) else None
        if not isinstance(order, dict) or not isinstance(cards, dict):
            return SandboxResponse.error(400, *FORMAT_ERROR)
        tx = SandboxTransaction(invoice_id=str(order.get("id", "")), amount=Decimal(0), kind="p2p")
        tx.terminal_id = token.terminal or ""
        tx.description = str(order.get("description", ""))
        tx.email = str(order.get("senderEmail", ""))
        tx.secret_hash = token.secret_hash
        tx.post_link = str(order.get("postLink") or token.post_link or "") or None
        tx.failure_post_link = (
            str(order.get("failurePostLink") or token.failure_post_link or "") or None
        )
        try:
            tx.amount = self._ledger.order_amount(
                token, order.get("id"), order.get("amount"), order.get("currency"), kind="p2p"
            )
            sender_pan, sender_id = self._party(cards.get("sender"), sender=True)
            receiver_pan, receiver_id = self._party(
                cards.get("receiver"), sender=False, request_path=_api_path(request.path)
            )
        except Declined as exc:
            if isinstance(exc, _CardDeclined):  # as a card payment: REJECT, failurePostLink
                tx.card_mask = mask(exc.pan) if exc.pan else ""
                self._ledger.decline(tx, exc.code, exc.message)
            return SandboxResponse.error(
                400,
                exc.code,
                exc.message,
                invoiceId=tx.invoice_id,
                id="",
                reference="",
                accountId="",
            )
        tx.card_mask = mask(sender_pan)
        secure3d = None
        sender_card = TEST_CARDS.get(sender_pan)
        if sender_card is not None and sender_card.three_ds and not sender_id:
            # seed 003: 3-D Secure for P2P
            secure3d = three_ds_challenge(self._ledger, tx, sender_pan, None, request.origin)
        else:
            self._ledger.approve_transfer(tx)
        sender = cards["sender"]
        if sender.get("save") is True and not sender_id:
            name = str(sender.get("name", ""))
            sender_id = self._ledger.save_card(sender_pan, "", name, tx.terminal_id, tx.id).id
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
            saved = self._ledger.payable_card(card_id)
            if saved is None:  # a sender's, as a saved-card payment's: declined and recorded
                raise (
                    _CardDeclined("", *RECORD_NOT_FOUND) if sender else Declined(*RECORD_NOT_FOUND)
                )
            refusal = check_saved_card(saved.pan) if sender else None
            if refusal is not None:
                raise _CardDeclined(saved.pan, *refusal)
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
            raise _CardDeclined(pan, *card)
        return pan, ""


class _CardDeclined(Declined):
    """The sender's card was declined: the transfer is on the books as ``REJECT``."""

    def __init__(self, pan: str, code: int, message: str) -> None:
        super().__init__(code, message)
        self.pan = pan


def _api_path(path: str) -> str:
    """The path under the API base (a served sandbox may sit under a prefix such as /api)."""
    for known in ("/p2p/", "/chdebit/", "/chpayment/"):
        if known in path:
            return path[path.index(known) :]
    return path

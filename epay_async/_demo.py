"""``python -m epay_async demo``: the library's flows end to end against the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ._client import EpayClient
from .errors import EpayError, OutcomeUnknownError
from .testing import (
    TEST_CABINET_PASSWORD,
    TEST_CABINET_USERNAME,
    TEST_CARDS,
    TEST_GOOGLE_PAY,
    Fault,
    Sandbox,
)
from .types.cards import Card, CardPan, PhoneRecipient
from .types.invoice_links import CabinetLogin, InvoiceLink
from .types.order import CardVerification, Order
from .types.payments import ApplePayPayment, GooglePayToken
from .types.status import ResultCode, StatusName, TransactionStatus

VISA = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
MASTERCARD_3DS = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
LOCKED = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")


def _show(status: TransactionStatus) -> str:
    transaction = status.transaction
    if transaction is None:
        return f"resultCode {int(status.result_code)} ({status.result_code.name})"
    amount = f"{transaction.amount:.2f} {transaction.currency}"
    given_back, whole = transaction.payout_amount, transaction.org_amount
    if transaction.status_name is StatusName.REFUND and None not in (given_back, whole):
        amount = f"{given_back:.2f} given back, {amount} left of {whole:.2f}"
    return (
        f"{transaction.status_name} {amount} "
        f"(transaction {transaction.id[:8]}…, final={status.is_final})"
    )


def _order(invoice_id: str, amount: str, **fields: object) -> Order:
    return Order(
        invoice_id=invoice_id,
        amount=Decimal(amount),
        description=f"Demo order {invoice_id}",
        account_id="demo-customer",
        post_link="https://shop.example/epay/post",
        **fields,  # type: ignore[arg-type]
    )


async def _money_flows(sandbox: Sandbox, epay: EpayClient, out: Callable[[str], None]) -> None:
    out("\n== card payment (cryptogram), card saved, then charged and partly refunded")
    paid = await epay.pay_with_card(_order("200000001", "15000.00", card_save=True), VISA)
    out(f"paid: {paid.status} {paid.amount:.2f} {paid.currency}, card {VISA.masked_pan}")
    await epay.charge(paid.id, Decimal("12000.00"))
    await epay.refund(paid.id, Decimal("2000.00"), external_id="refund-1")
    out(f"after charge 12000.00 and refund 2000.00: {_show(await epay.get_status('200000001'))}")

    out("\n== saved card (seed 001), then cancelled")
    cards = await epay.list_cards("demo-customer")
    out(f"saved cards: {[c.card_mask for c in cards]}")
    again = await epay.pay_with_saved_card(_order("200000002", "990.00"), cards[0].id)
    await epay.cancel(again.id)
    out(f"cancelled: {_show(await epay.get_status('200000002'))}")

    out("\n== 3-D Secure: form, ACS, confirm, wait")
    pending = await epay.pay_with_card(_order("200000003", "5000.00"), MASTERCARD_3DS)
    assert pending.secure3d is not None
    form = pending.secure3d.auto_submit_form("https://shop.example/epay/3ds")
    out(f"requires 3-D Secure: post a {len(form)}-byte form to {pending.secure3d.action}")
    pa_res = sandbox.complete_3ds(pending.secure3d.md)
    confirmed = await epay.confirm_3ds(pending.id, pa_res=pa_res, md=pending.secure3d.md)
    out(f"confirm: success={confirmed.success}, reference {confirmed.reference}")
    out(f"status: {_show(await epay.wait_for_status('200000003', interval=0.05))}")

    out("\n== Google Pay (seed 000) and Apple Pay (seed 004)")
    google = GooglePayToken.from_payment_data(TEST_GOOGLE_PAY)
    out(
        f"Google Pay: {(await epay.pay_with_google_pay(_order('200000004', '100'), google)).status}"
    )
    apple = ApplePayPayment.from_decrypted({"paymentData": {"onlinePaymentCryptogram": "AQID"}})
    apple_paid = await epay.pay_with_apple_pay(_order("200000005", "100"), apple)
    out(f"Apple Pay: {apple_paid.status}")

    out("\n== P2P transfer (seed 003)")
    sender = CardPan(pan=VISA.pan, exp_month=1, exp_year=2027, cvc="321", name="DEMO PAYER")
    receiver = CardPan(pan="377514500004820")
    moved = await epay.transfer(_order("200000006", "2500"), sender=sender, receiver=receiver)
    out(f"transfer {moved.sender_card_pan} -> {moved.receiver_card_pan}: {moved.status}")
    p2p = await epay.get_status("200000006", kind="p2p")
    out(f"p2p status: {_show(p2p)}")

    out("\n== a declined card, and a lost answer reconciled instead of paid twice")
    try:
        await epay.pay_with_card(_order("200000007", "100"), LOCKED)
    except EpayError as exc:
        out(f"{type(exc).__name__}: {exc}")
    sandbox.fail("/payment/cryptopay", Fault.read_timeout())
    try:
        await epay.pay_with_card(_order("200000008", "700"), VISA)
    except OutcomeUnknownError as exc:
        out(f"OutcomeUnknownError for invoice {exc.invoice_id}; reconciling...")
        out(f"status: {_show(await epay.wait_for_status(str(exc.invoice_id), interval=0.05))}")
    sent = len(sandbox.requests_to("/payment/cryptopay"))
    out(f"cryptopay requests that reached the gateway: {sent} for 6 card/wallet payments")


async def _more_flows(epay: EpayClient, out: Callable[[str], None]) -> None:
    out("\n== card verification, a payout by phone, an invoice link")
    checked = await epay.verify_card(
        CardVerification(invoice_id="300000001", account_id="c-7"), VISA
    )
    out(f"card verified for 0 USD and saved: {checked.card_id}")
    sender = CardPan(pan=VISA.pan, exp_month=1, exp_year=2027, cvc="321")
    phone = PhoneRecipient(phone="+77011234567", iin="900101300123")
    paid_out = await epay.payout(
        _order("300000002", "15000"), kind="oct", sender=sender, receiver=phone
    )
    out(f"OCT payout by phone: {paid_out.status} {paid_out.amount:.2f} {paid_out.currency}")
    link = InvoiceLink(
        shop_id="04f25a4b-d2bd-4dd8-b3a7-9390be4774c4",
        account_id="0003413423",
        invoice_id="300000003",
        amount=Decimal("4200"),
        description="invoice by link",
        recipient_contact="payer@example.kz",
    )
    login = CabinetLogin(TEST_CABINET_USERNAME, TEST_CABINET_PASSWORD)
    sent = await epay.create_invoice_link(link, login=login)
    out(f"invoice link sent for {sent.invoice_id}: the gateway answered {sent.answer}")


async def _page_flow(sandbox: Sandbox, epay: EpayClient, out: Callable[[str], None]) -> None:
    out("\n== hosted payment page, paid by the sandbox's shopper (3-D Secure approved)")
    order = _order("300000004", "1500.00", back_link="https://shop.example/back/300000004")
    page = await epay.payment_page(order)
    result = await sandbox.shopper.pay(page, TEST_CARDS.mastercard_3ds, three_ds="approve")
    out(f"paid={result.paid}, the browser goes to {result.redirect_url}")
    note = sandbox.notifications[-1]
    code, amount = note.payload["code"], note.payload["amount"]
    out(f"notification (recorded in-process) for {note.url}: code {code!r}, amount {amount}")
    out(f"status: {_show(await epay.get_status('300000004'))}")


async def run_demo(out: Callable[[str], None] = print) -> None:
    sandbox = Sandbox()
    paid = sandbox.add_transaction("100000001", amount=Decimal("12.22"), status=StatusName.CHARGE)
    sandbox.add_transaction("100000002", amount=Decimal("100.10"), status=StatusName.AUTH)
    sandbox.in_progress("100000002", polls=2)
    sandbox.queue_status("100000002", StatusName.NEW)
    sandbox.add_transaction("100000003", amount=Decimal("5000"), status=StatusName.REJECT)
    sandbox.queue_status("100000003", ResultCode.RETRY_OR_SUPPORT)

    async with sandbox.client() as epay:
        out(f"client: {epay!r}")
        out("\n== check-status (seed 002)")
        status = await epay.get_status(paid.invoice_id)
        out(f"invoice {paid.invoice_id}: {_show(status)}")
        status = await epay.get_status("100000404")
        out(f"invoice 100000404: {_show(status)}")

        out("\n== wait_for_status: 107, 107, NEW, then final")
        status = await epay.wait_for_status("100000002", interval=0.05, timeout=10)
        out(f"invoice 100000002: {_show(status)}")

        out("\n== 103 is retried as a read, then the real answer")
        status = await epay.get_status("100000003")
        out(f"invoice 100000003: {_show(status)}")

        out("\n== errors are typed")
        sandbox.add_transaction("100000005", amount=Decimal("1"), status=StatusName.AUTH)
        sandbox.in_progress("100000005", polls=1000)
        try:
            await epay.wait_for_status("100000005", interval=0.05, timeout=0.3)
        except EpayError as exc:
            out(f"{type(exc).__name__}: {exc}")
        try:
            await epay.get_status("12-34")
        except EpayError as exc:
            out(f"{type(exc).__name__}: {exc}")

        await _money_flows(sandbox, epay, out)
        await _more_flows(epay, out)
        await _page_flow(sandbox, epay, out)

    reads = len(sandbox.requests_to("/check-status/"))
    out(f"\n{reads} status requests, {len(sandbox.token_requests)} token requests")

"""A shop's payment logic with epay_async, framework-free: the FastAPI and aiohttp shops are
thin web layers over it (``fastapi_shop.py`` and ``aiohttp_shop.py`` beside it).

Orders live in SQLite through aiosqlite. Each moves created -> pending -> paid | failed exactly
once, whatever arrives first or twice: the payment answer, the 3-D Secure return, the postLink
notification (verified with check-status, never believed as it is), the shopper's browser
coming back (its query string is never believed either: the page shows what check-status
says), or the reconcile timer that settles pending orders nobody came back for.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiosqlite
import anyio
import attrs

from epay_async import (
    Card,
    EpayClient,
    EpayError,
    NotificationMismatchError,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    RequestInFlightError,
    TransactionStatus,
    TransportError,
    ValidationError,
    parse_notification,
)

__all__ = ["OrderStore", "Reply", "Shop"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    invoice_id   TEXT PRIMARY KEY,
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL DEFAULT 'KZT',
    description  TEXT NOT NULL,
    account_id   TEXT,
    status       TEXT NOT NULL DEFAULT 'created',  -- created, pending, paid, failed
    secret_hash  TEXT NOT NULL,
    payment_id   TEXT,
    paid_events  INTEGER NOT NULL DEFAULT 0,
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_3ds (md TEXT PRIMARY KEY, invoice_id TEXT NOT NULL);
-- Every money request whose outcome is unknown (on_outcome_unknown), until settled.
CREATE TABLE IF NOT EXISTS in_doubt (
    id             INTEGER PRIMARY KEY,
    invoice_id     TEXT,
    transaction_id TEXT,
    operation      TEXT NOT NULL,
    reason         TEXT NOT NULL,
    recorded_at    REAL NOT NULL,
    settled        INTEGER NOT NULL DEFAULT 0
);
"""

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2939}h1{font-size:1.4rem}.state{font-size:1.6rem;font-weight:700}"
    ".paid{color:#027a48}.failed{color:#b42318}.pending,.created{color:#b54708}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;"
    "background:#1570ef;color:#fff;cursor:pointer}input{font-size:1rem;padding:.4rem}"
)


@attrs.frozen
class Reply:
    """What a web layer sends back: status, body and its content type, extra headers."""

    status: int
    body: str
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any) -> Reply:
        return cls(status, json.dumps(payload), "application/json")


def page(title: str, body: str, status: int = 200) -> Reply:
    return Reply(
        status,
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>",
    )


class OrderStore:
    """The orders table. Every change of state is one conditional UPDATE, so it happens once."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: str) -> OrderStore:
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def create(self, order: Order, secret_hash: str) -> bool:
        try:
            await self._db.execute(
                "INSERT INTO orders (invoice_id, amount, currency, description, account_id,"
                " secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    order.invoice_id,
                    str(order.amount),
                    order.currency,
                    order.description,
                    order.account_id,
                    secret_hash,
                    time.time(),
                ),
            )
        except aiosqlite.IntegrityError:
            return False
        await self._db.commit()
        return True

    async def get(self, invoice_id: str) -> dict[str, Any] | None:
        async with self._db.execute(
            "SELECT * FROM orders WHERE invoice_id = ?", (invoice_id,)
        ) as rows:
            row = await rows.fetchone()
        return dict(row) if row is not None else None

    async def _move(self, invoice_id: str, to: str, extra: str = "", *args: Any) -> bool:
        cursor = await self._db.execute(
            f"UPDATE orders SET status = ?{extra} WHERE invoice_id = ?"  # noqa: S608 - fixed SQL
            " AND status IN ('created', 'pending')",
            (to, *args, invoice_id),
        )
        await self._db.commit()
        return cursor.rowcount == 1

    async def mark_pending(self, invoice_id: str, payment_id: str | None = None) -> None:
        await self._db.execute(
            "UPDATE orders SET status = 'pending', payment_id = COALESCE(?, payment_id)"
            " WHERE invoice_id = ? AND status IN ('created', 'pending')",
            (payment_id, invoice_id),
        )
        await self._db.commit()

    async def mark_paid(self, invoice_id: str, payment_id: str | None) -> bool:
        """True the one time the order becomes paid."""
        return await self._move(
            invoice_id,
            "paid",
            ", paid_events = paid_events + 1, payment_id = COALESCE(?, payment_id)",
            payment_id,
        )

    async def mark_failed(self, invoice_id: str) -> bool:
        return await self._move(invoice_id, "failed")

    async def forget(self, invoice_id: str) -> None:
        """An attempt that never reached the gateway: the order may be paid again."""
        await self._db.execute(
            "DELETE FROM orders WHERE invoice_id = ? AND status IN ('created', 'pending')",
            (invoice_id,),
        )
        await self._db.commit()

    async def unsettled(self, older_than: float) -> list[str]:
        async with self._db.execute(
            "SELECT invoice_id FROM orders WHERE status IN ('created', 'pending')"
            " AND created_at < ?",
            (time.time() - older_than,),
        ) as rows:
            return [row["invoice_id"] async for row in rows]

    async def record_in_doubt(self, error: OutcomeUnknownError) -> None:
        invoice_id = error.invoice_id
        if invoice_id is None and error.transaction_id is not None:
            async with self._db.execute(
                "SELECT invoice_id FROM orders WHERE payment_id = ?", (error.transaction_id,)
            ) as rows:
                row = await rows.fetchone()
            invoice_id = row["invoice_id"] if row is not None else None
        await self._db.execute(
            "INSERT INTO in_doubt (invoice_id, transaction_id, operation, reason, recorded_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (invoice_id, error.transaction_id, error.operation, error.reason, time.time()),
        )
        await self._db.commit()

    async def in_doubt(self) -> list[str]:
        """The invoices of unsettled in-doubt requests."""
        async with self._db.execute(
            "SELECT DISTINCT invoice_id FROM in_doubt WHERE settled = 0 AND invoice_id IS NOT NULL"
        ) as rows:
            return [row["invoice_id"] async for row in rows]

    async def settle_in_doubt(self, invoice_id: str) -> None:
        await self._db.execute(
            "UPDATE in_doubt SET settled = 1 WHERE invoice_id = ?", (invoice_id,)
        )
        await self._db.commit()

    async def remember_3ds(self, md: str, invoice_id: str) -> None:
        await self._db.execute("INSERT OR REPLACE INTO pending_3ds VALUES (?, ?)", (md, invoice_id))
        await self._db.commit()

    async def take_3ds(self, md: str) -> str | None:
        async with self._db.execute(
            "DELETE FROM pending_3ds WHERE md = ? RETURNING invoice_id", (md,)
        ) as rows:
            row = await rows.fetchone()
        await self._db.commit()
        return str(row["invoice_id"]) if row is not None else None


class Shop:
    """The shop's payment logic over one ``EpayClient`` and one ``OrderStore``."""

    def __init__(self, epay: EpayClient, store: OrderStore, public_url: str) -> None:
        # Every money request left in doubt is written down, then settled by the timer.
        self.epay = epay.with_options(on_outcome_unknown=store.record_in_doubt)
        self.store = store
        self.public_url = public_url.rstrip("/")

    def _order(self, invoice_id: str, amount: Any, description: str, **fields: Any) -> Order:
        return Order(
            invoice_id=invoice_id,
            amount=amount,
            description=description,
            back_link=f"{self.public_url}/orders/{invoice_id}/back",
            failure_back_link=f"{self.public_url}/orders/{invoice_id}/back",
            post_link=f"{self.public_url}/epay/post",
            failure_post_link=f"{self.public_url}/epay/post",
            **fields,
        )

    # -- the hosted payment page --------------------------------------------------------------

    def storefront(self) -> Reply:
        return page(
            "Tickets",
            "<h1>Concert tickets</h1><p>Two seats, 1500.00 KZT.</p>"
            '<form method="post" action="/buy"><input type="hidden" name="amount" value="1500.00">'
            '<label>Saved card id (optional) <input name="card_id" id="card_id"></label>'
            '<p><input type="hidden" name="account_id" value="shopper-1">'
            '<button id="buy">Pay on the ePay page</button></p></form>',
        )

    async def buy(self, form: Mapping[str, str]) -> Reply:
        """Create an order and open ePay's payment page for it (most merchants start here)."""
        invoice_id = str(secrets.randbelow(9 * 10**11) + 10**11)  # 12 digits
        card_id = form.get("card_id") or None
        try:
            order = self._order(
                invoice_id,
                form.get("amount", ""),
                "Concert tickets",
                account_id=form.get("account_id") or None,
                card_save=card_id is None and bool(form.get("account_id")),
                secret_hash=secrets.token_urlsafe(16),
            )
        except ValidationError as exc:
            return page("Error", f"<p>{html.escape(str(exc))}</p>", 422)
        assert order.secret_hash is not None
        await self.store.create(order, order.secret_hash)
        try:
            payment = await self.epay.payment_page(order, card_id=card_id)
        except EpayError as exc:  # no token: nothing can be paid yet
            await self.store.forget(invoice_id)
            return page(
                "Try again", f"<p>The payment could not start ({type(exc).__name__}).</p>", 503
            )
        await self.store.mark_pending(invoice_id)
        return Reply(200, payment.html(title="Redirecting to ePay"))

    async def back(self, invoice_id: str) -> Reply:
        """Where the shopper's browser returns. Its query string says nothing we believe: the
        page shows the order as check-status confirms it."""
        order = await self.store.get(invoice_id)
        if order is None:
            return page("Unknown order", "<p>No such order.</p>", 404)
        if order["status"] in ("created", "pending"):
            await self.settle(invoice_id, wait=5.0)
            order = await self.store.get(invoice_id) or order
        state = order["status"]
        words = {
            "paid": "Paid — thank you!",
            "failed": "The payment did not go through.",
            "pending": "We are still checking your payment.",
            "created": "Not paid yet.",
        }[state]
        refund = (
            f'<form method="post" action="/orders/{invoice_id}/refund">'
            '<button id="refund">Refund</button></form>'
            if state == "paid"
            else ""
        )
        return page(
            f"Order {invoice_id}",
            f"<h1>Order {invoice_id}</h1>"
            f'<p class="state {state}" id="state" data-state="{state}">{words}</p>'
            f"<p>{html.escape(order['amount'])} {html.escape(order['currency'])}</p>{refund}"
            f'<p><a id="shop" href="/">{"Try again" if state == "failed" else "Back to the shop"}'
            "</a></p>",
        )

    # -- settling -----------------------------------------------------------------------------

    async def settle(self, invoice_id: str, *, wait: float = 0.0) -> str:
        """Bring an order in line with check-status; returns its state."""
        try:
            if wait:
                status = await self.epay.wait_for_status(invoice_id, timeout=wait, interval=0.2)
            else:
                status = await self.epay.get_status(invoice_id)
        except EpayError:
            order = await self.store.get(invoice_id)
            return str(order["status"]) if order else "unknown"
        return await self.apply(invoice_id, status)

    async def apply(self, invoice_id: str, status: TransactionStatus) -> str:
        order = await self.store.get(invoice_id)
        if order is None:
            return "unknown"
        transaction = status.transaction
        if status.is_paid and transaction is not None:
            if Decimal(order["amount"]) == transaction.amount:
                await self.store.mark_paid(invoice_id, transaction.id)
        elif (status.is_final and transaction is not None) or (
            status.is_final and status.result_code == 101
        ):
            await self.store.mark_failed(invoice_id)
        order = await self.store.get(invoice_id)
        return str(order["status"]) if order else "unknown"

    async def reconcile_unsettled(self, older_than: float = 0.0) -> int:
        """Settle every order nobody came back for: at start-up and on a timer."""
        doubtful = await self.store.in_doubt()
        ids = sorted(set(await self.store.unsettled(older_than)) | set(doubtful))
        if not ids:
            return 0
        async with self.epay.reconcile(ids, concurrency=8) as results:
            async for result in results:
                if result.status is None:
                    continue
                await self.apply(result.invoice_id, result.status)
                if result.invoice_id in doubtful and result.status.is_final:
                    await self.store.settle_in_doubt(result.invoice_id)
        return len(ids)

    async def reconcile_forever(self, every: float, older_than: float) -> None:
        while True:
            await self.reconcile_unsettled(older_than)
            await anyio.sleep(every)

    # -- notifications ------------------------------------------------------------------------

    async def post_link(self, body: bytes) -> Reply:
        """The postLink. Unsigned: believed only once check-status backs it."""
        try:
            notification = parse_notification(body)
        except ValidationError as exc:
            return Reply.json(400, {"error": exc.field})
        order = await self.store.get(notification.invoice_id)
        if order is None:
            return Reply.json(404, {"error": "unknown order"})
        try:
            status = await self.epay.verify_notification(
                notification,
                expected_amount=Decimal(order["amount"]),
                expected_currency=order["currency"],
                secret_hash=order["secret_hash"],
            )
        except NotificationMismatchError as exc:
            return Reply.json(409, {"error": "not confirmed", "why": exc.mismatches})
        except EpayError:
            return Reply.json(503, {"error": "try later"})  # the gateway will be asked again
        await self.apply(notification.invoice_id, status)
        return Reply.json(200, {"ok": True})

    async def order_json(self, invoice_id: str) -> Reply:
        order = await self.store.get(invoice_id)
        if order is None:
            return Reply.json(404, {"status": "unknown"})
        return Reply.json(200, {"status": order["status"], "paid_events": order["paid_events"]})

    async def refund(self, invoice_id: str) -> Reply:
        order = await self.store.get(invoice_id)
        if order is None or order["status"] != "paid" or not order["payment_id"]:
            return page("Refund", "<p>Only a paid order can be refunded.</p>", 409)
        try:
            status = await self.epay.get_status(invoice_id)
            if status.status_name is not None and status.status_name.value == "AUTH":
                await self.epay.cancel(order["payment_id"])  # a hold is released, not refunded
            else:
                await self.epay.refund(order["payment_id"])
        except EpayError as exc:
            return page("Refund", f"<p>Refund refused: {html.escape(str(exc))}</p>", 502)
        return page("Refund", f'<p id="refunded">Order {invoice_id} refunded.</p>')

    # -- card data by API (PCI DSS merchants) and saved cards ---------------------------------

    async def checkout(self, payload: Mapping[str, Any]) -> Reply:
        """JSON ``{"invoice_id", "amount", "description", "card_id"}`` for a saved card, or
        ``"card": {"pan", "exp_month", "exp_year", "cvc"}`` (card data by API)."""
        secret_hash = secrets.token_urlsafe(16)
        card_data = payload.get("card")
        try:
            order = self._order(
                str(payload.get("invoice_id", "")),
                str(payload.get("amount", "")),
                str(payload.get("description", "")),
                account_id=payload.get("account_id"),
                card_save=card_data is not None and payload.get("account_id") is not None,
                secret_hash=secret_hash,
            )
            card = Card(**card_data) if isinstance(card_data, dict) else None
        except (ValidationError, TypeError) as exc:
            field = getattr(exc, "field", "card")
            return Reply.json(422, {"error": field, "message": str(exc)})
        if card is None and not payload.get("card_id"):
            return Reply.json(422, {"error": "card", "message": "give card or card_id"})
        if not await self.store.create(order, secret_hash):
            return Reply.json(409, {"error": "invoice_id", "message": "already used"})
        await self.store.mark_pending(order.invoice_id)
        try:
            if card is not None:
                result = await self.epay.pay_with_card(order, card)
            else:
                result = await self.epay.pay_with_saved_card(order, str(payload["card_id"]))
        except PaymentDeclinedError as exc:
            await self.store.mark_failed(order.invoice_id)
            return Reply.json(402, {"status": "declined", "reason": exc.reason})
        except OutcomeUnknownError:
            # Never pay again: the postLink or the reconcile timer will settle it.
            return Reply.json(202, {"status": "pending"})
        except (TransportError, RequestInFlightError):
            # Nothing reached the gateway: forget the attempt, so the order can be paid again.
            await self.store.forget(order.invoice_id)
            return Reply.json(503, {"status": "not sent", "retry": True})
        await self.store.mark_pending(order.invoice_id, result.id)
        if result.secure3d is not None:
            await self.store.remember_3ds(result.secure3d.md, order.invoice_id)
            return Reply(200, result.secure3d.auto_submit_form(f"{self.public_url}/epay/3ds"))
        if result.status is not None and result.status.value in ("AUTH", "CHARGE"):
            await self.store.mark_paid(order.invoice_id, result.id)
        state = (await self.store.get(order.invoice_id) or {}).get("status")
        return Reply.json(200, {"status": state, "payment_id": result.id})

    async def three_ds_return(self, form: Mapping[str, str]) -> Reply:
        """The TermUrl: the payer's bank posts ``PaRes`` and ``MD`` here."""
        invoice_id = await self.store.take_3ds(form.get("MD", ""))
        order = await self.store.get(invoice_id or "")
        if invoice_id is None or order is None or not order["payment_id"]:
            return page("Unknown payment", "<p>Unknown payment.</p>", 404)
        try:
            await self.epay.confirm_3ds(
                order["payment_id"], pa_res=form.get("PaRes", ""), md=form.get("MD", "")
            )
        except EpayError:
            return page("Checking", "<p>We are checking your payment.</p>", 202)
        state = await self.settle(invoice_id, wait=30.0)
        return page(f"Order {invoice_id}", f"<p>Order {invoice_id}: {state}.</p>")

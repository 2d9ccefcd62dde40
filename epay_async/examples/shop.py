"""A shop's payment logic with epay_async, framework-free: the FastAPI and aiohttp shops are
thin web layers over it (``fastapi_shop.py`` and ``aiohttp_shop.py`` beside it).

Orders live in SQLite through aiosqlite. Each order moves created -> pending -> paid | failed
exactly once, whatever arrives first or twice: the payment answer, the 3-D Secure return, the
postLink notification (verified with check-status, never believed as it is), the shopper's
browser coming back (its query string is never believed either: the page shows what
check-status says), or the reconcile timer that settles pending orders nobody came back for.
Every status is read through :attr:`TransactionStatus.state`: 102 ("no such invoice yet") keeps
an order open, it never fails it (an order nobody paid is closed as failed after
``abandon_after`` seconds).

What a merchant copying this gets, by decision:

- **Prices come from the shop's catalogue** (:data:`CATALOGUE`, or your own): the shopper names
  a product, never an amount. An ``amount`` in a request is ignored.
- **Paid means the amount *and* the currency of the order.** A payment that check-status shows
  in another amount or currency moves the order to ``review`` (money was taken, but not what
  was ordered: a person looks at it and refunds it), never to ``paid``.
- **Two-step terminals.** ePay terminals are one-step (CHARGE) or two-step (AUTH, then a
  charge): the bank sets it up. An AUTH is shown as ``paid`` to the shopper, marked "held, not
  charged" on the admin page, which offers **Charge** (take the money, e.g. when the goods ship)
  and **Cancel** (release the hold). Nothing is charged automatically: a charge is a money
  request and belongs to an authenticated person, not to whoever loads a page.
- **Admin actions are authenticated and CSRF-safe.** Refund, cancel and charge need the admin
  token: either ``Authorization: Bearer <token>`` (a header, for scripts: a browser never sends
  it by itself, so a forged cross-site form cannot), or the admin page's session (``/admin``,
  log in with the token: an HttpOnly ``SameSite=Strict`` cookie, a per-session CSRF token in
  every form, and a foreign ``Origin`` refused). The token is compared with
  ``secrets.compare_digest``.
- **After payment**: paid -> ``refund_in_doubt`` (written before the request leaves) ->
  ``refunded`` (a CHARGE refunded) or ``cancelled`` (an AUTH released), with the amount given
  back. A refund whose answer is lost stays ``refund_in_doubt`` until reconciliation reads
  check-status: refunded / cancelled there -> the order follows; still paid -> the refund did not
  happen, back to ``paid``. A charge in doubt works the same way (``charge_in_doubt``).
  Reconciliation also applies a REFUND, CANCEL or CANCEL_OLD it finds to a paid order.
- **No money request is forgotten, even by a killed process.** The client writes every payment,
  refund, cancel and charge to the library's payment journal (:class:`SqliteJournal`, a file
  beside the orders database) before it leaves, and its outcome after. At start-up and on the
  reconcile timer the shop runs ``epay.recover()`` (a payment the journal holds is checked by
  its invoice and the order follows), then settles its open orders and every refund or charge in
  doubt by the order's invoice (the journal knows those only by their transaction id), closing
  their journal records with the gateway's word. The admin page lists the open records.
- **Anonymous pages cost the gateway little.** The back page checks an open order's status at
  most once per ``check_every`` seconds (concurrent loads share one check; the page refreshes
  itself while the order is open).
- **The books are compared every night** (``nightly.py`` beside it): the orders of the day
  before against the gateway's register, with :mod:`epay_async.statement`; the discrepancies,
  by kind, on ``/admin/statement`` (same admin token and CSRF rules; **Run now** there).
- **Input is checked before any state change**: ids, card ids, content types (``/checkout``
  takes ``application/json`` only: a cross-site ``text/plain`` form cannot reach it), and the
  web layers cap every body at :data:`MAX_BODY` bytes before reading it (413).
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
    PaymentState,
    RedactingFilter,
    RequestInFlightError,
    StatusName,
    TransactionStatus,
    TransportError,
    ValidationError,
    parse_notification,
)
from epay_async.journal import (
    OPEN_STATES,
    Journal,
    JournalRecord,
    JournalState,
    JournalUnavailableError,
    SqliteJournal,
)

from . import nightly
from .nightly import KIND_WORDS, KZ_TIME, StatementBook, StatementReport

__all__ = [
    "CATALOGUE",
    "MAX_BODY",
    "Incoming",
    "OrderStore",
    "Product",
    "Reply",
    "Shop",
    "admin_token",
    "journal_beside",
    "open_shop",
]

logger = logging.getLogger(__name__)
logger.addFilter(RedactingFilter())  # secret-shaped text scrubbed, as in the library's own

#: Bodies above this are refused unread (413) by both web layers: a notification is ~2 KB.
MAX_BODY = 64 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    invoice_id      TEXT PRIMARY KEY,
    amount          TEXT NOT NULL,
    currency        TEXT NOT NULL DEFAULT 'KZT',
    description     TEXT NOT NULL,
    account_id      TEXT,
    -- created, pending, paid, failed, review, refund_in_doubt, charge_in_doubt, refunded,
    -- cancelled
    status          TEXT NOT NULL DEFAULT 'created',
    secret_hash     TEXT NOT NULL,
    payment_id      TEXT,
    paid_events     INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    product         TEXT,
    held            INTEGER NOT NULL DEFAULT 0,  -- 1: an AUTH, held and not charged
    refunded_amount TEXT
);
CREATE TABLE IF NOT EXISTS pending_3ds (md TEXT PRIMARY KEY, invoice_id TEXT NOT NULL);
-- The requests in doubt are in the payment journal now; an older database's own table goes
-- (its orders are pending or *_in_doubt, which reconciliation settles by their invoice).
DROP TABLE IF EXISTS in_doubt;
"""
#: Columns added since the first version of this example (a database made by it is upgraded).
_ADDED_COLUMNS = {
    "product": "TEXT",
    "held": "INTEGER NOT NULL DEFAULT 0",
    "refunded_amount": "TEXT",
}

OPEN = ("created", "pending")
#: States in which the money was taken (or is held) and may be given back.
REFUNDABLE = ("paid", "review")
IN_DOUBT = ("refund_in_doubt", "charge_in_doubt")

#: The shop's own invoice ids: 12 digits it made itself (``[0-9]``: ``\\d`` matches any digit).
_INVOICE_ID = re.compile(r"[0-9]{6,15}")
#: A saved card's id as the gateway gives it (a UUID; a little more is allowed, nothing else).
_CARD_ID = re.compile(r"[0-9A-Za-z-]{1,64}")

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2939}h1{font-size:1.4rem}.state{font-size:1.6rem;font-weight:700}"
    ".paid,.refunded,.cancelled{color:#027a48}.failed,.review{color:#b42318}"
    ".pending,.created,.refund_in_doubt,.charge_in_doubt{color:#b54708}"
    "button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:0;"
    "background:#1570ef;color:#fff;cursor:pointer}input,select{font-size:1rem;padding:.4rem}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;"
    "border-bottom:1px solid #eaecf0}td form{display:inline}td button{padding:.3rem .7rem}"
    "h2{font-size:1.15rem}h3{font-size:1rem;margin:1.6rem 0 .4rem}.note{color:#475467}"
    ".run{display:flex;gap:.6rem;align-items:center}.days a{margin-right:.5rem}"
    ".agree{color:#027a48}.disagree{color:#b42318}a{color:#1570ef}.days .shown{font-weight:700}"
    "body:has(#summary){max-width:64rem}.statement{table-layout:fixed}"
    ".statement td:last-child{font-family:ui-monospace,monospace;font-size:.8rem;"
    "overflow-wrap:anywhere}"
)


@attrs.frozen
class Product:
    """One line of the catalogue: the price is the shop's, never the shopper's."""

    id: str
    name: str
    price: Decimal
    currency: str = "KZT"


#: The example's catalogue. A real shop reads its own (database, CMS): what matters is that the
#: amount of an order comes from here.
CATALOGUE: Mapping[str, Product] = {
    p.id: p
    for p in (
        Product("tickets", "Concert tickets, two seats", Decimal("1500.00")),
        Product("poster", "Tour poster", Decimal("250.00")),
    )
}


@attrs.frozen
class Reply:
    """What a web layer sends back: status, body and its content type, extra headers."""

    status: int
    body: str
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload), "application/json", headers or {})


@attrs.frozen
class Incoming:
    """A request as the shop needs it: header names in lower case, cookies, the body (already
    read by the web layer, at most :data:`MAX_BODY` bytes)."""

    headers: Mapping[str, str] = attrs.field(factory=dict)
    cookies: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str] | Reply:
        """The urlencoded form, or the reply refusing it (415, 400)."""
        if self.media_type != "application/x-www-form-urlencoded":
            return Reply.json(415, {"error": "content-type", "expected": "form"})
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return Reply.json(400, {"error": "body", "message": "not UTF-8"})
        try:
            return dict(parse_qsl(text, max_num_fields=20))
        except ValueError:
            return Reply.json(400, {"error": "body", "message": "too many fields"})

    def json_object(self) -> dict[str, Any] | Reply:
        """The JSON object, or the reply refusing it (415 for another content type, 400)."""
        if self.media_type != "application/json":
            return Reply.json(415, {"error": "content-type", "expected": "application/json"})
        try:
            payload = json.loads(self.body)
        except (ValueError, RecursionError):
            return Reply.json(400, {"error": "body", "message": "not JSON"})
        if not isinstance(payload, dict):
            return Reply.json(422, {"error": "body", "message": "must be a JSON object"})
        return payload


def page(title: str, body: str, status: int = 200, *, refresh: int | None = None) -> Reply:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return Reply(
        status,
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>",
    )


def admin_token(given: str | None = None) -> tuple[str, bool]:
    """The admin token: ``given``, else ``SHOP_ADMIN_TOKEN``, else a new one; and whether it is
    new (then the caller prints it, once, at start-up: nobody else knows it)."""
    token = given or os.environ.get("SHOP_ADMIN_TOKEN")
    if token:
        return token, False
    return secrets.token_urlsafe(24), True


def valid_invoice_id(value: object) -> str | None:
    """``value`` if it can be one of this shop's invoice ids, else None (no lookup is made)."""
    return value if isinstance(value, str) and _INVOICE_ID.fullmatch(value) else None


class OrderStore:
    """The orders table. Every change of state is one conditional UPDATE, so it happens once."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        #: The nightly statements' reports, in the same database.
        self.statements = StatementBook(db)

    @classmethod
    async def open(cls, path: str) -> OrderStore:
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.executescript(SCHEMA)
        async with db.execute("PRAGMA table_info(orders)") as rows:
            have = {row["name"] async for row in rows}
        for column, declaration in _ADDED_COLUMNS.items():
            if column not in have:
                await db.execute(f"ALTER TABLE orders ADD COLUMN {column} {declaration}")
        await db.commit()
        store = cls(db)
        await store.statements.create_tables()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def create(self, order: Order, secret_hash: str, product: str | None = None) -> bool:
        try:
            await self._db.execute(
                "INSERT INTO orders (invoice_id, amount, currency, description, account_id,"
                " secret_hash, created_at, product) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.invoice_id,
                    str(order.amount),
                    order.currency,
                    order.description,
                    order.account_id,
                    secret_hash,
                    time.time(),
                    product,
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

    async def latest(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self._db.execute(
            "SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", (limit,)
        ) as rows:
            return [dict(row) async for row in rows]

    async def created_between(self, since: float, until: float) -> list[dict[str, Any]]:
        """The orders created from ``since`` (inclusive) to ``until`` (exclusive), epoch
        seconds: what the nightly statement compares with the gateway's register."""
        async with self._db.execute(
            "SELECT invoice_id, amount, currency, status FROM orders"
            " WHERE created_at >= ? AND created_at < ?",
            (since, until),
        ) as rows:
            return [dict(row) async for row in rows]

    async def move(
        self, invoice_id: str, from_states: tuple[str, ...], to: str, **columns: Any
    ) -> bool:
        """Move the order to ``to`` if it is in one of ``from_states``, setting ``columns``;
        True the one time it happens."""
        sets = "".join(f", {name} = ?" for name in columns)  # names from this module only
        marks = ", ".join("?" * len(from_states))
        cursor = await self._db.execute(
            f"UPDATE orders SET status = ?{sets} WHERE invoice_id = ?"  # noqa: S608 - fixed SQL
            f" AND status IN ({marks})",
            (to, *columns.values(), invoice_id, *from_states),
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

    async def mark_paid(self, invoice_id: str, payment_id: str | None, *, held: bool) -> bool:
        """True the one time the order becomes paid."""
        cursor = await self._db.execute(
            "UPDATE orders SET status = 'paid', paid_events = paid_events + 1, held = ?,"
            " payment_id = COALESCE(?, payment_id)"
            " WHERE invoice_id = ? AND status IN ('created', 'pending')",
            (int(held), payment_id, invoice_id),
        )
        await self._db.commit()
        return cursor.rowcount == 1

    async def mark_failed(self, invoice_id: str) -> bool:
        return await self.move(invoice_id, OPEN, "failed")

    async def forget(self, invoice_id: str) -> None:
        """An attempt that never reached the gateway: the order may be paid again."""
        await self._db.execute(
            "DELETE FROM orders WHERE invoice_id = ? AND status IN ('created', 'pending')",
            (invoice_id,),
        )
        await self._db.commit()

    async def unsettled(self, older_than: float) -> dict[str, str | None]:
        """Open orders older than ``older_than`` seconds, and every order whose refund or charge
        is in doubt: invoice id -> payment (transaction) id."""
        async with self._db.execute(
            "SELECT invoice_id, payment_id FROM orders WHERE (status IN ('created', 'pending')"
            " AND created_at < ?) OR status IN ('refund_in_doubt', 'charge_in_doubt')",
            (time.time() - older_than,),
        ) as rows:
            return {row["invoice_id"]: row["payment_id"] async for row in rows}

    async def invoices_of(self, payment_ids: set[str]) -> dict[str, str]:
        """The orders of these payment (transaction) ids: payment id -> invoice id."""
        if not payment_ids:
            return {}
        marks = ", ".join("?" * len(payment_ids))
        async with self._db.execute(
            # The marks are "?"s, one per id: nothing of the caller's is in the text.
            f"SELECT payment_id, invoice_id FROM orders WHERE payment_id IN ({marks})",  # noqa: S608
            tuple(payment_ids),
        ) as rows:
            return {row["payment_id"]: row["invoice_id"] async for row in rows}

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


@attrs.define
class _Session:
    csrf: str
    expires: float


_WORDS = {
    "paid": "Paid — thank you!",
    "failed": "The payment did not go through.",
    "pending": "We are still checking your payment.",
    "created": "Not paid yet.",
    "review": "We are checking your payment by hand; we will contact you.",
    "refund_in_doubt": "Paid; a refund is being confirmed.",
    "charge_in_doubt": "Paid — thank you!",
    "refunded": "Refunded.",
    "cancelled": "Cancelled; the money held on your card was released.",
}


class Shop:
    """The shop's payment logic over one ``EpayClient``, its payment ``journal`` (the one the
    client was built with: ``EpayClient(..., journal=journal)``) and one ``OrderStore``.

    ``admin_token`` guards refunds, cancellations and charges (16 characters at least; the web
    layers read ``SHOP_ADMIN_TOKEN`` or make one and print it). ``catalogue`` is where prices
    come from. ``check_every`` bounds the back page's status checks per order;
    ``abandon_after`` closes an order that the gateway still does not know after that long.
    ``statement_hour`` is when :meth:`statement_forever` runs the nightly statement for the
    day before, in ``timezone`` (``None``: never by itself, only from the admin page).
    """

    def __init__(
        self,
        epay: EpayClient,
        store: OrderStore,
        public_url: str,
        *,
        journal: Journal,
        admin_token: str,
        catalogue: Mapping[str, Product] = CATALOGUE,
        check_every: float = 5.0,
        abandon_after: float = 3600.0,
        statement_hour: int | None = 3,
        timezone: tzinfo = KZ_TIME,
    ) -> None:
        if not isinstance(admin_token, str) or len(admin_token) < 16:
            raise ValueError("admin_token must be a string of 16 characters or more")
        if statement_hour is not None:
            nightly.next_run(datetime.now(timezone), statement_hour, timezone)  # checks it
        self.statement_hour = statement_hour
        self.timezone = timezone
        self._statement_lock = anyio.Lock()
        self.epay = epay
        #: Every money request, written before it leaves; what is left open, ``recover()``
        #: and the reconcile timer settle.
        self.journal = journal
        self.store = store
        self.public_url = public_url.rstrip("/")
        parts = urlsplit(self.public_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.catalogue = catalogue
        self.check_every = check_every
        self.abandon_after = abandon_after
        self._admin_token = admin_token.encode()
        self._sessions: dict[str, _Session] = {}
        self._checked: dict[str, tuple[float, PaymentState | None]] = {}
        self._check_locks: dict[str, anyio.Lock] = {}
        self._busy: set[str] = set()  # orders with a refund or charge on the way

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
        options = "".join(
            f'<option value="{html.escape(p.id)}">{html.escape(p.name)}, '
            f"{p.price} {html.escape(p.currency)}</option>"
            for p in self.catalogue.values()
        )
        return page(
            "Shop",
            "<h1>Concert shop</h1>"
            '<form method="post" action="/buy">'
            f'<p><label>Product <select name="product" id="product">{options}</select></label></p>'
            '<p><label>Saved card id (optional) <input name="card_id" id="card_id"></label></p>'
            '<p><input type="hidden" name="account_id" value="shopper-1">'
            '<button id="buy">Pay on the ePay page</button></p></form>',
        )

    async def buy(self, request: Incoming) -> Reply:
        """Create an order for a catalogue product and open ePay's payment page for it."""
        form = request.form()
        if isinstance(form, Reply):
            return form
        product = self.catalogue.get(form.get("product", ""))
        if product is None:
            return page("Error", "<p>No such product.</p>", 422)
        card_id = form.get("card_id", "").strip() or None
        if card_id is not None and not _CARD_ID.fullmatch(card_id):
            return page("Error", "<p>That is not a saved card's id.</p>", 422)
        invoice_id = str(secrets.randbelow(9 * 10**11) + 10**11)  # 12 digits
        try:
            order = self._order(
                invoice_id,
                product.price,
                product.name,
                currency=product.currency,
                account_id=form.get("account_id") or None,
                card_save=card_id is None and bool(form.get("account_id")),
                secret_hash=secrets.token_urlsafe(16),
            )
        except ValidationError as exc:
            return page("Error", f"<p>{html.escape(str(exc))}</p>", 422)
        assert order.secret_hash is not None
        await self.store.create(order, order.secret_hash, product.id)
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
        page shows the order as check-status confirms it, checked at most once per
        ``check_every`` seconds per order however often the page is loaded."""
        if valid_invoice_id(invoice_id) is None:
            return page("Unknown order", "<p>No such order.</p>", 404)
        order = await self.store.get(invoice_id)
        if order is None:
            return page("Unknown order", "<p>No such order.</p>", 404)
        if order["status"] in OPEN:
            await self._check_now_and_then(invoice_id)
            order = await self.store.get(invoice_id) or order
        state = order["status"]
        words = _WORDS.get(state, state)
        if state in OPEN and self._checked.get(invoice_id, (0.0, None))[1] is (
            PaymentState.NOT_FOUND
        ):
            words = "Not paid yet."
        return page(
            f"Order {invoice_id}",
            f"<h1>Order {invoice_id}</h1>"
            f'<p class="state {state}" id="state" data-state="{state}">{html.escape(words)}</p>'
            f"<p>{html.escape(order['amount'])} {html.escape(order['currency'])}"
            f" — {html.escape(order['description'])}</p>"
            f'<p><a id="shop" href="/">{"Try again" if state == "failed" else "Back to the shop"}'
            "</a></p>",
            refresh=(max(1, round(self.check_every)) if state in OPEN else None),
        )

    async def _check_now_and_then(self, invoice_id: str) -> None:
        """One check-status for ``invoice_id`` unless one was made in the last ``check_every``
        seconds; concurrent callers wait for the one under way."""
        lock = self._check_locks.setdefault(invoice_id, anyio.Lock())
        try:
            async with lock:
                last, _ = self._checked.get(invoice_id, (float("-inf"), None))
                if time.monotonic() - last < self.check_every:
                    return
                state: PaymentState | None = None
                try:
                    status = await self.epay.get_status(invoice_id)
                except EpayError:
                    pass
                else:
                    state = status.state
                    await self.apply(invoice_id, status)
                if len(self._checked) > 10_000:  # forget old entries: memory stays bounded
                    horizon = time.monotonic() - self.check_every
                    self._checked = {k: v for k, v in self._checked.items() if v[0] > horizon}
                self._checked[invoice_id] = (time.monotonic(), state)
        finally:
            if not lock.statistics().tasks_waiting:
                self._check_locks.pop(invoice_id, None)

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
        """Move the order as ``status.state`` says; returns the order's state."""
        order = await self.store.get(invoice_id)
        if order is None:
            return "unknown"
        state = status.state
        transaction = status.transaction
        current = order["status"]
        given_back = {"refunded_amount": order["amount"]}
        if state is PaymentState.REFUNDED and transaction and transaction.payout_amount:
            # Refunded in the cabinet, perhaps in part: what went back, as the gateway says.
            given_back = {"refunded_amount": f"{transaction.payout_amount:.2f}"}
        if current in OPEN:
            if state is PaymentState.PAID and transaction is not None:
                if (
                    transaction.amount == Decimal(order["amount"])
                    and transaction.currency == order["currency"]
                ):
                    held = transaction.status_name == StatusName.AUTH
                    await self.store.mark_paid(invoice_id, transaction.id, held=held)
                else:  # money taken, but not what was ordered: a person looks at it
                    held = transaction.status_name == StatusName.AUTH
                    await self.store.move(
                        invoice_id, OPEN, "review", payment_id=transaction.id, held=int(held)
                    )
            elif state is PaymentState.FAILED:
                await self.store.mark_failed(invoice_id)
            elif state is PaymentState.REFUNDED:
                await self.store.move(invoice_id, OPEN, "refunded", **given_back)
            elif state is PaymentState.CANCELLED:
                await self.store.move(invoice_id, OPEN, "cancelled", **given_back)
            elif (
                state is PaymentState.NOT_FOUND
                and time.time() - order["created_at"] > self.abandon_after
            ):
                await self.store.mark_failed(invoice_id)  # the payment page expired unused
        elif current in (*REFUNDABLE, *IN_DOUBT):
            if state is PaymentState.REFUNDED:
                await self.store.move(invoice_id, (current,), "refunded", **given_back)
            elif state is PaymentState.CANCELLED:
                await self.store.move(invoice_id, (current,), "cancelled", **given_back)
            elif state is PaymentState.PAID and transaction is not None and current != "review":
                # A refund or charge in doubt that check-status shows did not happen (or a
                # charge that did): the order is paid, held or charged as the gateway says.
                on_hold = int(transaction.status_name == StatusName.AUTH)
                await self.store.move(invoice_id, (current,), "paid", held=on_hold)
        order = await self.store.get(invoice_id)
        return str(order["status"]) if order else "unknown"

    async def reconcile_unsettled(self, older_than: float = 0.0) -> int:
        """Settle what was left open: at start-up and on a timer. First the journal:
        ``recover()`` asks check-status for each payment left open in it (by a killed process
        too) and the order follows the gateway's word. Then the orders: every open order older
        than ``older_than`` seconds, every order with a refund or charge in doubt (the journal
        knows those by their transaction id only, so they are checked by the order's invoice),
        and the order of every journal record finished in doubt; once the order is settled, its
        open journal records are closed with the same word. Returns how many orders were
        checked."""
        recovered = await self.epay.recover()
        checked = set()  # records recover() asked check-status for
        asked = set()  # and the invoices it had an answer for
        for item in recovered:
            invoice_id = item.record.invoice_id
            if invoice_id is None:
                continue
            checked.add(item.record.id)
            if item.status is not None and invoice_id not in self._busy:
                asked.add(invoice_id)
                await self.apply(invoice_id, item.status)
        returned = {item.record.id for item in recovered}
        to_close: list[JournalRecord] = []
        under_way: set[str] = set()  # a request that may still be on its way, in any process
        for record in await self.journal.open_records():
            key = record.invoice_id or record.transaction_id or ""
            if record.state is JournalState.INTENT and record.id not in returned:
                under_way.add(key)
            elif record.id not in checked:
                to_close.append(record)
        orders = await self.store.unsettled(older_than)
        of_payment = await self.store.invoices_of(
            {r.transaction_id for r in to_close if r.invoice_id is None and r.transaction_id}
        )
        records: dict[str, list[JournalRecord]] = {}
        for record in to_close:
            invoice_id = record.invoice_id or of_payment.get(record.transaction_id or "")
            if invoice_id is not None:
                records.setdefault(invoice_id, []).append(record)
        ids = sorted(
            invoice_id
            for invoice_id in set(orders) | set(records)
            if invoice_id not in self._busy
            and invoice_id not in asked
            and invoice_id not in under_way
            and (orders.get(invoice_id) or "") not in under_way
        )
        if not ids:
            return 0
        async with self.epay.reconcile(ids, concurrency=8) as results:
            async for result in results:
                if result.status is None or result.invoice_id in self._busy:
                    continue
                now = await self.apply(result.invoice_id, result.status)
                if result.status.state.is_settled and now not in (*OPEN, *IN_DOUBT):
                    for record in records.get(result.invoice_id, ()):
                        await self._close(record, result.status)
        return len(ids)

    async def _close(self, record: JournalRecord, status: TransactionStatus) -> None:
        """Close a journal record with the gateway's word, as ``recover()`` would."""
        transaction = status.transaction
        await self.journal.settle(
            record.id,
            result_code=int(status.result_code),
            status_name=transaction.status_name if transaction is not None else None,
            state=status.state,
        )

    async def reconcile_forever(self, every: float, older_than: float) -> None:
        """:meth:`reconcile_unsettled` every ``every`` seconds; a failed round (the journal or
        the gateway unreachable) is logged and tried again the next time."""
        while True:
            try:
                await self.reconcile_unsettled(older_than)
            except Exception:
                logger.exception("reconciliation failed; tried again in %s s", every)
            await anyio.sleep(every)

    # -- notifications ------------------------------------------------------------------------

    async def post_link(self, body: bytes) -> Reply:
        """The postLink. Unsigned: believed only once check-status backs it."""
        try:
            notification = parse_notification(body)
        except ValidationError as exc:
            return Reply.json(400, {"error": exc.field})
        invoice_id = valid_invoice_id(notification.invoice_id)
        if invoice_id is None:  # checked before any lookup: not one of ours, whatever it is
            return Reply.json(400, {"error": "invoiceId"})
        order = await self.store.get(invoice_id)
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
        await self.apply(invoice_id, status)
        return Reply.json(200, {"ok": True})

    async def order_json(self, invoice_id: str) -> Reply:
        order = await self.store.get(invoice_id) if valid_invoice_id(invoice_id) else None
        if order is None:
            return Reply.json(404, {"status": "unknown"})
        return Reply.json(
            200,
            {
                "status": order["status"],
                "paid_events": order["paid_events"],
                "amount": order["amount"],
                "currency": order["currency"],
                "held": bool(order["held"]),
                "refunded_amount": order["refunded_amount"],
            },
        )

    # -- the admin: authenticated, CSRF-safe ----------------------------------------------------

    def _session(self, request: Incoming) -> _Session | None:
        session = self._sessions.get(request.cookies.get("shop_admin", ""))
        if session is None or session.expires < time.monotonic():
            return None
        return session

    def _same_origin(self, request: Incoming) -> bool:
        """False for a request a browser marks as sent from another site."""
        origin = request.headers.get("origin")
        if origin is not None and origin != self.origin:
            return False
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    def _token_ok(self, token: str) -> bool:
        return secrets.compare_digest(token.encode("utf-8", "replace"), self._admin_token)

    def _authorise(self, request: Incoming) -> tuple[bool, Reply | None]:
        """(True if the caller used the session and wants pages, the refusal if any). A bearer
        token is read from the header only: a browser never adds it to a forged request."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and self._token_ok(token.strip()):
                return False, None
            return False, Reply.json(401, {"error": "admin token"}, {"WWW-Authenticate": "Bearer"})
        session = self._session(request)
        if session is None:
            return True, Reply.json(401, {"error": "admin token"}, {"WWW-Authenticate": "Bearer"})
        form = request.form()
        csrf = "" if isinstance(form, Reply) else form.get("csrf", "")
        if not self._same_origin(request) or not secrets.compare_digest(
            csrf.encode("utf-8", "replace"), session.csrf.encode()
        ):
            return True, Reply.json(403, {"error": "csrf"})
        return True, None

    async def admin_page(self, request: Incoming) -> Reply:
        session = self._session(request)
        if session is None:
            return page(
                "Admin",
                "<h1>Admin</h1>"
                '<form method="post" action="/admin/login"><p><label>Admin token '
                '<input type="password" name="token" id="token" autocomplete="off"></label></p>'
                '<p><button id="login">Log in</button></p></form>',
            )
        csrf = html.escape(session.csrf)
        rows = []
        for order in await self.store.latest():
            invoice_id = html.escape(order["invoice_id"])
            state = order["status"]
            actions = []
            if state in REFUNDABLE and order["payment_id"]:
                held = bool(order["held"])
                if held:
                    actions.append(("charge", "Charge"))
                actions.append(("refund", "Cancel the hold" if held else "Refund"))
            buttons = "".join(
                f'<form method="post" action="/orders/{invoice_id}/{action}">'
                f'<input type="hidden" name="csrf" value="{csrf}">'
                f'<button id="{action}-{invoice_id}">{label}</button></form> '
                for action, label in actions
            )
            shown = state + (" (held, not charged)" if state == "paid" and order["held"] else "")
            given_back = order["refunded_amount"]
            rows.append(
                f'<tr id="order-{invoice_id}"><td>{invoice_id}</td>'
                f"<td>{html.escape(order['amount'])} {html.escape(order['currency'])}</td>"
                f'<td class="{html.escape(state)}" data-state="{html.escape(state)}">'
                f"{html.escape(shown)}"
                f"{'<br>' + html.escape(given_back) + ' given back' if given_back else ''}</td>"
                f"<td>{buttons}</td></tr>"
            )
        return page(
            "Admin",
            '<h1>Orders</h1><p><a id="statement" href="/admin/statement">The nightly statement'
            "</a></p><table><tr><th>Invoice</th><th>Amount</th><th>State</th><th></th>"
            f"</tr>{''.join(rows)}</table>{await self._in_doubt_html()}",
        )

    async def _in_doubt_html(self) -> str:
        """The journal's open records: money requests whose outcome is not known yet (sent, or
        about to be, with no answer recorded), until reconciliation settles them."""
        records = await self.journal.list(states=OPEN_STATES)
        if not records:
            return '<h2>In doubt</h2><p id="in-doubt" data-count="0">Nothing in doubt.</p>'
        of_payment = await self.store.invoices_of(
            {r.transaction_id for r in records if r.invoice_id is None and r.transaction_id}
        )
        lines = []
        for record in records:
            invoice_id = record.invoice_id or of_payment.get(record.transaction_id or "", "—")
            state = "in doubt" if record.state is JournalState.IN_DOUBT else "no answer recorded"
            amount = f"{record.amount} {record.currency or ''}" if record.amount else "whole"
            since = record.created_at.astimezone(self.timezone).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(
                f'<tr class="doubt" data-invoice="{html.escape(invoice_id)}">'
                f"<td>{html.escape(invoice_id)}</td><td>{html.escape(record.operation)}</td>"
                f"<td>{html.escape(amount.strip())}</td><td>{state}</td><td>{since}</td>"
                f"<td>{html.escape(record.detail or '')}</td></tr>"
            )
        return (
            '<h2>In doubt</h2><p class="note">Sent to the gateway with no answer read; the'
            " reconcile timer settles each with check-status.</p>"
            f'<table id="in-doubt" data-count="{len(records)}"><tr><th>Invoice</th>'
            "<th>Operation</th><th>Amount</th><th>State</th><th>Since</th><th>Why</th></tr>"
            f"{''.join(lines)}</table>"
        )

    # -- the nightly statement ------------------------------------------------------------------

    async def run_statement(self, day: date | None = None) -> StatementReport:
        """Compare the orders created on ``day`` (default: the day before, in the shop's time
        zone) with the gateway's register, keep the report and return it. One run at a time."""
        day = day or nightly.day_before(datetime.now(self.timezone), self.timezone)
        since, until = nightly.period(day, self.timezone)
        async with self._statement_lock:
            orders = await self.store.created_between(since.timestamp(), until.timestamp())
            report = await nightly.run_statement(
                self.epay, orders, day, self.store.statements, tz=self.timezone
            )
        logger.info(
            "statement of %s: %d operations, %d orders, %d discrepancies%s",
            report.day,
            report.operations,
            report.orders,
            len(report.rows),
            "" if report.complete else " (register not read to the end)",
        )
        return report

    async def statement_forever(self) -> None:
        """Every night at ``statement_hour`` (the shop's time zone), the statement of the day
        before; started with the app. A failed run is logged and tried again the next night
        (or from the admin page)."""
        if self.statement_hour is None:
            return
        while True:
            now = datetime.now(self.timezone)
            due = nightly.next_run(now, self.statement_hour, self.timezone)
            await anyio.sleep((due - now).total_seconds())
            try:
                await self.run_statement(nightly.day_before(due, self.timezone))
            except Exception:  # the shop keeps running; the admin page shows no new report
                logger.exception("the nightly statement failed")

    def _admin_viewer(self, request: Incoming) -> _Session | bool | None:
        """Who may look at an admin page: the session, True for a valid bearer token, None."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            return (scheme.lower() == "bearer" and self._token_ok(token.strip())) or None
        return self._session(request)

    async def statement_page(self, request: Incoming, day: str | None = None) -> Reply:
        """``GET /admin/statement[?day=YYYY-MM-DD]``: the day's (else the latest) report,
        its discrepancies by kind; the admin session or the bearer token only."""
        viewer = self._admin_viewer(request)
        if viewer is None:
            return page(
                "Admin",
                "<h1>Admin</h1><p>Log in to see the nightly statement.</p>"
                '<form method="post" action="/admin/login"><p><label>Admin token '
                '<input type="password" name="token" id="token" autocomplete="off"></label></p>'
                '<p><button id="login">Log in</button></p></form>',
                401,
            )
        if day is not None and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day):
            day = None
        book = self.store.statements
        report = await book.report(day)
        days = await book.days()
        csrf = html.escape(viewer.csrf) if isinstance(viewer, _Session) else ""
        hour = "" if self.statement_hour is None else f" at {self.statement_hour:02d}:00"
        # Run now: the shown day again, or (none yet) the day before, as the night would.
        shown = report.day if report is not None else None
        default = shown or nightly.day_before(datetime.now(self.timezone), self.timezone)
        run_form = (
            '<form method="post" action="/admin/statement/run" class="run">'
            f'<input type="hidden" name="csrf" value="{csrf}">'
            f'<label>Day <input type="date" name="day" id="day" value="{default!s}"></label> '
            '<button id="run-statement">Run now</button></form>'
        )
        body = [
            '<p><a href="/admin">← Orders</a></p><h1>Nightly statement</h1>',
            f"<p class=\"note\">The shop's orders of a day against the gateway's register, run "
            f"every night{html.escape(hour)} ({html.escape(str(self.timezone))}) for the day "
            "before.</p>",
            run_form,
        ]
        if report is None:
            body.append('<p id="summary">No statement yet.</p>')
        else:
            body.append(_statement_html(report, self.timezone))
        if days:
            links = " ".join(
                f'<a href="/admin/statement?day={html.escape(d.day)}" class="'
                f'{"agree" if d.agree else "disagree"}{" shown" if d.day == shown else ""}"'
                f' title="{"the books agree" if d.agree else f"{d.found} discrepancies"}">'
                f"{html.escape(d.day)}</a>"
                for d in days
            )
            body.append(f'<p class="days">Reports: {links}</p>')
        return page("Nightly statement", "".join(body))

    async def statement_run(self, request: Incoming) -> Reply:
        """``POST /admin/statement/run`` (optional form field ``day``, ISO date): run the
        statement now, with the admin token's rules (bearer header, or session and CSRF)."""
        pages, refusal = self._authorise(request)
        if refusal is not None:
            return refusal
        form = request.form()
        text = "" if isinstance(form, Reply) else form.get("day", "").strip()
        try:
            day = date.fromisoformat(text) if text else None
        except ValueError:
            return Reply.json(422, {"error": "day", "message": "must be an ISO date"})
        if self._statement_lock.locked():
            return Reply.json(409, {"error": "a statement is running"})
        report = await self.run_statement(day)
        if pages:
            return Reply(303, "", headers={"Location": f"/admin/statement?day={report.day}"})
        return Reply.json(200, report.summary())

    async def admin_login(self, request: Incoming) -> Reply:
        form = request.form()
        if isinstance(form, Reply):
            return form
        if not self._same_origin(request):
            return Reply.json(403, {"error": "origin"})
        if not self._token_ok(form.get("token", "")):
            return page("Admin", '<p>Wrong token. <a href="/admin">Again</a></p>', 401)
        now = time.monotonic()
        self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(secrets.token_urlsafe(32), now + 8 * 3600)
        secure = "; Secure" if self.public_url.startswith("https:") else ""
        cookie = f"shop_admin={session_id}; Path=/; HttpOnly; SameSite=Strict{secure}"
        return Reply(303, "", headers={"Location": "/admin", "Set-Cookie": cookie})

    async def refund(self, invoice_id: str, request: Incoming) -> Reply:
        """Give the money back: refund a CHARGE, or cancel (release) an AUTH hold."""
        return await self._admin_action(invoice_id, request, "refund")

    async def charge(self, invoice_id: str, request: Incoming) -> Reply:
        """Charge an AUTH hold (two-step terminals)."""
        return await self._admin_action(invoice_id, request, "charge")

    async def _admin_action(self, invoice_id: str, request: Incoming, action: str) -> Reply:
        pages, refusal = self._authorise(request)
        if refusal is not None:
            return refusal
        if valid_invoice_id(invoice_id) is None or invoice_id in self._busy:
            return Reply.json(409, {"error": "state"})
        self._busy.add(invoice_id)
        try:
            outcome = await self._act(invoice_id, action)
        finally:
            self._busy.discard(invoice_id)
        if pages:  # the admin page: back to it (a reload does not send the form again)
            return Reply(303, "", headers={"Location": "/admin"})
        order = await self.store.get(invoice_id) or {}
        code, error = outcome
        payload = {"status": order.get("status"), "refunded_amount": order.get("refunded_amount")}
        return Reply.json(code, {**payload, "error": error} if error else payload)

    async def _cancel(self, payment_id: str, amount: Any = None) -> Any:
        return await self.epay.cancel(payment_id)  # a hold is released whole

    async def _act(self, invoice_id: str, action: str) -> tuple[int, str | None]:
        order = await self.store.get(invoice_id)
        if order is None or not order["payment_id"]:
            return 409, "state"
        held = bool(order["held"])
        if action == "charge":
            if order["status"] != "paid" or not held:
                return 409, "state"
            doubt, operation = "charge_in_doubt", self.epay.charge
        else:
            if order["status"] not in REFUNDABLE:
                return 409, "state"
            doubt = "refund_in_doubt"
            operation = self._cancel if held else self.epay.refund
        # Written before the request leaves: a crash mid-request leaves it in doubt, never paid.
        if not await self.store.move(invoice_id, (order["status"],), doubt):
            return 409, "state"
        back = {"held": int(held)}
        try:
            await operation(order["payment_id"])
        except OutcomeUnknownError:
            return 202, "in doubt: reconciliation settles it"  # the journal holds it open
        except (TransportError, RequestInFlightError, JournalUnavailableError):
            # It never left: nothing happened.
            await self.store.move(invoice_id, (doubt,), order["status"], **back)
            return 503, "not sent"
        except EpayError as exc:  # the gateway refused it: nothing happened
            await self.store.move(invoice_id, (doubt,), order["status"], **back)
            return 502, type(exc).__name__
        if action == "charge":
            await self.store.move(invoice_id, (doubt,), "paid", held=0)
        else:
            gone = "cancelled" if held else "refunded"
            await self.store.move(invoice_id, (doubt,), gone, refunded_amount=order["amount"])
        return 200, None

    # -- card data by API (PCI DSS merchants) and saved cards ---------------------------------

    async def checkout(self, request: Incoming) -> Reply:
        """JSON ``{"invoice_id", "product", "card_id"}`` for a saved card, or
        ``"card": {"pan", "exp_month", "exp_year", "cvc"}`` (card data by API). The amount is
        the product's price; everything is checked before the order is written."""
        payload = request.json_object()
        if isinstance(payload, Reply):
            return payload
        secret_hash = secrets.token_urlsafe(16)
        card_data = payload.get("card")
        card_id = payload.get("card_id")
        product_id = payload.get("product")
        product = self.catalogue.get(product_id) if isinstance(product_id, str) else None
        if product is None:
            return Reply.json(422, {"error": "product", "message": "no such product"})
        account_id = payload.get("account_id")
        try:
            order = self._order(
                str(payload.get("invoice_id", "")),
                product.price,
                product.name,
                currency=product.currency,
                account_id=account_id,
                card_save=card_data is not None and account_id is not None,
                secret_hash=secret_hash,
            )
            card = Card(**card_data) if isinstance(card_data, dict) else None
        except (ValidationError, TypeError) as exc:
            field = getattr(exc, "field", "card")
            return Reply.json(422, {"error": field, "message": str(exc)})
        if card is None and card_data is not None:
            return Reply.json(422, {"error": "card", "message": "must be an object"})
        if card is None and not (isinstance(card_id, str) and _CARD_ID.fullmatch(card_id)):
            return Reply.json(422, {"error": "card_id", "message": "give card or a card_id"})
        if not await self.store.create(order, secret_hash, product.id):
            return Reply.json(409, {"error": "invoice_id", "message": "already used"})
        await self.store.mark_pending(order.invoice_id)
        try:
            if card is not None:
                result = await self.epay.pay_with_card(order, card)
            else:
                assert isinstance(card_id, str)
                result = await self.epay.pay_with_saved_card(order, card_id)
        except PaymentDeclinedError as exc:
            await self.store.mark_failed(order.invoice_id)
            return Reply.json(402, {"status": "declined", "reason": exc.reason})
        except OutcomeUnknownError:
            # Never pay again: the postLink or the reconcile timer will settle it.
            return Reply.json(202, {"status": "pending"})
        except (TransportError, RequestInFlightError, JournalUnavailableError):
            # Nothing reached the gateway: forget the attempt, so the order can be paid again.
            await self.store.forget(order.invoice_id)
            return Reply.json(503, {"status": "not sent", "retry": True})
        await self.store.mark_pending(order.invoice_id, result.id)
        if result.secure3d is not None:
            await self.store.remember_3ds(result.secure3d.md, order.invoice_id)
            return Reply(200, result.secure3d.auto_submit_form(f"{self.public_url}/epay/3ds"))
        if result.status in (StatusName.AUTH, StatusName.CHARGE):
            held = result.status == StatusName.AUTH
            await self.store.mark_paid(order.invoice_id, result.id, held=held)
        state = (await self.store.get(order.invoice_id) or {}).get("status")
        return Reply.json(200, {"status": state, "payment_id": result.id})

    async def three_ds_return(self, request: Incoming) -> Reply:
        """The TermUrl: the payer's bank posts ``PaRes`` and ``MD`` here (cross-site, by
        design: the ``MD`` it carries is what names the payment)."""
        form = request.form()
        if isinstance(form, Reply):
            return form
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


def journal_beside(database: str) -> str:
    """The payment journal's file beside the orders database: ``shop.sqlite3`` ->
    ``shop.journal.sqlite3`` (never ``shop.sqlite3-journal``: that name is SQLite's own)."""
    path = Path(database)
    return str(path.with_name(f"{path.stem}.journal{path.suffix or '.sqlite3'}"))


@asynccontextmanager
async def open_shop(
    client_factory: Callable[..., EpayClient],
    public_url: str,
    *,
    database: str,
    journal: str | None = None,
    admin_token: str,
    **options: Any,
) -> AsyncIterator[Shop]:
    """The shop, open for as long as the block: its orders (``database``), its payment journal
    (``journal``, default :func:`journal_beside` the database), its client built by
    ``client_factory(journal=...)`` (``EpayClient.from_env`` or ``sandbox.client`` take it),
    and what was left open when it last stopped settled first (``recover()`` included).
    ``options`` go to :class:`Shop`. Both web layers start their shop with this."""
    store = await OrderStore.open(database)
    try:
        async with (
            SqliteJournal(journal or journal_beside(database)) as book,
            client_factory(journal=book) as epay,
        ):
            shop = Shop(epay, store, public_url, journal=book, admin_token=admin_token, **options)
            await shop.reconcile_unsettled()  # whatever was left when we last stopped
            yield shop
    finally:
        await store.close()


def _money(amount: str, currency: str) -> str:
    return html.escape(f"{amount} {currency}".strip()) or "—"


def _statement_html(report: StatementReport, tz: tzinfo) -> str:
    """The report's summary and its discrepancies, one table per kind."""
    ran = datetime.fromtimestamp(report.ran_at, tz).strftime("%Y-%m-%d %H:%M")
    found = report.found
    if not report.complete:
        verdict = (
            '<span class="failed">incomplete: the register could not be read to the end'
            f" ({html.escape(report.error or '')})</span>"
        )
    elif found:
        verdict = f'<span class="failed">{found} discrepanc{"y" if found == 1 else "ies"}</span>'
    else:
        verdict = '<span class="paid">the books agree</span>'
    parts = [
        f'<h2 id="summary" data-day="{html.escape(report.day)}" data-found="{found}">'
        f"{html.escape(report.day)}: {verdict}</h2>"
        f'<p class="note">{report.operations} gateway operations, {report.orders} shop orders;'
        f" run {ran} ({html.escape(str(tz))}).</p>"
    ]
    words = {kind.value: text for kind, text in KIND_WORDS.items()}
    for kind, rows in report.by_kind().items():
        lines = "".join(
            f"<tr><td>{html.escape(row['invoice_id'])}</td>"
            f"<td>{html.escape(row['local_state'] or '—')}</td>"
            f"<td>{_money(row['local_amount'], row['local_currency'])}</td>"
            f"<td>{html.escape(row['gateway_status'] or '—')}</td>"
            f"<td>{_money(row['gateway_amount'], row['gateway_currency'])}</td>"
            f"<td>{html.escape(row['operation_ids'] or '—')}</td></tr>"
            for row in rows
        )
        parts.append(
            f'<section class="kind" id="kind-{html.escape(kind)}" data-count="{len(rows)}">'
            f"<h3>{html.escape(words.get(kind, kind))} ({len(rows)})</h3>"
            '<table class="statement"><tr><th>Invoice</th><th>Shop state</th><th>Shop amount</th>'
            "<th>Gateway status</th>"
            f"<th>Gateway amount</th><th>Operations</th></tr>{lines}</table></section>"
        )
    return "".join(parts)

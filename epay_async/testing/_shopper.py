"""The shopper: pays a hosted payment page the way a browser does, for a merchant's tests.

It opens the page (``POST /payform/`` with the ``halyk.pay`` object), fills in a test card,
passes or fails 3-D Secure at the sandbox's ACS page and follows the form back to the
payform's TermUrl: the same requests, routes and ledger as a person's browser, so the payment
is recorded and notified exactly as theirs would be. In-process pages (the sandbox's own
``SANDBOX_URL``) go through ``sandbox.transport``; a page of a served sandbox goes over HTTP.
"""

from __future__ import annotations

import html.parser
from typing import Literal
from urllib.parse import urljoin, urlsplit

import attrs
import httpx

from .._converter import dumps
from ..environment import is_loopback_host
from ..types.payment_page import PaymentPage
from ..types.status import StatusName
from ._cards import TestCard
from ._handlers.payform import PAYFORM
from ._ledger import Ledger
from ._wire import SANDBOX_URL

__all__ = ["Shopper", "ShopperResult", "ThreeDSAnswer"]

#: What the shopper answers at the 3-D Secure page (for a card that asks for it).
ThreeDSAnswer = Literal["approve", "decline"]


@attrs.frozen
class ShopperResult:
    """Where the shopper's browser ended up, and what the gateway recorded.

    ``redirect_url`` is the order's ``backLink`` (paid) or ``failureBackLink`` (not paid),
    or ``None`` when the browser was sent nowhere: the page was abandoned, refused to open,
    or showed the failure itself (an order without ``failureBackLink``).
    """

    invoice_id: str
    paid: bool
    redirect_url: str | None
    #: The gateway's transaction (``None`` if none was made: abandoned, or refused page).
    transaction_id: str | None = None
    #: Its status on the sandbox's books right after the page (``AUTH`` on two-step terminals).
    status: StatusName | None = None
    #: Why it was not paid: the gateway's code and message, or the page's error.
    reason_code: int | None = None
    reason: str | None = None


@attrs.define
class _Form:
    action: str
    fields: dict[str, str] = attrs.field(factory=dict)
    name: str = ""


class _Page(html.parser.HTMLParser):
    """The forms (action and named inputs) and the ``#error`` text of a sandbox page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.error = ""
        self._in_error = False
        self.feed(text)

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs_ = {name: value or "" for name, value in attributes}
        if tag == "form":
            self.forms.append(_Form(attrs_.get("action", ""), name=attrs_.get("name", "")))
        elif tag == "input" and self.forms and attrs_.get("name"):
            self.forms[-1].fields[attrs_["name"]] = attrs_.get("value", "")
        if attrs_.get("id") == "error":
            self._in_error = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data


class Shopper:
    """Plays the shopper on a hosted payment page: ``sandbox.shopper``."""

    def __init__(self, transport: httpx.AsyncBaseTransport, ledger: Ledger) -> None:
        self._transport = transport
        self._ledger = ledger

    async def pay(
        self,
        page: PaymentPage,
        card: TestCard | None = None,
        *,
        three_ds: ThreeDSAnswer = "approve",
        cardholder: str = "TEST CARDHOLDER",
    ) -> ShopperResult:
        """Open ``page`` and pay it with the test ``card`` (any ``TEST_CARDS`` entry; a
        locked one is declined). ``three_ds`` is the shopper's answer if the card asks for
        3-D Secure (``TEST_CARDS.mastercard_3ds``). A page for a saved card
        (``payment_page(order, card_id=...)``) takes no ``card``."""
        if three_ds not in ("approve", "decline"):
            raise ValueError("three_ds must be 'approve' or 'decline'")
        async with self._browser(page) as browser:
            opened = await self._open(browser, page)
            if isinstance(opened, ShopperResult):
                return opened
            form = opened
            if "saved" in form.fields:
                if card is not None:
                    raise ValueError("this page pays with a saved card: give no card")
                fields = dict(form.fields)
            else:
                if card is None:
                    raise ValueError("give the test card to pay with (TEST_CARDS.visa, ...)")
                exp = f"{card.exp_date[:2]}/{card.exp_date[2:]}"
                fields = {
                    **form.fields,
                    "pan": card.pan,
                    "exp": exp,
                    "cvc": card.cvc,
                    "name": cardholder,
                }
            answer = await browser.post(urljoin(str(browser.base_url), form.action), data=fields)
            for _ in range(3):  # the 3-D Secure hops: ACS page, its answer, back to TermUrl
                acs = _Page(answer.text).forms if answer.status_code == 200 else []
                if not acs:
                    break
                step = acs[0]
                if "PaReq" in step.fields or "PaRes" in step.fields:
                    data = step.fields
                else:  # the ACS's own page: the shopper's button
                    data = {**step.fields, "answer": three_ds}
                answer = await browser.post(urljoin(str(answer.url), step.action), data=data)
            return self._result(page, answer)

    async def abandon(self, page: PaymentPage) -> ShopperResult:
        """Open ``page`` and leave without paying: nothing is paid, recorded or notified (the
        invoice stays unknown to check-status, 102) and the browser goes nowhere."""
        async with self._browser(page) as browser:
            opened = await self._open(browser, page)
        if isinstance(opened, ShopperResult):
            return opened
        return ShopperResult(page.invoice_id, paid=False, redirect_url=None, reason="abandoned")

    # -- the browser ----------------------------------------------------------------------

    def _browser(self, page: PaymentPage) -> httpx.AsyncClient:
        token = page.auth.get("access_token")
        if not isinstance(token, str) or self._ledger.issued_token(token) is None:
            # What the page did is read from this sandbox's books: another's (a sandbox served
            # by another process, ``epay-async sandbox``) would be paid, and said unpaid.
            raise ValueError(
                "this page's token was not issued by this sandbox: a shopper pays the pages of"
                " its own sandbox (in-process, or served on loopback); drive another process's"
                " sandbox with a browser, or pay the page with the sandbox that made it"
            )
        parts = urlsplit(page.script_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if not parts.path.endswith(f"{PAYFORM}/payment-api.js"):
            raise ValueError(f"not a sandbox payment page: {page.script_url}")
        prefix = parts.path[: -len(f"{PAYFORM}/payment-api.js")]
        if origin == SANDBOX_URL:
            transport = self._transport
        elif is_loopback_host(parts.hostname or ""):
            transport = httpx.AsyncHTTPTransport()
        else:
            raise ValueError(f"not a sandbox payment page: {page.script_url}")
        return httpx.AsyncClient(
            transport=transport,
            base_url=origin + prefix,
            follow_redirects=False,
            trust_env=False,
            timeout=30,
        )

    async def _open(self, browser: httpx.AsyncClient, page: PaymentPage) -> _Form | ShopperResult:
        payment = dumps(page.payment_object()).decode()
        opened = await browser.post(f"{PAYFORM}/", data={"payment": payment, "widget": "0"})
        parsed = _Page(opened.text)
        if opened.status_code != 200 or not parsed.forms:
            reason = parsed.error.strip() or f"the page answered HTTP {opened.status_code}"
            return ShopperResult(page.invoice_id, paid=False, redirect_url=None, reason=reason)
        return parsed.forms[0]

    def _result(self, page: PaymentPage, answer: httpx.Response) -> ShopperResult:
        redirect = answer.headers.get("location") if answer.status_code == 302 else None
        tx = self._ledger.find_transaction("payment", page.invoice_id)
        if tx is None:
            error = _Page(answer.text).error.strip() or f"HTTP {answer.status_code}"
            return ShopperResult(page.invoice_id, paid=False, redirect_url=redirect, reason=error)
        paid = tx.status in (StatusName.AUTH, StatusName.CHARGE)
        return ShopperResult(
            page.invoice_id,
            paid=paid,
            redirect_url=redirect,
            transaction_id=tx.id,
            status=tx.status,
            reason_code=None if paid else int(tx.reason_code or "-1"),
            reason=None if paid else tx.reason,
        )

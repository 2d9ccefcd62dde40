"""The ACS page: where a payer's browser passes (or fails) 3-D Secure.

A payment with the 3-D Secure test card answers ``secure3D.action`` = this page at the
sandbox's own origin. The merchant's auto-submit form posts ``PaReq``, ``MD`` and ``TermUrl``
here; the page shows the payment and two buttons; either one posts back to the merchant's
``TermUrl`` with ``PaRes`` and ``MD``, as a bank's ACS does. Plain HTML, no script.
"""

from __future__ import annotations

import html
import re

from .._ledger import Ledger
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import ACS_PATH, hidden_fields

__all__ = ["AcsPage"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2939}h1{font-size:1.3rem}.card{border:1px solid #d0d5dd;border-radius:12px;"
    "padding:1.25rem;background:#f9fafb}button{font-size:1rem;padding:.6rem 1.2rem;"
    "border-radius:8px;border:0;margin:.5rem .5rem 0 0;cursor:pointer}"
    ".ok{background:#12b76a;color:#fff}.no{background:#f04438;color:#fff}"
    "small{color:#667085}"
)


def _page(title: str, body: str) -> SandboxResponse:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return SandboxResponse(200, text.encode(), {"content-type": "text/html; charset=utf-8"})


class AcsPage:
    """``POST /acs`` shows the challenge; ``POST /acs/answer`` sends the payer back."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def mount(self, router: Router) -> None:
        router.add("POST", ACS_PATH, self.challenge)
        router.add("POST", ACS_PATH + "/answer", self.answer)

    async def challenge(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        md, term_url = form.get("MD", ""), form.get("TermUrl", "")
        pending = self._ledger.pending_3ds(md)
        if pending is None or not term_url.startswith(("http://", "https://")):
            return _page("3-D Secure", "<h1>3-D Secure</h1><p>Unknown or finished session.</p>")
        tx = pending.transaction
        fields = hidden_fields(MD=md, TermUrl=term_url)
        body = (
            "<h1>3-D Secure: confirm the payment</h1>"
            f'<div class="card"><p>Pay <strong>{tx.amount:,.2f} '
            f"{html.escape(tx.currency)}</strong> to the ePay sandbox merchant</p>"
            f"<p>Card {html.escape(tx.card_mask)}</p>"
            f'<form method="post" action="{ACS_PATH}/answer">{fields}'
            '<button class="ok" name="answer" value="approve">Approve</button>'
            '<button class="no" name="answer" value="decline">Decline</button></form>'
            "<small>Sandbox ACS: no bank is asked; the choice is the bank's answer.</small>"
            "</div>"
        )
        return _page("3-D Secure", body)

    async def answer(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        md, term_url = form.get("MD", ""), form.get("TermUrl", "")
        if self._ledger.pending_3ds(md) is None or not term_url.startswith(("http://", "https://")):
            return _page("3-D Secure", "<h1>3-D Secure</h1><p>Unknown or finished session.</p>")
        pa_res = self._ledger.complete_3ds(md, form.get("answer") == "approve")
        body = (
            f'<form method="post" action="{html.escape(term_url, quote=True)}" name="back">'
            f"{hidden_fields(PaRes=pa_res, MD=md)}<noscript><button>Continue</button></noscript>"
            "</form><script>document.forms.back.submit()</script>"
            "<p>Returning to the shop…</p>"
        )
        return _page("3-D Secure", body)

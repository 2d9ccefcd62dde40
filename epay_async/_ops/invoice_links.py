"""Invoice links (the documentation's invoice-link API page): ``POST {API}/invoice``.

The token is a ``password`` grant with the merchant cabinet's user, as both the English and
the Kazakh page show (they differ on its scope: the long one, which the English page and every
other operation use, is sent). The answer's shape is not documented: a 200 with a JSON object
and no refusal code is taken as accepted and kept as received.
"""

from __future__ import annotations

from typing import Any

from .._answers import json_body, refuse_error_code
from .._http import Answer
from .._pipeline import CabinetToken, Operation
from ..errors import ApiError, ProtocolError, ValidationError
from ..types.invoice_links import CabinetLogin, InvoiceLink, InvoiceLinkResult
from ._base import Pipeline

__all__ = ["create_invoice_link"]


async def create_invoice_link(
    ctx: Pipeline, link: InvoiceLink, login: CabinetLogin
) -> InvoiceLinkResult:
    if not isinstance(link, InvoiceLink):
        raise ValidationError("link", "must be an InvoiceLink")
    if not isinstance(login, CabinetLogin):
        raise ValidationError("login", "must be a CabinetLogin")
    operation = "create_invoice_link"
    what = f"{operation} answer"

    def read(reply: Answer) -> InvoiceLinkResult:
        if reply.status_code != 200:
            raise ProtocolError(f"{what}: unexpected HTTP {reply.status_code}")
        body: Any = json_body(reply, what=what)
        if not isinstance(body, dict):
            raise ProtocolError(f"{what}: expected an object, got {type(body).__name__}")
        refuse_error_code(body, ApiError, reply.status_code, invoice_id=link.invoice_id)
        return InvoiceLinkResult(link.invoice_id, body)

    return await ctx.send(
        Operation(
            name=operation,
            method="POST",
            url=ctx.url("/invoice"),
            read=read,
            moves_money=True,  # it sends the payer a link: never twice
            token=CabinetToken(login.username, login.password),
            body=link.wire(),
            invoice_id=link.invoice_id,
            amount=link.amount,
            currency=link.currency,
        )
    )

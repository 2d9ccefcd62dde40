"""Invoice links (the documentation's invoice-link API page): ``POST {API}/invoice``.

The token is a ``password`` grant with the merchant cabinet's user, as both the English and
the Kazakh page show (they differ on its scope: the long one, which the English page and every
other operation use, is sent). The answer's shape is not documented: a 200 with a JSON object
and no refusal code is taken as accepted and kept as received.
"""

from __future__ import annotations

from typing import Any

from .._converter import dumps
from .._transport import ApiRequest, ApiResponse, json_body
from ..errors import ApiError, ProtocolError, ValidationError
from ..types.invoice_links import CabinetLogin, InvoiceLink, InvoiceLinkResult
from ._base import Context, read_money_answer, refuse_error_code

__all__ = ["create_invoice_link"]


async def create_invoice_link(
    ctx: Context, link: InvoiceLink, login: CabinetLogin
) -> InvoiceLinkResult:
    if not isinstance(link, InvoiceLink):
        raise ValidationError("link", "must be an InvoiceLink")
    if not isinstance(login, CabinetLogin):
        raise ValidationError("login", "must be a CabinetLogin")
    operation = "create_invoice_link"
    with ctx.one_at_a_time(f"invoice {link.invoice_id}", operation):
        token = await ctx.tokens.password_token(login.username, login.password)
        request = ApiRequest(
            "POST",
            ctx.url("/invoice"),
            operation=operation,
            idempotent=False,  # it sends the payer a link: never twice
            invoice_id=link.invoice_id,
            content=dumps(link.wire()),
            token=token,
        )
        response = await ctx.transport.send(request)

    def parse(reply: ApiResponse) -> InvoiceLinkResult:
        what = f"{operation} answer"
        if reply.status_code != 200:
            raise ProtocolError(f"{what}: unexpected HTTP {reply.status_code}")
        body: Any = json_body(reply, what=what)
        if not isinstance(body, dict):
            raise ProtocolError(f"{what}: expected an object, got {type(body).__name__}")
        refuse_error_code(body, request, ApiError, reply.status_code)
        return InvoiceLinkResult(link.invoice_id, body)

    return read_money_answer(request, response, parse)

"""What every operation shares: the context and the two ways of sending."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._tokens import Credentials, TokenAcquirer
from .._transport import ApiRequest, ApiResponse, Transport
from ..environment import Environment
from ..errors import AuthenticationError

__all__ = ["Context", "send_with_service_token"]


@attrs.define
class Context:
    """The client's wiring, handed to every operation."""

    transport: Transport
    tokens: TokenAcquirer
    environment: Environment
    credentials: Credentials

    def url(self, path: str) -> str:
        return f"{self.environment.api_url}{path}"


async def send_with_service_token(
    ctx: Context,
    method: str,
    path: str,
    *,
    operation: str,
    idempotent: bool,
    invoice_id: str | None = None,
    params: Mapping[str, str] | None = None,
) -> ApiResponse:
    """Send with the cached service token; on a 401/403 mint a new one and try exactly once more.

    Safe for money requests too: a refused token means the gateway did not act on them.
    """
    token = await ctx.tokens.read_token()
    request = ApiRequest(
        method,
        ctx.url(path),
        operation=operation,
        idempotent=idempotent,
        invoice_id=invoice_id,
        params=params,
        token=token,
    )
    try:
        return await ctx.transport.send(request)
    except AuthenticationError:
        ctx.tokens.invalidate(token)
        fresh = await ctx.tokens.read_token()
        return await ctx.transport.send(attrs.evolve(request, token=fresh))

"""OAuth tokens: a fresh one per money operation, a cached one for reads.

Seed 001: "for each operation it is necessary to obtain and use the original token". A
payment or transfer token is bound to its invoice, amount and currency and used once.
Reads (status, operations, cards) carry no invoice; their token is cached until
``expires_in`` minus a margin, refreshed by one caller at a time (single flight).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import attrs

from . import _constants as C
from ._answers import json_body
from ._converter import structure, to_decimal
from ._secret import Secret
from ._transport import ApiRequest, Transport
from .errors import AuthenticationError, ProtocolError
from .types._fields import WIRE, wire, wire_fields

__all__ = ["Credentials", "OperationGrant", "TokenAcquirer"]

_TOKEN = re.compile(r"[!-~]{1,4096}", re.ASCII)


@attrs.frozen
class Credentials:
    client_id: str
    client_secret: str = attrs.field(repr=False, converter=Secret)
    terminal_id: str


@attrs.frozen
class OperationGrant:
    """What a money operation's token is bound to."""

    scope: str
    invoice_id: str = attrs.field(metadata={WIRE: "invoiceID"})  # the token form's (seed 001)
    amount: Decimal
    currency: str
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = attrs.field(default=None, repr=False)

    def form(self) -> dict[str, str]:
        """The token request's invoice fields (``secret_hash`` as a :class:`Secret`)."""
        fields = wire_fields(
            self,
            "invoice_id",
            "amount",
            "currency",
            "post_link",
            "failure_post_link",
            "secret_hash",
        )
        fields["amount"] = format(self.amount, "f")
        if self.secret_hash is not None:
            fields["secret_hash"] = Secret(self.secret_hash)
        return fields


@attrs.frozen
class TokenResponse:
    access_token: str = wire("access_token", repr=False)
    expires_in: Any = wire("expires_in", default=None)
    token_type: str | None = wire("token_type", default=None)
    scope: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def lifetime(self) -> float:
        try:
            seconds = float(to_decimal(self.expires_in))
        except ProtocolError:
            return C.TOKEN_FALLBACK_LIFETIME
        return seconds if seconds > 0 else C.TOKEN_FALLBACK_LIFETIME


@attrs.define
class _CachedToken:
    value: str = attrs.field(repr=False)
    refresh_at: float


class _Flight:
    """A read-token refresh under way; its waiters learn how it ended."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: Exception | None = None


@attrs.define
class _ReadTokenCache:
    """The cached read token and the refresh under way: shared by a client's copies."""

    token: _CachedToken | None = None
    flight: _Flight | None = None


class TokenAcquirer:
    """Mints tokens at the environment's token URL over the shared transport."""

    def __init__(
        self,
        transport: Transport,
        token_url: str,
        credentials: Credentials,
        *,
        reuse_read_tokens: bool = True,
        margin: float = C.TOKEN_EXPIRY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._token_url = token_url
        self._credentials = credentials
        self._reuse = reuse_read_tokens
        self._margin = margin
        self._clock = clock
        self._cache = _ReadTokenCache()

    def using(
        self, transport: Transport, *, reuse_read_tokens: bool | None = None
    ) -> TokenAcquirer:
        """The same acquirer over another transport (another retry rule or timeout), sharing
        this one's read-token cache: what ``EpayClient.with_options`` builds on."""
        twin = TokenAcquirer(
            transport,
            self._token_url,
            self._credentials,
            reuse_read_tokens=self._reuse if reuse_read_tokens is None else reuse_read_tokens,
            margin=self._margin,
            clock=self._clock,
        )
        twin._cache = self._cache
        return twin

    def __repr__(self) -> str:
        return f"TokenAcquirer(client_id={self._credentials.client_id!r})"

    async def read_token(self) -> str:
        """A token for status, operations and cards: cached, refreshed by one caller at a time.

        Callers that arrive while a refresh is under way wait for it and share its outcome,
        a failure included: a failing token endpoint is asked once per refresh, not once per
        waiter. A waiter whose refresher was cancelled refreshes itself.
        """
        if not self._reuse:
            return Secret((await self._request({}, "token (read)")).access_token)
        while True:
            cached = self._cache.token
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            flight = self._cache.flight
            if flight is None:
                return await self._refresh()
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error.with_traceback(None)
            # The refresher was cancelled. A waiter whose own deadline has passed too is
            # cancelled here, rather than starting another refresh it cannot finish.
            await anyio.lowlevel.checkpoint()

    async def _refresh(self) -> str:
        flight = self._cache.flight = _Flight()
        try:
            response = await self._request({}, "token (read)")
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            self._cache.flight = None
            flight.done.set()
        lifetime = response.lifetime()
        refresh_at = self._clock() + max(lifetime - self._margin, lifetime / 2)
        self._cache.token = _CachedToken(Secret(response.access_token), refresh_at)
        return self._cache.token.value

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (after a 401), unless another caller already replaced it."""
        if self._cache.token is not None and self._cache.token.value == token:
            self._cache.token = None

    async def operation_token(self, grant: OperationGrant) -> str:
        """A fresh token bound to one money operation; never cached, never reused."""
        return Secret((await self.operation_answer(grant)).access_token)

    async def operation_answer(self, grant: OperationGrant) -> TokenResponse:
        """The whole token answer for ``grant`` (the payment page hands it to the browser)."""
        return await self._request(grant.form(), f"token ({grant.scope})", grant.scope)

    async def password_token(self, username: str, password: str) -> str:
        """A token for the invoice-link API: a ``password`` grant with the merchant cabinet's
        user (the documentation's invoice-link page); never cached."""
        form = {"grant_type": "password", "username": username, "password": Secret(password)}
        answer = await self._request(form, "token (invoice link)", terminal=False)
        return Secret(answer.access_token)

    async def _request(
        self,
        extra_fields: dict[str, str],
        operation: str,
        scope: str = C.SERVICE_SCOPE,
        *,
        terminal: bool = True,
    ) -> TokenResponse:
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            **({"terminal": self._credentials.terminal_id} if terminal else {}),
            **extra_fields,
        }
        request = ApiRequest(
            "POST",
            self._token_url,
            operation=operation,
            idempotent=True,
            invoice_id=extra_fields.get("invoiceID"),
            form=form,
        )
        response = await self._transport.send(request)
        if response.status_code >= 400:
            raise AuthenticationError(
                f"the gateway refused the credentials of client {self._credentials.client_id!r} "
                f"(HTTP {response.status_code})",
                http_status=response.status_code,
            )
        token = structure(json_body(response, what="token response"), TokenResponse, what="token")
        # A token goes into an HTTP header: printable ASCII only (RFC 6750's b64token and a
        # little more), or sending it would fail, and be mistaken for a request that left.
        if not _TOKEN.fullmatch(token.access_token):
            raise ProtocolError(
                "token response has an empty or unusable access_token", field="access_token"
            )
        if token.token_type is not None and token.token_type.lower() != "bearer":
            raise ProtocolError(
                f"token response is not a bearer token ({token.token_type[:20]!r})",
                field="token_type",
            )
        return token

"""The token endpoint (``oauth2/token``: client credentials, payment and transfer tokens, the
cabinet's password grant) and the gateway's public key (``public.rsa``)."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal, InvalidOperation

from .._keys import public_pem
from .._ledger import Ledger
from .._merchant import TEST_CABINET_PASSWORD, TEST_CABINET_USERNAME, GatewaySettings
from .._records import IssuedToken
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse


class TokenEndpoints:
    def __init__(self, ledger: Ledger, settings: GatewaySettings) -> None:
        self._ledger = ledger
        self._settings = settings

    def mount(self, router: Router) -> None:
        router.add("POST", r"/(?:.*/)?oauth2/token", self.token)
        router.add("GET", r"/public\.rsa", self.public_key)

    async def token(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        form = request.form()
        settings = self._settings
        merchant = settings.merchant
        grant = form.get("grant_type")
        cabinet_ok = (form.get("username"), form.get("password")) == (
            TEST_CABINET_USERNAME,
            TEST_CABINET_PASSWORD,
        )
        if (
            grant not in ("client_credentials", "password")
            or (grant == "password" and not cabinet_ok)
            or form.get("client_id") != merchant.client_id
            or not secrets.compare_digest(
                form.get("client_secret", "").encode(), merchant.client_secret.encode()
            )
        ):
            return SandboxResponse.json(401, {"error": "invalid_client"})
        invoice_id = form.get("invoiceID") or None
        amount: Decimal | None = None
        if invoice_id is not None:
            try:
                amount = Decimal(form.get("amount", ""))
            except InvalidOperation:
                return SandboxResponse.json(400, {"error": "invalid_request"})
        scope = form.get("scope", "")
        value = secrets.token_urlsafe(24)
        self._ledger.issue_token(
            IssuedToken(
                value=value,
                scope=scope,
                terminal=form.get("terminal") or None,
                expires_at=settings.clock() + settings.token_lifetime,
                invoice_id=invoice_id,
                amount=amount,
                currency=form.get("currency") or None,
                post_link=form.get("postLink") or None,
                failure_post_link=form.get("failurePostLink") or None,
                secret_hash=form.get("secret_hash") or None,
                grant=grant or "",
            )
        )
        lifetime: int | str = settings.token_lifetime
        if settings.expires_in_as_string:
            lifetime = str(lifetime)
        return SandboxResponse.json(
            200,
            {
                "access_token": value,
                "expires_in": lifetime,
                # A password grant's answer carries a refresh token (the invoice-link page).
                "refresh_token": secrets.token_urlsafe(16) if grant == "password" else "",
                "scope": scope,
                "token_type": "Bearer",
            },
        )

    async def public_key(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        pem = public_pem(self._settings.private_key)
        return SandboxResponse(200, pem, {"content-type": "text/plain"})

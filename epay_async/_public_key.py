"""The gateway's RSA public key: pinned, or fetched once per client (single flight)."""

from __future__ import annotations

import anyio

from ._transport import ApiRequest, Transport
from .cryptogram import CryptogramEncryptor, CryptogramPadding
from .errors import ProtocolError, ValidationError

__all__ = ["PublicKeyCache"]


class PublicKeyCache:
    def __init__(
        self, url: str, padding: CryptogramPadding, pinned: str | bytes | None = None
    ) -> None:
        self._url = url
        self._padding = padding
        self._encryptor = CryptogramEncryptor(pinned, padding) if pinned is not None else None
        self._lock: anyio.Lock | None = None

    async def encryptor(self, transport: Transport) -> CryptogramEncryptor:
        if self._encryptor is not None:
            return self._encryptor
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._encryptor is None:
                self._encryptor = await self._fetch(transport)
            return self._encryptor

    async def _fetch(self, transport: Transport) -> CryptogramEncryptor:
        request = ApiRequest(
            "GET", self._url, operation="public key", idempotent=True, accept="*/*"
        )
        response = await transport.send(request)
        if response.status_code != 200:
            raise ProtocolError(
                f"public key: HTTP {response.status_code}", http_status=response.status_code
            )
        try:
            return CryptogramEncryptor(response.content, self._padding)
        except ValidationError:
            raise ProtocolError("public key: the gateway's key is not a readable RSA key") from None

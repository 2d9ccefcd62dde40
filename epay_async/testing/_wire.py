"""The sandbox's own request/response shapes, independent of httpx and ASGI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs

from .._converter import dumps, loads
from ..errors import ProtocolError

SANDBOX_HOST = "epay.sandbox.invalid"
#: Base URL of the in-process sandbox (``.invalid`` never resolves: nothing leaves the process).
SANDBOX_URL = f"https://{SANDBOX_HOST}"


@attrs.frozen
class SandboxRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)
    scheme: str = "https"

    @property
    def origin(self) -> str:
        """Where the browser reached the sandbox (``http://127.0.0.1:8080``): its own pages
        (the ACS, the payment page) are linked from there."""
        return f"{self.scheme}://{self.headers.get('host', SANDBOX_HOST)}"

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        try:
            return loads(self.body)
        except ProtocolError:
            return None


@attrs.frozen
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        return cls(status, dumps(payload), {"content-type": "application/json", **(headers or {})})

    @classmethod
    def error(cls, status: int, code: int, message: str, **fields: Any) -> SandboxResponse:
        return cls.json(status, {"code": code, "message": message, **fields})

    @classmethod
    def redirect(cls, url: str) -> SandboxResponse:
        return cls(302, b"", {"location": url})

"""The sandbox's postLink deliveries: the documented payload, sent where the test says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import attrs
import httpx

from .._converter import dumps
from ._state import SandboxTransaction

Callback = Callable[[str, dict[str, Any]], Awaitable[object]]


@attrs.define
class Delivery:
    """One notification the sandbox sent (or tried to)."""

    url: str
    payload: dict[str, Any] = attrs.field(repr=False)
    status: int | None = None
    error: str | None = None

    @property
    def body(self) -> bytes:
        """The exact JSON bytes POSTed (replay them to test duplicate delivery)."""
        return dumps(self.payload)


def payload(tx: SandboxTransaction, success: bool) -> dict[str, Any]:
    """The JSON body of a postLink / failurePostLink notification (epay-api.md §5)."""
    body: dict[str, Any] = {
        "id": tx.id,
        "dateTime": tx.created.isoformat(),
        "invoiceId": tx.invoice_id,
        "invoiceIdAlt": "",
        "amount": tx.amount,
        "currency": tx.currency,
        "terminal": "98120001",
        "accountId": tx.account_id,
        "description": tx.description,
        "language": "rus",
        "cardMask": tx.card_mask,
        "cardType": tx.card_type,
        "issuer": "Halyk Bank",
        "reference": tx.reference,
        "secure": "yes" if tx.secure else "no",
        "secureDetails": "",
        "code": "ok" if success else "error",
        "reason": tx.reason if not success else "Approved",
        "reasonCode": 0 if success else int(tx.reason_code or "-1"),
        "name": tx.name,
        "email": tx.email,
        "phone": tx.phone,
        "ip": "127.0.0.1",
        "ipCity": "Almaty",
        "ipCountry": "KZ",
        "ipDistrict": "",
        "ipLatitude": Decimal("43.2567"),
        "ipLongitude": Decimal("76.9286"),
        "ipRegion": "",
    }
    if success:
        body.update(approvalCode=tx.approval_code, cardId=tx.card_id, data=tx.data)
    if tx.secret_hash is not None:
        body["secret_hash"] = tx.secret_hash
    return body


class Notifier:
    """Sends notifications through an ASGI app, an httpx client, or a callback."""

    def __init__(self) -> None:
        self._send: Callback | None = None
        self.deliveries: list[Delivery] = []

    def configure(
        self,
        *,
        asgi_app: Any = None,
        http_client: httpx.AsyncClient | None = None,
        callback: Callback | None = None,
    ) -> None:
        chosen = [x for x in (asgi_app, http_client, callback) if x is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of asgi_app, http_client, callback")
        if callback is not None:
            self._send = callback
        elif http_client is not None:
            self._send = _via_httpx(http_client)
        else:
            self._send = _via_asgi(asgi_app)

    async def deliver(self, tx: SandboxTransaction, success: bool) -> None:
        url = tx.post_link if success else (tx.failure_post_link or tx.post_link)
        if not url:
            return
        delivery = Delivery(url, payload(tx, success))
        self.deliveries.append(delivery)
        if self._send is None:
            return
        try:
            result = await self._send(url, delivery.payload)
        except Exception as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        else:
            delivery.status = result if isinstance(result, int) else None


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> int:
    response = await client.post(
        url, content=dumps(body), headers={"Content-Type": "application/json"}
    )
    return response.status_code


def _via_httpx(client: httpx.AsyncClient) -> Callback:
    async def send(url: str, body: dict[str, Any]) -> int:
        return await _post(client, url, body)

    return send


def _via_asgi(app: Any) -> Callback:
    async def send(url: str, body: dict[str, Any]) -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await _post(client, url, body)

    return send

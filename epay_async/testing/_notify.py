"""The sandbox's postLink / failurePostLink notifications: the captured production shape
(epay-api.md §5, §10b), sent where the test says, or over real HTTP when served.

Three ways out, chosen per sandbox:

- ``send_notifications_to(asgi_app= | http_client= | callback=)``: delivered inline, once,
  before the answer to the request that caused them (deterministic, for in-process tests).
- Served (``sandbox.serve`` or the ASGI app under a server with lifespan) and nothing chosen:
  POSTed over HTTP to the order's URLs by a background task that the server owns, with a
  bounded number of attempts and backoff; every attempt is logged on ``epay_async.testing``.
  The payer's answer never waits for it, and a receiver that is down never stops the sandbox.
- Otherwise: only recorded in ``sandbox.notifications``.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import attrs
import httpx
from anyio.streams.memory import MemoryObjectSendStream

from .._converter import dumps
from .._logs import child_logger
from ._records import KZ_TIME, SandboxTransaction

__all__ = ["Delivery", "Notifier", "payload"]

Callback = Callable[[str, dict[str, Any]], Awaitable[object]]

logger = child_logger("testing")

#: How long one delivery attempt may take before it counts as failed.
ATTEMPT_TIMEOUT = 10.0
#: Deliveries waiting for the background task, at most (past it a delivery is dropped, logged).
MAX_QUEUED = 10_000
#: Deliveries in flight at once from the background task.
MAX_IN_FLIGHT = 16


@attrs.define
class Delivery:
    """One notification the sandbox sent (or tried to): its last outcome and attempt count."""

    url: str
    payload: dict[str, Any] = attrs.field(repr=False)
    status: int | None = None
    error: str | None = None
    #: HTTP attempts made so far (0 while only recorded, or before the first attempt).
    attempts: int = 0

    @property
    def body(self) -> bytes:
        """The exact JSON bytes POSTed (replay them to test duplicate delivery)."""
        return dumps(self.payload)

    @property
    def delivered(self) -> bool:
        """The receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def gateway_time(moment: datetime) -> str:
    """``2025-02-07T23:30:19.123456789+05:00``: Kazakhstan's offset and nine fractional
    digits, as production notifications carry it (the last three digits are made up)."""
    local = moment.astimezone(KZ_TIME)
    nanos = f"{local.microsecond:06d}{(local.microsecond * 7 + local.second) % 1000:03d}"
    return f"{local:%Y-%m-%dT%H:%M:%S}.{nanos}+05:00"


def notification_language(language: str) -> str:
    """The order's language as the notification echoes it: ``RUS``, ``KAZ``, ``ENG``."""
    return {"ru": "RUS", "kz": "KAZ", "kk": "KAZ", "en": "ENG"}.get(
        language.lower(), language.upper()
    )


def _or_null(value: str | None) -> str | None:
    return value or None


def payload(tx: SandboxTransaction, success: bool) -> dict[str, Any]:
    """The JSON body of a postLink / failurePostLink notification: camelCase keys, absent
    values as ``null``, ``secure`` a string, ``reasonCode`` and ``amount`` numbers."""
    body: dict[str, Any] = {
        "id": tx.id,
        "dateTime": gateway_time(tx.created),
        "invoiceId": tx.invoice_id,
        "invoiceIdAlt": None,
        "amount": tx.amount,
        "currency": tx.currency,
        "terminal": "98120001",
        "accountId": _or_null(tx.account_id),
        "description": _or_null(tx.description),
        "language": notification_language(tx.language),
        "cardMask": _or_null(tx.card_mask),
        "cardType": _or_null(tx.card_type),
        "issuer": "Halyk Bank",
        "issuerBankCountry": "KAZ",
        "reference": tx.reference,
        "secure": "yes" if tx.secure else "no",
        "secureDetails": None,
        "code": "ok" if success else "error",
        "reason": "Approved" if success else tx.reason,
        "reasonCode": 0 if success else int(tx.reason_code or "-1"),
        "name": _or_null(tx.name),
        "email": _or_null(tx.email),
        "phone": _or_null(tx.phone),
        "ip": "127.0.0.1",
        "ipCity": "Almaty",
        "ipCountry": "KZ",
        "ipDistrict": None,
        "ipLatitude": Decimal("43.2567"),
        "ipLongitude": Decimal("76.9286"),
        "ipRegion": None,
    }
    if success:
        # A card verification's notification carries no card id (read it from check-status).
        card_id = None if tx.verification else _or_null(tx.card_id)
        body.update(approvalCode=tx.approval_code, cardId=card_id, data=_or_null(tx.data))
    else:
        body["tokenRecipient"] = None
    if tx.secret_hash is not None:
        body["secret_hash"] = tx.secret_hash
    return body


class Notifier:
    """Records every notification, and sends it inline (a configured sender), in the
    background over HTTP (while served), or not at all."""

    def __init__(self, *, attempts: int = 5, backoff: float = 1.0) -> None:
        if attempts < 1:
            raise ValueError("notification attempts must be at least 1")
        if not (backoff >= 0 and math.isfinite(backoff)):
            raise ValueError("notification backoff must be a finite number of seconds >= 0")
        self._send: Callback | None = None
        self._queue: MemoryObjectSendStream[Delivery] | None = None
        self.deliveries: list[Delivery] = []
        self.attempts = attempts
        self.backoff = backoff

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
            send = callback
        elif http_client is not None:
            send = _via_httpx(http_client)
        else:
            send = _via_asgi(asgi_app)
        self._send = _on_the_loop_of_the_caller(send)

    async def deliver(self, tx: SandboxTransaction, success: bool) -> None:
        url = tx.post_link if success else (tx.failure_post_link or tx.post_link)
        if not url:
            return
        delivery = Delivery(url, payload(tx, success))
        self.deliveries.append(delivery)
        if self._send is not None:
            await self._attempt(delivery, self._send)
        elif self._queue is not None:
            try:
                self._queue.send_nowait(delivery)
            except anyio.WouldBlock:
                delivery.error = "dropped: too many notifications waiting"
                logger.warning("sandbox notification to %s dropped: queue full", url)

    async def _attempt(self, delivery: Delivery, send: Callback) -> None:
        delivery.attempts += 1
        try:
            result = await send(delivery.url, delivery.payload)
        except Exception as exc:  # a receiver's failure is the receiver's: record it, go on
            delivery.status, delivery.error = None, f"{type(exc).__name__}: {exc}"
            if send is self._send:  # inline: a test would not see it otherwise
                logger.warning(
                    "sandbox notification for invoice %s to %s failed: %s",
                    delivery.payload.get("invoiceId"),
                    delivery.url,
                    delivery.error,
                )
        else:
            delivery.status = result if isinstance(result, int) else None
            delivery.error = None

    async def run(
        self,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver over HTTP in the background until cancelled (a served sandbox runs this
        in its own task group; cancelling it stops deliveries still retrying)."""
        send, receive = anyio.create_memory_object_stream[Delivery](MAX_QUEUED)
        limiter = anyio.CapacityLimiter(MAX_IN_FLIGHT)
        async with (
            httpx.AsyncClient(
                timeout=ATTEMPT_TIMEOUT, follow_redirects=False, trust_env=False
            ) as client,
            anyio.create_task_group() as tasks,
            receive,
        ):
            self._queue = send
            try:
                task_status.started()
                async for delivery in receive:
                    tasks.start_soon(self._retrying, delivery, client, limiter)
            finally:
                self._queue = None
                send.close()

    async def _retrying(
        self, delivery: Delivery, client: httpx.AsyncClient, limiter: anyio.CapacityLimiter
    ) -> None:
        code = delivery.payload.get("code")
        invoice = delivery.payload.get("invoiceId")
        for attempt in range(1, self.attempts + 1):
            async with limiter:
                await self._attempt(delivery, _via_httpx(client))
            outcome = f"HTTP {delivery.status}" if delivery.status else delivery.error
            if delivery.delivered:
                logger.info(
                    "sandbox notification (%s) for invoice %s to %s: attempt %d/%d, %s",
                    code, invoice, delivery.url, attempt, self.attempts, outcome,
                )  # fmt: skip
                return
            last = attempt == self.attempts
            logger.warning(
                "sandbox notification (%s) for invoice %s to %s: attempt %d/%d failed (%s)%s",
                code, invoice, delivery.url, attempt, self.attempts, outcome,
                ", giving up" if last else "",
            )  # fmt: skip
            if not last:
                await anyio.sleep(self.backoff * 2 ** (attempt - 1))


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> int:
    response = await client.post(
        url, content=dumps(body), headers={"Content-Type": "application/json"}
    )
    return response.status_code


def _via_httpx(client: httpx.AsyncClient) -> Callback:
    async def send(url: str, body: dict[str, Any]) -> int:
        return await _post(client, url, body)

    return send


def _on_the_loop_of_the_caller(send: Callback) -> Callback:
    """``send`` run on the asyncio loop that chose it when a sandbox served from another
    thread delivers (the ``epay_sandbox_url`` fixture): the test's app, its client and its
    database live on the test's loop. From the chooser's own thread, or once that loop has
    stopped, ``send`` runs where it is called, as before."""
    try:
        home = asyncio.get_running_loop()
    except RuntimeError:  # chosen outside an asyncio loop (a sync test, trio): run it as is
        return send
    chooser = threading.get_ident()

    async def on_home_loop(url: str, body: dict[str, Any]) -> object:
        if threading.get_ident() == chooser or not home.is_running():
            return await send(url, body)

        abandoned = threading.Event()

        async def delivered() -> object:
            if abandoned.is_set():  # timed out or cancelled before the loop came to it
                raise asyncio.CancelledError
            return await send(url, body)

        coroutine = delivered()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, home)
        except RuntimeError:  # the loop closed meanwhile
            coroutine.close()
            raise
        try:
            with anyio.fail_after(ATTEMPT_TIMEOUT):
                return await anyio.to_thread.run_sync(future.result, abandon_on_cancel=True)
        finally:
            abandoned.set()
            future.cancel()

    return on_home_loop


def _via_asgi(app: Any) -> Callback:
    async def send(url: str, body: dict[str, Any]) -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return await _post(client, url, body)

    return send

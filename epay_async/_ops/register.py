"""The operations register (``POST {API}/operations``, transfers ``{API}/p2p/operations``;
epay-api.md §10a): every operation of a period, read as a stream of typed records.

Paging. The documentation calls ``paging.page`` "the number of records to skip", yet its own
example sends ``page: 1, size: 2``: ``page`` may be a skip count or a page number from 1. The
walk does not depend on either reading, nor on a second page ever being asked for:

- The period is cut into windows of ``created_date`` small enough that one page holds a whole
  window: a window whose ``totalCount`` is more than ``page_size`` is split (into as many parts
  as its count needs, and again while a part is still too full, down to one millisecond).
- A window is read with a single request for its first page: ``page: 0``, which is the first
  page under the "skip" reading. A gateway reading ``page`` as a number from 1 either gives the
  first page for 0 too, or an error, or fewer records than ``totalCount``; then ``page: 1`` is
  asked instead, and that reading is kept for the rest of the walk (the first window that
  settles it decides).
- A window is accepted only when its answer holds exactly ``totalCount`` distinct records; if
  not (records added between the gateway's count and its select, or a reading that skipped
  some), it is read again, a few times, and then the walk fails with :class:`ProtocolError`
  rather than miss an operation.
- ``between`` may include both ends, so neighbouring windows share an instant: each window
  keeps only records with ``start <= createdDate < end``; the period is
  ``since <= createdDate < until``. Every record of the period is thus given exactly once,
  with no set of ids over the walk: memory is one page per request in flight.

Payments created during the walk land in the window of their creation time: they are read when
that window is read after they exist (the walk is not a snapshot of one instant).

Windows are read ``concurrency`` at a time; records come window by window, in no global order.
Each page request is a read: under the client's deadline (per request) and retry rules, with
the cached service token (client credentials, long scope plus terminal) by default, or a
password grant of the merchant cabinet (``login``), the documentation's token.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import _constants as C
from .. import _validation
from .._answers import json_body
from .._converter import structure, to_int
from .._http import Answer
from .._pipeline import SERVICE_TOKEN, Operation
from .._secret import Secret
from .._tokens import TokenAcquirer
from ..errors import ApiError, ProtocolError, ValidationError
from ..types.invoice_links import CabinetLogin
from ..types.register import OperationRecord
from ._base import Pipeline

__all__ = ["OperationsWalk", "RegisterFilters", "RegisterKind"]

RegisterKind = Literal["payment", "transfer"]
MAX_PAGE_SIZE = 10_000
#: Reads of one window that may disagree with its ``totalCount`` before the walk gives up.
MAX_REREADS = 5
_MIN_WINDOW = timedelta(milliseconds=1)
_PATHS = {"payment": "/operations", "transfer": "/p2p/operations"}


def _instant(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(field, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            field,
            "must be timezone-aware: the gateway's days run on UTC+5, e.g. datetime(2026, 12, 1,"
            " tzinfo=timezone(timedelta(hours=5)))",
        )
    return value


def _wire_instant(value: datetime, *, up: bool = False) -> str:
    """To the millisecond, rounded down (a window's start) or up (its end), so that the search
    always covers the window; the records outside it are dropped by the walk."""
    rest = timedelta(microseconds=value.microsecond % 1000)
    if rest:
        value = value - rest + (timedelta(milliseconds=1) if up else timedelta(0))
    return value.isoformat(timespec="milliseconds")


def _floor(value: datetime, grain: timedelta) -> datetime:
    """``value`` on a whole ``grain`` (a second or a millisecond) of its own clock."""
    micros = value.second * 1_000_000 + value.microsecond
    step = grain // timedelta(microseconds=1)
    return value - timedelta(microseconds=micros % step)


@attrs.frozen
class RegisterFilters:
    """The search parameters besides the period, validated; ``parameters()`` gives them in the
    register's shape."""

    invoice_ids: tuple[str, ...] | None = None
    account_id: str | None = None
    reference: str | None = None
    amount: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    card_mask: str | None = None
    payer_phone: str | None = None
    payer_email: str | None = None

    @classmethod
    def build(
        cls,
        *,
        invoice_ids: Iterable[str] | None,
        account_id: str | None,
        reference: str | None,
        amount: Decimal | int | str | None,
        min_amount: Decimal | int | str | None,
        max_amount: Decimal | int | str | None,
        card_mask: str | None,
        payer_phone: str | None,
        payer_email: str | None,
    ) -> RegisterFilters:
        ids: tuple[str, ...] | None = None
        if invoice_ids is not None:
            if isinstance(invoice_ids, str | bytes) or not isinstance(invoice_ids, Iterable):
                raise ValidationError("invoice_ids", "must be an iterable of ids, not one string")
            ids = tuple(_validation.invoice_id(i, "invoice_ids") for i in invoice_ids)
            if not ids:
                raise ValidationError("invoice_ids", "must name at least one invoice")
        if card_mask is not None:
            card_mask = _validation.non_empty(card_mask, "card_mask")
            if "%" not in card_mask:
                raise ValidationError(
                    "card_mask", "must be a like pattern with % (e.g. '440043%1234')"
                )
        low = _validation.amount(min_amount, "min_amount") if min_amount is not None else None
        high = _validation.amount(max_amount, "max_amount") if max_amount is not None else None
        if low is not None and high is not None and low > high:
            raise ValidationError("max_amount", "must not be below min_amount")
        return cls(
            invoice_ids=ids,
            account_id=None
            if account_id is None
            else _validation.non_empty(account_id, "account_id"),
            reference=None if reference is None else _validation.non_empty(reference, "reference"),
            amount=_validation.amount(amount) if amount is not None else None,
            min_amount=low,
            max_amount=high,
            card_mask=card_mask,
            payer_phone=_validation.optional_phone(payer_phone, "payer_phone"),
            payer_email=_validation.optional_email(payer_email, "payer_email"),
        )

    def parameters(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def add(name: str, method: str, *values: Any) -> None:
            out.append({"name": name, "method": method, "searchParameter": list(values)})

        if self.invoice_ids is not None:
            add("invoice_id", "in", *self.invoice_ids)
        for name, value in (
            ("account_id", self.account_id),
            ("reference", self.reference),
            ("payer_phone", self.payer_phone),
            ("payer_email", self.payer_email),
        ):
            if value is not None:
                add(name, "=", value)
        if self.amount is not None:
            add("amount", "=", self.amount)
        if self.min_amount is not None:
            add("amount", ">=", self.min_amount)
        if self.max_amount is not None:
            add("amount", "<=", self.max_amount)
        if self.card_mask is not None:
            add("card_mask", "like", self.card_mask)
        return out


@attrs.frozen
class _Page:
    total: int
    records: list[OperationRecord]


class _WalkToken:
    """The walk's token: the client's cached read token, or one minted for the walk (a
    password grant, or the ``transfer`` scope) and minted again once after a 401/403."""

    def __init__(self, kind: RegisterKind, login: CabinetLogin | None) -> None:
        self._scope = C.TRANSFER_SCOPE if kind == "transfer" else C.SERVICE_SCOPE
        self._login = login
        self._own = login is not None or kind == "transfer"
        self._token: str | None = None
        self._lock = anyio.Lock()

    async def _mint(self, tokens: TokenAcquirer, stale: str | None) -> str:
        async with self._lock:  # one mint for all the walk's requests
            if self._token is None or self._token == stale:
                if self._login is not None:
                    form = {
                        "grant_type": "password",
                        "username": self._login.username,
                        "password": Secret(self._login.password),
                    }
                    answer = await tokens._request(
                        form, "token (operations register)", self._scope, terminal=False
                    )
                else:
                    answer = await tokens._request({}, "token (operations register)", self._scope)
                self._token = Secret(answer.access_token)
            return self._token

    async def get(self, tokens: TokenAcquirer) -> str:
        if not self._own:
            return await SERVICE_TOKEN.get(tokens)
        return self._token or await self._mint(tokens, None)

    async def refresh(self, tokens: TokenAcquirer, stale: str) -> str | None:
        if not self._own:
            return await SERVICE_TOKEN.refresh(tokens, stale)
        return await self._mint(tokens, stale)


class OperationsWalk:
    """Every operation of ``since <= createdDate < until``: ``async with`` owns the readers,
    the ``as`` target yields :class:`OperationRecord` as windows are read::

        async with epay.operations(since, until) as records:
            async for record in records:
                ...

    Leaving the block, early or not, stops every request there and then. At most
    ``concurrency`` requests are in flight and at most ``concurrency`` pages are held.
    """

    def __init__(
        self,
        ctx: Pipeline,
        kind: RegisterKind,
        since: datetime,
        until: datetime,
        filters: RegisterFilters,
        *,
        page_size: int,
        concurrency: int,
        login: CabinetLogin | None,
    ) -> None:
        self._since = _instant(since, "since")
        self._until = _instant(until, "until")
        if not self._since < self._until:
            raise ValidationError("until", "must be after since")
        for value, field, top in (
            (page_size, "page_size", MAX_PAGE_SIZE),
            (concurrency, "concurrency", 64),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValidationError(field, f"must be a whole number from 1 to {top}")
        if login is not None and not isinstance(login, CabinetLogin):
            raise ValidationError("login", "must be a CabinetLogin")
        self._pipeline = ctx
        self._kind = kind
        self._filters = filters.parameters()
        self._page_size = page_size
        self._concurrency = concurrency
        self._token = _WalkToken(kind, login)
        #: The first page's ``page`` value, once a window settled it (0: skip, 1: number).
        self.first_page: int | None = None
        #: Requests sent (tests and progress bars).
        self.requests = 0
        self._task_group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[OperationRecord] | None = None
        #: What stopped the walk, raised at the end of the records.
        self.error: Exception | None = None

    def __aiter__(self) -> AsyncIterator[OperationRecord]:
        raise TypeError(
            "operations() is used as `async with epay.operations(since, until) as records: "
            "async for record in records: ...`"
        )

    async def __aenter__(self) -> AsyncIterator[OperationRecord]:
        if self._task_group is not None:
            raise RuntimeError("an operations walk runs once")
        send, receive = anyio.create_memory_object_stream[OperationRecord](self._page_size)
        self._receive = receive
        task_group = self._task_group = anyio.create_task_group()
        await task_group.__aenter__()
        task_group.start_soon(self._run, send)
        return _Records(receive, self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        assert self._receive is not None
        self._task_group.cancel_scope.cancel()
        self._receive.close()
        await self._task_group.__aexit__(None, None, None)

    async def _run(self, send: MemoryObjectSendStream[OperationRecord]) -> None:
        async with send:
            pending: deque[tuple[datetime, datetime]] = deque([(self._since, self._until)])
            running = 0
            changed = anyio.Event()

            async def window(start: datetime, end: datetime) -> None:
                nonlocal running, changed
                try:
                    await self._window(start, end, send, pending)
                except anyio.get_cancelled_exc_class():
                    raise
                except Exception as exc:
                    if self.error is None:
                        self.error = exc
                    task_group.cancel_scope.cancel()
                finally:
                    running -= 1
                    changed.set()

            async with anyio.create_task_group() as task_group:
                while pending or running:
                    if pending and running < self._concurrency:
                        start, end = pending.popleft()
                        running += 1
                        task_group.start_soon(window, start, end)
                        continue
                    await changed.wait()
                    changed = anyio.Event()

    async def _window(
        self,
        start: datetime,
        end: datetime,
        send: MemoryObjectSendStream[OperationRecord],
        pending: deque[tuple[datetime, datetime]],
    ) -> None:
        for _ in range(MAX_REREADS):
            page = await self._first_page(start, end)
            if page.total > self._page_size:
                parts = self._split(start, end, page.total)
                if parts is None:
                    raise ProtocolError(
                        f"more than {self._page_size} operations within one millisecond "
                        f"at {_wire_instant(start)}: use a larger page_size",
                        field="$.totalCount",
                    )
                pending.extendleft(reversed(parts))
                return
            unique = {record.id: record for record in page.records}
            if len(unique) != page.total:
                continue  # records came (or went) between the count and the select: read again
            for record in unique.values():
                if start <= record.created_date < end:
                    await send.send(record)
            return
        raise ProtocolError(
            f"the register's totalCount for {_wire_instant(start)}..{_wire_instant(end)} "
            f"never matched its records after {MAX_REREADS} reads",
            field="$.totalCount",
        )

    def _split(
        self, start: datetime, end: datetime, total: int
    ) -> list[tuple[datetime, datetime]] | None:
        span = end - start
        if span <= _MIN_WINDOW:
            return None
        parts = min(max(2, math.ceil(total / self._page_size) + 1), 64)
        step = max(span / parts, _MIN_WINDOW)
        # Edges on whole seconds (whole milliseconds in a window of a few seconds): on the
        # grid the gateway writes createdDate to, whatever precision it compares with.
        grain = timedelta(seconds=1) if step >= timedelta(seconds=2) else _MIN_WINDOW
        edges = [start]
        for number in range(1, parts):
            edge = _floor(start + step * number, grain)
            if edges[-1] < edge < end:
                edges.append(edge)
        edges.append(end)
        return list(itertools.pairwise(edges))

    async def _first_page(self, start: datetime, end: datetime) -> _Page:
        if self.first_page is not None:
            return await self._read(start, end, self.first_page)
        try:
            page = await self._read(start, end, 0)
        except (ApiError, ProtocolError):
            page = None  # a reading from 1 may refuse page 0 (page 1 is then asked for)
        if page is not None and (
            page.total > self._page_size
            or len({record.id for record in page.records}) == page.total
        ):
            if page.total > 0 and page.total <= self._page_size:
                self.first_page = 0
            return page
        other = await self._read(start, end, 1)
        if other.total <= self._page_size and len({r.id for r in other.records}) == other.total:
            self.first_page = 1 if other.total > 0 else None
        return other

    async def _read(self, start: datetime, end: datetime, page: int) -> _Page:
        body = {
            "paging": {"page": page, "size": self._page_size},
            "searchParameters": [
                {
                    "name": "created_date",
                    "method": "between",
                    "searchParameter": [_wire_instant(start), _wire_instant(end, up=True)],
                },
                *self._filters,
            ],
            "orderParameters": [{"field": "created_date", "typeOrder": "ASC"}],
        }
        operation = "operations" if self._kind == "payment" else "transfer_operations"
        self.requests += 1
        read = Operation(
            name=operation,
            method="POST",
            url=self._pipeline.url(_PATHS[self._kind]),
            read=parse_page,
            token=self._token,
            body=body,
        )
        return await self._pipeline.call(operation, Pipeline.send, read)


class _Records:
    """The walk's records, read from the stream the block owns (not a generator: nothing is
    left to finalise when the loop is left early); at the end, the walk's error is raised."""

    def __init__(
        self, receive: MemoryObjectReceiveStream[OperationRecord], walk: OperationsWalk
    ) -> None:
        self._receive = receive
        self._walk = walk

    def __aiter__(self) -> _Records:
        return self

    async def __anext__(self) -> OperationRecord:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._walk.error is not None:
                raise self._walk.error from None
            raise StopAsyncIteration from None


def parse_page(response: Answer) -> _Page:
    """One register answer: ``{"totalCount", "records": [...]}``."""
    what = "operations register answer"
    body: Any = json_body(response, what=what)
    if not isinstance(body, dict):
        raise ProtocolError(f"{what}: expected an object, got {type(body).__name__}")
    keys = {str(key).lower(): key for key in body}
    if "totalcount" not in keys:
        raise ProtocolError(f"{what} has no totalCount", field="$.totalCount")
    try:
        total = to_int(body[keys["totalcount"]])
    except ProtocolError as exc:
        raise ProtocolError(f"{what}: totalCount {exc}", field="$.totalCount") from None
    if total < 0:
        raise ProtocolError(f"{what}: negative totalCount", field="$.totalCount")
    raw = body.get(keys.get("records", ""), [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ProtocolError(f"{what}: records is not a list", field="$.records")
    records = [structure(item, OperationRecord, what="operations register record") for item in raw]
    return _Page(total, records)

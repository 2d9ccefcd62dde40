"""The operations registers: ``POST /operations`` and ``POST /p2p/operations``
(epay-api.md §10a).

As the documentation describes: a ``created_date`` ``between`` search is mandatory; filters by
the documented names with ``between``, ``in``, ``like``, ``=``, ``<``, ``>``, ``<=``, ``>=``;
``orderParameters``; ``paging`` under a configurable reading of ``page`` (``page_reading``:
``"skip"``, the number of records to skip, or ``"number"``, a page number from 1 that refuses
0). A bad search answers HTTP 400 ``{"code", "message"}``. ``between`` includes both ends.

Records are the sandbox's transactions (payments in ``/operations``, P2P in the other) and
those added in bulk with :meth:`RegisterEndpoints.add_operations`, kept compactly by the ledger
and sorted by creation time, so 100 000 of them cost little and a period is found by bisection.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ..._converter import to_datetime
from ...errors import ProtocolError
from .._ledger import Ledger, register_kind
from .._records import RegisterOperation
from .._router import Router
from .._wire import SandboxRequest, SandboxResponse
from .shared import authorize

PageReading = Literal["skip", "number"]
BAD_SEARCH = 400
_METHODS = ("between", "in", "like", "=", "<", ">", "<=", ">=")
_FIELDS = {
    "created_date": "created",
    "invoice_id": "invoice_id",
    "account_id": "account_id",
    "reference": "reference",
    "amount": "amount",
    "card_mask": "card_mask",
    "payer_phone": "payer_phone",
    "payer_email": "payer_email",
    "payout_amount": "payout_amount",
}
#: Documented filters the sandbox keeps no data for: refused as not emulated, never answered
#: with records the gateway would not have chosen.
_NOT_EMULATED = frozenset(
    {"shop_id", "post_link", "client", "installment_id", "transaction_type_id", "payout_date"}
)


class _BadSearch(Exception):
    pass


def _like(pattern: str) -> Callable[[Any], bool]:
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.IGNORECASE)
    return lambda value: regex.fullmatch(str(value)) is not None


def _coerce(field: str, value: Any) -> Any:
    try:
        if field == "created":
            return to_datetime(value)
        if field in ("amount", "payout_amount"):
            return Decimal(str(value))
    except (ProtocolError, InvalidOperation):
        raise _BadSearch(f"{field}: not a valid value") from None
    return str(value)


def _predicate(name: str, method: str, values: list[Any]) -> Callable[[RegisterOperation], bool]:
    field = _FIELDS.get(name)
    if name in _NOT_EMULATED:
        raise _BadSearch(f"the sandbox does not emulate the search parameter {name!r}")
    if field is None:
        raise _BadSearch(f"unknown search parameter {name!r}")
    if method not in _METHODS:
        raise _BadSearch(f"unknown method {method!r}")
    if method == "like":
        if len(values) != 1 or "%" not in str(values[0]):
            raise _BadSearch("like takes one value with %")
        match = _like(str(values[0]))
        return lambda op: match(getattr(op, field))
    coerced = [_coerce(field, value) for value in values]
    if method == "between":
        if len(coerced) != 2:
            raise _BadSearch("between takes exactly 2 values")
        low, high = coerced
        return lambda op: (v := getattr(op, field)) is not None and low <= v <= high
    if method == "in":
        if not coerced:
            raise _BadSearch("in takes at least 1 value")
        allowed = set(coerced)
        return lambda op: getattr(op, field) in allowed
    if len(coerced) != 1:
        raise _BadSearch(f"{method} takes 1 value")
    (ref,) = coerced
    compare: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == ref,
        "<": lambda v: v < ref,
        ">": lambda v: v > ref,
        "<=": lambda v: v <= ref,
        ">=": lambda v: v >= ref,
    }
    test = compare[method]
    return lambda op: (v := getattr(op, field)) is not None and test(v)


class RegisterEndpoints:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        #: How ``paging.page`` is read: records to skip, or a page number from 1.
        self.page_reading: PageReading = "skip"
        #: Called before each answer (tests add operations "during the walk" with it).
        self.before_answer: Callable[[], None] | None = None

    def mount(self, router: Router) -> None:
        router.add("POST", r"/(?:api/)?operations", self.payments)
        router.add("POST", r"/(?:api/)?p2p/operations", self.transfers)

    def add(self, operation: RegisterOperation) -> RegisterOperation:
        """Put ``operation`` in its register."""
        return self._ledger.add_operation(operation)

    def add_operations(
        self,
        n: int,
        *,
        since: datetime,
        until: datetime,
        kind: str = "payment",
        status: str = "CHARGE",
        amount: Decimal = Decimal("1000.00"),
        currency: str = "KZT",
        invoice_prefix: str = "9",
        start: int = 0,
    ) -> None:
        """Add ``n`` operations spread evenly over ``since <= created < until``, invoice ids
        ``f"{invoice_prefix}{start + i:09d}"``. Cheap: ~200 bytes each, no request made."""
        step = (until - since) / max(n, 1)
        kind = register_kind(kind)
        batch = [
            RegisterOperation(
                invoice_id=f"{invoice_prefix}{start + i:09d}",
                amount=amount,
                created=since + step * i,
                status=status,
                currency=currency,
                kind=kind,
            )
            for i in range(n)
        ]
        self._ledger.add_operations(kind, batch)

    def operations(self, kind: str = "payment") -> list[RegisterOperation]:
        """The register's operations (bulk ones and the sandbox's transactions)."""
        return [*self._ledger.bulk_operations(kind), *self._from_transactions(kind)]

    def _from_transactions(self, kind: str) -> list[RegisterOperation]:
        wanted = "p2p" if kind == "transfer" else "payment"
        return [
            RegisterOperation(
                invoice_id=tx.invoice_id,
                amount=tx.amount,
                created=tx.created,
                status=str(tx.status),
                currency=tx.currency,
                kind=kind,
                id=tx.id,
                account_id=tx.account_id,
                reference=tx.reference,
                card_mask=tx.card_mask,
                payer_phone=tx.phone,
                payer_email=tx.email,
                payout_amount=tx.refunded or None,
                card_type=tx.card_type,
                payer_name=tx.name,
            )
            for tx in self._ledger.transactions(wanted)
        ]

    async def payments(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        return self._answer(request, "payment")

    async def transfers(self, request: SandboxRequest, _: re.Match[str]) -> SandboxResponse:
        return self._answer(request, "transfer")

    def _answer(self, request: SandboxRequest, kind: str) -> SandboxResponse:
        token = authorize(self._ledger, request)
        if isinstance(token, SandboxResponse):
            return token
        if kind not in token.scope.split() or token.bound:
            return SandboxResponse.json(403, {"error": "insufficient_scope"})
        if self.before_answer is not None:
            self.before_answer()
        try:
            return self._search(request.json(), kind)
        except _BadSearch as exc:
            return SandboxResponse.error(400, BAD_SEARCH, f"wrong search parameters: {exc}")

    def _search(self, body: Any, kind: str) -> SandboxResponse:
        if not isinstance(body, dict):
            raise _BadSearch("the body is not a JSON object")
        paging = body.get("paging")
        if not isinstance(paging, dict):
            raise _BadSearch("paging is required")
        page, size = paging.get("page"), paging.get("size")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (page, size)):
            raise _BadSearch("paging.page and paging.size must be integers")
        assert isinstance(page, int)
        assert isinstance(size, int)
        if size < 1 or page < 0 or (self.page_reading == "number" and page < 1):
            raise _BadSearch("bad paging")
        params = body.get("searchParameters")
        if not isinstance(params, list):
            raise _BadSearch("searchParameters is required")
        period: tuple[datetime, datetime] | None = None
        tests: list[Callable[[RegisterOperation], bool]] = []
        for param in params:
            if not isinstance(param, dict):
                raise _BadSearch("a search parameter is not an object")
            name, method = param.get("name"), param.get("method")
            values = param.get("searchParameter")
            if not isinstance(values, list):
                raise _BadSearch("searchParameter must be a list")
            tests.append(_predicate(str(name), str(method), values))
            if name == "created_date" and method == "between":
                low, high = (_coerce("created", v) for v in values)
                period = (low, high)
        if period is None:
            raise _BadSearch("a created_date between search is mandatory")
        total, selected = self._select(body, kind, page, size, period=period, tests=tests)
        records = ",".join(op.to_json() for op in selected)
        answer = f'{{"totalCount":{total},"records":[{records}]}}'.encode()
        return SandboxResponse(200, answer, {"content-type": "application/json"})

    def _select(
        self,
        body: dict[str, Any],
        kind: str,
        page: int,
        size: int,
        *,
        period: tuple[datetime, datetime],
        tests: list[Callable[[RegisterOperation], bool]],
    ) -> tuple[int, list[RegisterOperation]]:
        """The count of matching operations and those of the page asked for."""
        reverse = False
        order_field = "created"
        for order in body.get("orderParameters") or []:
            if isinstance(order, dict) and order.get("field") in _FIELDS:
                order_field = _FIELDS[str(order["field"])]
                reverse = str(order.get("typeOrder", "ASC")).upper() == "DESC"
                break
        skip = page if self.page_reading == "skip" else (page - 1) * size
        extra = sorted(self._from_transactions(kind), key=lambda op: op.created)
        candidates = heapq.merge(
            self._ledger.bulk_operations_between(kind, *period), extra, key=lambda op: op.created
        )
        matching = (op for op in candidates if all(test(op) for test in tests))
        if order_field == "created" and not reverse:
            # Already in order: count them all, keep only the page (a month of 100 000
            # operations costs no more memory than one page).
            total = 0
            selected: list[RegisterOperation] = []
            for total, op in enumerate(matching, 1):
                if skip < total <= skip + size:
                    selected.append(op)
            return total, selected
        found = sorted(matching, key=lambda op: (getattr(op, order_field), op.id))
        if reverse:
            found.reverse()
        return len(found), found[skip : skip + size]

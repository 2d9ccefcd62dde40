"""The operations register: ``epay.operations()`` / ``epay.transfer_operations()`` against the
sandbox's registers, under both readings of ``paging.page``."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import anyio
import pytest

from epay_async import ApiError, CabinetLogin, EpayClient, ProtocolError, ValidationError
from epay_async.testing import Sandbox
from epay_async.testing._handlers.registers import RegisterEndpoints
from epay_async.testing._merchant import TEST_CABINET_PASSWORD, TEST_CABINET_USERNAME
from epay_async.testing._records import RegisterOperation

from .conftest import BOTH_BACKENDS, FAST_RETRY

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups

UTC = timezone.utc
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


async def walk(epay: EpayClient, **kwargs: Any) -> list[Any]:
    async with epay.operations(SINCE, UNTIL, **kwargs) as records:
        return [record async for record in records]


@pytest.mark.parametrize("reading", ["skip", "number"])
async def test_every_operation_once_under_both_readings_of_page(
    sandbox: Sandbox, epay: EpayClient, reading: str
) -> None:
    register = sandbox.gateway.register
    register.page_reading = reading  # type: ignore[assignment]
    register.add_operations(3000, since=SINCE, until=UNTIL)
    register.add_operations(5, since=SINCE - timedelta(days=2), until=SINCE, invoice_prefix="1")
    register.add_operations(5, since=UNTIL, until=UNTIL + timedelta(days=1), invoice_prefix="2")
    walker = epay.operations(SINCE, UNTIL, page_size=200)
    async with walker as records:
        ids = [record.id async for record in records]
    assert len(ids) == len(set(ids)) == 3000
    assert walker.first_page == (0 if reading == "skip" else 1)
    bodies = [r.json() for r in sandbox.requests_to("/operations")]
    assert all(b["paging"]["size"] == 200 for b in bodies)
    # Only the first page of each window is ever asked for.
    assert {b["paging"]["page"] for b in bodies} <= {0, 1}


async def test_records_are_typed_with_decimal_money(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.gateway.register.add(
        RegisterOperation("000777", Decimal("1234.56"), SINCE + timedelta(hours=1))
    )
    (record,) = await walk(epay)
    assert record.invoice_id == "000777"
    assert record.amount == record.org_amount == Decimal("1234.56")
    assert isinstance(record.amount, Decimal)
    assert record.created_date.tzinfo is not None
    assert record.status == "CHARGE"
    assert record.extra == {"accountId": ""}


async def test_sandbox_transactions_are_in_the_registers(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    now = datetime.now(UTC)
    sandbox.add_transaction("000100", amount="500.00", card_type="MASTERCARD", name="A PAYER")
    sandbox.add_transaction("000200", amount="700.00", kind="p2p")
    async with epay.operations(now - timedelta(hours=1), now + timedelta(hours=1)) as records:
        payment_records = [r async for r in records]
    payments = [r.invoice_id for r in payment_records]
    # The register shows the transaction's own card brand and payer, as check-status does.
    assert (payment_records[0].card_type, payment_records[0].payer_name) == (
        "MASTERCARD",
        "A PAYER",
    )
    async with epay.transfer_operations(
        now - timedelta(hours=1), now + timedelta(hours=1)
    ) as records:
        transfers = [r.invoice_id async for r in records]
    assert payments == ["000100"]
    assert transfers == ["000200"]
    scopes = {r.form().get("scope") for r in sandbox.token_requests}
    assert "transfer" in scopes


async def test_operations_added_during_the_walk_are_read_once(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    register = sandbox.gateway.register
    register.add_operations(2000, since=SINCE, until=UNTIL)
    added = 0

    def more() -> None:  # a payment lands in the last days of the period before each answer
        nonlocal added
        added += 1
        register.add(
            RegisterOperation(f"7{added:06d}", Decimal(10), UNTIL - timedelta(minutes=added))
        )

    register.before_answer = more
    ids = [r.id for r in await walk(epay, page_size=100)]
    assert len(ids) == len(set(ids))
    late = sum(1 for op in register.operations() if op.invoice_id.startswith("7"))
    assert 2000 < len(ids) <= 2000 + late
    # Every operation of a window is read when that window is read: the last windows were read
    # after the first additions, so those are in.
    assert {"7000001", "7000002"} <= {
        r.invoice_id for r in await walk(epay, page_size=100) if r.invoice_id.startswith("7")
    }


async def test_a_window_whose_count_disagrees_is_read_again(
    sandbox: Sandbox, epay: EpayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    register = sandbox.gateway.register
    register.add_operations(50, since=SINCE, until=UNTIL)
    original = RegisterEndpoints._search
    lies = [True]

    def search(self: RegisterEndpoints, body: Any, kind: str) -> Any:
        response = original(self, body, kind)
        if lies and lies.pop():  # the count saw one more record than the select
            return type(response)(
                200, response.body.replace(b'"totalCount":50', b'"totalCount":51')
            )
        return response

    monkeypatch.setattr(RegisterEndpoints, "_search", search)
    assert len(await walk(epay)) == 50
    # page 0 (short by one), page 1 (the other reading of page: no better), page 0 again.
    assert [r.json()["paging"]["page"] for r in sandbox.requests_to("/operations")] == [0, 1, 0]


async def test_a_count_that_never_matches_is_an_error(
    sandbox: Sandbox, epay: EpayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RegisterEndpoints._search

    def search(self: RegisterEndpoints, body: Any, kind: str) -> Any:
        response = original(self, body, kind)
        return type(response)(200, response.body.replace(b'"totalCount":0', b'"totalCount":1'))

    monkeypatch.setattr(RegisterEndpoints, "_search", search)
    with pytest.raises(ProtocolError, match="totalCount"):
        await walk(epay)


async def test_filters_are_sent_and_applied(sandbox: Sandbox, epay: EpayClient) -> None:
    register = sandbox.gateway.register
    register.add_operations(100, since=SINCE, until=UNTIL)
    register.add(
        RegisterOperation(
            "800001", Decimal("55.00"), SINCE + timedelta(days=3), card_mask="510000******1111"
        )
    )
    found = await walk(epay, invoice_ids=["9000000007", "800001"])
    assert sorted(r.invoice_id for r in found) == ["800001", "9000000007"]
    found = await walk(epay, card_mask="5100%1111")
    assert [r.invoice_id for r in found] == ["800001"]
    found = await walk(epay, max_amount="100")
    assert [r.invoice_id for r in found] == ["800001"]
    found = await walk(epay, min_amount="999", amount="1000.00")
    assert len(found) == 100
    body = sandbox.requests_to("/operations")[-1].json()
    assert {"name": "amount", "method": ">=", "searchParameter": [Decimal(999)]} in body[
        "searchParameters"
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"since": datetime(2026, 11, 1)}, "since"),  # naive
        ({"until": SINCE}, "until"),
        ({"since": "2026-11-01"}, "since"),
        ({"card_mask": "4400"}, "card_mask"),
        ({"invoice_ids": "000123"}, "invoice_ids"),
        ({"invoice_ids": []}, "invoice_ids"),
        ({"invoice_ids": ["bad id!"]}, "invoice_ids"),
        ({"amount": "-1"}, "amount"),
        ({"min_amount": "10", "max_amount": "5"}, "max_amount"),
        ({"payer_email": "not-an-email"}, "payer_email"),
        ({"account_id": ""}, "account_id"),
        ({"page_size": 0}, "page_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"login": "user:pass"}, "login"),
    ],
)
async def test_filters_are_validated_before_any_request(
    sandbox: Sandbox, epay: EpayClient, kwargs: dict[str, Any], field: str
) -> None:
    args = {"since": SINCE, "until": UNTIL, **kwargs}
    with pytest.raises(ValidationError) as info:
        epay.operations(args.pop("since"), args.pop("until"), **args)
    assert info.value.field == field
    assert sandbox.requests == []
    if "since" in kwargs and isinstance(kwargs["since"], datetime):  # naive: the hint is UTC+5
        assert "the gateway's days run on UTC+5" in info.value.message


async def test_a_bad_search_is_the_gateways_error(sandbox: Sandbox) -> None:
    env = sandbox.environment()
    async with sandbox.http_client() as http:
        token = (
            await http.post(
                env.token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": "webapi payment",
                    "client_id": sandbox.gateway.merchant.client_id,
                    "client_secret": sandbox.gateway.merchant.client_secret,
                },
            )
        ).json()["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        no_period = {"paging": {"page": 0, "size": 10}, "searchParameters": []}
        answer = await http.post(f"{env.api_url}/operations", json=no_period, headers=headers)
        assert answer.status_code == 400
        assert set(answer.json()) == {"code", "message"}
        one_value = {
            "paging": {"page": 0, "size": 10},
            "searchParameters": [
                {"name": "created_date", "method": "between", "searchParameter": ["2026-11-01"]}
            ],
        }
        assert (
            await http.post(f"{env.api_url}/operations", json=one_value, headers=headers)
        ).status_code == 400
        period = {
            "name": "created_date",
            "method": "between",
            "searchParameter": ["2026-11-01T00:00:00+05:00", "2026-12-01T00:00:00+05:00"],
        }
        for name, said in (
            ("status", "unknown search parameter 'status'"),  # not among the documented
            ("shop_id", "the sandbox does not emulate the search parameter 'shop_id'"),
        ):
            search = {
                "paging": {"page": 0, "size": 10},
                "searchParameters": [
                    period,
                    {"name": name, "method": "=", "searchParameter": ["1"]},
                ],
            }
            answer = await http.post(f"{env.api_url}/operations", json=search, headers=headers)
            assert (answer.status_code, answer.json()["message"]) == (
                400,
                f"wrong search parameters: {said}",
            )


async def test_a_refused_search_raises_api_error(
    sandbox: Sandbox, epay: EpayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RegisterEndpoints, "_search", lambda *_: _raise_bad())
    with pytest.raises(ApiError):
        await walk(epay)


def _raise_bad() -> Any:
    from epay_async.testing._handlers.registers import _BadSearch  # noqa: PLC0415

    raise _BadSearch("nope")


async def test_password_grant_login(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.gateway.register.add_operations(3, since=SINCE, until=UNTIL)
    login = CabinetLogin(TEST_CABINET_USERNAME, TEST_CABINET_PASSWORD)
    assert len(await walk(epay, login=login)) == 3
    grants = [r.form().get("grant_type") for r in sandbox.token_requests]
    assert grants == ["password"]
    assert TEST_CABINET_PASSWORD not in repr(login)


async def test_leaving_early_stops_every_request(sandbox: Sandbox, epay: EpayClient) -> None:
    sandbox.gateway.register.add_operations(2000, since=SINCE, until=UNTIL)
    walker = epay.operations(SINCE, UNTIL, page_size=50, concurrency=4)
    with anyio.fail_after(10):
        async with walker as records:
            async for _ in records:
                break
    sent = walker.requests
    await anyio.sleep(0.05)
    assert walker.requests == sent < 30


async def test_requests_in_flight_are_bounded(sandbox: Sandbox) -> None:
    sandbox.gateway.register.add_operations(3000, since=SINCE, until=UNTIL)
    in_flight = peak = 0
    original = RegisterEndpoints._answer

    async def slow(self: RegisterEndpoints, request: Any, _: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.001)
        in_flight -= 1
        return original(self, request, "payment")

    sandbox.gateway.router.routes = [
        (
            m,
            p,
            slow.__get__(sandbox.gateway.register)
            if p.pattern.endswith("operations") and "p2p" not in p.pattern
            else h,
        )
        for m, p, h in sandbox.gateway.router.routes
    ]
    async with sandbox.client(retry=FAST_RETRY) as epay:
        assert len(await walk(epay, page_size=100, concurrency=3)) == 3000
    assert peak == 3


@pytest.mark.slow
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_memory_stays_flat_from_1000_to_100000_operations() -> None:
    peaks = {}
    for n in (1_000, 100_000):
        sandbox = Sandbox(key_bits=2048, record_requests=False)
        sandbox.gateway.register.add_operations(n, since=SINCE, until=UNTIL)
        async with sandbox.client(retry=FAST_RETRY) as epay:
            gc.collect()
            tracemalloc.start()
            count = 0
            async with epay.operations(SINCE, UNTIL, page_size=500) as records:
                async for _ in records:
                    count += 1
            peaks[n] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert count == n
    # The sandbox answers one page at a time too: what grows is the walk's, bounded by pages.
    assert peaks[100_000] < 2 * peaks[1_000] + 2_000_000, peaks


@pytest.mark.slow  # a subprocess or a soak: make test-slow
@pytest.mark.parametrize("reading", ["skip", "number"])
async def test_windows_on_sub_millisecond_instants_lose_nothing(
    sandbox: Sandbox, epay: EpayClient, reading: str
) -> None:
    # 30 days / 7919 is not a whole number of milliseconds, nor are since and until.
    register = sandbox.gateway.register
    register.page_reading = reading  # type: ignore[assignment]
    since = SINCE + timedelta(microseconds=123_456)
    until = UNTIL - timedelta(microseconds=654_321)
    register.add_operations(7919, since=SINCE, until=UNTIL)
    # and a burst: 3000 payments within two seconds (windows of a few milliseconds)
    register.add_operations(
        3000,
        since=SINCE + timedelta(days=2),
        until=SINCE + timedelta(days=2, seconds=2),
        invoice_prefix="8",
    )
    inside = [op.id for op in register.operations() if since <= op.created < until]
    async with epay.operations(since, until, page_size=100) as records:
        ids = [record.id async for record in records]
    assert sorted(ids) == sorted(inside)

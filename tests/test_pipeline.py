"""The request pipeline: an operation declared with no plumbing of its own gets the deadline, the
in-doubt record, the retry rule, the guard, the journal and the span; raw responses."""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator
from decimal import Decimal

import anyio
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import epay_async
from epay_async import (
    ApiError,
    Environment,
    EpayClient,
    OutcomeUnknownError,
    RawResponse,
    RequestInFlightError,
    RetryPolicy,
    TransportError,
)
from epay_async._answers import json_body
from epay_async._http import Answer
from epay_async._pipeline import Operation, Pipeline
from epay_async.journal import JournalState, SqliteJournal
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY

pytestmark = pytest.mark.anyio
ANYIO_BACKENDS = BOTH_BACKENDS  # deadlines, cancel scopes, locks or task groups

ENV = Environment.custom(
    token_url="https://gw.test/oauth2/token",
    api_url="https://gw.test/api",
    payform_url="https://gw.test/payform.js",
)


def read_echo(answer: Answer) -> str:
    body = json_body(answer, what="echo")
    return str(body["echo"])


async def echo(ctx: Pipeline, invoice_id: str, *, money: bool) -> str:
    """A new operation: it declares what it sends and nothing else."""
    return await ctx.send(
        Operation(
            name="echo",
            method="POST",
            url=ctx.url("/echo"),
            read=read_echo,
            moves_money=money,
            body={"invoiceId": invoice_id},
            invoice_id=invoice_id,
            amount=Decimal("10.00"),
            currency="KZT",
            transaction_of=lambda result: result,
        )
    )


class Gateway:
    """A token endpoint and ``/echo``, answering from a script."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.echo_requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        self.echo_requests += 1
        answer = self.answers.pop(0) if self.answers else 200
        if answer == "slow":
            await anyio.sleep(0.3)
            answer = 200
        if answer == "drop":
            raise httpx.ReadTimeout("lost", request=request)
        assert isinstance(answer, int)
        return httpx.Response(answer, json={"echo": "ok"}, headers={"x-request-id": "r1"})


def client(gateway: Gateway, **options: object) -> EpayClient:
    return EpayClient(
        client_id="id",
        client_secret="secret",
        terminal_id="t",
        environment=ENV,
        transport=httpx.MockTransport(gateway),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_a_read_gets_the_retry_rule_and_a_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    gateway = Gateway(503, 502, 200)
    async with client(gateway, retry=FAST_RETRY, tracer_provider=provider) as epay:
        assert await epay._pipeline.call("echo", echo, "1001", money=False) == "ok"
    assert gateway.echo_requests == 3
    (call,) = [s for s in exporter.get_finished_spans() if s.name == "epay.echo"]
    assert call.attributes is not None
    assert call.attributes["epay.invoice_id"] == "1001"
    assert call.attributes["epay.attempts"] == 3 + 1  # the token request is an attempt too
    children = [s for s in exporter.get_finished_spans() if s.parent == call.context]
    assert [s.name for s in children] == ["POST"] * 4


async def test_a_money_request_is_never_resent_and_is_recorded_in_doubt() -> None:
    records: list[OutcomeUnknownError] = []
    gateway = Gateway(503)
    async with client(gateway, retry=FAST_RETRY, on_outcome_unknown=records.append) as epay:
        with pytest.raises(OutcomeUnknownError) as info:
            await epay._pipeline.call("echo", echo, "1002", money=True)
    assert gateway.echo_requests == 1
    assert info.value.invoice_id == "1002"
    assert [r.invoice_id for r in records] == ["1002"]
    assert info.value.attempts == 1
    assert info.value.response is not None
    assert info.value.response.status_code == 503


async def test_the_deadline_holds_for_a_new_operation() -> None:
    records: list[OutcomeUnknownError] = []
    policy = RetryPolicy(deadline=0.1, backoff_base=0.0, jitter=0.0)
    async with client(
        Gateway("slow", "slow"), retry=policy, on_outcome_unknown=records.append
    ) as epay:
        with pytest.raises(TransportError):
            await epay._pipeline.call("echo", echo, "1003", money=False)
        with pytest.raises(OutcomeUnknownError):
            await epay._pipeline.call("echo", echo, "1004", money=True)
    assert [r.invoice_id for r in records] == ["1004"]


async def test_one_money_request_per_invoice_and_the_journal(tmp_path: pathlib.Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    gateway = Gateway("slow", "drop")
    async with journal, client(gateway, retry=FAST_RETRY, journal=journal) as epay:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: epay._pipeline.call("echo", echo, "1005", money=True))
            await anyio.sleep(0.05)
            with pytest.raises(RequestInFlightError):
                await epay._pipeline.call("echo", echo, "1005", money=True)
        with pytest.raises(OutcomeUnknownError):
            await epay._pipeline.call("echo", echo, "1006", money=True)
        rows = {r.invoice_id: r for r in await journal.list()}
    assert gateway.echo_requests == 2
    assert rows["1005"].state is JournalState.SUCCEEDED
    assert rows["1005"].transaction_id == "ok"
    assert rows["1005"].amount == Decimal("10.00")
    assert rows["1006"].state is JournalState.IN_DOUBT


async def test_raw_responses_show_the_answer_and_parse_to_the_plain_result(
    sandbox: Sandbox,
) -> None:
    async with sandbox.client(retry=FAST_RETRY) as epay:
        raw = await epay.with_raw_response.get_status("000000001")
        assert isinstance(raw, RawResponse)
        assert raw.status_code == 200
        assert raw.attempts == 1
        assert raw.elapsed is not None
        assert raw.elapsed >= 0
        assert "authorization" not in raw.headers
        plain = await epay.get_status("000000001")
        assert raw.parse().result_code == plain.result_code
        sandbox.fail("/check-status/", Fault.status(503))
        again = await epay.with_raw_response.get_status("000000001")
        assert again.attempts == 2


async def test_errors_from_an_answer_carry_it(sandbox: Sandbox) -> None:
    async with sandbox.client(retry=RetryPolicy(max_attempts=1)) as epay:
        with pytest.raises(ApiError) as info:
            await epay.refund("3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert info.value.response is not None
    assert info.value.response.status_code == info.value.http_status
    assert info.value.attempts == 1


def test_no_public_method_opens_a_call_scope_and_no_operation_sends_by_hand() -> None:
    package = pathlib.Path(epay_async.__file__).parent
    for path in [package / "_client.py", *sorted((package / "_ops").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"call", "send"}:
                owner = ast.unparse(node.value)
                assert not owner.endswith("transport"), f"{path.name}: {owner}.{node.attr}"
            if isinstance(node, ast.Name):
                assert node.id not in {"CallScope", "ApiRequest"}, f"{path.name}: {node.id}"

"""The request pipeline: an operation declared with no plumbing of its own gets the deadline, the
in-doubt record, the retry rule, the guard, the journal and the span; raw responses."""

from __future__ import annotations

import ast
import logging
import pathlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import epay_async
from epay_async import (
    ApiError,
    AuthenticationError,
    Environment,
    EpayClient,
    OutcomeUnknownError,
    ProtocolError,
    RawResponse,
    RequestInFlightError,
    RetryPolicy,
    TransportError,
)
from epay_async import _constants as C
from epay_async._answers import json_body
from epay_async._call import current_call
from epay_async._http import Answer
from epay_async._pipeline import (
    CabinetToken,
    Operation,
    OrderToken,
    Pipeline,
    RetryAnswer,
    TokenSource,
)
from epay_async._raw import raw_response
from epay_async._tokens import OperationGrant
from epay_async.journal import JournalRecord, JournalState, SqliteJournal
from epay_async.testing import Fault, Sandbox

from .conftest import BOTH_BACKENDS, FAST_RETRY
from .factories import CARD_ID, PAID, mock_client, mock_order

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


def client(gateway: Gateway | Script, **options: object) -> EpayClient:
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


# What the pipeline itself decides, over a scripted gateway: the tokens and their refresh, the
# answers read again (check-status's 103), the span, the guard shared by copies and the journal.


class Script:
    """A gateway answering ``/echo`` from a script (a status with the echo body, an
    ``httpx.Response``, or an exception to raise), handing out tokens ``tok1``, ``tok2``..."""

    def __init__(self, *answers: object, token_status: int = 200) -> None:
        self.answers = list(answers)
        self.token_status = token_status
        self.token_forms: list[dict[str, str]] = []
        self.seen: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            self.token_forms.append(dict(parse_qsl(request.content.decode())))
            if self.token_status != 200:
                return httpx.Response(self.token_status)
            token = f"tok{len(self.token_forms)}"
            return httpx.Response(200, json={"access_token": token, "expires_in": 3600})
        self.seen.append(request)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        assert isinstance(answer, int)
        return httpx.Response(answer, json={"echo": "ok"})

    def tokens_sent(self) -> list[str | None]:
        return [request.headers.get("authorization") for request in self.seen]


def op(ctx: Pipeline, /, **fields: Any) -> Operation[str]:
    declared: dict[str, Any] = {
        "name": "echo",
        "method": "POST",
        "url": ctx.url("/echo"),
        "read": read_echo,
        "invoice_id": "2001",
        "body": {"invoiceId": "2001"},
    }
    declared.update(fields)
    return Operation(**declared)


async def send(ctx: Pipeline, /, **fields: Any) -> str:
    return await ctx.send(op(ctx, **fields))


def test_an_ask_again_answer_says_why() -> None:
    error = ApiError("still processing", http_status=200, code=103)
    again = RetryAnswer("code 103", error)
    assert (str(again), again.reason, again.error) == ("code 103", "code 103", error)


class Again:
    """A ``read`` whose first ``times`` answers say "ask again" (check-status's 103)."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.reads = 0

    def __call__(self, answer: Answer) -> str:
        self.reads += 1
        if self.reads <= self.times:
            raise RetryAnswer("code 103", ApiError("still processing", http_status=200, code=103))
        return read_echo(answer)


async def test_a_refused_service_token_is_replaced_once() -> None:
    gateway = Script(401, 200)
    async with client(gateway, retry=FAST_RETRY) as epay:
        raw = await raw_response(epay._pipeline.call)("echo", send)
        assert raw.parse() == "ok"
        assert (raw.status_code, raw.attempts) == (200, 2)  # the request sent again counts
        assert gateway.tokens_sent() == ["Bearer tok1", "Bearer tok2"]
        gateway.answers = [401, 403]
        with pytest.raises(AuthenticationError):  # refused again: the refusal stands
            await epay._pipeline.call("echo", send)
    assert gateway.tokens_sent()[2:] == ["Bearer tok2", "Bearer tok3"]


@pytest.mark.parametrize("kind", ["order", "cabinet"])
async def test_an_order_or_cabinet_token_is_never_replaced(kind: str) -> None:
    gateway = Script(401)
    source: TokenSource = (
        OrderToken(OperationGrant("payment", "2001", Decimal("10.00"), "KZT"))
        if kind == "order"
        else CabinetToken("merchant@shop.kz", "cabinet-pw")
    )
    async with client(gateway, retry=FAST_RETRY) as epay:
        with pytest.raises(AuthenticationError):
            await epay._pipeline.call("echo", send, token=source)
    assert gateway.tokens_sent() == ["Bearer tok1"]
    (form,) = gateway.token_forms
    if kind == "cabinet":
        assert form["grant_type"] == "password"
        assert (form["username"], form["password"]) == ("merchant@shop.kz", "cabinet-pw")
    else:
        assert (form["invoiceID"], form["amount"]) == ("2001", "10.00")


async def test_an_answer_that_says_ask_again_is_read_again_under_the_retry_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="epay_async")
    again = Again(2)
    gateway = Script()
    async with client(gateway, retry=FAST_RETRY) as epay:
        assert await epay._pipeline.call("echo", send, read=again, moves_money=False) == "ok"
    assert again.reads == 3
    assert len(gateway.seen) == 3
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries == [
        "retrying echo in 0.00 s after code 103 (attempt 1 of 3)",
        "retrying echo in 0.00 s after code 103 (attempt 2 of 3)",
    ]


async def test_an_answer_still_saying_ask_again_raises_its_error_with_the_answer() -> None:
    again = Again(5)
    gateway = Script()
    async with client(gateway, retry=FAST_RETRY) as epay:
        with pytest.raises(ApiError) as info:
            await epay._pipeline.call("echo", send, read=again, moves_money=False)
    assert again.reads == 3  # max_attempts
    assert info.value.code == 103
    assert info.value.attempts == 1
    assert info.value.response is not None
    assert info.value.response.status_code == 200


async def test_money_is_never_asked_again() -> None:
    again = Again(5)
    gateway = Script()
    async with client(gateway, retry=FAST_RETRY) as epay:
        with pytest.raises(ApiError) as info:
            await epay._pipeline.call("echo", send, read=again, moves_money=True)
    assert again.reads == 1
    assert info.value.code == 103


async def test_no_ask_again_pause_goes_past_the_deadline() -> None:
    again = Again(5)
    policy = RetryPolicy(backoff_base=60.0, backoff_max=60.0, jitter=0.0, deadline=10.0)
    async with client(Script(), retry=policy) as epay:
        with pytest.raises(ApiError):
            await epay._pipeline.call("echo", send, read=again, moves_money=False)
    assert again.reads == 1


async def test_the_span_has_the_ids_the_kind_and_the_result_code(
    spans: tuple[TracerProvider, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    provider, exporter = spans
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    gateway = Script(503, 200, httpx.Response(400, json={"code": 487, "message": "Not permitted"}))
    async with client(
        gateway, retry=FAST_RETRY, tracer_provider=provider, meter_provider=meters
    ) as epay:
        await epay._pipeline.call(
            "refund",
            send,
            moves_money=False,
            invoice_id=None,
            transaction_id="tx-77",
            result_code_of=lambda result: f"code-{result}",
        )
        with pytest.raises(ApiError):
            await epay._pipeline.call("cancel", send, moves_money=True)
        caplog.set_level(logging.DEBUG, logger="epay_async")  # the attempts' own log path
        await epay._pipeline.call("debugged", send)
    refund = next(s for s in exporter.get_finished_spans() if s.name == "epay.refund")
    cancel = next(s for s in exporter.get_finished_spans() if s.name == "epay.cancel")
    assert refund.attributes is not None
    assert cancel.attributes is not None
    assert refund.attributes["epay.transaction_id"] == "tx-77"
    assert refund.attributes["epay.moves_money"] is False
    assert refund.attributes["epay.result_code"] == "code-ok"
    assert cancel.attributes["epay.moves_money"] is True
    assert cancel.attributes["epay.result_code"] == 487
    finished = exporter.get_finished_spans()
    for name, statuses in [
        ("epay.refund", [503, 200]),
        ("epay.debugged", [200]),
        ("epay.cancel", [400]),
    ]:
        call = next(s for s in finished if s.name == name)
        echoes = [
            s.attributes
            for s in finished
            if s.parent == call.context
            and s.attributes
            and s.attributes.get("url.full") == "https://gw.test/api/echo"
        ]
        assert [a["http.response.status_code"] for a in echoes] == statuses
    data = reader.get_metrics_data()
    assert data is not None
    retries = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "epay.client.retries"
        for point in metric.data.data_points
    ]
    assert [dict(p.attributes or {}) for p in retries] == [
        {"epay.operation": "refund", "epay.retry.reason": "HTTP 503"}
    ]
    meters.shutdown()


async def test_without_a_call_results_and_refusals_still_read() -> None:
    gateway = Script(200, httpx.Response(400, json={"code": 487, "message": "no"}))
    async with client(gateway, retry=FAST_RETRY) as epay:
        assert await send(epay._pipeline, result_code_of=lambda result: 0) == "ok"
        with pytest.raises(ApiError) as info:
            await send(epay._pipeline)
    assert info.value.code == 487


async def test_a_nested_call_joins_the_outer_one_with_its_arguments() -> None:
    async def inner(ctx: Pipeline, first: str, *, second: str) -> tuple[str, object]:
        return f"{first} {second}", current_call()

    async def outer(ctx: Pipeline) -> tuple[str, object, object]:
        outer_call = current_call()
        result, inner_call = await ctx.call("inner", inner, "a", second="b")
        return result, outer_call, inner_call

    async with client(Script(), retry=FAST_RETRY) as epay:
        result, before, inside = await epay._pipeline.call("outer", outer)
    assert result == "a b"
    assert before is not None
    assert inside is before  # the inner call ran in the outer call, not in one of its own


async def test_the_deadline_message_names_the_call() -> None:
    async def idle(ctx: Pipeline) -> None:
        await anyio.sleep_forever()

    async with client(Script(), retry=RetryPolicy(deadline=0.05)) as epay:
        with pytest.raises(TransportError) as info:
            await epay._pipeline.call("get_idle", idle)
    assert str(info.value) == "get_idle: the 0.05 s deadline passed before anything was sent"


async def test_an_operation_sends_what_it_declares() -> None:
    gateway = Script(httpx.Response(302, headers={"location": "https://acs.example/3ds"}))
    async with client(gateway, retry=FAST_RETRY) as epay:
        result = await epay._pipeline.call(
            "confirm",
            send,
            method="GET",
            body=None,
            params={"a": "1"},
            redirect_is_answer=True,
            read=lambda answer: answer.headers["location"],
        )
    assert result == "https://acs.example/3ds"
    (sent,) = gateway.seen
    assert sent.method == "GET"
    assert sent.url.params["a"] == "1"
    assert sent.content == b""
    assert "content-type" not in sent.headers


async def test_errors_name_the_operation_and_keep_its_refusal_class() -> None:
    class Declined(ApiError):
        pass

    gateway = Script(
        httpx.Response(404, content=b"not json"),
        httpx.Response(400, json={"code": 5, "message": "no"}),
        httpx.Response(200, content=b"{broken"),
        httpx.Response(200, content=b"{broken"),
    )
    async with client(gateway, retry=FAST_RETRY) as epay:
        with pytest.raises(ProtocolError, match=r"^some_read: HTTP 404 without"):
            await epay._pipeline.call("x", send, name="some_read")
        with pytest.raises(Declined):
            await epay._pipeline.call("x", send, declined=Declined)
        with pytest.raises(ProtocolError):
            await epay._pipeline.call("x", send)
        with pytest.raises(OutcomeUnknownError) as info:
            await epay._pipeline.call("x", send, moves_money=True)
    assert info.value.reason.startswith("unreadable answer: echo: ")
    assert info.value.operation == "echo"


async def test_copies_share_the_one_money_request_per_invoice_guard() -> None:
    gateway = Gateway("slow")
    async with client(gateway, retry=FAST_RETRY) as epay:
        copy = epay.with_options(timeout=5.0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: epay._pipeline.call("echo", echo, "2002", money=True))
            with anyio.fail_after(5):
                while gateway.echo_requests < 1:  # noqa: ASYNC110 (a counter, no event)
                    await anyio.sleep(0.002)
            with pytest.raises(RequestInFlightError) as blocked:
                await copy._pipeline.call("echo", echo, "2002", money=True)
    assert gateway.echo_requests == 1
    assert not blocked.value.in_journal
    assert "already under way on this client" in str(blocked.value)


class Flaky(SqliteJournal):
    """A journal whose ``begin`` commits and then fails or hangs, or whose ``finish`` fails or
    hangs."""

    def __init__(self, path: pathlib.Path, *, begin: str = "", finish: str = "") -> None:
        super().__init__(path)
        self.begin_does = begin
        self.finish_does = finish

    async def begin(self, record: JournalRecord) -> None:
        await super().begin(record)
        if self.begin_does == "fail":
            raise RuntimeError("lost the connection after the commit")
        if self.begin_does == "hang":
            await anyio.sleep_forever()

    async def finish(self, record_id: str, state: JournalState, **fields: Any) -> None:
        if self.finish_does == "fail":
            raise RuntimeError("disk full")
        if self.finish_does == "hang":
            await anyio.sleep_forever()
        await super().finish(record_id, state, **fields)


async def only_record(journal: SqliteJournal) -> JournalRecord:
    (record,) = await journal.list()
    return record


@pytest.mark.parametrize(
    ("answers", "token_status", "error", "state", "detail"),
    [
        ([200], 200, None, JournalState.SUCCEEDED, None),
        (
            [httpx.Response(400, json={"code": 487, "message": "no"})],
            200,
            ApiError,
            JournalState.DECLINED,
            "code 487",
        ),
        ([503], 200, OutcomeUnknownError, JournalState.IN_DOUBT, "HTTP 503"),
        (
            [httpx.ConnectError("refused")] * 3,
            200,
            TransportError,
            JournalState.NOT_SENT,
            "TransportError",
        ),
        ([], 503, ApiError, JournalState.NOT_SENT, "ApiError"),  # the token: nothing sent
        ([401], 200, AuthenticationError, JournalState.NOT_SENT, "AuthenticationError"),
    ],
)
async def test_the_journal_records_each_outcome(  # noqa: PLR0917 (one parametrised case)
    tmp_path: pathlib.Path,
    answers: list[object],
    token_status: int,
    error: type[Exception] | None,
    state: JournalState,
    detail: str | None,
) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    gateway = Script(*answers, token_status=token_status)
    async with journal, client(gateway, retry=FAST_RETRY, journal=journal) as epay:
        fields = {
            "moves_money": True,
            "token": OrderToken(OperationGrant("payment", "2001", Decimal("10.00"), "KZT")),
            "invoice_id": None,
            "transaction_id": "tx-5",
            "amount": Decimal("10.00"),
            "currency": "KZT",
            "kind": "p2p",
        }
        if error is None:
            assert await epay._pipeline.call("echo", send, **fields) == "ok"
        else:
            with pytest.raises(error):
                await epay._pipeline.call("echo", send, **fields)
        record = await only_record(journal)
    assert record.state is state
    assert record.detail == detail
    assert (record.transaction_id, record.currency, record.kind) == ("tx-5", "KZT", "p2p")
    assert record.invoice_id is None


async def test_a_money_answer_names_its_transaction_in_the_journal(tmp_path: pathlib.Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    async with journal, client(Script(), retry=FAST_RETRY, journal=journal) as epay:
        await epay._pipeline.call("echo", send, moves_money=True, transaction_of=lambda r: "tx-6")
        record = await only_record(journal)
    assert record.state is JournalState.SUCCEEDED
    assert record.transaction_id == "tx-6"


async def test_the_outcome_is_written_at_the_calls_end(tmp_path: pathlib.Path) -> None:
    journal = SqliteJournal(tmp_path / "j.db")
    states: list[JournalState] = []

    async def pay_then_look(ctx: Pipeline) -> str:
        result = await send(ctx, moves_money=True)
        states.append((await only_record(journal)).state)
        return result

    async with journal, client(Script(), retry=FAST_RETRY, journal=journal) as epay:
        await epay._pipeline.call("echo", pay_then_look)
        states.append((await only_record(journal)).state)
        # Outside any call (a pipeline used by hand), the outcome is written at once.
        await send(epay._pipeline, moves_money=True, invoice_id="2003")
        (written,) = [r for r in await journal.list() if r.invoice_id == "2003"]
    assert states == [JournalState.INTENT, JournalState.SUCCEEDED]
    assert written.state is JournalState.SUCCEEDED


@pytest.mark.parametrize(("begin", "detail"), [("fail", "RuntimeError"), ("hang", "cancelled")])
async def test_an_intent_whose_begin_failed_is_closed_as_not_sent(
    tmp_path: pathlib.Path, begin: str, detail: str
) -> None:
    journal = Flaky(tmp_path / "j.db", begin=begin)
    gateway = Script()
    async with journal, client(gateway, retry=FAST_RETRY, journal=journal) as epay:
        # Only a hanging begin is cut (0.2 s); a failing one must fail on its own.
        with anyio.CancelScope(deadline=anyio.current_time() + (0.2 if begin == "hang" else 30)):
            with pytest.raises(RuntimeError):
                await epay._pipeline.call("echo", send, moves_money=True)
        record = await only_record(journal)
    assert record.state is JournalState.NOT_SENT
    assert record.detail == detail
    assert gateway.seen == []


async def test_an_outcome_the_journal_cannot_write_is_logged_not_raised(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Flaky(tmp_path / "j.db", finish="fail")
    async with journal, client(Script(), retry=FAST_RETRY, journal=journal) as epay:
        assert await epay._pipeline.call("echo", send, moves_money=True) == "ok"
        record = await only_record(journal)
    assert record.state is JournalState.INTENT  # left open for recover()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("journal:")]
    assert line == (
        f"journal: could not record {JournalState.SUCCEEDED} for record {record.id} "
        "(RuntimeError); recover() will settle it"
    )


async def test_an_outcome_write_that_hangs_is_bounded(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "OUTCOME_CALLBACK_TIMEOUT", 0.05)
    journal = Flaky(tmp_path / "j.db", finish="hang")
    async with journal, client(Script(), retry=FAST_RETRY, journal=journal) as epay:
        with anyio.fail_after(1):  # only a guard: the write's own 0.05 s bound ends it
            assert await epay._pipeline.call("echo", send, moves_money=True) == "ok"
        assert (await only_record(journal)).state is JournalState.INTENT


# -- the in-flight guard: one money request per invoice at a time -----------------------


async def test_one_money_request_per_invoice_at_a_time() -> None:
    arrived = 0

    async def handle(_: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        await anyio.sleep(0.2)
        return httpx.Response(200, json=PAID)

    outcomes: list[object] = []

    async def pay(epay: EpayClient) -> None:
        try:
            outcomes.append(await epay.pay_with_saved_card(mock_order(), CARD_ID))
        except RequestInFlightError as exc:
            outcomes.append(exc)

    async with mock_client(handle) as epay, anyio.create_task_group() as tg:
        tg.start_soon(pay, epay)
        tg.start_soon(pay, epay.with_options(timeout=5))  # a clone shares the guard
    assert arrived == 1
    assert sum(isinstance(o, RequestInFlightError) for o in outcomes) == 1
    async with mock_client(handle) as epay:  # and once the first is done, the next may go
        await epay.pay_with_saved_card(mock_order(), CARD_ID)
        await epay.pay_with_saved_card(mock_order(), CARD_ID)

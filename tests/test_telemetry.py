"""Tracing and metrics: span names, kinds, parents and attributes, metrics, cancellation on both
backends, nothing secret anywhere, and the no-op path without opentelemetry-api."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from epay_async import OutcomeUnknownError
from epay_async._telemetry import NO_CALL_TELEMETRY, CallTelemetry, Telemetry
from epay_async._version import __version__

from .conftest import BOTH_BACKENDS

#: What must never reach a span, an event or a metric: it rides in exception messages.
SECRET = "client_secret=Sup3rS3cret-4405639704015096"
URL = "https://user:pw@testepay.example.kz:8443/operation/a1b2/charge?amount=100.10&secret=x#frag"

ANYIO_BACKENDS = BOTH_BACKENDS  # cancellation under both loops


class Otel:
    """Explicit SDK providers with in-memory exporters (the global providers are never set)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(self.tracer_provider, self.meter_provider)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.name == name]
        return span

    def metrics_json(self) -> str:
        data = self.reader.get_metrics_data()
        return "" if data is None else data.to_json()

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def everything(self) -> str:
        """Every exported span (attributes, events, status) and metric, as text."""
        return "\n".join([*(s.to_json() for s in self.spans()), self.metrics_json()])


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


def paid(telemetry: Telemetry, *, invoice_id: str = "000123456") -> CallTelemetry:
    return telemetry.call(
        "pay_with_card", invoice_id=invoice_id, transaction_id=None, moves_money=True
    )


def fail(
    telemetry: Telemetry,
    exc: BaseException,
    *,
    status: int | None = None,
    in_attempt: bool = True,
    operation: str = "pay_with_card",
) -> None:
    """One call with two attempts (502, then ``status`` or none) that raises ``exc``."""
    with telemetry.call(
        operation, invoice_id="000123456", transaction_id="t-1", moves_money=True
    ) as call:
        with call.attempt("POST", URL, 1) as attempt:
            attempt.set_status_code(502)
        call.retried("502")
        call.set_result_code(0)
        with call.attempt("POST", URL, 2) as attempt:
            if status is not None:
                attempt.set_status_code(status)
            if in_attempt:
                raise exc
        raise exc


def test_call_span_and_attempt_spans(otel: Otel) -> None:
    with paid(otel.telemetry) as call:
        with call.attempt("POST", URL, 1) as attempt:
            attempt.set_status_code(503)
        call.retried("503")
        with call.attempt("POST", URL, 2) as attempt:
            attempt.set_status_code(200)
        call.set_result_code(0)

    assert otel.telemetry.enabled
    spans = otel.spans()
    assert [s.name for s in spans] == ["POST", "POST", "epay.pay_with_card"]
    first, second, parent = spans
    assert parent.kind is SpanKind.INTERNAL
    assert parent.instrumentation_scope is not None
    assert parent.instrumentation_scope.name == "epay_async"
    assert parent.instrumentation_scope.version == __version__
    assert parent.parent is None
    assert parent.status.status_code is StatusCode.UNSET
    assert dict(parent.attributes or {}) == {
        "epay.operation": "pay_with_card",
        "epay.invoice_id": "000123456",
        "epay.moves_money": True,
        "epay.attempts": 2,
        "epay.outcome_unknown": False,
        "epay.result_code": 0,
    }
    for child in (first, second):
        assert child.kind is SpanKind.CLIENT
        assert child.parent is not None
        assert child.parent.span_id == parent.context.span_id
        assert child.context.trace_id == parent.context.trace_id
    assert dict(first.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "testepay.example.kz",
        "server.port": 8443,
        "url.full": "https://testepay.example.kz:8443/operation/a1b2/charge",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description is None
    assert dict(second.attributes or {})["http.request.resend_count"] == 1
    assert "error.type" not in (second.attributes or {})
    assert second.status.status_code is StatusCode.UNSET
    assert all(not s.events for s in spans)


def test_attempt_span_is_current_inside_and_restored_after(otel: Otel) -> None:
    before = trace.get_current_span()
    with paid(otel.telemetry) as call:
        call_span = trace.get_current_span()
        assert call_span.is_recording()
        with call.attempt("GET", "http://127.0.0.1/check-status/payment/transaction/1", 1):
            assert trace.get_current_span() is not call_span
        assert trace.get_current_span() is call_span
    assert trace.get_current_span() is before


def test_url_without_query_userinfo_and_with_default_port(otel: Otel) -> None:
    with paid(otel.telemetry) as call:
        with call.attempt("get", "https://alice:hunter2@[::1]/a/b?x=1#y", 1):
            pass
        with call.attempt("GET", "http://epay.example.kz/p", 3):
            pass
        with call.attempt("BREW", "not a url", 1):
            pass
    lower, plain, odd = otel.spans()[:3]
    assert lower.name == "GET"
    assert dict(lower.attributes or {}) == {
        "http.request.method": "GET",
        "http.request.method_original": "get",
        "server.address": "::1",
        "server.port": 443,
        "url.full": "https://[::1]/a/b",
    }
    assert dict(plain.attributes or {})["server.port"] == 80
    assert dict(plain.attributes or {})["http.request.resend_count"] == 2
    assert odd.name == "HTTP"
    assert dict(odd.attributes or {}) == {
        "http.request.method": "_OTHER",
        "http.request.method_original": "BREW",
    }
    assert "hunter2" not in otel.everything()
    assert "alice" not in otel.everything()
    assert "x=1" not in otel.everything()


def test_exceptions_record_class_name_never_message(otel: Otel) -> None:
    with pytest.raises(ValueError, match="Sup3r") as raised:
        fail(otel.telemetry, ValueError(SECRET))
    call_span = otel.span("epay.pay_with_card")
    attempt_span = otel.spans()[1]
    assert attempt_span.name == "POST"
    for span in (call_span, attempt_span):
        assert dict(span.attributes or {})["error.type"] == "ValueError"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None
        assert not span.events
    assert dict(call_span.attributes or {})["epay.outcome_unknown"] is False
    (point,) = otel.points("epay.client.call.duration")
    assert dict(point.attributes) == {"epay.operation": "pay_with_card", "error.type": "ValueError"}
    everything = otel.everything()
    assert "Sup3rS3cret" not in everything
    assert "4405639704015096" not in everything
    assert "Traceback" not in everything
    assert raised.value.args == (SECRET,)


def test_error_status_code_wins_over_the_exception_it_becomes(otel: Otel) -> None:
    with pytest.raises(RuntimeError):
        fail(otel.telemetry, RuntimeError(SECRET), status=500)
    assert dict(otel.spans()[1].attributes or {})["error.type"] == "500"
    assert dict(otel.span("epay.pay_with_card").attributes or {})["error.type"] == "RuntimeError"


def test_outcome_unknown_error(otel: Otel) -> None:
    error = OutcomeUnknownError("000123456", "pay_with_card", "ReadTimeout " + SECRET)
    with pytest.raises(OutcomeUnknownError):
        fail(otel.telemetry, error, status=200, in_attempt=False)
    attributes = dict(otel.span("epay.pay_with_card").attributes or {})
    assert attributes["epay.outcome_unknown"] is True
    assert attributes["error.type"] == "OutcomeUnknownError"
    (point,) = otel.points("epay.client.outcome_unknown")
    assert point.value == 1
    assert dict(point.attributes) == {"epay.operation": "pay_with_card"}
    assert "Sup3rS3cret" not in otel.everything()


def test_marked_outcome_unknown_without_exception(otel: Otel) -> None:
    for _ in range(2):
        with paid(otel.telemetry) as call:
            call.mark_outcome_unknown()
    with paid(otel.telemetry):
        pass
    spans = otel.spans()
    assert [dict(s.attributes or {})["epay.outcome_unknown"] for s in spans] == [
        True,
        True,
        False,
    ]
    (point,) = otel.points("epay.client.outcome_unknown")
    assert point.value == 2


def test_metrics(otel: Otel) -> None:
    with paid(otel.telemetry) as call:
        for number in (1, 2, 3):
            with call.attempt("POST", URL, number) as attempt:
                attempt.set_status_code(503 if number < 3 else 200)
            if number < 3:
                call.retried("503")
    with (
        otel.telemetry.call(
            "get_status", invoice_id=None, transaction_id="tx-1", moves_money=False
        ) as call,
        call.attempt("GET", "https://testepay.example.kz/status/1", 1) as attempt,
    ):
        attempt.set_status_code(200)

    (retries,) = otel.points("epay.client.retries")
    assert retries.value == 2
    assert dict(retries.attributes) == {
        "epay.operation": "pay_with_card",
        "epay.retry.reason": "503",
    }
    durations = {
        point.attributes["epay.operation"]: point
        for point in otel.points("epay.client.call.duration")
    }
    assert set(durations) == {"pay_with_card", "get_status"}
    assert all(point.count == 1 and point.sum >= 0 for point in durations.values())
    assert "error.type" not in durations["get_status"].attributes
    requests = otel.points("http.client.request.duration")
    by_status = {
        (p.attributes["http.request.method"], p.attributes["http.response.status_code"]): p.count
        for p in requests
    }
    assert by_status == {("POST", 503): 2, ("POST", 200): 1, ("GET", 200): 1}
    failed = [p for p in requests if p.attributes["http.response.status_code"] == 503]
    assert dict(failed[0].attributes) == {
        "http.request.method": "POST",
        "server.address": "testepay.example.kz",
        "server.port": 8443,
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert otel.points("epay.client.outcome_unknown") == []
    status_span = otel.span("epay.get_status")
    assert dict(status_span.attributes or {})["epay.transaction_id"] == "tx-1"
    assert "epay.invoice_id" not in (status_span.attributes or {})
    assert "epay.result_code" not in (status_span.attributes or {})


@pytest.mark.anyio
async def test_cancellation_ends_spans_and_propagates(otel: Otel) -> None:
    cancelled = anyio.get_cancelled_exc_class()
    seen: list[BaseException] = []
    with anyio.CancelScope() as scope:
        try:
            with paid(otel.telemetry) as call, call.attempt("POST", URL, 1):
                await anyio.lowlevel.checkpoint()
                scope.cancel()
                await anyio.sleep(10)
        except cancelled as exc:
            seen.append(exc)
            raise
    assert scope.cancelled_caught
    assert len(seen) == 1
    assert type(seen[0]) is cancelled
    for name in ("POST", "epay.pay_with_card"):
        span = otel.span(name)
        assert span.end_time is not None
        assert dict(span.attributes or {})["error.type"] == "cancelled"
        assert span.status.status_code is StatusCode.ERROR
    # Not in doubt by itself: the pipeline marks it when the request may have left.
    assert dict(otel.span("epay.pay_with_card").attributes or {})["epay.outcome_unknown"] is False


@pytest.mark.anyio
async def test_cancellation_after_the_request_may_have_left(otel: Otel) -> None:
    with anyio.move_on_after(0.01):
        with paid(otel.telemetry) as call, call.attempt("POST", URL, 1):
            call.mark_outcome_unknown()
            await anyio.sleep(10)
    attributes = dict(otel.span("epay.pay_with_card").attributes or {})
    assert attributes["epay.outcome_unknown"] is True
    assert attributes["error.type"] == "cancelled"
    (point,) = otel.points("epay.client.outcome_unknown")
    assert point.value == 1


@pytest.mark.anyio
async def test_concurrent_calls_keep_their_own_parents(otel: Otel) -> None:
    async def one(invoice_id: str) -> None:
        with paid(otel.telemetry, invoice_id=invoice_id) as call:
            await anyio.sleep(0.01)
            with call.attempt("POST", URL, 1):
                await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for number in range(5):
            tg.start_soon(one, f"00000000{number}")
    calls = {s.context.span_id: s for s in otel.spans() if s.name == "epay.pay_with_card"}
    attempts = [s for s in otel.spans() if s.name == "POST"]
    assert len(calls) == 5
    assert len(attempts) == 5
    assert {s.parent.span_id for s in attempts if s.parent} == set(calls)
    assert all(s.parent is None for s in calls.values())


def test_asyncio_task_cancel() -> None:
    o = Otel()

    async def main() -> None:
        async def work() -> None:
            with paid(o.telemetry) as call, call.attempt("POST", URL, 1):
                await asyncio.sleep(10)

        task = asyncio.ensure_future(work())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [dict(s.attributes or {})["error.type"] for s in o.spans()] == ["cancelled"] * 2


def test_global_providers_looked_up_at_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    o = Otel()
    telemetry = Telemetry()  # built before the application configures OpenTelemetry
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: o.tracer_provider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: o.meter_provider)
    with telemetry.call("refund", invoice_id="000123456", transaction_id=None, moves_money=True):
        pass
    assert [s.name for s in o.spans()] == ["epay.refund"]
    assert len(o.points("epay.client.call.duration")) == 1


def test_disabled_records_nothing(otel: Otel) -> None:
    telemetry = Telemetry.disabled()
    assert not telemetry.enabled
    with paid(telemetry) as call, call.attempt("POST", URL, 1):
        pass
    assert otel.spans() == []


def test_noop_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    for telemetry in (Telemetry(), Telemetry(tracer_provider=object(), meter_provider=object())):
        assert not telemetry.enabled
        first = paid(telemetry)
        assert paid(telemetry) is first  # a shared singleton: nothing allocated per call
        with first as call:
            with call.attempt("POST", URL, 1) as attempt:
                attempt.set_status_code(500)
            call.retried("500")
            call.set_result_code(0)
            call.mark_outcome_unknown()
            assert call.attempt("POST", URL, 2) is call.attempt("POST", URL, 3)
        with pytest.raises(OutcomeUnknownError), paid(telemetry):
            raise OutcomeUnknownError("000123456", "pay_with_card", "ReadTimeout")


@pytest.mark.anyio
async def test_noop_cancellation_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    telemetry = Telemetry()
    with anyio.move_on_after(0.01) as scope:
        with paid(telemetry) as call, call.attempt("POST", URL, 1):
            await anyio.sleep(10)
    assert scope.cancelled_caught


def test_nothing_secret_in_any_flow(otel: Otel) -> None:
    """Every shape of call (success, retry, decline, in doubt) exported as text: no secret."""
    flows: list[tuple[str, BaseException | None]] = [
        ("pay_with_card", None),
        ("pay_with_saved_card", ValueError(SECRET)),
        ("pay_with_google_pay", OutcomeUnknownError("000123456", "pay_with_google_pay", SECRET)),
        ("transfer", KeyError(SECRET)),
    ]
    for operation, failure in flows:
        if failure is None:
            with paid(otel.telemetry) as call, call.attempt("POST", URL, 1) as attempt:
                attempt.set_status_code(200)
            continue
        with pytest.raises(type(failure)):
            fail(otel.telemetry, failure, status=200, in_attempt=False, operation=operation)
    everything = otel.everything()
    assert json.loads(otel.metrics_json())  # the metrics were exported and read
    for forbidden in ("Sup3rS3cret", "4405639704015096", "client_secret", "amount=", "pw@"):
        assert forbidden not in everything
    assert all(not s.events for s in otel.spans())


def test_global_providers_left_unset_cost_no_span() -> None:
    # Until an SDK installs real global providers, OpenTelemetry's are proxies that record
    # nothing: a call then takes the no-op path (measured: the span alone is ~5 us a call).
    telemetry = Telemetry()
    with telemetry.call("get_status") as call:
        assert call is NO_CALL_TELEMETRY
    provider, exporter = TracerProvider(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Telemetry(tracer_provider=provider).call("get_status") as call:
        assert call is not NO_CALL_TELEMETRY
    assert [span.name for span in exporter.get_finished_spans()] == ["epay.get_status"]

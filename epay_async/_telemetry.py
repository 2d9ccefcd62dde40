"""OpenTelemetry tracing and metrics for the client: an optional extra, a no-op without it.

Everything goes through ``opentelemetry-api`` (``pip install 'epay-async[otel]'``); the
application brings the SDK and its exporters. Without the API installed every method here is a
no-op on shared singletons: nothing is imported, allocated or measured.

Spans:

- one per public call, ``epay.<operation>`` (kind INTERNAL), with ``epay.operation``,
  ``epay.invoice_id``, ``epay.transaction_id``, ``epay.moves_money`` and, on exit,
  ``epay.attempts``, ``epay.result_code``, ``epay.outcome_unknown`` and ``error.type``;
- one per HTTP attempt, a CLIENT child of the call's span named by the method, following
  OpenTelemetry's stable HTTP client conventions (``http.request.method``, ``server.address``,
  ``server.port``, ``url.full``, ``http.response.status_code``, ``error.type``,
  ``http.request.resend_count``).

Metrics: ``epay.client.call.duration`` (s), ``epay.client.retries``,
``epay.client.outcome_unknown`` and the conventions' ``http.client.request.duration`` (s).

Nothing secret reaches an attribute: the interface takes only ids, names, a method, a URL
(recorded without its query string, fragment and userinfo) and status codes. Exceptions are
recorded by class name only, never by message or traceback (no ``record_exception``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from ._logs import logger
from ._version import __version__
from .errors import OutcomeUnknownError

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context  # type: ignore[import-not-found, unused-ignore]
    from opentelemetry.metrics import (  # type: ignore[import-not-found, unused-ignore]
        Counter,
        Histogram,
        Meter,
        MeterProvider,
    )
    from opentelemetry.trace import (  # type: ignore[import-not-found, unused-ignore]
        Span,
        SpanKind,
        Status,
        Tracer,
        TracerProvider,
    )

__all__ = ["NO_CALL_TELEMETRY", "AttemptTelemetry", "CallTelemetry", "Telemetry"]

#: The instrumentation scope of every tracer and meter.
SCOPE = "epay_async"

#: ``error.type`` of a call or attempt ended by a cancellation (anyio, asyncio or trio).
CANCELLED = "cancelled"

#: Request methods known to the HTTP conventions; any other is recorded as ``_OTHER``.
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Bucket boundaries (s): the HTTP conventions' advice for request durations; a call (which may
#: retry and poll) gets a longer tail.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_CALL_BUCKETS = (*_REQUEST_BUCKETS, 15, 30, 60, 120)

_Attributes = dict[str, str | bool | int | float]


def _error_type(exc: BaseException) -> str:
    """``cancelled`` for a cancellation, else the exception's class name (never its message)."""
    if isinstance(exc, asyncio.CancelledError):
        return CANCELLED
    trio = sys.modules.get("trio")  # trio.Cancelled, only when trio is in use (never imported)
    if trio is not None and isinstance(exc, trio.Cancelled):
        return CANCELLED
    return type(exc).__name__


def _http_attributes(method: str, url: str) -> tuple[str, _Attributes]:
    """The span name and the request attributes of the HTTP client conventions.

    ``url.full`` keeps scheme, host, port and path only: the query (which may carry amounts),
    the fragment and any userinfo are dropped. A URL that cannot be read is left out.
    """
    attributes: _Attributes = {}
    if method in _KNOWN_METHODS:
        name = method
        attributes["http.request.method"] = method
    elif method.upper() in _KNOWN_METHODS:
        name = method.upper()
        attributes["http.request.method"] = name
        attributes["http.request.method_original"] = method
    else:
        name = "HTTP"
        attributes["http.request.method"] = "_OTHER"
        attributes["http.request.method_original"] = method
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return name, attributes
    if host:
        attributes["server.address"] = host
        if port is not None:
            attributes["server.port"] = port
        host_port = parts.netloc.rpartition("@")[2]
        attributes["url.full"] = f"{parts.scheme.lower()}://{host_port}{parts.path}"
    return name, attributes


class _Otel:
    """The resolved tracer, meter instruments and API functions of one :class:`Telemetry`."""

    __slots__ = (
        "_providers",
        "attach",
        "call_duration",
        "client_kind",
        "detach",
        "error_status",
        "global_providers",
        "outcome_unknown",
        "request_duration",
        "retries",
        "set_span_in_context",
        "tracer",
    )

    def __init__(self, tracer_provider: object | None, meter_provider: object | None) -> None:
        # Imported here: the extra is optional, and the import is paid only when used.
        from opentelemetry import (  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
            context,
            metrics,
            trace,
        )

        tp = cast(
            "TracerProvider",
            trace.get_tracer_provider() if tracer_provider is None else tracer_provider,
        )
        mp = cast(
            "MeterProvider",
            metrics.get_meter_provider() if meter_provider is None else meter_provider,
        )
        #: Both providers are OpenTelemetry's globals: until an SDK installs real ones they
        #: are proxies recording nothing, and a call skips its span (see :meth:`configured`).
        self.global_providers = tracer_provider is None and meter_provider is None
        self._providers = (trace.get_tracer_provider, metrics.get_meter_provider)
        self.tracer: Tracer = tp.get_tracer(SCOPE, __version__)
        meter = mp.get_meter(SCOPE, __version__)
        self.call_duration: Histogram = _histogram(
            meter,
            "epay.client.call.duration",
            "Duration of a public call of the client, retries included.",
            _CALL_BUCKETS,
        )
        self.request_duration: Histogram = _histogram(
            meter,
            "http.client.request.duration",
            "Duration of HTTP client requests.",
            _REQUEST_BUCKETS,
        )
        self.retries: Counter = meter.create_counter(
            "epay.client.retries",
            unit="{retry}",
            description="Requests sent again after a failed attempt.",
        )
        self.outcome_unknown: Counter = meter.create_counter(
            "epay.client.outcome_unknown",
            unit="{call}",
            description="Money requests whose outcome is unknown (they may have reached the "
            "gateway): reconcile them with check-status.",
        )
        self.client_kind: SpanKind = trace.SpanKind.CLIENT
        self.error_status: Status = trace.Status(trace.StatusCode.ERROR)
        self.set_span_in_context: Callable[[Span], Context] = trace.set_span_in_context
        self.attach: Callable[[Context], Token[Context]] = context.attach
        self.detach: Callable[[Token[Context]], None] = context.detach

    def configured(self) -> bool:
        """Whether an SDK has set a real global tracer or meter provider (checked per call: an
        application may configure OpenTelemetry after building the client)."""
        tracer_provider, meter_provider = self._providers
        return not (_is_proxy(tracer_provider()) and _is_proxy(meter_provider()))


def _histogram(meter: Meter, name: str, description: str, buckets: tuple[float, ...]) -> Histogram:
    """A histogram in seconds with the advised buckets, where the API knows the advice
    (opentelemetry-api 1.28 and later); the SDK's default buckets before."""
    try:
        return meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:
        return meter.create_histogram(name, unit="s", description=description)


def _is_proxy(provider: object) -> bool:
    """OpenTelemetry's stand-in global provider, before an SDK sets a real one."""
    return type(provider).__name__.lstrip("_").startswith("Proxy")


class Telemetry:
    """Spans and metrics for the client; a no-op without opentelemetry-api.

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global providers,
    looked up at the first call (so an application may configure them after building the
    client). The instrumentation scope is ``epay_async`` at the package's version.
    """

    __slots__ = (
        "_configured",
        "_meter_provider",
        "_next_check",
        "_otel",
        "_resolved",
        "_tracer_provider",
    )

    def __init__(
        self, tracer_provider: object | None = None, meter_provider: object | None = None
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        #: Resolved at the first use; None when opentelemetry-api is missing (or turned off).
        self._otel: _Otel | None = None
        self._resolved = False
        self._configured = False
        self._next_check = 0.0

    @classmethod
    def disabled(cls) -> Telemetry:
        """A telemetry that records nothing, whatever is installed."""
        telemetry = cls()
        telemetry._resolved = True
        return telemetry

    def _resolve(self) -> None:
        try:
            self._otel = _Otel(self._tracer_provider, self._meter_provider)
        except ImportError:
            self._otel = None
        except Exception as exc:  # telemetry never stops a payment: record nothing instead
            logger.warning("OpenTelemetry could not be set up (%s): no spans", type(exc).__name__)
            self._otel = None
        self._resolved = True

    def _sdk_configured(self, otel: _Otel) -> bool:
        """Whether the global providers are real ones, looked at once a second at most (an
        application configures OpenTelemetry at start-up; the look costs ~2 us)."""
        now = time.monotonic()
        if now >= self._next_check:
            self._configured = otel.configured()
            self._next_check = now + 1.0
        return self._configured

    @property
    def enabled(self) -> bool:
        """False when opentelemetry-api is not importable (or for :meth:`disabled`)."""
        if not self._resolved:
            self._resolve()
        return self._otel is not None

    def call(
        self,
        operation: str,
        *,
        invoice_id: str | None = None,
        transaction_id: str | None = None,
        moves_money: bool = False,
    ) -> CallTelemetry:
        """A context manager around one public call: the ``epay.<operation>`` span.

        It only sets OpenTelemetry's context (a context variable), so it may span awaits; enter
        and leave it in the same task.
        """
        if not self._resolved:
            self._resolve()
        otel = self._otel
        if otel is None or (otel.global_providers and not self._sdk_configured(otel)):
            return _NOOP_CALL
        return CallTelemetry(otel, operation, invoice_id, transaction_id, moves_money)


class CallTelemetry:
    """One public call in progress (from :meth:`Telemetry.call`)."""

    __slots__ = (
        "_attempts",
        "_invoice_id",
        "_moves_money",
        "_operation",
        "_otel",
        "_outcome_unknown",
        "_result_code",
        "_span",
        "_start",
        "_token",
        "_transaction_id",
    )

    def __init__(
        self,
        otel: _Otel,
        operation: str,
        invoice_id: str | None,
        transaction_id: str | None,
        moves_money: bool,
    ) -> None:
        self._otel = otel
        self._operation = operation
        self._invoice_id = invoice_id
        self._transaction_id = transaction_id
        self._moves_money = moves_money
        self._attempts = 0
        self._result_code: int | str | None = None
        self._outcome_unknown = False
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._start = 0.0

    def __enter__(self) -> CallTelemetry:
        otel = self._otel
        attributes: _Attributes = {
            "epay.operation": self._operation,
            "epay.moves_money": self._moves_money,
        }
        if self._invoice_id is not None:
            attributes["epay.invoice_id"] = self._invoice_id
        if self._transaction_id is not None:
            attributes["epay.transaction_id"] = self._transaction_id
        span = otel.tracer.start_span(f"epay.{self._operation}", attributes=attributes)
        self._span = span
        self._token = otel.attach(otel.set_span_in_context(span))
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._start
        otel = self._otel
        span = self._span
        try:
            error_type = None if exc is None else _error_type(exc)
            in_doubt = self._outcome_unknown or isinstance(exc, OutcomeUnknownError)
            if span is not None:
                span.set_attribute("epay.attempts", self._attempts)
                span.set_attribute("epay.outcome_unknown", in_doubt)
                if self._result_code is not None:
                    span.set_attribute("epay.result_code", self._result_code)
                if error_type is not None:
                    span.set_attribute("error.type", error_type)
                    span.set_status(otel.error_status)
            attributes: _Attributes = {"epay.operation": self._operation}
            if in_doubt:
                otel.outcome_unknown.add(1, dict(attributes))  # some SDKs keep the dict itself
            if error_type is not None:
                attributes["error.type"] = error_type
            otel.call_duration.record(elapsed, attributes)
        except Exception as failure:  # telemetry never changes what a call raises or returns
            logger.debug("telemetry of %s failed: %s", self._operation, type(failure).__name__)
        finally:
            if span is not None:
                span.end()
            if self._token is not None:
                otel.detach(self._token)
                self._token = None

    def describe(
        self, *, invoice_id: str | None, transaction_id: str | None, moves_money: bool
    ) -> None:
        """What the call turned out to send (known once its operation is built): the ids and
        whether it moves money."""
        self._invoice_id = invoice_id or self._invoice_id
        self._transaction_id = transaction_id or self._transaction_id
        self._moves_money = self._moves_money or moves_money
        span = self._span
        if span is not None:
            if invoice_id is not None:
                span.set_attribute("epay.invoice_id", invoice_id)
            if transaction_id is not None:
                span.set_attribute("epay.transaction_id", transaction_id)
            span.set_attribute("epay.moves_money", self._moves_money)

    def set_result_code(self, code: int | str | None) -> None:
        """The gateway's result code (``epay.result_code``); None leaves it out."""
        self._result_code = code

    def mark_outcome_unknown(self) -> None:
        """The request may have reached the gateway (e.g. cancelled after it may have left)."""
        self._outcome_unknown = True

    def attempt(self, method: str, url: str, attempt: int) -> AttemptTelemetry:
        """A context manager around one HTTP exchange (``attempt`` counts from 1)."""
        self._attempts += 1
        return AttemptTelemetry(self._otel, self._span, method, url, attempt)

    def retried(self, reason: str) -> None:
        """One more attempt is coming: ``epay.client.retries`` +1 (``epay.retry.reason``)."""
        self._otel.retries.add(1, {"epay.operation": self._operation, "epay.retry.reason": reason})


class AttemptTelemetry:
    """One HTTP exchange in progress (from :meth:`CallTelemetry.attempt`)."""

    __slots__ = (
        "_attributes",
        "_name",
        "_otel",
        "_parent",
        "_span",
        "_start",
        "_status",
        "_token",
    )

    def __init__(
        self, otel: _Otel, parent: Span | None, method: str, url: str, attempt: int
    ) -> None:
        self._otel = otel
        self._parent = parent
        self._name, self._attributes = _http_attributes(method, url)
        if attempt > 1:
            self._attributes["http.request.resend_count"] = attempt - 1
        self._status: int | None = None
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        self._start = 0.0

    def __enter__(self) -> AttemptTelemetry:
        otel = self._otel
        parent = None if self._parent is None else otel.set_span_in_context(self._parent)
        span = otel.tracer.start_span(
            self._name, context=parent, kind=otel.client_kind, attributes=self._attributes
        )
        self._span = span
        self._token = otel.attach(otel.set_span_in_context(span))
        self._start = time.perf_counter()
        return self

    def set_status_code(self, status: int) -> None:
        """The response's status code; 400 and above make the exchange a failure."""
        self._status = status
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", status)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = time.perf_counter() - self._start
        otel = self._otel
        span = self._span
        try:
            status = self._status
            if status is not None and status >= 400:
                error_type: str | None = str(status)
            elif exc is not None:
                error_type = _error_type(exc)
            else:
                error_type = None
            if span is not None and error_type is not None:
                span.set_attribute("error.type", error_type)
                span.set_status(otel.error_status)
            attributes = _metric_attributes(self._attributes)
            if status is not None:
                attributes["http.response.status_code"] = status
            if error_type is not None:
                attributes["error.type"] = error_type
            otel.request_duration.record(elapsed, attributes)
        except Exception as failure:  # telemetry never changes what a call raises or returns
            logger.debug("telemetry of %s failed: %s", self._name, type(failure).__name__)
        finally:
            if span is not None:
                span.end()
            if self._token is not None:
                otel.detach(self._token)
                self._token = None


def _metric_attributes(attributes: Mapping[str, str | bool | int | float]) -> _Attributes:
    """The low-cardinality request attributes (no URL, no resend count) for the duration."""
    return {
        key: value
        for key, value in attributes.items()
        if key in ("http.request.method", "server.address", "server.port")
    }


class _NoopCall(CallTelemetry):
    __slots__ = ()

    def __init__(self) -> None:
        pass

    def __enter__(self) -> CallTelemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def describe(
        self, *, invoice_id: str | None, transaction_id: str | None, moves_money: bool
    ) -> None:
        pass

    def set_result_code(self, code: int | str | None) -> None:
        return None

    def mark_outcome_unknown(self) -> None:
        return None

    def attempt(self, method: str, url: str, attempt: int) -> AttemptTelemetry:
        return _NOOP_ATTEMPT

    def retried(self, reason: str) -> None:
        return None


class _NoopAttempt(AttemptTelemetry):
    __slots__ = ()

    def __init__(self) -> None:
        pass

    def __enter__(self) -> AttemptTelemetry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def set_status_code(self, status: int) -> None:
        return None


_NOOP_CALL = _NoopCall()
_NOOP_ATTEMPT = _NoopAttempt()

#: The span of a call made without the pipeline (a transport used alone): records nothing.
NO_CALL_TELEMETRY: CallTelemetry = _NOOP_CALL

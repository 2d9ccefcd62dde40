"""Spans and metrics (stub until the OpenTelemetry module lands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["NO_CALL_TELEMETRY", "AttemptTelemetry", "CallTelemetry", "Telemetry"]


class AttemptTelemetry:
    def set_status_code(self, status: int) -> None:
        pass


class CallTelemetry:
    def describe(
        self, *, invoice_id: str | None, transaction_id: str | None, moves_money: bool
    ) -> None:
        pass

    def set_result_code(self, code: int | str | None) -> None:
        pass

    def mark_outcome_unknown(self) -> None:
        pass

    @contextmanager
    def attempt(self, method: str, url: str, attempt: int) -> Iterator[AttemptTelemetry]:
        yield AttemptTelemetry()

    def retried(self, reason: str) -> None:
        pass


NO_CALL_TELEMETRY = CallTelemetry()


class Telemetry:
    def __init__(
        self, tracer_provider: object | None = None, meter_provider: object | None = None
    ) -> None:
        pass

    @classmethod
    def disabled(cls) -> Telemetry:
        return cls()

    @contextmanager
    def call(self, operation: str) -> Iterator[CallTelemetry]:
        yield NO_CALL_TELEMETRY

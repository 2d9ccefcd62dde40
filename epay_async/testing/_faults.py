"""Scripted network and gateway faults for the sandbox transport."""

from __future__ import annotations

import enum

import attrs

from ._wire import SandboxResponse


class FaultKind(enum.Enum):
    CONNECT_ERROR = "connect_error"  # never reaches the gateway
    CONNECT_TIMEOUT = "connect_timeout"  # never reaches the gateway
    POOL_TIMEOUT = "pool_timeout"  # never reaches the gateway
    WRITE_TIMEOUT = "write_timeout"  # may have reached it: the sandbox processes it
    READ_TIMEOUT = "read_timeout"  # processed, the answer is lost
    DROPPED = "dropped"  # processed, the connection drops mid-answer
    RESPONSE = "response"  # a canned answer instead of the gateway's
    SLOW = "slow"  # processed, answered after ``delay`` seconds (past the read timeout?)


@attrs.frozen
class Fault:
    """What to do to a matching request instead of answering it normally."""

    kind: FaultKind
    response: SandboxResponse | None = None
    #: Whether the gateway acts on the request before the fault hits (state changes).
    processed: bool = False
    delay: float = 0.0

    @classmethod
    def connect_error(cls) -> Fault:
        """The connection cannot be opened (``httpx.ConnectError``): the request never left."""
        return cls(FaultKind.CONNECT_ERROR)

    @classmethod
    def connect_timeout(cls) -> Fault:
        """Opening the connection times out (``httpx.ConnectTimeout``): never sent."""
        return cls(FaultKind.CONNECT_TIMEOUT)

    @classmethod
    def pool_timeout(cls) -> Fault:
        """No pooled connection frees up in time (``httpx.PoolTimeout``): never sent."""
        return cls(FaultKind.POOL_TIMEOUT)

    @classmethod
    def write_timeout(cls) -> Fault:
        """Sending times out after the gateway received and processed the request."""
        return cls(FaultKind.WRITE_TIMEOUT, processed=True)

    @classmethod
    def read_timeout(cls) -> Fault:
        """The gateway processes the request; its answer never arrives (``ReadTimeout``)."""
        return cls(FaultKind.READ_TIMEOUT, processed=True)

    @classmethod
    def dropped(cls) -> Fault:
        """The gateway processes the request, then the connection drops mid-answer."""
        return cls(FaultKind.DROPPED, processed=True)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        """Process the request, then answer only after ``delay`` seconds; the client's read
        timeout applies as it would on a socket."""
        return cls(FaultKind.SLOW, processed=True, delay=delay)

    @classmethod
    def status(
        cls,
        status: int,
        body: bytes = b"",
        *,
        retry_after: str | None = None,
        processed: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer ``status`` with ``body`` (and ``headers``, e.g. a ``Content-Encoding``)."""
        headers = dict(headers or {})
        if retry_after is not None:
            headers["retry-after"] = retry_after
        return cls(FaultKind.RESPONSE, SandboxResponse(status, body, headers), processed=processed)

    @property
    def reaches_gateway(self) -> bool:
        """Whether the request gets to the gateway at all (connect faults stop it before)."""
        return self.kind not in (
            FaultKind.CONNECT_ERROR,
            FaultKind.CONNECT_TIMEOUT,
            FaultKind.POOL_TIMEOUT,
        )


@attrs.define
class ScheduledFault:
    path_contains: str
    fault: Fault
    remaining: int
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.path_contains in path
            and (self.method is None or self.method == method)
        )

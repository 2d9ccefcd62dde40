"""What a request meets on its way into the sandbox, as its ways in (the httpx transport, the
ASGI app, the HTTP server) see it: the scheduled faults, the latency, the record of requests,
then the gateway. :class:`~epay_async.testing.Sandbox` is the one front door."""

from __future__ import annotations

from typing import Protocol

from ._faults import Fault
from ._gateway import Gateway
from ._wire import SandboxRequest


class FrontDoor(Protocol):
    @property
    def gateway(self) -> Gateway: ...

    @property
    def latency(self) -> float: ...

    def take_fault(
        self, method: str, path: str, *, unreached_only: bool = False
    ) -> Fault | None: ...

    def record(self, request: SandboxRequest) -> None: ...

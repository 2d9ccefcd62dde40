"""The sandbox as an ``httpx.AsyncBaseTransport``, with scripted faults."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx

from ._faults import FaultKind
from ._front_door import FrontDoor
from ._wire import SandboxRequest, SandboxResponse


class SandboxTransport(httpx.AsyncBaseTransport):
    """Hands each request to the sandbox gateway in-process, no sockets involved."""

    def __init__(self, sandbox: FrontDoor) -> None:
        self._sandbox = sandbox

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sandbox_request = SandboxRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            scheme=request.url.scheme,
        )
        fault = self._sandbox.take_fault(request.method, request.url.path)
        if fault is not None and not fault.reaches_gateway:
            raise _never_sent(fault.kind, request)
        if self._sandbox.latency:
            await anyio.sleep(self._sandbox.latency)
        else:
            await anyio.lowlevel.checkpoint()
        self._sandbox.record(sandbox_request)
        if fault is None or fault.processed:
            response = await self._sandbox.gateway.handle(sandbox_request)
        if fault is not None:
            if fault.kind is FaultKind.SLOW:
                read_timeout = request.extensions.get("timeout", {}).get("read")
                if read_timeout is not None and fault.delay > read_timeout:
                    await anyio.sleep(read_timeout)
                    raise httpx.ReadTimeout("sandbox: read timed out", request=request)
                await anyio.sleep(fault.delay)
            elif fault.kind is FaultKind.RESPONSE:
                assert fault.response is not None
                response = fault.response
            elif fault.kind is FaultKind.WRITE_TIMEOUT:
                raise httpx.WriteTimeout("sandbox: write timed out", request=request)
            elif fault.kind is FaultKind.READ_TIMEOUT:
                raise httpx.ReadTimeout("sandbox: read timed out", request=request)
            elif fault.kind is FaultKind.DROPPED:
                raise httpx.RemoteProtocolError("sandbox: connection dropped", request=request)
        return _to_httpx(response, request)


def _never_sent(kind: FaultKind, request: httpx.Request) -> httpx.HTTPError:
    if kind is FaultKind.CONNECT_TIMEOUT:
        return httpx.ConnectTimeout("sandbox: connect timed out", request=request)
    if kind is FaultKind.POOL_TIMEOUT:
        return httpx.PoolTimeout("sandbox: no connection available")
    return httpx.ConnectError("sandbox: connection refused", request=request)


def _to_httpx(response: SandboxResponse, request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        response.status, headers=dict(response.headers), content=response.body, request=request
    )

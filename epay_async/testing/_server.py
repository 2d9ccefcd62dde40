"""The sandbox served over HTTP/1.1 on loopback, with anyio: it runs under asyncio and trio.

Minimal on purpose (``Content-Length`` bodies, keep-alive, no chunked requests): it exists to
put real sockets and a real connection pool between the client and the sandbox, and for
``python -m epay_async sandbox``. For throughput, serve ``sandbox.asgi_app`` with uvicorn.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from ._faults import FaultKind
from ._front_door import FrontDoor
from ._wire import SandboxRequest, SandboxResponse

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


async def serve(
    sandbox: FrontDoor,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``await task_group.start(serve, sandbox)`` returns the port.
    Notifications go out over HTTP from a task of this server's own (see ``_notify``),
    cancelled with it."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    async with listener, anyio.create_task_group() as tasks:
        await tasks.start(sandbox.gateway.notifier.run)
        bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        task_status.started(bound)
        await listener.serve(lambda stream: _connection(sandbox, stream))


async def _connection(sandbox: FrontDoor, stream: anyio.abc.SocketStream) -> None:
    async with stream:
        reader = BufferedByteReceiveStream(stream)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                response = await _answer(sandbox, request)
                if response is None:  # a dropped connection, by request of a fault
                    return
                await stream.send(_encode(response, keep_alive))
                if not keep_alive:
                    return
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.IncompleteRead):
            return
        except anyio.DelimiterNotFound:
            await stream.send(_encode(SandboxResponse(431), keep_alive=False))


async def _read_request(reader: BufferedByteReceiveStream) -> SandboxRequest | None:
    try:
        head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
    except anyio.EndOfStream:
        return None
    line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = line.split(" ", 2)
    headers: dict[str, str] = {}
    for header in header_lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if length > MAX_BODY:
        raise anyio.BrokenResourceError
    body = await reader.receive_exactly(length) if length else b""
    parts = urlsplit(target)
    return SandboxRequest(
        method=method,
        path=unquote(parts.path),
        query=dict(parse_qsl(parts.query)),
        headers=headers,
        body=body,
        scheme="http",
    )


async def _answer(sandbox: FrontDoor, request: SandboxRequest) -> SandboxResponse | None:
    fault = sandbox.take_fault(request.method, request.path)
    if fault is not None and not fault.reaches_gateway:
        return None  # over a socket, "never sent" can only be a connection closed unread
    if sandbox.latency:
        await anyio.sleep(sandbox.latency)
    sandbox.record(request)
    if fault is None:
        return await sandbox.gateway.handle(request)
    if fault.processed:  # the gateway acts before the fault hits, as in-process
        response = await sandbox.gateway.handle(request)
    if fault.kind is FaultKind.RESPONSE:
        return fault.response
    if fault.kind is FaultKind.SLOW:
        await anyio.sleep(fault.delay)
        return response
    return None  # every other fault: the connection drops without an answer


def _encode(response: SandboxResponse, keep_alive: bool) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"content-length: {len(response.body)}")
    lines.append(f"connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body

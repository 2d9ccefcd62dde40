"""A gateway that costs almost nothing: canned answers over HTTP/1.1 keep-alive, in its own
process, so the client is the bottleneck of the throughput benchmark.

``python -m benchmarks.canned_server PORT``: a token for any ``POST /oauth2/token``, and for
``GET /check-status/payment/transaction/<id>`` the sandbox's answer for a paid invoice with
``<id>`` put in (the client checks that the answer is for the invoice it asked about).
Anything else is 404. The answers are built once at start-up.
"""

from __future__ import annotations

import asyncio
import json
import sys

from epay_async.testing import TEST_TERMINAL_ID
from epay_async.testing._handlers.status import synthesized_status

_PREFIX = b"/check-status/payment/transaction/"
_MARK = "987654320"  # a paid invoice (CHARGE): its id is replaced per request


_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "


def _response(body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _templates() -> tuple[bytes, tuple[bytes, bytes]]:
    status = synthesized_status(_MARK, TEST_TERMINAL_ID).body
    before, found, after = status.rpartition(f'"invoiceID":"{_MARK}"'.encode())
    assert found, status
    before, after = before + b'"invoiceID":"', b'"' + after
    token = json.dumps(
        {"access_token": "canned-token", "expires_in": 7200, "token_type": "Bearer"}
    ).encode()
    return _response(token), (before, after)


TOKEN, (STATUS_BEFORE, STATUS_AFTER) = _templates()
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, headers = head.partition(b"\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            _, target, _ = request_line.split(b" ", 2)
            if target.endswith(b"/oauth2/token"):
                writer.write(TOKEN)
            elif target.startswith(_PREFIX):
                invoice = target[len(_PREFIX) :]
                writer.write(_response(STATUS_BEFORE + invoice + STATUS_AFTER))
            else:
                writer.write(NOT_FOUND)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

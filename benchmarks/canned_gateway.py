"""A gateway that costs almost nothing: canned answers over HTTP/1.1 keep-alive, in its own
process, so the client is the bottleneck of a benchmark (``run.py``, ``journal_client.py``).
``python -m benchmarks.canned_gateway`` prints its port; :func:`canned_gateway` runs it.

``POST /oauth2/token`` answers a token; ``GET /check-status/payment/transaction/<id>`` the
sandbox's answer for a paid invoice with ``<id>`` put in (the client checks that an answer is
for the invoice it asked about); any other request an approved payment of the invoice in its
body (``invoiceId``), as ``POST /payments/cards/auth`` does. No state is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from epay_async.testing import TEST_TERMINAL_ID
from epay_async.testing._handlers.status import synthesized_status

TOKEN = (
    b'{"access_token":"canned0token0for0the0benchmark000","expires_in":7200,"refresh_token":"",'
    b'"scope":"webapi payment","token_type":"Bearer"}'
)
PAYMENT = (
    '{{"id":"da82bc6a-fdbd-44e5-9456-35f5805f699e","accountId":"","amount":{amount},'
    '"amountBonus":0,"currency":"KZT","description":"benchmark","email":"",'
    '"invoiceID":"{invoice}","language":"RU","phone":"","reference":"276090942815",'
    '"intReference":"AE6CE01F8E9D4DBF","secure3D":null,'
    '"cardID":"0e707540-4362-41c4-a51d-6f45ed28a4c3","code":0,"status":"AUTH"}}'
)


_STATUS_PATH = b"/check-status/payment/transaction/"
_MARK = "987654320"  # a paid invoice (CHARGE) whose id is replaced per request


def _status_template() -> tuple[bytes, bytes]:
    status = synthesized_status(_MARK, TEST_TERMINAL_ID).body
    before, found, after = status.rpartition(f'"invoiceID":"{_MARK}"'.encode())
    assert found, status
    return before + b'"invoiceID":"', b'"' + after


STATUS_BEFORE, STATUS_AFTER = _status_template()


def _answer(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            _, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if target.endswith(b"/oauth2/token"):
                writer.write(_answer(TOKEN))
            elif target.startswith(_STATUS_PATH):
                invoice = target[len(_STATUS_PATH) :]
                writer.write(_answer(STATUS_BEFORE + invoice + STATUS_AFTER))
            else:
                sent = json.loads(body)
                text = PAYMENT.format(amount=sent.get("amount", 0), invoice=sent.get("invoiceId"))
                writer.write(_answer(text.encode()))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(_connection, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def canned_gateway() -> Iterator[str]:
    """The canned gateway in its own process; its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.canned_gateway"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    asyncio.run(main())

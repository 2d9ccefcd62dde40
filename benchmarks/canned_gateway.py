"""A gateway that costs almost nothing: canned answers over HTTP/1.1 keep-alive, for
``benchmarks.journal_client``. ``python -m benchmarks.canned_gateway`` prints its port.

``POST /oauth2/token`` answers a token; any other request answers an approved payment of the
invoice in its body (``invoiceId``), as ``POST /payments/cards/auth`` does. No state is kept.
"""

from __future__ import annotations

import asyncio
import json
import sys

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
            if b"/oauth2/token" in head.split(b"\r\n", 1)[0]:
                writer.write(_answer(TOKEN))
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


if __name__ == "__main__":
    asyncio.run(main())

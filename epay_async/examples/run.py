"""Start a shop and the sandbox beside it, both on 127.0.0.1, for a person with a browser::

    python -m epay_async.examples.run fastapi        # the shop on http://127.0.0.1:8000
    python -m epay_async.examples.run aiohttp        # the shop on http://127.0.0.1:8001

The sandbox is served on http://127.0.0.1:8080 (``--sandbox-port``): the shop's payment page
opens there, it takes the sandbox's test cards (4405 6397 0401 5096, 01/27, 321; 5522 0427 0506
6736, 01/27, 775 asks for 3-D Secure; 4003 0327 0454 7597 is declined) and it posts the
notifications back to the shop. Orders are kept in ``shop.sqlite3`` (``--database``).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import anyio
import anyio.abc
import httpx

from epay_async import Environment, EpayClient
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

__all__ = ["serve_sandbox", "serve_shop"]


def sandbox_client(sandbox_url: str) -> EpayClient:
    return EpayClient(
        client_id=TEST_CLIENT_ID,
        client_secret=TEST_CLIENT_SECRET,
        terminal_id=TEST_TERMINAL_ID,
        environment=Environment.served(sandbox_url),
    )


async def serve_sandbox(
    sandbox: Sandbox,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``sandbox`` on 127.0.0.1; its notifications go out over HTTP to each postLink."""
    async with httpx.AsyncClient(timeout=10) as notifier, anyio.create_task_group() as tasks:
        sandbox.send_notifications_to(http_client=notifier)
        task_status.started(await tasks.start(sandbox.serve, "127.0.0.1", port))


async def serve_shop(
    kind: str,
    port: int,
    sandbox_url: str,
    *,
    database: str = "shop.sqlite3",
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve the ``kind`` shop ("fastapi" or "aiohttp") on 127.0.0.1:``port`` with its real
    server (uvicorn, aiohttp's runner) until cancelled."""
    public_url = f"http://127.0.0.1:{port}"

    def factory() -> EpayClient:
        return sandbox_client(sandbox_url)

    if kind == "fastapi":
        import uvicorn  # noqa: PLC0415

        from .fastapi_shop import create_app  # noqa: PLC0415

        app = create_app(factory, database=database, public_url=public_url, **options)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve)
            while not server.started:  # noqa: ASYNC110 - uvicorn has no event to wait on
                await anyio.sleep(0.02)
            task_status.started(port)
        return
    from aiohttp import web  # noqa: PLC0415

    from .aiohttp_shop import create_app as create_aiohttp_app  # noqa: PLC0415

    runner = web.AppRunner(
        create_aiohttp_app(factory, database=database, public_url=public_url, **options)
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        task_status.started(port)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


async def main(args: argparse.Namespace) -> None:
    sandbox = Sandbox()
    async with anyio.create_task_group() as tasks:
        await tasks.start(serve_sandbox, sandbox, args.sandbox_port)
        sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
        port = args.port or (8000 if args.shop == "fastapi" else 8001)
        await tasks.start(serve_shop, args.shop, port, sandbox_url)
        print(f"{args.shop} shop on http://127.0.0.1:{port} (sandbox {sandbox_url}); Ctrl+C stops")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shop", choices=("fastapi", "aiohttp"))
    parser.add_argument("--port", type=int, default=0, help="the shop's port")
    parser.add_argument("--sandbox-port", type=int, default=8080)
    parser.add_argument("--database", default="shop.sqlite3")
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main, parser.parse_args())

"""Start a shop and the sandbox beside it, both on 127.0.0.1, for a person with a browser::

    python -m epay_async.examples.run fastapi        # the shop on http://127.0.0.1:8000
    python -m epay_async.examples.run aiohttp        # the shop on http://127.0.0.1:8001

The sandbox is served on http://127.0.0.1:8080 (``--sandbox-port``): the shop's payment page
opens there, it takes the sandbox's test cards (4405 6397 0401 5096, 01/27, 321; 5522 0427 0506
6736, 01/27, 775 asks for 3-D Secure; 4003 0327 0454 7597 is declined) and it posts the
notifications back to the shop. Orders are kept in ``shop.sqlite3`` (``--database``), the
payment journal beside it (``shop.journal.sqlite3``). ``--sandbox-url`` uses a sandbox already
served there instead (``epay-async sandbox``): the shop can then be stopped and started again
against the same gateway, and settles at start-up whatever it left in doubt.

The admin page (``/admin``: refunds, cancellations, charges; ``/admin/statement``: the nightly
statement's discrepancies) asks for the admin token: set ``SHOP_ADMIN_TOKEN``, or a new one is
made and printed at start-up with the page's address.
A port in use is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import httpx

from epay_async import Environment, EpayClient
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Sandbox

from .shop import admin_token

__all__ = ["main", "serve_sandbox", "serve_shop"]


def sandbox_client(sandbox_url: str, **options: Any) -> EpayClient:
    """A client of the sandbox served at ``sandbox_url``; ``options`` (``journal=``) go to
    ``EpayClient``."""
    return EpayClient(
        client_id=TEST_CLIENT_ID,
        client_secret=TEST_CLIENT_SECRET,
        terminal_id=TEST_TERMINAL_ID,
        environment=Environment.served(sandbox_url),
        **options,
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
    client_factory: Callable[..., EpayClient] | None = None,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    **options: Any,
) -> None:
    """Serve the ``kind`` shop ("fastapi" or "aiohttp") on 127.0.0.1:``port`` with its real
    server (uvicorn, aiohttp's runner) until cancelled. Its client talks to the sandbox served
    at ``sandbox_url``, or is ``client_factory(journal=...)`` (``sandbox.client`` in a test);
    ``options``
    go to ``create_app`` (``admin_token``, ``reconcile_every``, ``check_every``...)."""
    public_url = f"http://127.0.0.1:{port}"

    def served_sandbox(**client_options: Any) -> EpayClient:
        return sandbox_client(sandbox_url, **client_options)

    factory = client_factory or served_sandbox

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


def port_problem(port: int) -> str | None:
    """Why 127.0.0.1:``port`` cannot be listened on, in one line, or None."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"cannot listen on 127.0.0.1:{port}: {exc.strerror}"
    return None


async def _run(args: argparse.Namespace, port: int, token: str, made: bool) -> None:
    async with anyio.create_task_group() as tasks:
        sandbox_url = args.sandbox_url
        if sandbox_url is None:
            await tasks.start(serve_sandbox, Sandbox(), args.sandbox_port)
            sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
        await tasks.start(
            lambda task_status: serve_shop(
                args.shop,
                port,
                sandbox_url,
                database=args.database,
                admin_token=token,
                task_status=task_status,
            )
        )
        shop_url = f"http://127.0.0.1:{port}"
        print(f"{args.shop} shop on {shop_url} (sandbox {sandbox_url}); Ctrl+C stops")
        print(f"admin page: {shop_url}/admin", end="  ")
        print(f"admin token: {token}" if made else "log in with SHOP_ADMIN_TOKEN")
        print(
            f"  or: curl -X POST -H 'Authorization: Bearer <token>' {shop_url}/orders/<id>/refund",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    doc = (__doc__ or "").replace("``", "")  # the module's doc, without reST's markup
    parser = argparse.ArgumentParser(
        prog="python -m epay_async.examples.run",
        description=doc.splitlines()[0].removesuffix("::") + ".",
        epilog=doc.partition("\n\n")[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shop", choices=("fastapi", "aiohttp"))
    parser.add_argument("--port", type=int, default=0, help="the shop's port")
    parser.add_argument("--sandbox-port", type=int, default=8080)
    parser.add_argument("--sandbox-url", help="a sandbox already served there (none is started)")
    parser.add_argument("--database", default="shop.sqlite3")
    args = parser.parse_args(argv)
    port = args.port or (8000 if args.shop == "fastapi" else 8001)
    ports = (port,) if args.sandbox_url else (port, args.sandbox_port)
    for wanted in dict.fromkeys(ports):
        problem = port_problem(wanted)
        if problem is not None:  # one line, not an exception group from deep in a server
            sys.stderr.write(f"error: {problem}\n")
            return 2
    token, made = admin_token()
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_run, args, port, token, made)
    return 0


if __name__ == "__main__":
    sys.exit(main())

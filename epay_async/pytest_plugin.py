"""Fixtures for a merchant's own tests, loaded by pytest whenever epay-async is installed.

=====================  =========================================================================
``epay_sandbox``       a fresh in-process :class:`~epay_async.testing.Sandbox` (a 2048-bit key:
                       fast to make; the gateway's is 4096)
``epay_client``        an :class:`~epay_async.EpayClient` wired to ``epay_sandbox`` (no network);
                       use it as is or ``async with epay_client:``
``epay_sandbox_url``   ``epay_sandbox`` served over HTTP on a free 127.0.0.1 port for the test,
                       from a thread of its own (any test, sync or async, any event loop); point
                       your app at ``Sandbox.environment(epay_sandbox_url)``
=====================  =========================================================================

A complete test (with anyio's pytest plugin, which ships with anyio)::

    import pytest
    from epay_async import Order

    @pytest.mark.anyio
    async def test_a_saved_card_pays(epay_sandbox, epay_client):
        card_id = epay_sandbox.save_card("4405639704015096", account_id="user-1")
        order = Order(invoice_id="000123456", amount="1500.00", description="Tickets")
        await epay_client.pay_with_saved_card(order, card_id)
        assert (await epay_client.get_status("000123456")).state == "paid"

Turn the plugin off with ``-p no:epay_async``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._client import EpayClient
    from .testing import Sandbox

__all__ = ["epay_client", "epay_sandbox", "epay_sandbox_url"]


@pytest.fixture
def epay_sandbox() -> Sandbox:
    """A fresh in-process sandbox of the ePay gateway, with its test merchant and cards."""
    from .testing import Sandbox  # noqa: PLC0415 - imported only by tests that use it

    return Sandbox(key_bits=2048)


@pytest.fixture
def epay_client(epay_sandbox: Sandbox) -> EpayClient:
    """A client of ``epay_sandbox`` with the test merchant's credentials (nothing leaves the
    process, so it holds no connection to close)."""
    return epay_sandbox.client()


@pytest.fixture
def epay_sandbox_url(epay_sandbox: Sandbox) -> Iterator[str]:
    """``epay_sandbox`` served on 127.0.0.1 for the test; its base URL."""
    import anyio.from_thread  # noqa: PLC0415

    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(epay_sandbox.serve, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            future.cancel()

"""Every (endpoint, fault) cell of the matrix, under asyncio and trio."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from epay_async.testing import Sandbox

from ..conftest import FAST_RETRY
from .matrix import (
    ENDPOINTS,
    FAULTS,
    READ_TIMEOUT,
    WIRING_FAULTS,
    Endpoint,
    Injected,
    cell_id,
    cells,
    check_cell,
    expected,
    render_markdown,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("cell", cells(every_endpoint=True), ids=cell_id)
async def test_cell(cell: tuple[Endpoint, Injected], caplog: pytest.LogCaptureFixture) -> None:
    await run_cell(*cell, caplog)


# trio: each kind's representative meets every fault (the deadlines and cancel scopes are
# trio's own there); what an endpoint reads from an answer does not depend on the event loop.
@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.parametrize("cell", cells(every_endpoint=False), ids=cell_id)
async def test_cell_under_trio(
    cell: tuple[Endpoint, Injected], caplog: pytest.LogCaptureFixture
) -> None:
    await run_cell(*cell, caplog)


async def run_cell(endpoint: Endpoint, fault: Injected, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = Sandbox(key_bits=2048)
    timeout = httpx.Timeout(5.0, read=READ_TIMEOUT)
    async with sandbox.client(retry=FAST_RETRY, timeout=timeout) as epay:
        await check_cell(sandbox, epay, endpoint, fault, caplog)


def test_every_endpoint_is_wired_to_its_kind_and_every_fault_runs_on_every_kind() -> None:
    ran = cells(every_endpoint=True)
    for endpoint in ENDPOINTS:
        assert any(e is endpoint and f.name in WIRING_FAULTS for e, f in ran), endpoint.name
    kinds = {(e.kind, f.name) for e, f in cells(every_endpoint=False)}
    assert kinds == {(e.kind, f.name) for e in ENDPOINTS for f in FAULTS}


def test_no_money_request_is_ever_expected_twice() -> None:
    for endpoint in ENDPOINTS:
        if endpoint.kind in ("pay", "op"):
            for fault in FAULTS:
                outcome = expected(endpoint, fault)
                assert outcome.reached <= 1 or (
                    fault.name in ("HTTP 401", "HTTP 403") and endpoint.kind == "op"
                ), (endpoint.name, fault.name)


def test_the_money_safety_page_shows_the_matrix() -> None:
    page = Path(__file__).parents[2] / "docs" / "money-safety.md"
    assert render_markdown() in page.read_text(encoding="utf-8"), (
        "regenerate the table of docs/money-safety.md with: python -m tests.faults.matrix"
    )

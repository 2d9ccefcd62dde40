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
    Endpoint,
    Injected,
    check_cell,
    expected,
    render_markdown,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_cell(endpoint: Endpoint, fault: Injected, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = Sandbox(key_bits=2048)
    timeout = httpx.Timeout(5.0, read=READ_TIMEOUT)
    async with sandbox.client(retry=FAST_RETRY, timeout=timeout) as epay:
        await check_cell(sandbox, epay, endpoint, fault, caplog)


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

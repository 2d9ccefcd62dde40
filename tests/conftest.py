from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from epay_async import EpayClient, RetryPolicy
from epay_async.testing import Sandbox

#: Fast retries for tests: same number of attempts as the default, no real waiting.
FAST_RETRY = RetryPolicy(backoff_base=0.0, backoff_max=0.0, jitter=0.0, retry_after_cap=0.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(key_bits=2048)


@pytest.fixture
async def epay(sandbox: Sandbox) -> AsyncIterator[EpayClient]:
    async with sandbox.client(retry=FAST_RETRY) as client:
        yield client

"""The pytest plugin as a merchant meets it: a test file of their own, using only its fixtures,
run by pytest with the plugin loaded from the installed package's entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ("pytester",)

MERCHANT_TESTS = """
import httpx
import pytest

from epay_async import EpayClient, Order, PaymentState
from epay_async.testing import Sandbox, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID


@pytest.mark.anyio
async def test_a_saved_card_pays(epay_sandbox, epay_client):
    card_id = epay_sandbox.save_card("4405639704015096", account_id="user-1")
    order = Order(invoice_id="000123456", amount="1500.00", description="Tickets")
    await epay_client.pay_with_saved_card(order, card_id)
    assert (await epay_client.get_status("000123456")).state is PaymentState.PAID


@pytest.mark.anyio
async def test_an_unknown_invoice_is_not_found(epay_client):
    async with epay_client:
        status = await epay_client.get_status("000999999")
    assert status.state is PaymentState.NOT_FOUND


def test_the_served_sandbox_answers_over_http(epay_sandbox, epay_sandbox_url):
    assert epay_sandbox_url.startswith("http://127.0.0.1:")
    answer = httpx.post(f"{epay_sandbox_url}/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "webapi usermanagement email_send "
        "verification statement statistics payment", "client_id": TEST_CLIENT_ID,
        "client_secret": TEST_CLIENT_SECRET, "terminal": TEST_TERMINAL_ID,
    })
    assert answer.status_code == 200
    assert epay_sandbox.token_requests  # the fixture's sandbox is the one served
"""


def test_a_merchants_tests_use_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    pytester.makepyfile(test_shop=MERCHANT_TESTS)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=5)  # anyio runs each async test on asyncio and on trio


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop="def test_x(epay_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:epay_async", "-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*fixture 'epay_sandbox' not found*"])

"""The pytest plugin as a merchant meets it: a test file of their own, using only its fixtures,
run by pytest with the plugin loaded from the installed package's entry point."""

from __future__ import annotations

from decimal import Decimal

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from epay_async import Order
from epay_async.integrations import ExpectedPayment
from epay_async.integrations.fastapi import postlink_endpoint
from epay_async.pytest_plugin import HostedPageShopper
from epay_async.testing import Sandbox

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


@pytest.mark.anyio
async def test_the_shopper_pays_the_page_the_app_serves(epay_shopper, epay_client):
    links = dict(
        back_link="https://shop.test/back", failure_back_link="https://shop.test/sorry",
        post_link="https://shop.test/epay/post",
    )
    order = Order(invoice_id="000123457", amount="250.00", description="Poster", **links)
    page = (await epay_client.payment_page(order)).html()  # what the app sends the browser
    paid = await epay_shopper.pay(page)
    assert paid.paid and paid.redirect_url == "https://shop.test/back"
    assert (await epay_client.get_status("000123457")).state is PaymentState.PAID
    order = Order(invoice_id="000123458", amount="250.00", description="Poster", **links)
    left = await epay_shopper.abandon(await epay_client.payment_page(order))
    assert not left.paid
    assert (await epay_client.get_status("000123458")).state is PaymentState.NOT_FOUND


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


@pytest.mark.slow  # a subprocess or a soak: make test-slow
def test_a_merchants_tests_use_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    pytester.makepyfile(test_shop=MERCHANT_TESTS)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=7)  # anyio runs each async test on asyncio and on trio


@pytest.mark.slow  # a subprocess or a soak: make test-slow
def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop="def test_x(epay_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:epay_async", "-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*fixture 'epay_sandbox' not found*"])


def test_the_shopper_refuses_html_that_opens_no_payment_page() -> None:
    from epay_async.pytest_plugin import read_payment_page  # noqa: PLC0415

    with pytest.raises(ValueError, match="no hosted payment page"):
        read_payment_page("<html><body><p>Out of stock.</p></body></html>")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_an_app_on_the_tests_loop_hears_the_served_sandbox(
    epay_sandbox: Sandbox, epay_sandbox_url: str, epay_shopper: HostedPageShopper
) -> None:
    """The sandbox is served from a thread of its own; the app, its client and what it holds
    live on the test's loop. The app is called there (it failed with "bound to a different
    event loop", recorded in the delivery and nowhere else)."""
    heard: list[str] = []
    order = Order(
        invoice_id="000123459",
        amount="250.00",
        description="Poster",
        back_link="https://shop.test/back",
        failure_back_link="https://shop.test/sorry",
        post_link="https://shop.test/epay/post",
    )
    async with epay_sandbox.client(
        environment=Sandbox.environment(epay_sandbox_url), transport="httpx"
    ) as epay:
        endpoint = postlink_endpoint(
            epay,
            lookup=lambda _: ExpectedPayment(Decimal("250.00")),
            on_paid=lambda verified: heard.append(verified.invoice_id),
        )
        app = Starlette(routes=[Route("/epay/post", endpoint, methods=["POST"])])
        epay_sandbox.send_notifications_to(asgi_app=app)
        paid = await epay_shopper.pay((await epay.payment_page(order)).html())
    assert paid.paid
    assert [(d.status, d.error) for d in epay_sandbox.notifications] == [(200, None)]
    assert heard == ["000123459"]

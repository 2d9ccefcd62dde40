"""What a newcomer meets first: the environment variables, the served sandbox and its 3-D
Secure page, the sandbox behaving as the gateway does, and the public names."""

from __future__ import annotations

import html.parser
import json
import pydoc
from collections.abc import AsyncIterator
from decimal import Decimal

import anyio
import httpx
import pytest

import epay_async
from epay_async import (
    ApiError,
    Card,
    EpayClient,
    Order,
    PaymentDeclinedError,
    RetryPolicy,
    StatusName,
    ValidationError,
)
from epay_async.testing import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Fault, Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

CREDENTIALS = {
    "EPAY_CLIENT_ID": "test",
    "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
    "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
}


@pytest.mark.parametrize(
    ("value", "api_url"),
    [
        ("sandbox", "http://127.0.0.1:8080"),
        ("SANDBOX", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099"),
        ("http://localhost:8099/", "http://localhost:8099"),
        ("test", "https://testepay.homebank.kz/api"),
    ],
)
def test_the_environment_variable_takes_a_sandbox_or_a_url(value: str, api_url: str) -> None:
    epay = EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": value})
    assert epay.environment.api_url == api_url
    if value != "test":
        assert epay.environment.token_url == f"{api_url}/oauth2/token"


@pytest.mark.parametrize("value", ["ftp://x", "http://", "staging", "http://h/?q=1"])
def test_a_wrong_environment_names_the_variable(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": value})
    assert info.value.field == "EPAY_ENVIRONMENT"


async def test_from_env_passes_every_other_option_to_the_constructor() -> None:
    sandbox = Sandbox(key_bits=2048)
    records: list[object] = []
    epay = EpayClient.from_env(
        environ={
            "EPAY_CLIENT_ID": TEST_CLIENT_ID,
            "EPAY_CLIENT_SECRET": TEST_CLIENT_SECRET,
            "EPAY_TERMINAL_ID": TEST_TERMINAL_ID,
        },
        environment=Sandbox.environment(),
        transport=sandbox.transport,
        retry=RetryPolicy.none(),
        on_outcome_unknown=records.append,
    )
    async with epay:
        sandbox.fail("/check-status/", Fault.status(503), times=5)
        with pytest.raises(ApiError):
            await epay.get_status("123456789")
    assert len(sandbox.requests_to("/check-status/")) == 1  # retry=RetryPolicy.none()
    with pytest.raises(TypeError):
        EpayClient.from_env(environ=CREDENTIALS, retyr=None)  # type: ignore[call-arg]


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"__action__": values.get("action", "")})
        elif tag in ("input", "button") and self.forms and "name" in values:
            self.forms[-1].setdefault(values["name"], values.get("value", ""))


def forms(page: str) -> list[dict[str, str]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


@pytest.fixture
async def served() -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(key_bits=2048)
    async with anyio.create_task_group() as tg:
        port = await tg.start(sandbox.serve)
        yield sandbox, f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("approve", [True, False])
async def test_the_served_sandbox_has_its_own_acs_page(
    served: tuple[Sandbox, str], approve: bool
) -> None:
    _, url = served
    async with (
        EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": url}) as epay,
        httpx.AsyncClient() as browser,
    ):
        order = Order(invoice_id="700000001", amount="150", description="tickets")
        result = await epay.pay_with_card(order, Card("5522042705066736", 1, 2027, "775"))
        assert result.secure3d is not None
        assert result.secure3d.action == f"{url}/acs"  # not the bank's ACS host
        term_url = "https://shop.example/epay/3ds"
        page = await browser.post(
            result.secure3d.action,
            data={"PaReq": result.secure3d.pa_req, "MD": result.secure3d.md, "TermUrl": term_url},
        )
        assert page.status_code == 200
        assert "150" in page.text
        (challenge,) = forms(page.text)
        answer = await browser.post(
            f"{url}{challenge['__action__']}",
            data={
                "MD": challenge["MD"],
                "TermUrl": challenge["TermUrl"],
                "answer": "approve" if approve else "decline",
            },
        )
        (back,) = forms(answer.text)
        assert back["__action__"] == term_url
        confirmed = await epay.confirm_3ds(result.id, pa_res=back["PaRes"], md=back["MD"])
        assert confirmed.success is approve
        status = await epay.get_status("700000001")
        assert status.status_name is (StatusName.AUTH if approve else StatusName.THREE_D)


async def test_a_locked_saved_card_is_declined_as_by_card_data(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    card_id = sandbox.save_card("4003032704547597", account_id="a")
    order = Order(invoice_id="700000002", amount=10, description="x")
    with pytest.raises(PaymentDeclinedError) as info:
        await epay.pay_with_saved_card(order, card_id)
    assert info.value.code == 487


@pytest.mark.parametrize("pan", ["not-a-pan", "4405639704015097", "123"])
def test_save_card_takes_card_numbers_only(sandbox: Sandbox, pan: str) -> None:
    with pytest.raises(ValueError, match="pan"):
        sandbox.save_card(pan, account_id="a")


async def test_an_invoice_id_given_as_a_transaction_id_gets_a_hint(sandbox: Sandbox) -> None:
    sandbox.add_transaction("700000003", status="CHARGE")
    async with sandbox.http_client() as http:
        token = await http.post(
            sandbox.environment().token_url,
            data={
                "grant_type": "client_credentials",
                "scope": "webapi",
                "client_id": "test",
                "client_secret": TEST_CLIENT_SECRET,
                "terminal": TEST_TERMINAL_ID,
            },
        )
        answer = await http.post(
            f"{sandbox.environment().api_url}/operation/700000003/refund",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert answer.json()["code"] == 522
    assert "transaction id" in answer.json()["message"]


def test_typed_inputs_accept_what_a_merchant_passes() -> None:
    order = Order(invoice_id=123456789, amount="10.50", description="x", language="kaz")
    assert order.invoice_id == "123456789"
    assert order.amount == Decimal("10.50")
    sandbox = Sandbox()
    assert sandbox.add_transaction("700000004", status="AUTH").status is StatusName.AUTH


def test_public_names_live_in_the_package() -> None:
    assert epay_async.EpayClient.__module__ == "epay_async"
    assert epay_async.parse_notification is not None
    text = pydoc.render_doc(epay_async.EpayClient)
    assert "epay_async._client" not in text
    assert json.dumps(sorted(epay_async.__all__))  # everything listed is importable
    for name in epay_async.__all__:
        assert getattr(epay_async, name) is not None


async def test_the_readme_quick_start_runs_offline() -> None:
    """The README's first code block, as it is: it must run with no network and no secret."""
    from pathlib import Path  # noqa: PLC0415

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python", readme.index("## Quick start")) + len("```python")
    code = readme[start : readme.index("```", start)]
    assert "asyncio.run(main())" in code
    namespace: dict[str, object] = {"__name__": "quickstart"}
    exec(compile(code.replace("asyncio.run(main())", ""), "README", "exec"), namespace)  # noqa: S102
    main = namespace["main"]
    assert callable(main)
    await main()


def test_sandbox_clients_need_no_network(sandbox: Sandbox) -> None:
    assert sandbox.client(retry=FAST_RETRY).environment.api_url.endswith(".invalid")

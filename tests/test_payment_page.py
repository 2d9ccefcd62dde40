"""The hosted payment page: the library's PaymentPage, and the sandbox's payform in-process."""

from __future__ import annotations

import html.parser
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from epay_async import CardVerification, Environment, EpayClient, Order, StatusName, ValidationError
from epay_async.testing import Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

SHOP = "https://shop.example"
SEED_001_PAGE_FIELDS = {
    "invoiceId",
    "backLink",
    "failureBackLink",
    "postLink",
    "failurePostLink",
    "language",
    "description",
    "accountId",
    "terminal",
    "amount",
    "currency",
    "phone",
    "email",
    "cardSave",
    "auth",
}


def order(invoice_id: str = "800000001", **fields: Any) -> Order:
    options: dict[str, Any] = {
        "invoice_id": invoice_id,
        "amount": "1500.10",
        "description": "Concert tickets",
        "back_link": f"{SHOP}/back/{invoice_id}",
        "failure_back_link": f"{SHOP}/failed/{invoice_id}",
        "post_link": f"{SHOP}/epay/post",
        "failure_post_link": f"{SHOP}/epay/post",
        "language": "rus",
        "account_id": "user-1",
        "email": "payer@example.com",
        "phone": "77001234567",
        "card_save": True,
        **fields,
    }
    return Order(**options)


class Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"__action__": values.get("action", "")})
        elif tag in ("input", "button") and self.forms and "name" in values:
            self.forms[-1].setdefault(values["name"], values.get("value", ""))


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


async def test_the_payment_object_has_seed_001s_names(sandbox: Sandbox, epay: EpayClient) -> None:
    page = await epay.payment_page(order())
    payment = page.payment_object()
    assert set(payment) == SEED_001_PAGE_FIELDS
    assert payment["invoiceId"] == "800000001"
    assert payment["amount"] == Decimal("1500.10")
    assert payment["terminal"] == epay.terminal_id
    assert payment["cardSave"] is True
    assert set(payment["auth"]) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "token_type",
    }
    token = sandbox.gateway.tokens[payment["auth"]["access_token"]]
    assert (token.invoice_id, token.amount, token.currency) == (
        "800000001",
        Decimal("1500.10"),
        "KZT",
    )
    assert token.scope == "payment"
    assert token.post_link == f"{SHOP}/epay/post"
    assert '"amount":1500.10' in page.payment_object_json()  # exact, never via float
    assert page.script_url == "https://epay.sandbox.invalid/payform/payment-api.js"
    assert payment["auth"]["access_token"] not in repr(page)


async def test_the_saved_card_variant(epay: EpayClient) -> None:
    payment = (await epay.payment_page(order(), card_id="card-1")).payment_object()
    assert payment["paymentType"] == "cardId"
    assert payment["cardid"] == "card-1"


@pytest.mark.parametrize(
    ("environment", "script"),
    [
        (Environment.TEST, "https://test-epay.homebank.kz/payform/payment-api.js"),
        (Environment.PROD, "https://epay.homebank.kz/payform/payment-api.js"),
        (Environment.TEST_EPAYMENT_KZ, "https://test-epay.epayment.kz/payform/payment-api.js"),
        (
            Environment.served("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/payform/payment-api.js",
        ),
    ],
)
def test_each_environment_has_its_script(environment: Environment, script: str) -> None:
    assert environment.payment_script_url == script


@pytest.mark.parametrize("missing", ["back_link", "post_link"])
async def test_links_are_required_before_anything_is_sent(
    sandbox: Sandbox, epay: EpayClient, missing: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.payment_page(order(**{missing: None}))
    assert info.value.field == missing
    assert sandbox.token_requests == []


async def test_html_survives_hostile_values(epay: EpayClient) -> None:
    hostile = "</script><script>alert(1)</script>\u2028&amp;<!--"
    page = await epay.payment_page(order(description=hostile[:120]))
    for widget in (False, True):
        text = page.html(title="<b>x</b>", widget=widget)
        elements = parse(text)
        assert elements.tags.count("script") == 2  # the loader and the call, nothing more
        assert "b" not in elements.tags
        assert "\u2028" not in text
        assert ("showPaymentWidget" in text) is widget
        inline = text.split("var paymentObject = ", 1)[1].split(";\n", 1)[0]
        assert json.loads(inline)["description"] == hostile[:120]


# -- the sandbox's payform, in-process --------------------------------------------------------


async def open_page(
    http: httpx.AsyncClient, payment: dict[str, Any], widget: bool = False
) -> httpx.Response:
    return await http.post(
        "https://epay.sandbox.invalid/payform/",
        data={"payment": json.dumps(payment, default=str), "widget": "1" if widget else "0"},
    )


async def pay(http: httpx.AsyncClient, page: httpx.Response, **card: str) -> httpx.Response:
    (form,) = parse(page.text).forms
    data = {k: v for k, v in form.items() if k != "__action__"}
    return await http.post(
        f"https://epay.sandbox.invalid{form['__action__']}", data={**data, **card}
    )


VISA = {"pan": "4405 6397 0401 5096", "exp": "01/27", "cvc": "321", "name": "TEST"}


async def test_a_good_card_pays_notifies_and_goes_back(sandbox: Sandbox, epay: EpayClient) -> None:
    notes: list[dict[str, Any]] = []

    async def receive(url: str, body: dict[str, Any]) -> None:
        notes.append(body)

    sandbox.send_notifications_to(callback=receive)
    payment = (await epay.payment_page(order())).payment_object()
    async with sandbox.http_client() as http:
        page = await open_page(http, payment)
        assert page.status_code == 200
        assert "1,500.10 KZT" in page.text
        done = await pay(http, page, **VISA)
    assert done.status_code == 302
    assert done.headers["location"] == f"{SHOP}/back/800000001"
    assert (await epay.get_status("800000001")).is_paid
    assert [n["code"] for n in notes] == ["ok"]
    assert await epay.list_cards("user-1")  # cardSave with accountId saved it


async def test_a_declined_card_goes_to_the_failure_link(sandbox: Sandbox, epay: EpayClient) -> None:
    payment = (await epay.payment_page(order("800000002"))).payment_object()
    async with sandbox.http_client() as http:
        page = await open_page(http, payment)
        done = await pay(http, page, pan="4003032704547597", exp="09/20", cvc="000")
    assert done.headers["location"] == f"{SHOP}/failed/800000002"
    status = await epay.get_status("800000002")
    assert status.status_name is StatusName.REJECT
    assert not status.is_paid


@pytest.mark.parametrize("approve", [True, False])
async def test_3ds_through_the_acs_page(sandbox: Sandbox, epay: EpayClient, approve: bool) -> None:
    payment = (await epay.payment_page(order("800000003"))).payment_object()
    async with sandbox.http_client() as http:
        page = await open_page(http, payment)
        to_acs = await pay(http, page, pan="5522042705066736", exp="01/27", cvc="775")
        (acs_form,) = parse(to_acs.text).forms
        assert acs_form["__action__"] == "https://epay.sandbox.invalid/acs"
        challenge = await http.post(
            acs_form["__action__"], data={k: v for k, v in acs_form.items() if k != "__action__"}
        )
        (choice,) = parse(challenge.text).forms
        answer = await http.post(
            f"https://epay.sandbox.invalid{choice['__action__']}",
            data={
                "MD": choice["MD"],
                "TermUrl": choice["TermUrl"],
                "answer": "approve" if approve else "decline",
            },
        )
        (back,) = parse(answer.text).forms
        assert back["__action__"].endswith("/payform/3ds")
        done = await http.post(back["__action__"], data={"PaRes": back["PaRes"], "MD": back["MD"]})
    expected = f"{SHOP}/back/800000003" if approve else f"{SHOP}/failed/800000003"
    assert done.headers["location"] == expected
    assert (await epay.get_status("800000003")).is_paid is approve


async def test_the_saved_card_page(sandbox: Sandbox, epay: EpayClient) -> None:
    card_id = sandbox.save_card("4405639704015096", account_id="user-1")
    payment = (await epay.payment_page(order("800000004"), card_id=card_id)).payment_object()
    async with sandbox.http_client() as http:
        page = await open_page(http, payment)
        assert "440563...5096" in page.text
        done = await pay(http, page)
    assert done.headers["location"] == f"{SHOP}/back/800000004"
    assert (await epay.get_status("800000004")).is_paid


@pytest.mark.parametrize("attack", ["tampered amount", "reused", "expired", "unknown token"])
async def test_the_page_refuses_a_token_it_cannot_trust(
    sandbox: Sandbox, epay: EpayClient, attack: str
) -> None:
    payment = (await epay.payment_page(order("800000005"))).payment_object()
    async with sandbox.http_client() as http:
        if attack == "tampered amount":
            payment["amount"] = "1.00"
        elif attack == "reused":
            await pay(http, await open_page(http, payment), **VISA)
        elif attack == "expired":
            sandbox.gateway.tokens[payment["auth"]["access_token"]].expires_at = 0
        else:
            payment["auth"]["access_token"] = "forged"
        page = await open_page(http, payment)
    assert page.status_code == 400
    assert 'id="error"' in page.text
    if attack != "reused":
        assert (await epay.get_status("800000005")).transaction is None


async def test_the_widget_calls_back_instead_of_redirecting(
    sandbox: Sandbox, epay: EpayClient
) -> None:
    payment = (await epay.payment_page(order("800000006"))).payment_object()
    async with sandbox.http_client() as http:
        page = await open_page(http, payment, widget=True)
        done = await pay(http, page, **VISA)
        script = await http.get("https://epay.sandbox.invalid/payform/payment-api.js")
    assert done.status_code == 200
    assert "postMessage" in done.text
    assert '"success": true' in done.text
    assert "showPaymentWidget" in script.text


async def test_a_custom_environment_without_a_payform_is_explained() -> None:
    env = Environment.custom(token_url="https://o.test/token", api_url="https://a.test")
    async with EpayClient(
        client_id="c", client_secret="s", terminal_id="t", environment=env, retry=FAST_RETRY
    ) as epay:
        with pytest.raises(ValidationError) as info:
            await epay.payment_page(order())
    assert info.value.field == "environment"


@pytest.mark.parametrize("card_id", ["\ud800", "card 1", "a/b", 'x"><script>', ""])
async def test_a_bad_card_id_is_refused_before_the_token(
    sandbox: Sandbox, epay: EpayClient, card_id: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await epay.payment_page(order(), card_id=card_id)
    assert info.value.field == "card_id"
    assert sandbox.token_requests == []


async def test_card_verification_opens_the_page_as_a_card_check(epay: EpayClient) -> None:
    check = CardVerification(
        invoice_id="800000011",
        account_id="user-1",
        back_link=f"{SHOP}/back",
        failure_back_link=f"{SHOP}/failed",
        post_link=f"{SHOP}/epay/post",
    )
    page = await epay.payment_page(check)
    payment = page.payment_object()
    assert payment["paymentType"] == "cardVerification"
    assert payment["amount"] == Decimal("0.00")
    assert payment["currency"] == "USD"
    assert "cardid" not in payment
    text = page.html()
    assert "halyk.cardverification(paymentObject);" in text
    assert "halyk.pay(" not in text
    assert "halyk.pay(" in (await epay.payment_page(order())).html()


async def test_card_verification_refuses_a_saved_card(sandbox: Sandbox, epay: EpayClient) -> None:
    check = CardVerification(
        invoice_id="800000012", back_link=f"{SHOP}/back", post_link=f"{SHOP}/epay/post"
    )
    with pytest.raises(ValidationError) as info:
        await epay.payment_page(check, card_id="card-1")
    assert info.value.field == "card_id"
    assert sandbox.token_requests == []

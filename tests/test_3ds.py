from __future__ import annotations

import html.parser
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from epay_async import (
    Card,
    ConfirmResult,
    Environment,
    EpayClient,
    Order,
    OutcomeUnknownError,
    ProtocolError,
    Secure3D,
    StatusName,
    ValidationError,
)
from epay_async.testing import Sandbox

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

MC_3DS = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
HOSTILE = ['"><script>alert(1)</script>', "a'b\"c<d>&e", "</form><form action=evil>"]


class FormReader(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.inputs: dict[str, str] = {}
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append(values)
        elif tag == "input":
            self.inputs[str(values["name"])] = str(values["value"])
        elif tag == "script":
            self.scripts += 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_form_escapes_every_value(hostile: str) -> None:
    secure = Secure3D(pa_req=hostile, md=hostile, action=f"https://acs.example/?q={hostile}")
    page = secure.auto_submit_form(f"https://shop.example/3ds?x={hostile}")
    reader = FormReader()
    reader.feed(page)
    assert len(reader.forms) == 1
    assert reader.scripts == 0
    assert reader.forms[0]["action"] == f"https://acs.example/?q={hostile}"
    assert reader.forms[0]["method"] == "post"
    assert reader.inputs == {
        "PaReq": hostile,
        "MD": hostile,
        "TermUrl": f"https://shop.example/3ds?x={hostile}",
    }


def test_form_refuses_non_http_urls() -> None:
    with pytest.raises(ProtocolError):
        Secure3D(pa_req="p", md="m", action="javascript:alert(1)").auto_submit_form(
            "https://shop.example/3ds"
        )
    with pytest.raises(ValidationError):
        Secure3D(pa_req="p", md="m", action="https://acs.example/").auto_submit_form("/3ds")


def order(invoice_id: str = "100000001") -> Order:
    return Order(
        invoice_id=invoice_id,
        amount=Decimal("25.00"),
        description="3ds",
        account_id="acc-1",
        card_save=True,
    )


async def test_3ds_flow_approved(sandbox: Sandbox, epay: EpayClient) -> None:
    result = await epay.pay_with_card(order(), MC_3DS)
    assert result.requires_3ds
    assert result.secure3d is not None
    assert result.secure3d.action.startswith("https://")
    assert (await epay.get_status("100000001")).status_name is StatusName.NEW
    pa_res = sandbox.complete_3ds(result.secure3d.md, approve=True)
    confirmed = await epay.confirm_3ds(result.id, pa_res=pa_res, md=result.secure3d.md)
    assert confirmed.success
    assert confirmed.invoice_id == "100000001"
    assert confirmed.amount == Decimal("25.00")
    assert confirmed.reference
    assert confirmed.card_id
    body = sandbox.requests_to("/payment/confirm")[0].json()
    assert body == {"ID": result.id, "PaRes": pa_res, "MD": result.secure3d.md}
    final = await epay.wait_for_status("100000001", interval=0.001)
    assert final.status_name is StatusName.AUTH
    assert [c.id for c in await epay.list_cards("acc-1")] == [confirmed.card_id]


async def test_3ds_flow_refused(sandbox: Sandbox, epay: EpayClient) -> None:
    result = await epay.pay_with_card(order(), MC_3DS)
    assert result.secure3d is not None
    pa_res = sandbox.complete_3ds(result.secure3d.md, approve=False)
    confirmed = await epay.confirm_3ds(result.id, pa_res=pa_res, md=result.secure3d.md)
    assert not confirmed.success
    assert confirmed.code == 473
    assert confirmed.message == "3-D Secure authentication failed"
    assert (await epay.get_status("100000001")).status_name is StatusName.THREE_D


ENV = Environment.custom(
    token_url="https://auth.example.invalid/token", api_url="https://api.example.invalid"
)


async def confirm_against(response: httpx.Response) -> ConfirmResult:
    with respx.mock:
        respx.post(ENV.token_url).respond(json={"access_token": "t", "expires_in": 7200})
        route = respx.post(f"{ENV.api_url}/payment/confirm").mock(return_value=response)
        async with EpayClient(
            client_id="test", client_secret="s", terminal_id="t", environment=ENV, retry=FAST_RETRY
        ) as epay:
            try:
                return await epay.confirm_3ds("7943816b-58a8", pa_res="PaRes", md="MD")
            finally:
                assert route.call_count == 1


SUCCESS = (
    "https://epay.homebank.kz/payform/success.html?amount=100&currency=KZT"
    "&invoiceID=938290483290&accountID=a1&description=x&reference=099467918563"
    "&language=rus&cardid=c1"
)
ERROR = "https://epay.homebank.kz/payform/?invoiceID=938290483290&code=455&message=3DS+failed"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(302, headers={"Location": SUCCESS}),
        httpx.Response(200, headers={"Location": SUCCESS}),
        httpx.Response(200, json={"url": SUCCESS}),
    ],
)
async def test_success_redirect_is_read_not_followed(response: httpx.Response) -> None:
    result = await confirm_against(response)
    assert result.success
    assert result.invoice_id == "938290483290"
    assert result.reference == "099467918563"
    assert result.amount == Decimal(100)
    assert result.card_id == "c1"


async def test_error_redirect() -> None:
    result = await confirm_against(httpx.Response(302, headers={"Location": ERROR}))
    assert not result.success
    assert result.code == 455
    assert result.message == "3DS failed"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(302, headers={"Location": "https://epay.homebank.kz/payform/elsewhere"}),
        httpx.Response(302, headers={"Location": ERROR.replace("code=455", "code=abc")}),
        httpx.Response(503),
    ],
)
async def test_unreadable_confirm_answers_are_outcome_unknown(response: httpx.Response) -> None:
    with pytest.raises(OutcomeUnknownError) as info:
        await confirm_against(response)
    assert info.value.transaction_id == "7943816b-58a8"

"""No secret, token or card number in what the library leaves behind across a whole flow:
logs (every logger at DEBUG), errors, reprs, spans and metrics."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from epay_async import (
    AuthenticationError,
    Card,
    CardPan,
    EpayClient,
    EpayError,
    Order,
    StatusName,
    StatusTimeoutError,
)
from epay_async.testing import TEST_CLIENT_SECRET, Fault, Sandbox

from ..conftest import FAST_RETRY

pytestmark = pytest.mark.anyio


async def test_debug_logs_of_status_flows_hold_no_secret_or_token(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.add_transaction("123456789", amount=Decimal("10.00"), status=StatusName.AUTH)
    sandbox.in_progress("123456789", polls=2)
    sandbox.fail("/check-status/", Fault.status(503), times=1)
    errors: list[EpayError] = []
    async with sandbox.client(retry=FAST_RETRY) as epay:
        await epay.wait_for_status("123456789", interval=0.001)
        try:
            await epay.wait_for_status("123456789", timeout=0.001, interval=0.001)
        except StatusTimeoutError as exc:
            errors.append(exc)
    async with sandbox.client(client_secret="not-the-secret-xyz", retry=FAST_RETRY) as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.get_status("123456789")
        errors.append(info.value)
    tokens = [t.value for t in sandbox.gateway.tokens.values()]
    assert tokens, "the flow should have minted tokens"
    assert caplog.records, "the flow should have logged"
    text = caplog.text + "".join(repr(e) + str(e) for e in errors)
    for secret in [TEST_CLIENT_SECRET, "not-the-secret-xyz", *tokens]:
        assert secret not in text
    assert "/check-status/payment/transaction/123456789" in caplog.text


def test_client_repr_and_vars_do_not_expose_the_secret(sandbox: Sandbox) -> None:
    epay: EpayClient = sandbox.client()
    assert TEST_CLIENT_SECRET not in repr(epay)
    assert TEST_CLIENT_SECRET not in repr(vars(epay))


async def test_logs_errors_spans_and_metrics_of_money_flows_hold_no_card_data_or_secrets(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: httpx's and httpcore's included
    secret_hash = "merchant-secret-hash-42"
    visa = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
    mc_3ds = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
    amex = Card(pan="377514500004820", exp_month=1, exp_year=2028, cvc="0198")
    locked = Card(pan="4003032704547597", exp_month=9, exp_year=2030, cvc="170")
    seen: list[object] = []

    def order(n: int) -> Order:
        return Order(
            invoice_id=f"{100000000 + n}",
            amount=Decimal("50"),
            description="audit",
            account_id="acc",
            card_save=True,
            secret_hash=secret_hash,
        )

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    async with sandbox.client(
        retry=FAST_RETRY, tracer_provider=tracer_provider, meter_provider=meter_provider
    ) as epay:
        seen.append(await epay.pay_with_card(order(1), visa))
        seen.append(await epay.pay_with_card(order(2), amex))
        three_ds = await epay.pay_with_card(order(3), mc_3ds)
        assert three_ds.secure3d is not None
        pa_res = sandbox.complete_3ds(three_ds.secure3d.md)
        seen.append(await epay.confirm_3ds(three_ds.id, pa_res=pa_res, md=three_ds.secure3d.md))
        cards = await epay.list_cards("acc")
        seen.extend(cards)
        seen.append(await epay.pay_with_saved_card(order(4), cards[0].id))
        seen.append(
            await epay.transfer(
                order(5),
                sender=CardPan(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321"),
                receiver=CardPan(pan="5522042705066736"),
            )
        )
        seen.append(await epay.charge(seen[0].id))  # type: ignore[attr-defined]
        for attempt in (
            epay.pay_with_card(order(6), locked),
            epay.pay_with_card(
                order(7), Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="999")
            ),
        ):
            with pytest.raises(EpayError) as info:
                await attempt
            seen.append(info.value)
        sandbox.fail("/payment/cryptopay", Fault.read_timeout())
        with pytest.raises(EpayError) as info:
            await epay.pay_with_card(order(8), visa)
        seen.append(info.value)
        seen.extend([epay, visa, mc_3ds, amex, order(9)])
    cryptograms = [r.json().get("cryptogram") for r in sandbox.requests_to("/payment/cryptopay")]
    tokens = [t.value for t in sandbox.gateway.tokens.values()]
    secrets = [
        TEST_CLIENT_SECRET,
        secret_hash,
        pa_res,
        *tokens,
        *filter(None, cryptograms),
        "4405639704015096",
        "5522042705066736",
        "377514500004820",
        "4003032704547597",
        "'0198'",  # quoted: four bare digits can occur by chance in an id or a time
        '"0198"',
        "'321'",
        "'775'",
    ]
    assert len(tokens) >= 8
    assert len(cryptograms) >= 5
    exported = [span.to_json() for span in spans.get_finished_spans()]
    names = {json.loads(span)["name"] for span in exported}
    assert {"epay.pay_with_card", "epay.confirm_3ds", "epay.transfer", "epay.charge"} <= names
    collected = metrics.get_metrics_data()
    assert collected is not None
    text = (
        caplog.text
        + "".join(repr(x) + str(x) + repr(getattr(x, "__notes__", "")) for x in seen)
        + "".join(exported)
        + collected.to_json()
    )
    for secret in secrets:
        assert secret not in text, f"leaked: {secret[:6]}..."

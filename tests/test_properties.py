"""Property-based tests: hostile input only ever produces the library's own errors.

Across modules on purpose: the input checks (``_validation``) and the models built on them
(``Order``, ``Card``), the converter (``_converter``: round trips, the status parser, the
compiled structure path against cattrs' own) and ``parse_notification``."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epay_async import (
    Card,
    Order,
    PaymentResult,
    ProtocolError,
    SavedCardInfo,
    Secure3D,
    Transaction,
    TransactionStatus,
    TransferResult,
    ValidationError,
    _validation,
)
from epay_async import _converter as _converter_module
from epay_async._converter import _converter, _detailed, dumps, loads, structure, unstructure
from epay_async._http import Answer
from epay_async._ops.status import parse_status
from epay_async.errors import EpayError
from epay_async.notifications import PaymentNotification, parse_notification

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.binary(),
    st.text(alphabet="0123456789 -+.,", max_size=25),
    st.lists(st.integers(), max_size=3),
)
VALIDATORS = [
    _validation.invoice_id,
    _validation.amount,
    _validation.currency,
    _validation.description,
    _validation.pan,
    _validation.month,
    _validation.year,
    _validation.cvc,
    _validation.data,
    _validation.optional_email,
    _validation.optional_phone,
    lambda v: _validation.optional_link(v, "post_link"),
    lambda v: _validation.optional_text(v, "name"),
    _validation.optional_language,
]


@SETTINGS
@given(value=ANYTHING, index=st.integers(0, len(VALIDATORS) - 1))
def test_validators_accept_or_raise_validation_error(value: Any, index: int) -> None:
    with contextlib.suppress(ValidationError):
        VALIDATORS[index](value)


@SETTINGS
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "invoice_id",
                "amount",
                "currency",
                "description",
                "email",
                "phone",
                "post_link",
                "language",
                "data",
                "card_save",
                "name",
                "secret_hash",
            ]
        ),
        ANYTHING,
    )
)
def test_orders_build_or_raise_validation_error(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {"invoice_id": "123456", "amount": Decimal(1), "description": "x"}
    with contextlib.suppress(ValidationError):
        Order(**{**base, **fields})


@SETTINGS
@given(pan=ANYTHING, month=ANYTHING, year=ANYTHING, cvc=ANYTHING)
def test_cards_build_or_raise_validation_error(pan: Any, month: Any, year: Any, cvc: Any) -> None:
    with contextlib.suppress(ValidationError):
        Card(pan=pan, exp_month=month, exp_year=year, cvc=cvc)


MONEY = st.decimals(
    allow_nan=False,
    allow_infinity=False,
    places=2,
    min_value=Decimal("-1e9"),
    max_value=Decimal("1e9"),
)
WHEN = st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5))]))


def models() -> st.SearchStrategy[Any]:
    for cls in (
        Transaction,
        TransactionStatus,
        PaymentResult,
        Secure3D,
        TransferResult,
        SavedCardInfo,
        PaymentNotification,
    ):
        attrs.resolve_types(cls)  # the models use postponed annotations
    st.register_type_strategy(Decimal, MONEY)
    return st.one_of(
        st.builds(Transaction, amount=MONEY, created_date=st.none() | WHEN, extra=st.just({})),
        st.builds(
            TransactionStatus,
            transaction=st.none()
            | st.builds(
                Transaction, amount=MONEY, created_date=st.none() | WHEN, extra=st.just({})
            ),
            extra=st.just({}),
        ),
        st.builds(
            PaymentResult,
            secure3d=st.none() | st.builds(Secure3D, extra=st.just({})),
            extra=st.just({}),
        ),
        st.builds(TransferResult, secure3d=st.none(), extra=st.just({})),
        st.builds(SavedCardInfo, created_date=st.none() | WHEN, extra=st.just({})),
        st.builds(PaymentNotification, date_time=st.none() | WHEN, extra=st.just({})),
    )


@SETTINGS
@given(model=models())
def test_every_model_round_trips_through_the_wire(model: Any) -> None:
    wire = loads(dumps(unstructure(model)))
    assert structure(wire, type(model), what="round trip") == model


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | MONEY | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resultCode",
                    "resultMessage",
                    "transaction",
                    "invoiceID",
                    "amount",
                    "currency",
                    "statusName",
                    "id",
                    "createdDate",
                    "code",
                    "invoiceId",
                    "secure",
                    "reasonCode",
                    "dateTime",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(data=JSON)
def test_the_status_parser_raises_only_protocol_error(data: Any) -> None:
    with contextlib.suppress(ProtocolError):
        structure(data, TransactionStatus, what="check-status response")


@SETTINGS
@given(data=JSON, code=st.sampled_from(["100", "101", "107", 100, "1e3", None]))
def test_status_shaped_garbage_raises_only_protocol_error(data: Any, code: Any) -> None:
    with contextlib.suppress(ProtocolError):
        structure({"resultCode": code, "transaction": data}, TransactionStatus, what="status")


@SETTINGS
@given(data=JSON | st.binary(max_size=64))
def test_parse_notification_raises_only_validation_error(data: Any) -> None:
    raw = data if isinstance(data, bytes) else dumps(data)
    for body in (raw, data if isinstance(data, dict) else raw):
        with contextlib.suppress(ValidationError):
            parse_notification(body)


def test_lone_surrogates_are_refused_not_crashed_on() -> None:
    with pytest.raises(ValidationError):
        Order(invoice_id="123456", amount=Decimal(1), description="bad \ud800 text")


@given(
    st.decimals(min_value=Decimal(0), max_value=Decimal("9999999999.99"), places=2, allow_nan=False)
)
def test_an_amount_reads_the_same_from_bytes_and_from_json_loads(amount: Decimal) -> None:
    raw = b'{"invoiceId": "000123", "code": "ok", "amount": ' + str(amount).encode() + b"}"
    from_bytes = parse_notification(raw).amount
    from_mapping = parse_notification(json.loads(raw)).amount
    assert from_bytes == amount
    assert from_mapping == amount


def _either(converter: Any, data: Any, cls: type) -> tuple[str, Any]:
    try:
        return "ok", converter.structure(data, cls)
    except Exception:
        return "failed", None


@SETTINGS
@given(model=models(), noise=JSON)
def test_the_compiled_structure_path_agrees_with_cattrs_own(model: Any, noise: Any) -> None:
    # The one second path kept for speed (benchmarks/README.md): the compiled structure
    # function must build what cattrs' generated one builds, and fail where it fails. The
    # gateway's own spelling takes its straight-line form; any other casing, or an unknown
    # key, its general loop.
    cls = type(model)
    wire = loads(dumps(unstructure(model)))
    assert _either(_converter, wire, cls) == _either(_detailed, wire, cls)
    if isinstance(wire, dict):
        lowered = {key.lower(): value for key, value in wire.items()}
        assert _either(_converter, lowered, cls) == _either(_detailed, lowered, cls)
        # Keys left out (None and empty values): each field takes its default.
        sparse = {key: value for key, value in wire.items() if value not in (None, "")}
        assert _either(_converter, sparse, cls) == _either(_detailed, sparse, cls)
    if isinstance(wire, dict) and isinstance(noise, dict):
        mixed = {**wire, **noise}  # known keys with wrong shapes, unknown keys for ``extra``
        assert _either(_converter, mixed, cls) == _either(_detailed, mixed, cls)


ENVELOPE_KEYS = st.sampled_from(["", "result", "Result", "transaction", "TRANSACTION", "p2p"])


@SETTINGS
@given(
    data=JSON
    | st.dictionaries(ENVELOPE_KEYS, JSON | st.dictionaries(ENVELOPE_KEYS, JSON, max_size=2))
)
def test_a_check_status_body_raises_only_a_typed_error(data: Any) -> None:
    # The whole reading of a check-status answer, the P2P envelope included: never a bare
    # KeyError (an empty key once reached one).
    answer = Answer(200, {}, dumps(data), 0.0)
    with contextlib.suppress(EpayError):
        parse_status(answer, "123456", "p2p")


@SETTINGS
@given(
    text=st.text(max_size=40) | st.builds(lambda v: dumps(v).decode(), JSON),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"]),
)
def test_loads_reads_bytes_and_text_as_json_loads_does(text: str, encoding: str) -> None:
    # The library keeps one decoder instead of json.loads building one per answer.
    def either(content: bytes | str) -> tuple[str, Any]:
        try:
            return "ok", loads(content)
        except ProtocolError:
            return "refused", None

    def reference(content: bytes | str) -> tuple[str, Any]:
        try:
            return "ok", json.loads(
                content,
                parse_float=_converter_module._bounded_decimal,
                parse_int=_converter_module._bounded_int,
                parse_constant=_converter_module._reject_constant,
            )
        except (ValueError, RecursionError):
            return "refused", None

    try:
        raw = text.encode(encoding, "surrogatepass")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    for content in (raw, text, "\ufeff" + text):
        assert either(content) == reference(content)

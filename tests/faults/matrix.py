"""The fault matrix: every endpoint the client calls, every fault, one table of outcomes.

``EXPECTED`` is the single source of truth: the tests check each (endpoint, fault) cell
against it, counting the requests that reached the gateway, and the table of
``docs/money-safety.md`` is rendered from it (``python -m tests.faults.matrix``) and checked
against it.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable
from decimal import Decimal

import attrs
import pytest

from epay_async import (
    ApiError,
    ApplePayPayment,
    AuthenticationError,
    CabinetLogin,
    Card,
    CardPan,
    CardVerification,
    EpayClient,
    GooglePayToken,
    InvoiceLink,
    Order,
    OutcomeUnknownError,
    PaymentDeclinedError,
    PhoneRecipient,
    ProtocolError,
    StatusName,
    TransportError,
)
from epay_async.testing import (
    TEST_CABINET_PASSWORD,
    TEST_CABINET_USERNAME,
    TEST_CLIENT_SECRET,
    TEST_GOOGLE_PAY,
    Fault,
    FaultKind,
    Sandbox,
)

from ..factories import VISA

Call = Callable[[], Awaitable[object]]
Setup = Callable[[Sandbox, EpayClient], Awaitable[Call]]

MC_3DS = Card(pan="5522042705066736", exp_month=1, exp_year=2027, cvc="775")
GOOGLE = GooglePayToken.from_payment_data(TEST_GOOGLE_PAY)
APPLE = ApplePayPayment.from_decrypted({"paymentData": {"onlinePaymentCryptogram": "AQID"}})
#: The read timeout the matrix's client uses; ``Fault.slow`` answers later than this.
READ_TIMEOUT = 0.05


def order(invoice_id: str = "500000001", **fields: object) -> Order:
    return Order(
        invoice_id=invoice_id,
        amount=Decimal("100.00"),
        description="fault matrix",
        account_id="fault-acct",
        **fields,  # type: ignore[arg-type]
    )


# -- endpoints --------------------------------------------------------------------------------


@attrs.frozen
class Endpoint:
    name: str
    #: The request path the faults are injected on and requests are counted at.
    path: str
    #: Which column of the table applies (see ``KINDS``).
    kind: str
    setup: Setup


async def _status(sandbox: Sandbox, epay: EpayClient) -> Call:
    sandbox.add_transaction("500000001", status=StatusName.CHARGE)
    await epay.get_status("500000001")  # token cached: only check-status is under test
    return lambda: epay.get_status("500000001")


async def _status_p2p(sandbox: Sandbox, epay: EpayClient) -> Call:
    sandbox.add_transaction("500000001", status=StatusName.AUTH, kind="p2p")
    await epay.get_status("500000001", kind="p2p")
    return lambda: epay.get_status("500000001", kind="p2p")


async def _token(sandbox: Sandbox, epay: EpayClient) -> Call:
    sandbox.add_transaction("500000001", status=StatusName.CHARGE)
    return lambda: epay.get_status("500000001")  # a cold client: mints its token now


async def _public_key(sandbox: Sandbox, epay: EpayClient) -> Call:
    return lambda: epay.pay_with_card(order(), VISA)  # the key is fetched on first use


async def _prefetched_key(epay: EpayClient) -> None:
    await epay.pay_with_card(order("500000099"), VISA)


async def _pay_card(sandbox: Sandbox, epay: EpayClient) -> Call:
    await _prefetched_key(epay)
    return lambda: epay.pay_with_card(order(), VISA)


async def _pay_saved(sandbox: Sandbox, epay: EpayClient) -> Call:
    card_id = sandbox.save_card(VISA.pan, account_id="fault-acct")
    return lambda: epay.pay_with_saved_card(order(), card_id)


async def _pay_google(sandbox: Sandbox, epay: EpayClient) -> Call:
    return lambda: epay.pay_with_google_pay(order(), GOOGLE)


async def _pay_apple(sandbox: Sandbox, epay: EpayClient) -> Call:
    await _prefetched_key(epay)
    return lambda: epay.pay_with_apple_pay(order(), APPLE)


async def _confirm(sandbox: Sandbox, epay: EpayClient) -> Call:
    pending = await epay.pay_with_card(order(), MC_3DS)
    assert pending.secure3d is not None
    md = pending.secure3d.md
    pa_res = sandbox.complete_3ds(md)
    return lambda: epay.confirm_3ds(pending.id, pa_res=pa_res, md=md)


async def _transfer(sandbox: Sandbox, epay: EpayClient) -> Call:
    sender = CardPan(pan=VISA.pan, exp_month=1, exp_year=2027, cvc="321")
    receiver = CardPan(pan="377514500004820")
    return lambda: epay.transfer(order(), sender=sender, receiver=receiver)


async def _payout_aft(sandbox: Sandbox, epay: EpayClient) -> Call:
    sender = CardPan(pan=VISA.pan, exp_month=1, exp_year=2027, cvc="321")
    receiver = CardPan(pan="377514500004820")
    return lambda: epay.payout(order(), kind="aft", sender=sender, receiver=receiver)


async def _payout_oct(sandbox: Sandbox, epay: EpayClient) -> Call:
    sender = CardPan(pan=VISA.pan, exp_month=1, exp_year=2027, cvc="321")
    receiver = PhoneRecipient(phone="+77011234567", iin="900101300123")
    return lambda: epay.payout(order(), kind="oct", sender=sender, receiver=receiver)


async def _verify_card(sandbox: Sandbox, epay: EpayClient) -> Call:
    await _prefetched_key(epay)
    verification = CardVerification(invoice_id="500000001", account_id="fault-acct")
    return lambda: epay.verify_card(verification, VISA)


async def _invoice_link(sandbox: Sandbox, epay: EpayClient) -> Call:
    link = InvoiceLink(
        shop_id="04f25a4b-d2bd-4dd8-b3a7-9390be4774c4",
        account_id="fault-acct",
        invoice_id="500000001",
        amount=Decimal("100.00"),
        description="fault matrix",
        recipient_contact="payer@example.kz",
    )
    login = CabinetLogin(TEST_CABINET_USERNAME, TEST_CABINET_PASSWORD)
    return lambda: epay.create_invoice_link(link, login=login)


async def _authorised(epay: EpayClient) -> str:
    return (await epay.pay_with_card(order("500000002"), VISA)).id


async def _charge(sandbox: Sandbox, epay: EpayClient) -> Call:
    payment_id = await _authorised(epay)
    return lambda: epay.charge(payment_id)


async def _cancel(sandbox: Sandbox, epay: EpayClient) -> Call:
    payment_id = await _authorised(epay)
    return lambda: epay.cancel(payment_id)


async def _refund(sandbox: Sandbox, epay: EpayClient) -> Call:
    payment_id = await _authorised(epay)
    await epay.charge(payment_id)
    return lambda: epay.refund(payment_id, Decimal("50"))


async def _list_cards(sandbox: Sandbox, epay: EpayClient) -> Call:
    sandbox.save_card(VISA.pan, account_id="fault-acct")
    await epay.list_cards("fault-acct")
    return lambda: epay.list_cards("fault-acct")


async def _deactivate(sandbox: Sandbox, epay: EpayClient) -> Call:
    card_id = sandbox.save_card(VISA.pan, account_id="fault-acct")
    await epay.list_cards("fault-acct")
    return lambda: epay.deactivate_card(card_id)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("token", "/oauth2/token", "token", _token),
    Endpoint("public key", "/public.rsa", "key", _public_key),
    Endpoint("get_status", "/check-status/payment/", "read", _status),
    Endpoint("get_status p2p", "/check-status/p2p/", "read", _status_p2p),
    Endpoint("list_cards", "/cards/fault-acct", "read", _list_cards),
    Endpoint("deactivate_card", "/card/deactivate/", "read", _deactivate),
    Endpoint("pay_with_card", "/payment/cryptopay", "pay", _pay_card),
    Endpoint("pay_with_saved_card", "/payments/cards/auth", "pay", _pay_saved),
    Endpoint("pay_with_google_pay", "/payment/cryptopay", "pay", _pay_google),
    Endpoint("pay_with_apple_pay", "/payment/cryptopay", "pay", _pay_apple),
    Endpoint("transfer", "/p2p/transfer", "pay", _transfer),
    Endpoint("payout aft", "/chdebit/transfer", "pay", _payout_aft),
    Endpoint("payout oct", "/chpayment/transfer", "pay", _payout_oct),
    Endpoint("verify_card", "/payment/cryptopay", "pay", _verify_card),
    Endpoint("create_invoice_link", "/invoice", "pay", _invoice_link),
    Endpoint("confirm_3ds", "/payment/confirm", "op", _confirm),
    Endpoint("charge", "/charge", "op", _charge),
    Endpoint("cancel", "/cancel", "op", _cancel),
    Endpoint("refund", "/refund", "op", _refund),
)

#: Columns of the table.
KINDS: dict[str, str] = {
    "read": "reads: status, cards",
    "token": "token",
    "key": "public key",
    "pay": "payments, transfer",
    "op": "confirm, charge, cancel, refund",
}

# -- faults -----------------------------------------------------------------------------------

TEN_MB = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
#: 8 KiB on the wire, 8 MiB once inflated: past the 1 MiB cap only after decompression.
GZIP_BOMB = gzip.compress(b" " * (8 << 20), compresslevel=9)
#: Cheap as a Decimal; converting it to an int (a code) used to block the loop for seconds.
HUGE_NUMBER = b'{"resultCode": 1e999999, "code": 1e999999, "id": 1e999999, "access_token": 1}'
#: HTTP 200 with a gateway error code: a refusal, not a success.
ERROR_CODE = b'{"code": "-1", "message": "refused"}'


@attrs.frozen
class Injected:
    name: str
    fault: Fault
    #: How many requests it hits (3 = every attempt of the default policy).
    times: int = 1


FAULTS: tuple[Injected, ...] = (
    Injected("connect error", Fault.connect_error()),
    Injected("connect timeout", Fault.connect_timeout()),
    Injected("pool timeout", Fault.pool_timeout()),
    Injected("connect error, every attempt", Fault.connect_error(), times=3),
    Injected("write timeout", Fault.write_timeout()),
    Injected("read timeout after sending", Fault.read_timeout()),
    Injected("connection dropped mid-answer", Fault.dropped()),
    Injected("answer slower than the timeout", Fault.slow(READ_TIMEOUT * 4)),
    Injected("HTTP 500", Fault.status(500)),
    Injected("HTTP 502", Fault.status(502, b"<html>Bad Gateway</html>")),
    Injected("HTTP 503", Fault.status(503)),
    Injected("HTTP 504", Fault.status(504)),
    Injected("HTTP 503, every attempt", Fault.status(503), times=3),
    Injected("HTTP 429", Fault.status(429)),
    Injected("HTTP 429 with Retry-After", Fault.status(429, retry_after="1")),
    Injected("HTTP 401", Fault.status(401)),
    Injected("HTTP 403", Fault.status(403, b"<html>Forbidden</html>")),
    Injected("HTML page with HTTP 200", Fault.status(200, b"<html>Sorry</html>", processed=True)),
    Injected(
        "truncated JSON", Fault.status(200, b'{"resultCode": "100", "id": "7', processed=True)
    ),
    Injected(
        "JSON of the wrong shape", Fault.status(200, b'[{"unexpected": true}]', processed=True)
    ),
    Injected("empty HTTP 200 body", Fault.status(200, b"", processed=True)),
    Injected("10 MB body", Fault.status(200, TEN_MB, processed=True)),
    Injected(
        "gzip bomb",
        Fault.status(200, GZIP_BOMB, processed=True, headers={"content-encoding": "gzip"}),
    ),
    Injected("a number like 1e999999", Fault.status(200, HUGE_NUMBER, processed=True)),
    Injected("error code with HTTP 200", Fault.status(200, ERROR_CODE, processed=True)),
    Injected(
        "HTTP 307 to another host",
        Fault.status(307, processed=True, headers={"location": "https://elsewhere.test/x"}),
    ),
)

# -- the table --------------------------------------------------------------------------------


@attrs.frozen
class Outcome:
    """``error`` None means the call succeeded; ``reached`` counts requests the gateway saw."""

    error: type[Exception] | None
    reached: int

    def describe(self) -> str:
        if self.error is None:
            return f"ok ({self.reached})" if self.reached < 2 else f"retried, ok ({self.reached})"
        return f"`{self.error.__name__}` ({self.reached})"


OK1, OK2 = Outcome(None, 1), Outcome(None, 2)
UNKNOWN = Outcome(OutcomeUnknownError, 1)
PROTOCOL = Outcome(ProtocolError, 1)
AUTH = Outcome(AuthenticationError, 1)

_NEVER_SENT = dict.fromkeys(KINDS, OK1)
_MAY_HAVE_ARRIVED = {"read": OK2, "token": OK2, "key": OK2, "pay": UNKNOWN, "op": UNKNOWN}
_UNREADABLE = {"read": PROTOCOL, "token": PROTOCOL, "key": PROTOCOL, "pay": UNKNOWN, "op": UNKNOWN}
_REFUSED_TOKEN = {"read": OK2, "token": AUTH, "key": AUTH, "pay": AUTH, "op": OK2}

EXPECTED: dict[str, dict[str, Outcome]] = {
    "connect error": _NEVER_SENT,
    "connect timeout": _NEVER_SENT,
    "pool timeout": _NEVER_SENT,
    "connect error, every attempt": dict.fromkeys(KINDS, Outcome(TransportError, 0)),
    "write timeout": _MAY_HAVE_ARRIVED,
    "read timeout after sending": _MAY_HAVE_ARRIVED,
    "connection dropped mid-answer": _MAY_HAVE_ARRIVED,
    "answer slower than the timeout": _MAY_HAVE_ARRIVED,
    "HTTP 500": _MAY_HAVE_ARRIVED,
    "HTTP 502": _MAY_HAVE_ARRIVED,
    "HTTP 503": _MAY_HAVE_ARRIVED,
    "HTTP 504": _MAY_HAVE_ARRIVED,
    "HTTP 503, every attempt": {
        "read": Outcome(ApiError, 3),
        "token": Outcome(ApiError, 3),
        "key": Outcome(ApiError, 3),
        "pay": UNKNOWN,
        "op": UNKNOWN,
    },
    "HTTP 429": _MAY_HAVE_ARRIVED,
    "HTTP 429 with Retry-After": _MAY_HAVE_ARRIVED,
    "HTTP 401": _REFUSED_TOKEN,
    "HTTP 403": _REFUSED_TOKEN,
    "HTML page with HTTP 200": _UNREADABLE,
    "truncated JSON": _UNREADABLE,
    "JSON of the wrong shape": _UNREADABLE,
    "empty HTTP 200 body": _UNREADABLE,
    "10 MB body": _UNREADABLE,
    "gzip bomb": _UNREADABLE,
    "a number like 1e999999": _UNREADABLE,
    "HTTP 307 to another host": _UNREADABLE,
    "error code with HTTP 200": {
        "read": PROTOCOL,
        "token": PROTOCOL,
        "key": PROTOCOL,
        "pay": Outcome(PaymentDeclinedError, 1),
        "op": Outcome(ApiError, 1),
    },
}

#: The documentation shows these operations' HTTP 200 but no answer body (epay-api.md §3, §6).
_NO_BODY_DOCUMENTED = "no answer body is documented, so an empty one is accepted"

#: Cells where one endpoint differs from its column, each with its reason.
EXCEPTIONS: dict[tuple[str, str], tuple[Outcome, str]] = {
    ("deactivate_card", "empty HTTP 200 body"): (OK1, _NO_BODY_DOCUMENTED),
    ("charge", "empty HTTP 200 body"): (OK1, _NO_BODY_DOCUMENTED),
    ("cancel", "empty HTTP 200 body"): (OK1, _NO_BODY_DOCUMENTED),
    ("refund", "empty HTTP 200 body"): (OK1, _NO_BODY_DOCUMENTED),
    ("deactivate_card", "error code with HTTP 200"): (
        Outcome(ApiError, 1),
        "a refusal: its answer is otherwise empty",
    ),
    ("create_invoice_link", "error code with HTTP 200"): (
        Outcome(ApiError, 1),
        "an invoice refused is not a payment declined",
    ),
    ("confirm_3ds", "error code with HTTP 200"): (
        UNKNOWN,
        "its answer is a redirect, so a JSON body is unreadable",
    ),
}


# -- the cells that run -------------------------------------------------------------------------

#: One endpoint stands for each kind: a fault on the way (a connection, a timeout, an HTTP
#: status) is decided by the request's kind alone, in the pipeline and the transport.
REPRESENTATIVES = {
    "token": "token",
    "key": "public key",
    "read": "get_status",
    "pay": "pay_with_saved_card",
    "op": "charge",
}

#: Faults whose outcome depends on the endpoint's own reading of an answer (a 200 with a body
#: it must parse), so every endpoint meets them.
ANSWER_FAULTS = frozenset(
    fault.name
    for fault in FAULTS
    if fault.fault.kind is FaultKind.RESPONSE and fault.fault.processed
)

#: Faults that tell the kinds apart (resent or not, refreshed or not): every endpoint meets
#: them too, which proves it is wired to the kind the table gives it.
WIRING_FAULTS = frozenset({"read timeout after sending", "HTTP 503", "HTTP 401"})


def cells(*, every_endpoint: bool) -> list[tuple[Endpoint, Injected]]:
    """The cells a backend runs: every fault on each kind's representative, and, when
    ``every_endpoint``, the answer and wiring faults (and any exception to the table) on
    every other endpoint."""
    chosen: list[tuple[Endpoint, Injected]] = []
    for endpoint in ENDPOINTS:
        representative = REPRESENTATIVES[endpoint.kind] == endpoint.name
        for fault in FAULTS:
            own = (
                fault.name in ANSWER_FAULTS
                or fault.name in WIRING_FAULTS
                or (endpoint.name, fault.name) in EXCEPTIONS
            )
            if representative or (every_endpoint and own):
                chosen.append((endpoint, fault))
    return chosen


def cell_id(cell: tuple[Endpoint, Injected]) -> str:
    return f"{cell[0].name}-{cell[1].name}"


async def check_cell(
    sandbox: Sandbox,
    epay: EpayClient,
    endpoint: Endpoint,
    fault: Injected,
    caplog: pytest.LogCaptureFixture,
    *,
    on_the_wire: Fault | None = None,
) -> None:
    """Run one cell with ``epay`` on ``sandbox`` and check it against the table: the outcome,
    how many requests reached the gateway, and that no secret shows in the logs or the error.
    ``on_the_wire``: the fault as this transport meets it, where it differs."""
    outcome = expected(endpoint, fault)
    call = await endpoint.setup(sandbox, epay)
    before = len(sandbox.requests_to(endpoint.path))
    sandbox.fail(endpoint.path, on_the_wire or fault.fault, times=fault.times)
    error: Exception | None = None
    if outcome.error is None:
        await call()
    else:
        with pytest.raises(outcome.error) as info:
            await call()
        error = info.value
    reached = len(sandbox.requests_to(endpoint.path)) - before
    assert reached == outcome.reached, f"{reached} requests reached {endpoint.path}"
    shown = caplog.text + (f"{error!s}{error!r}" if error else "")
    for secret in [TEST_CLIENT_SECRET, *(t.value for t in sandbox.gateway.tokens.values())]:
        assert secret not in shown


def expected(endpoint: Endpoint, fault: Injected) -> Outcome:
    special = EXCEPTIONS.get((endpoint.name, fault.name))
    return special[0] if special else EXPECTED[fault.name][endpoint.kind]


def render_markdown() -> str:
    """The table of docs/money-safety.md."""
    lines = [
        "| fault | " + " | ".join(KINDS.values()) + " |",
        "|---" * (len(KINDS) + 1) + "|",
    ]
    for fault in FAULTS:
        cells = [EXPECTED[fault.name][kind].describe() for kind in KINDS]
        lines.append(f"| {fault.name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("In brackets: how many requests reached the gateway. Exceptions to the columns:")
    lines.append("")
    for (endpoint, fault), (outcome, why) in EXCEPTIONS.items():
        lines.append(f"- `{endpoint}` with an {fault}: {outcome.describe()}, {why}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")

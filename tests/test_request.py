"""What one request to the gateway is (``_request.ApiRequest``) and the in-doubt error it makes."""

from __future__ import annotations

from epay_async import OutcomeUnknownError
from epay_async._request import ApiRequest


def test_a_request_defaults_to_json_no_body_and_no_redirects() -> None:
    request = ApiRequest("GET", "https://gw.test/x", operation="status", idempotent=True)
    assert request.accept == "application/json"
    assert request.redirect_is_answer is False
    assert (request.content, request.form, request.params, request.token) == (None,) * 4
    assert (request.invoice_id, request.transaction_id) == (None, None)


def test_its_outcome_unknown_names_the_operation_and_the_ids() -> None:
    request = ApiRequest(
        "POST",
        "https://gw.test/x",
        operation="refund",
        idempotent=False,
        invoice_id="100003",
        transaction_id="tx-9",
    )
    error = request.outcome_unknown("HTTP 502")
    assert isinstance(error, OutcomeUnknownError)
    assert (error.invoice_id, error.transaction_id) == ("100003", "tx-9")
    assert (error.operation, error.reason) == ("refund", "HTTP 502")
    assert "refund" in str(error)


def test_secrets_never_show_in_its_repr() -> None:
    request = ApiRequest(
        "POST",
        "https://gw.test/x",
        operation="pay",
        idempotent=False,
        content=b'{"cryptogram":"c1"}',
        form={"password": "p1"},
        token="t1",
    )
    shown = repr(request)
    assert "pay" in shown
    assert "c1" not in shown
    assert "p1" not in shown
    assert "t1" not in shown

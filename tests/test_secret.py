"""The Secret type (epay_async._secret)."""

from __future__ import annotations

import json

from epay_async._secret import Secret, reveal


def test_a_secret_is_hidden_from_str_and_format_and_revealed_only_on_purpose() -> None:
    token = Secret("tok-123456")
    assert str(token) == "***"
    assert f"{token}" == "***"
    assert "%s" % token == "***"  # noqa: UP031 - the logging form
    assert repr(token) == "'***'"
    assert token.reveal() == "tok-123456"
    assert type(token.reveal()) is str
    assert token.get_secret_value() == "tok-123456"
    assert reveal(token) == "tok-123456"
    assert "Bearer " + token == "Bearer tok-123456"
    assert Secret(token).reveal() == "tok-123456"  # wrapping twice keeps the value
    assert token == "tok-123456"
    assert json.dumps(token) == '"tok-123456"'

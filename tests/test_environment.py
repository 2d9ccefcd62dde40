"""The environments (epay_async.environment) as the ``EPAY_ENVIRONMENT`` variable names them:
a sandbox, a URL, or a documented name."""

from __future__ import annotations

import pytest

from epay_async import Environment, EpayClient, ValidationError
from epay_async.testing import TEST_CLIENT_SECRET

from .factories import CREDENTIALS


@pytest.mark.parametrize(
    ("value", "api_url"),
    [
        ("sandbox", "http://127.0.0.1:8080"),
        ("SANDBOX", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099"),
        ("http://localhost:8099/", "http://localhost:8099"),
        ("test", "https://testepay.homebank.kz/api"),
        ("", "https://testepay.homebank.kz/api"),  # set but empty: the default
    ],
)
def test_the_environment_variable_takes_a_sandbox_or_a_url(value: str, api_url: str) -> None:
    epay = EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": value})
    assert epay.environment.api_url == api_url
    if value not in ("test", ""):
        assert epay.environment.token_url == f"{api_url}/oauth2/token"


@pytest.mark.parametrize(
    "value", ["ftp://x", "http://", "staging", "http://h/?q=1", "http://shop:pw@127.0.0.1:8099"]
)
def test_a_wrong_environment_names_the_variable(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        EpayClient.from_env(environ={**CREDENTIALS, "EPAY_ENVIRONMENT": value})
    assert info.value.field == "EPAY_ENVIRONMENT"


@pytest.mark.parametrize("field", ["token_url", "api_url", "public_key_url"])
def test_a_url_with_credentials_is_refused(field: str) -> None:
    # httpx would send them as Basic auth in place of the gateway's bearer token.
    urls = {
        "token_url": "https://gw.test/oauth2/token",
        "api_url": "https://gw.test",
        "public_key_url": "https://gw.test/public.rsa",
    }
    urls[field] = urls[field].replace("https://", "https://shop:pw@")
    with pytest.raises(ValidationError) as info:
        Environment.custom(**urls)
    assert info.value.field == field
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "secret", "refused"),
    [
        ("http://10.0.0.5:8080", "merchant-secret", "10.0.0.5"),
        ("http://epay-api.example", "merchant-secret", "epay-api.example"),
        ("http://127.0.0.1:8099", "merchant-secret", None),  # this machine
        ("http://[::1]:8099", "merchant-secret", None),
        ("http://localhost:8099", "merchant-secret", None),
        ("http://localhost.:8099", "merchant-secret", "localhost."),  # asked of DNS
        ("http://[::ffff:127.0.0.1]:8099", "merchant-secret", None),  # IPv4 in IPv6
        ("http://[::ffff:10.0.0.5]:8099", "merchant-secret", "::ffff:10.0.0.5"),
        ("https://epay-api.example", "merchant-secret", None),
        ("http://sandbox:8080", TEST_CLIENT_SECRET, None),  # a sandbox's public credentials
    ],
)
def test_plain_http_to_another_machine_takes_only_the_public_test_secret(
    url: str, secret: str, refused: str | None
) -> None:
    """A typo (``http://`` for ``https://``) or a plain-http proxy would send the client secret
    and tokens across the network in clear."""
    credentials = {**CREDENTIALS, "EPAY_CLIENT_SECRET": secret, "EPAY_ENVIRONMENT": url}
    if refused is None:
        EpayClient.from_env(environ=credentials)
        return
    with pytest.raises(ValidationError) as info:
        EpayClient.from_env(environ=credentials)
    assert info.value.field == "environment"
    assert f"reaches {refused} over plain http" in str(info.value)
    assert secret not in str(info.value)

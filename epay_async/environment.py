"""Where the gateway lives: the documented test and production hosts, or anywhere else."""

from __future__ import annotations

import ipaddress
from typing import ClassVar
from urllib.parse import urlsplit

import attrs

from .errors import ValidationError

__all__ = ["SERVED_SANDBOX_URL", "Environment"]

#: Where ``epay-async sandbox`` serves by default.
SERVED_SANDBOX_URL = "http://127.0.0.1:8080"


def _strip_slash(url: str) -> str:
    return str(url).rstrip("/")


def _no_credentials(_: object, attribute: attrs.Attribute[str], url: str) -> None:
    """A URL with ``user:password@`` would make httpx send Basic credentials in place of the
    gateway's bearer token (every call refused as a bad token), to the gateway."""
    if "@" in urlsplit(str(url)).netloc:
        raise ValidationError(
            attribute.name, "must not carry credentials (user:password@): the gateway takes a token"
        )


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's, brackets off) names this machine: ``localhost`` or a
    loopback address, IPv4 mapped into IPv6 included (``localhost.``, with its dot, is a
    name the resolver asks DNS about)."""
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


@attrs.frozen
class Environment:
    """The URLs the client needs. The API base includes any path prefix (``/api``);
    ``payform_url`` is the hosted payment page's base, where ``payment-api.js`` lives."""

    name: str
    token_url: str = attrs.field(validator=_no_credentials)
    api_url: str = attrs.field(converter=_strip_slash, validator=_no_credentials)
    public_key_url: str = attrs.field(validator=_no_credentials)
    payform_url: str | None = None

    def plain_http_hosts(self) -> list[str]:
        """The hosts other than this machine's that this environment reaches over plain
        ``http://`` (the client secret and tokens would cross the network in clear)."""
        hosts = []
        for url in (self.token_url, self.api_url, self.public_key_url, self.payform_url):
            parts = urlsplit(url or "")
            host = parts.hostname or ""
            if parts.scheme.lower() == "http" and not is_loopback_host(host) and host not in hosts:
                hosts.append(host)
        return hosts

    @property
    def payment_script_url(self) -> str | None:
        """The payment page's ``payment-api.js`` (``halyk.pay``), where this environment has one."""
        if self.payform_url is None:
            return None
        return f"{self.payform_url.rstrip('/')}/payment-api.js"

    TEST: ClassVar[Environment]
    PROD: ClassVar[Environment]
    #: The newer test hosts of the current Russian documentation (epay-api.md §1).
    TEST_EPAYMENT_KZ: ClassVar[Environment]

    @classmethod
    def custom(
        cls,
        *,
        token_url: str,
        api_url: str,
        public_key_url: str | None = None,
        payform_url: str | None = None,
        name: str = "custom",
    ) -> Environment:
        """Point the client anywhere: a sandbox on loopback, a proxy, a staging host."""
        api = api_url.rstrip("/")
        return cls(
            name=name,
            token_url=token_url,
            api_url=api,
            public_key_url=public_key_url or f"{api}/public.rsa",
            payform_url=payform_url,
        )

    @classmethod
    def served(cls, base_url: str = SERVED_SANDBOX_URL) -> Environment:
        """A sandbox (``epay-async sandbox``) or anything laid out like it, at ``base_url``:
        tokens at ``/oauth2/token``, the API and ``/public.rsa`` at the root."""
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        base = base_url.strip().rstrip("/")
        return cls.custom(
            token_url=f"{base}/oauth2/token",
            api_url=base,
            payform_url=f"{base}/payform/",
            name="sandbox",
        )

    @classmethod
    def from_name(cls, name: str) -> Environment:
        """``"test"``, ``"prod"``, ``"test-epayment-kz"``, ``"sandbox"`` (the sandbox served
        by ``epay-async sandbox`` on its default port), or the base URL of a served sandbox
        (``http://127.0.0.1:8099``). Names are case-insensitive."""
        text = name.strip()
        if text.lower().startswith(("http://", "https://")):
            return cls.served(text)
        known = {
            "test": cls.TEST,
            "prod": cls.PROD,
            "test-epayment-kz": cls.TEST_EPAYMENT_KZ,
            "sandbox": cls.served(),
        }
        try:
            return known[text.lower()]
        except KeyError:
            raise ValueError(
                f"unknown environment {name!r}; expected one of {sorted(known)} or a URL"
            ) from None


Environment.TEST = Environment(
    name="test",
    token_url="https://testoauth.homebank.kz/epay2/oauth2/token",
    api_url="https://testepay.homebank.kz/api",
    public_key_url="https://testepay.homebank.kz/api/public.rsa",
    payform_url="https://test-epay.homebank.kz/payform/",
)
Environment.PROD = Environment(
    name="prod",
    token_url="https://epay-oauth.homebank.kz/oauth2/token",
    api_url="https://epay-api.homebank.kz",
    public_key_url="https://epay-api.homebank.kz/public.rsa",
    payform_url="https://epay.homebank.kz/payform/",
)
Environment.TEST_EPAYMENT_KZ = Environment(
    name="test-epayment-kz",
    token_url="https://test-epay-oauth.epayment.kz/oauth2/token",
    api_url="https://test-epay-api.epayment.kz",
    public_key_url="https://test-epay-api.epayment.kz/public.rsa",
    payform_url="https://test-epay.epayment.kz/payform/",
)

"""Where the gateway lives: the documented test and production hosts, or anywhere else."""

from __future__ import annotations

from typing import ClassVar

import attrs

__all__ = ["Environment"]


def _strip_slash(url: str) -> str:
    return str(url).rstrip("/")


@attrs.frozen
class Environment:
    """The three URLs the client needs. The API base includes any path prefix (``/api``)."""

    name: str
    token_url: str
    api_url: str = attrs.field(converter=_strip_slash)
    public_key_url: str

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
        name: str = "custom",
    ) -> Environment:
        """Point the client anywhere: a sandbox on loopback, a proxy, a staging host."""
        api = api_url.rstrip("/")
        return cls(
            name=name,
            token_url=token_url,
            api_url=api,
            public_key_url=public_key_url or f"{api}/public.rsa",
        )

    @classmethod
    def from_name(cls, name: str) -> Environment:
        """``"test"``, ``"prod"`` or ``"test-epayment-kz"`` (case-insensitive)."""
        known = {"test": cls.TEST, "prod": cls.PROD, "test-epayment-kz": cls.TEST_EPAYMENT_KZ}
        try:
            return known[name.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown environment {name!r}; expected one of {sorted(known)}"
            ) from None


Environment.TEST = Environment(
    name="test",
    token_url="https://testoauth.homebank.kz/epay2/oauth2/token",
    api_url="https://testepay.homebank.kz/api",
    public_key_url="https://testepay.homebank.kz/api/public.rsa",
)
Environment.PROD = Environment(
    name="prod",
    token_url="https://epay-oauth.homebank.kz/oauth2/token",
    api_url="https://epay-api.homebank.kz",
    public_key_url="https://epay-api.homebank.kz/public.rsa",
)
Environment.TEST_EPAYMENT_KZ = Environment(
    name="test-epayment-kz",
    token_url="https://test-epay-oauth.epayment.kz/oauth2/token",
    api_url="https://test-epay-api.epayment.kz",
    public_key_url="https://test-epay-api.epayment.kz/public.rsa",
)

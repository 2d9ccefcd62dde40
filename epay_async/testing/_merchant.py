"""The test merchant (its credentials and terminal) and how the emulated gateway is set up."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa

from .._constants import PUBLIC_TEST_CLIENT_SECRET
from ..cryptogram import CryptogramPadding
from ._keys import generated_key

#: The documented test merchant (seeds 000-004, epay-api.md §10).
TEST_CLIENT_ID = "test"
TEST_CLIENT_SECRET = PUBLIC_TEST_CLIENT_SECRET
#: The sandbox merchant cabinet's user, for the invoice-link token (a password grant).
TEST_CABINET_USERNAME = "merchant@sandbox.invalid"
TEST_CABINET_PASSWORD = "sandbox-cabinet"  # noqa: S105 - the sandbox's own
TEST_TERMINAL_ID = "67e34d63-102f-4bd1-898e-370781d0074d"


@attrs.define
class Merchant:
    client_id: str = TEST_CLIENT_ID
    client_secret: str = attrs.field(default=TEST_CLIENT_SECRET, repr=False)
    terminal_ids: frozenset[str] = frozenset({TEST_TERMINAL_ID})


@attrs.define
class GatewaySettings:
    """How the emulated gateway behaves for its merchant."""

    merchant: Merchant
    #: The size of the gateway's RSA key (the real one is 4096 bits).
    key_bits: int = 4096
    token_lifetime: int = 7200
    expires_in_as_string: bool = False
    #: DMS terminal (AUTH, then charge or cancel) when True; SMS (straight to CHARGE) if not.
    two_step: bool = True
    #: The cryptogram padding this terminal is configured for.
    padding: CryptogramPadding = CryptogramPadding.PKCS1_V15
    clock: Callable[[], float] = time.monotonic
    #: Answer check-status for invoices never paid here (see ``synthesized_status``).
    answer_any_invoice: bool = False

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return generated_key(self.key_bits)

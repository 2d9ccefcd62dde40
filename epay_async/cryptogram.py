"""The card cryptogram: RSA-encrypted compact JSON ``{"hpan","expDate","cvc","terminalId"}``.

The gateway's key (``public.rsa``) is RSA-4096. PKCS#1 v1.5 padding is the default because the
bank's official mobile SDK and every known integration use it; RSA-OAEP with SHA-1 or SHA-256
is available for terminals configured for it. The output is standard base64 with padding.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa

from ._secret import Secret
from .errors import ValidationError
from .types.cards import Card

__all__ = [
    "CRYPTOGRAM_FIELD",
    "CRYPTOGRAM_FIELD_CYRILLIC",
    "CryptogramEncryptor",
    "CryptogramPadding",
    "load_public_key",
]

#: The request key the seeds use for the cryptogram.
CRYPTOGRAM_FIELD = "cryptogram"
#: The official SDK's spelling, whose first letter is Cyrillic ``с`` (U+0441) (epay-api.md §2).
CRYPTOGRAM_FIELD_CYRILLIC = "\u0441ryptogram"


class CryptogramPadding(enum.Enum):
    PKCS1_V15 = "pkcs1v15"
    OAEP_SHA1 = "oaep-sha1"
    OAEP_SHA256 = "oaep-sha256"

    def padding(self) -> rsa_padding.AsymmetricPadding:
        if self is CryptogramPadding.PKCS1_V15:
            return rsa_padding.PKCS1v15()
        algorithm: hashes.HashAlgorithm = (
            hashes.SHA1() if self is CryptogramPadding.OAEP_SHA1 else hashes.SHA256()  # noqa: S303
        )
        return rsa_padding.OAEP(mgf=rsa_padding.MGF1(algorithm), algorithm=algorithm, label=None)


def load_public_key(data: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from SPKI PEM, PKCS#1 PEM, or bare base64 DER (either form)."""
    raw = data.encode() if isinstance(data, str) else data
    text = raw.strip()
    key: object
    try:
        if text.startswith(b"-----BEGIN"):
            # Handles both "PUBLIC KEY" (SPKI) and "RSA PUBLIC KEY" (PKCS#1) blocks.
            key = serialization.load_pem_public_key(text)
        else:
            der = base64.b64decode(b"".join(text.split()), validate=True)
            try:
                key = serialization.load_der_public_key(der)
            except ValueError:
                key = _load_pkcs1_der(der)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise ValidationError("public_key_pem", "is not a readable RSA public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValidationError("public_key_pem", "is not an RSA key")
    return key


def _load_pkcs1_der(der: bytes) -> object:
    pem = (
        b"-----BEGIN RSA PUBLIC KEY-----\n"
        + base64.encodebytes(der)
        + b"-----END RSA PUBLIC KEY-----\n"
    )
    return serialization.load_pem_public_key(pem)


class CryptogramEncryptor:
    """Encrypts card data for ``/payment/cryptopay`` with the gateway's public key."""

    def __init__(
        self,
        public_key_pem: str | bytes | rsa.RSAPublicKey,
        padding: CryptogramPadding = CryptogramPadding.PKCS1_V15,
    ) -> None:
        if not isinstance(padding, CryptogramPadding):
            raise ValidationError("padding", "must be a CryptogramPadding")
        self._key = (
            public_key_pem
            if isinstance(public_key_pem, rsa.RSAPublicKey)
            else load_public_key(public_key_pem)
        )
        self.padding = padding

    def __repr__(self) -> str:
        return f"CryptogramEncryptor(key_size={self._key.key_size}, padding={self.padding.name})"

    @property
    def key_size(self) -> int:
        return self._key.key_size

    def encrypt_card(self, card: Card, terminal_id: str) -> str:
        return self.encrypt(
            hpan=card.pan, exp_date=card.exp_date, cvc=card.cvc, terminal_id=terminal_id
        )

    def encrypt(self, *, hpan: str, exp_date: str, cvc: str, terminal_id: str) -> str:
        """Base64 of the RSA encryption of the compact JSON, keys in the official SDK's order."""
        # Rebound as Secret: a traceback's recorded locals show '***', not the card.
        hpan, cvc = Secret(hpan), Secret(cvc)
        ciphertext: bytes | None
        try:
            ciphertext = self._key.encrypt(
                json.dumps(
                    {"hpan": hpan, "expDate": exp_date, "cvc": cvc, "terminalId": terminal_id},
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode(),
                self.padding.padding(),
            )
        except ValueError:
            ciphertext = None
        if ciphertext is None:
            # Raised outside the except block so no exception context (and no frame holding
            # the plaintext) is attached to the error.
            raise ValidationError(
                "card", f"does not fit an RSA-{self._key.key_size} key with {self.padding.name}"
            )
        return base64.b64encode(ciphertext).decode("ascii")

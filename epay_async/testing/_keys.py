"""The gateway's RSA key: generated once per size and process, served as ``public.rsa``, and
what the gateway does with a cryptogram encrypted to it."""

from __future__ import annotations

import base64
import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..cryptogram import CryptogramPadding


@functools.cache
def generated_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def decrypt(key: rsa.RSAPrivateKey, cryptogram: str, padding: CryptogramPadding) -> bytes:
    """What the gateway does with a cryptogram: base64, then RSA with the terminal's padding."""
    return key.decrypt(base64.b64decode(cryptogram, validate=True), padding.padding())

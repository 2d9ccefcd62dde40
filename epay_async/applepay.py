"""Apple Pay ``EC_v1`` tokens: verify the signature, decrypt, and hand the result to ePay.

Seed 004: the merchant must "be able to decrypt data" before passing it to ePay. The browser's
``ApplePayPayment.token.paymentData`` is verified and decrypted here, with ``cryptography``
(and pyasn1 to read the signature's CMS structure); ``ApplePayPayment.from_decrypted(...)``
then builds what ``pay_with_apple_pay`` sends::

    decryptor = ApplePayDecryptor(merchant_private_key_pem, merchant_certificate_pem)
    decrypted = decryptor.decrypt(token)          # verifies the signature first
    await epay.pay_with_apple_pay(order, ApplePayPayment.from_decrypted(decrypted))

The key, certificate and ``max_age`` are the merchant's "Apple Pay Payment Processing"
certificate and its EC P-256 key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import _cms
from ._validation import mask_pan
from .errors import ApplePayDecryptionError, ApplePaySignatureError, ValidationError

__all__ = [
    "APPLE_ROOT_CA_G3_PEM",
    "ApplePayDecryptor",
    "DecryptedApplePayToken",
    "verify_signature",
]

#: Apple Root CA - G3 (public; SHA-256 fingerprint 63:34:3A:BF:...:91:79), the pinned root.
APPLE_ROOT_CA_G3_PEM = b"""-----BEGIN CERTIFICATE-----
MIICQzCCAcmgAwIBAgIILcX8iNLFS5UwCgYIKoZIzj0EAwMwZzEbMBkGA1UEAwwS
QXBwbGUgUm9vdCBDQSAtIEczMSYwJAYDVQQLDB1BcHBsZSBDZXJ0aWZpY2F0aW9u
IEF1dGhvcml0eTETMBEGA1UECgwKQXBwbGUgSW5jLjELMAkGA1UEBhMCVVMwHhcN
MTQwNDMwMTgxOTA2WhcNMzkwNDMwMTgxOTA2WjBnMRswGQYDVQQDDBJBcHBsZSBS
b290IENBIC0gRzMxJjAkBgNVBAsMHUFwcGxlIENlcnRpZmljYXRpb24gQXV0aG9y
aXR5MRMwEQYDVQQKDApBcHBsZSBJbmMuMQswCQYDVQQGEwJVUzB2MBAGByqGSM49
AgEGBSuBBAAiA2IABJjpLz1AcqTtkyJygRMc3RCV8cWjTnHcFBbZDuWmBSp3ZHtf
TjjTuxxEtX/1H7YyYl3J6YRbTzBPEVoA/VhYDKX1DyxNB0cTddqXl5dvMVztK517
IDvYuVTZXpmkOlEKMaNCMEAwHQYDVR0OBBYEFLuw3qFYM4iapIqZ3r6966/ayySr
MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMDA2gA
MGUCMQCD6cHEFl4aXTQY2e3v9GwOAEZLuN+yRhHFD/3meoyhpmvOwgPUnPWTxnS4
at+qIxUCMG1mihDK1A3UT82NQz60imOlM27jbdoXt2QfyFMm+YhidDkLF1vLUagM
6BgD56KyKA==
-----END CERTIFICATE-----
"""

#: Marks the leaf certificate that signs payment tokens.
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.29")
#: Marks the Apple Worldwide Developer Relations intermediate (Apple Application Integration).
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.14")
#: Holds the merchant identifier (hex) in the merchant's payment processing certificate.
MERCHANT_ID_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.32")
#: How old a token's signature may be (Apple suggests a few minutes).
DEFAULT_MAX_AGE = timedelta(minutes=5)
#: How far in the future a signing time may be, for clocks that disagree.
CLOCK_SKEW = timedelta(minutes=2)

_SHA256 = "2.16.840.1.101.3.4.2.1"
_KDF_ALGORITHM = b"\x0did-aes256-GCM"
_KDF_PARTY_U = b"Apple"


def _hidden(_: object) -> str:
    return "'***'"


def _masked(value: str) -> str:
    return repr(mask_pan(value))


@attrs.frozen
class DecryptedApplePayToken:
    """The decrypted ``paymentData``. ``repr`` masks the DPAN and hides the cryptogram."""

    application_primary_account_number: str = attrs.field(repr=_masked)
    #: YYMMDD.
    application_expiration_date: str
    #: ISO 4217 numeric, e.g. "398" for KZT.
    currency_code: str
    #: In the currency's minor units.
    transaction_amount: int
    device_manufacturer_identifier: str = attrs.field(repr=False)
    payment_data_type: str
    online_payment_cryptogram: str | None = attrs.field(default=None, repr=_hidden)
    eci_indicator: str | None = None

    @property
    def amount(self) -> Decimal:
        """``transaction_amount`` in major units (two decimal places, as KZT, USD, EUR)."""
        return Decimal(self.transaction_amount).scaleb(-2)

    @classmethod
    def from_json(cls, data: Any) -> DecryptedApplePayToken:
        if not isinstance(data, Mapping):
            raise ApplePayDecryptionError("the decrypted data is not a JSON object")
        payment = data.get("paymentData")
        payment = payment if isinstance(payment, Mapping) else {}
        try:
            amount = data["transactionAmount"]
            if isinstance(amount, bool) or not isinstance(amount, int | str):
                raise TypeError
            return cls(
                application_primary_account_number=str(data["applicationPrimaryAccountNumber"]),
                application_expiration_date=str(data["applicationExpirationDate"]),
                currency_code=str(data["currencyCode"]),
                transaction_amount=int(amount),
                device_manufacturer_identifier=str(data.get("deviceManufacturerIdentifier", "")),
                payment_data_type=str(data.get("paymentDataType", "")),
                online_payment_cryptogram=_optional_str(payment.get("onlinePaymentCryptogram")),
                eci_indicator=_optional_str(payment.get("eciIndicator")),
            )
        except (KeyError, TypeError, ValueError):
            raise ApplePayDecryptionError("the decrypted data lacks a documented field") from None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


# -- the token --------------------------------------------------------------------------------


@attrs.frozen
class _Token:
    data: bytes = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)
    ephemeral_public_key: bytes
    public_key_hash: bytes
    transaction_id: bytes
    application_data: bytes


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(field, "is not valid base64") from None


def _hex(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValidationError(field, "is not valid hex") from None


def _parse_token(raw: Mapping[str, Any] | str | bytes) -> _Token:
    """Read the ``paymentData`` (or a whole ``PKPaymentToken`` holding it)."""
    token: Any = raw
    if isinstance(raw, str | bytes):
        try:
            token = json.loads(raw)
        except ValueError:
            raise ValidationError("token", "is not JSON") from None
    if not isinstance(token, Mapping):
        raise ValidationError("token", "must be the paymentData object")
    if isinstance(token.get("paymentData"), Mapping):
        token = token["paymentData"]
    version = token.get("version")
    if version == "RSA_v1":
        raise ValidationError(
            "token.version",
            "RSA_v1 tokens (issued where ECC is unavailable) are not supported: only EC_v1",
        )
    if version != "EC_v1":
        raise ValidationError("token.version", "only EC_v1 tokens are supported")
    header = token.get("header")
    if not isinstance(header, Mapping):
        raise ValidationError("token.header", "is missing")
    application_data = header.get("applicationData")
    return _Token(
        data=_b64(token.get("data"), "token.data"),
        signature=_b64(token.get("signature"), "token.signature"),
        ephemeral_public_key=_b64(header.get("ephemeralPublicKey"), "header.ephemeralPublicKey"),
        public_key_hash=_b64(header.get("publicKeyHash"), "header.publicKeyHash"),
        transaction_id=_hex(header.get("transactionId"), "header.transactionId"),
        application_data=(
            _hex(application_data, "header.applicationData") if application_data else b""
        ),
    )


# -- the signature ----------------------------------------------------------------------------


def _has(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bool:
    try:
        certificate.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return False
    return True


def _valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def verify_signature(
    token: Mapping[str, Any] | str | bytes,
    *,
    root_certificate_pem: bytes = APPLE_ROOT_CA_G3_PEM,
    now: datetime | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> datetime:
    """Check an ``EC_v1`` token's detached PKCS#7 signature; returns its signing time.

    The signature must cover ephemeral key + data + transaction id (+ application data), be
    made by a leaf certificate carrying 1.2.840.113635.100.6.29, issued by an intermediate
    carrying 1.2.840.113635.100.6.2.14, issued by the pinned root (Apple Root CA - G3; pass
    another only in tests), and be no older than ``max_age``. Raises
    :class:`ApplePaySignatureError` (or ``ValidationError`` for a malformed token).
    """
    parsed = _parse_token(token)
    try:
        cms = _cms.read_signed_data(parsed.signature)
    except _cms.CMSError:
        raise ApplePaySignatureError("the signature is not a readable PKCS#7 structure") from None
    if cms.digest_algorithm != _SHA256:
        raise ApplePaySignatureError("the signature's digest is not SHA-256")
    leaf = next((c for c in cms.certificates if _has(c, LEAF_OID)), None)
    intermediate = next((c for c in cms.certificates if _has(c, INTERMEDIATE_OID)), None)
    if leaf is None or intermediate is None:
        raise ApplePaySignatureError("the signature lacks Apple's leaf or intermediate certificate")
    root = x509.load_pem_x509_certificate(root_certificate_pem)
    try:
        leaf.verify_directly_issued_by(intermediate)
        intermediate.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise ApplePaySignatureError("the certificate chain does not lead to the root") from None
    moment = cms.signing_time
    if not all(_valid_at(c, moment) for c in (leaf, intermediate, root)):
        raise ApplePaySignatureError("a certificate was not valid at the signing time")
    current = now or datetime.now(timezone.utc)
    if moment > current + CLOCK_SKEW or current - moment > max_age:
        raise ApplePaySignatureError(f"the token was signed at {moment.isoformat()}, too long ago")
    signed = (
        parsed.ephemeral_public_key + parsed.data + parsed.transaction_id + parsed.application_data
    )
    if hashlib.sha256(signed).digest() != cms.message_digest:
        raise ApplePaySignatureError("the signature is not over this token's data")
    public_key = leaf.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ApplePaySignatureError("the leaf certificate's key is not an EC key")
    try:
        public_key.verify(cms.signature, cms.signed_attributes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ApplePaySignatureError("the signature does not verify") from None
    return moment


# -- decryption -------------------------------------------------------------------------------


def _merchant_id_hash(certificate: x509.Certificate) -> bytes:
    """The merchant identifier field: hex in a DER string, or bare, in the extension."""
    try:
        extension = certificate.extensions.get_extension_for_oid(MERCHANT_ID_OID).value
    except x509.ExtensionNotFound:
        raise ValidationError(
            "merchant_certificate_pem", "has no merchant identifier (1.2.840.113635.100.6.32)"
        ) from None
    raw = extension.value if isinstance(extension, x509.UnrecognizedExtension) else b""
    try:
        text = (
            _cms.directory_string(raw) if raw[:1] in (b"\x0c", b"\x13", b"\x16") else raw.decode()
        )
        identifier = bytes.fromhex(text)
    except (_cms.CMSError, ValueError, UnicodeDecodeError):
        raise ValidationError(
            "merchant_certificate_pem", "its merchant identifier is not hex"
        ) from None
    if len(identifier) != 32:
        raise ValidationError("merchant_certificate_pem", "its merchant identifier is not 32 bytes")
    return identifier


class ApplePayDecryptor:
    """Verifies and decrypts ``EC_v1`` tokens for one merchant payment processing certificate."""

    def __init__(
        self,
        merchant_private_key_pem: bytes | str,
        merchant_certificate_pem: bytes | str,
        *,
        root_certificate_pem: bytes = APPLE_ROOT_CA_G3_PEM,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        def raw(value: bytes | str) -> bytes:
            return value.encode() if isinstance(value, str) else value

        try:
            key = serialization.load_pem_private_key(raw(merchant_private_key_pem), None)
        except (ValueError, TypeError):
            raise ValidationError(
                "merchant_private_key_pem", "is not a readable private key"
            ) from None
        try:
            certificate = x509.load_pem_x509_certificate(raw(merchant_certificate_pem))
        except ValueError:
            raise ValidationError(
                "merchant_certificate_pem", "is not a readable certificate"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValidationError("merchant_private_key_pem", "must be an EC P-256 key")
        public = certificate.public_key()
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public != key.public_key():
            raise ValidationError("merchant_private_key_pem", "does not match the certificate")
        self._key = key
        self._merchant_id_hash = _merchant_id_hash(certificate)
        self._public_key_hash = hashlib.sha256(spki).digest()
        self._root = root_certificate_pem
        self._max_age = max_age

    def __repr__(self) -> str:
        return f"ApplePayDecryptor(merchant_id_hash={self._merchant_id_hash.hex()[:12]}…)"

    def decrypt(
        self,
        token: Mapping[str, Any] | str | bytes,
        *,
        verify: bool = True,
        now: datetime | None = None,
    ) -> DecryptedApplePayToken:
        """Verify (unless ``verify=False``, for tests only) and decrypt a token's ``paymentData``.

        Raises :class:`ApplePaySignatureError`, :class:`ApplePayDecryptionError` (the token is
        for another merchant key, or was tampered with) or ``ValidationError`` (malformed).
        """
        if verify:
            verify_signature(token, root_certificate_pem=self._root, now=now, max_age=self._max_age)
        parsed = _parse_token(token)
        if parsed.public_key_hash != self._public_key_hash:
            raise ApplePayDecryptionError("the token was encrypted for another merchant key")
        try:
            ephemeral = serialization.load_der_public_key(parsed.ephemeral_public_key)
        except (ValueError, TypeError):
            raise ValidationError("header.ephemeralPublicKey", "is not a public key") from None
        if not isinstance(ephemeral, ec.EllipticCurvePublicKey) or ephemeral.curve.name != (
            "secp256r1"
        ):
            raise ValidationError("header.ephemeralPublicKey", "is not an EC P-256 key")
        shared = self._key.exchange(ec.ECDH(), ephemeral)
        # NIST SP 800-56A concatenation KDF, one round of SHA-256 for a 256-bit key.
        other_info = _KDF_ALGORITHM + _KDF_PARTY_U + self._merchant_id_hash
        key = hashlib.sha256(b"\x00\x00\x00\x01" + shared + other_info).digest()
        try:
            plaintext = AESGCM(key).decrypt(b"\x00" * 16, parsed.data, None)
        except InvalidTag:
            plaintext = None
        if plaintext is None:  # outside the except block: no context holding key material
            raise ApplePayDecryptionError(
                "the token's data does not decrypt (tampered, or wrong key)"
            )
        try:
            decoded = json.loads(plaintext)
        except ValueError:
            raise ApplePayDecryptionError("the decrypted data is not JSON") from None
        return DecryptedApplePayToken.from_json(decoded)

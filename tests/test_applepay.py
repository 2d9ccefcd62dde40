"""Apple Pay EC_v1: tokens built here with generated keys and a generated chain, their
signatures in DER (cryptography) and in BER with indefinite lengths (``openssl cms -stream``,
as Apple writes them). A genuine Apple token is tested in ``test_applepay_genuine.py``."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from epay_async import (
    ApplePayDecryptionError,
    ApplePayPayment,
    ApplePaySignatureError,
    ValidationError,
)
from epay_async.applepay import (
    APPLE_ROOT_CA_G3_PEM,
    INTERMEDIATE_OID,
    LEAF_OID,
    MERCHANT_ID_OID,
    ApplePayDecryptor,
    verify_signature,
)

PEM = serialization.Encoding.PEM
OPENSSL = shutil.which("openssl") or "openssl"
PAYLOAD = {
    "applicationPrimaryAccountNumber": "4817499999999999",
    "applicationExpirationDate": "291231",
    "currencyCode": "398",
    "transactionAmount": 150010,
    "deviceManufacturerIdentifier": "040010030273",
    "paymentDataType": "3DSecure",
    "paymentData": {"onlinePaymentCryptogram": "AjZZbwAAAAAAAAAAAAAAAAAAAAA=", "eciIndicator": "7"},
}


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = False,
    extra: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(timezone.utc) - timedelta(days=1))
        .not_valid_after(datetime.now(timezone.utc) + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@attrs.frozen
class Apple:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(PEM)


def apple_chain(leaf_oid: x509.ObjectIdentifier = LEAF_OID) -> Apple:
    root_key, intermediate_key, leaf_key = new_key(), new_key(), new_key()
    root = certificate("Test Root CA - G3", root_key, ca=True)
    intermediate = certificate(
        "Test Application Integration CA - G3",
        intermediate_key,
        (root, root_key),
        ca=True,
        extra=(x509.UnrecognizedExtension(INTERMEDIATE_OID, b"\x05\x00"),),
    )
    leaf = certificate(
        "ecc-smp-broker-sign_UC4-TEST",
        leaf_key,
        (intermediate, intermediate_key),
        extra=(x509.UnrecognizedExtension(leaf_oid, b"\x05\x00"),),
    )
    return Apple(root, intermediate, intermediate_key, leaf, leaf_key)


@attrs.frozen
class Merchant:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    id_hash: bytes

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(PEM)


def merchant(identifier: str = "merchant.kz.example.shop") -> Merchant:
    key = new_key()
    id_hash = hashlib.sha256(identifier.encode()).digest()
    hex_id = id_hash.hex().upper().encode()
    value = b"\x0c" + bytes([len(hex_id)]) + hex_id  # a DER UTF8String, as Apple issues it
    cert = certificate(
        "Apple Pay Payment Processing:" + identifier,
        key,
        extra=(x509.UnrecognizedExtension(MERCHANT_ID_OID, value),),
    )
    return Merchant(key, cert, id_hash)


def ber_signature(apple: Apple, content: bytes) -> bytes:
    """A detached CMS signature streamed by OpenSSL: BER with indefinite lengths."""
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder)
        (files / "leaf.pem").write_bytes(apple.leaf.public_bytes(PEM))
        (files / "intermediate.pem").write_bytes(apple.intermediate.public_bytes(PEM))
        (files / "leaf.key").write_bytes(
            apple.leaf_key.private_bytes(
                PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (files / "content").write_bytes(content)
        command = [
            OPENSSL, "cms", "-sign", "-binary", "-stream", "-outform", "DER", "-md", "sha256",
            "-in", str(files / "content"), "-certfile", str(files / "intermediate.pem"),
            "-signer", str(files / "leaf.pem"), "-inkey", str(files / "leaf.key"),
        ]  # fmt: skip
        # Our own arguments, and OpenSSL found on PATH (Debian's, always there).
        return subprocess.run(command, check=True, capture_output=True).stdout  # noqa: S603


def make_token(
    shop: Merchant, apple: Apple, payload: Any = PAYLOAD, *, encoding: str = "der"
) -> dict[str, Any]:
    ephemeral = new_key()
    shared = ephemeral.exchange(ec.ECDH(), shop.certificate.public_key())  # type: ignore[arg-type]
    key = hashlib.sha256(
        b"\x00\x00\x00\x01" + shared + b"\x0did-aes256-GCM" + b"Apple" + shop.id_hash
    ).digest()
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    data = AESGCM(key).encrypt(b"\x00" * 16, plaintext, None)
    ephemeral_der = ephemeral.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    transaction_id = os.urandom(32).hex()
    signed = ephemeral_der + data + bytes.fromhex(transaction_id)
    if encoding == "ber":
        signature = ber_signature(apple, signed)
    else:
        signature = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(signed)
            .add_signer(apple.leaf, apple.leaf_key, hashes.SHA256())
            .add_certificate(apple.intermediate)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )
    spki = shop.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return {
        "version": "EC_v1",
        "data": b64(data),
        "signature": b64(signature),
        "header": {
            "ephemeralPublicKey": b64(ephemeral_der),
            "publicKeyHash": b64(hashlib.sha256(spki).digest()),
            "transactionId": transaction_id,
        },
    }


@pytest.fixture(scope="module")
def apple() -> Apple:
    return apple_chain()


@pytest.fixture(scope="module")
def shop() -> Merchant:
    return merchant()


def decryptor(shop: Merchant, apple: Apple) -> ApplePayDecryptor:
    return ApplePayDecryptor(
        shop.key_pem, shop.certificate_pem, root_certificate_pem=apple.root_pem
    )


def signed_just_now(token: dict[str, Any], apple: Apple, before: datetime) -> bool:
    """The signing time lies between ``before`` (taken just before signing) and now.

    The CMS signing time has whole seconds, so the window is widened by one second each side.
    """
    signed_at = verify_signature(token, root_certificate_pem=apple.root_pem)
    second = timedelta(seconds=1)
    return before - second <= signed_at <= datetime.now(timezone.utc) + second


def test_verify_and_decrypt_a_real_token(shop: Merchant, apple: Apple) -> None:
    before = datetime.now(timezone.utc)
    token = make_token(shop, apple)
    assert signed_just_now(token, apple, before)
    decrypted = decryptor(shop, apple).decrypt({"paymentData": token, "transactionIdentifier": "x"})
    assert decrypted.application_primary_account_number == "4817499999999999"
    assert decrypted.application_expiration_date == "291231"
    assert decrypted.currency_code == "398"
    assert decrypted.amount == Decimal("1500.10")
    assert decrypted.online_payment_cryptogram == "AjZZbwAAAAAAAAAAAAAAAAAAAAA="
    assert decrypted.eci_indicator == "7"
    text = repr(decrypted)
    assert "4817499999999999" not in text
    assert "AjZZbw" not in text
    assert "481749******9999" in text
    payment = ApplePayPayment.from_decrypted(decrypted)
    assert payment.cryptogram_apple_pay == "AjZZbwAAAAAAAAAAAAAAAAAAAAA="
    from_json = decryptor(shop, apple).decrypt(json.dumps(token))  # the token as a JSON string
    assert from_json == decrypted


def test_a_ber_signature_with_indefinite_lengths_verifies(shop: Merchant, apple: Apple) -> None:
    before = datetime.now(timezone.utc)
    token = make_token(shop, apple, encoding="ber")
    assert base64.b64decode(token["signature"])[:2] == b"\x30\x80"  # as Apple writes them
    assert signed_just_now(token, apple, before)
    decrypted = decryptor(shop, apple).decrypt(token)
    assert decrypted.amount == Decimal("1500.10")


@pytest.mark.parametrize("encoding", ["der", "ber"])
@pytest.mark.parametrize("part", ["data", "transactionId", "ephemeralPublicKey", "signature"])
def test_tampering_with_any_signed_part_is_refused(
    shop: Merchant, apple: Apple, encoding: str, part: str
) -> None:
    token = make_token(shop, apple, encoding=encoding)
    verify_signature(token, root_certificate_pem=apple.root_pem)
    holder = token if part in ("data", "signature") else token["header"]
    if part == "transactionId":
        holder[part] = ("0" if holder[part][0] != "0" else "1") + holder[part][1:]
    else:
        raw = bytearray(base64.b64decode(holder[part]))
        raw[-12 if part == "signature" else -5] ^= 0x01
        holder[part] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ApplePaySignatureError):
        verify_signature(token, root_certificate_pem=apple.root_pem)


def test_tampered_ciphertext(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    raw = bytearray(base64.b64decode(token["data"]))
    raw[5] ^= 0x01
    token["data"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ApplePaySignatureError, match="not over this token"):
        decryptor(shop, apple).decrypt(token)
    with pytest.raises(ApplePayDecryptionError, match="does not decrypt"):
        decryptor(shop, apple).decrypt(token, verify=False)


def test_a_token_for_another_merchant(shop: Merchant, apple: Apple) -> None:
    other = merchant("merchant.kz.example.other")
    token = make_token(other, apple)
    with pytest.raises(ApplePayDecryptionError, match="another merchant key"):
        decryptor(shop, apple).decrypt(token)


def test_wrong_public_key_hash(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    token["header"]["publicKeyHash"] = base64.b64encode(b"\x00" * 32).decode()
    with pytest.raises(ApplePayDecryptionError, match="another merchant key"):
        decryptor(shop, apple).decrypt(token)


def test_wrong_merchant_key_for_the_certificate(shop: Merchant) -> None:
    stranger = new_key().private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValidationError) as info:
        ApplePayDecryptor(stranger, shop.certificate_pem)
    assert info.value.field == "merchant_private_key_pem"


def test_same_certificate_wrong_shared_secret(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    other = merchant("merchant.kz.example.shop")  # same merchant id, another key pair
    spki = other.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token["header"]["publicKeyHash"] = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    with pytest.raises(ApplePayDecryptionError, match="does not decrypt"):
        decryptor(other, apple).decrypt(token)


def test_expired_signing_time(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    signed_at = verify_signature(token, root_certificate_pem=apple.root_pem)
    later = signed_at + timedelta(minutes=30)
    with pytest.raises(ApplePaySignatureError, match="too long ago"):
        verify_signature(token, root_certificate_pem=apple.root_pem, now=later)
    with pytest.raises(ApplePaySignatureError):
        decryptor(shop, apple).decrypt(token, now=later)
    assert verify_signature(
        token, root_certificate_pem=apple.root_pem, now=later, max_age=timedelta(hours=1)
    )
    with pytest.raises(ApplePaySignatureError):  # signed "in the future"
        verify_signature(
            token, root_certificate_pem=apple.root_pem, now=signed_at - timedelta(hours=1)
        )


def test_a_chain_to_the_wrong_root(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    with pytest.raises(ApplePaySignatureError, match="chain"):
        verify_signature(token, root_certificate_pem=apple_chain().root_pem)
    with pytest.raises(ApplePaySignatureError, match="chain"):
        ApplePayDecryptor(shop.key_pem, shop.certificate_pem).decrypt(token)  # Apple's real root


def test_a_leaf_without_apples_marker(shop: Merchant) -> None:
    impostor = apple_chain(leaf_oid=x509.ObjectIdentifier("1.2.3.4"))
    token = make_token(shop, impostor)
    with pytest.raises(ApplePaySignatureError, match="leaf"):
        verify_signature(token, root_certificate_pem=impostor.root_pem)


def test_a_signature_by_another_key(shop: Merchant, apple: Apple) -> None:
    token = make_token(shop, apple)
    forged = make_token(shop, attrs.evolve(apple, leaf_key=new_key()))
    token["signature"] = forged["signature"]
    with pytest.raises(ApplePaySignatureError):
        verify_signature(token, root_certificate_pem=apple.root_pem)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t.update(version="RSA_v1"), "token.version"),
        (lambda t: t.update(version="EC_v2"), "token.version"),
        (lambda t: t.pop("header"), "token.header"),
        (lambda t: t.update(data="not base64!"), "token.data"),
        (lambda t: t["header"].update(transactionId="xyz"), "header.transactionId"),
        (lambda t: t["header"].update(ephemeralPublicKey=42), "header.ephemeralPublicKey"),
    ],
)
def test_malformed_tokens(shop: Merchant, apple: Apple, change: Any, field: str) -> None:
    token = copy.deepcopy(make_token(shop, apple))
    change(token)
    with pytest.raises(ValidationError) as info:
        decryptor(shop, apple).decrypt(token)
    assert info.value.field == field


@pytest.mark.parametrize("signature", [b"garbage", b"\x30\x03\x06\x01\x00", b""])
def test_unreadable_signatures(shop: Merchant, apple: Apple, signature: bytes) -> None:
    token = make_token(shop, apple)
    token["signature"] = base64.b64encode(signature).decode() or "AA=="
    with pytest.raises(ApplePaySignatureError):
        verify_signature(token, root_certificate_pem=apple.root_pem)


def test_decrypted_garbage_is_a_typed_error(shop: Merchant, apple: Apple) -> None:
    for payload in (b"not json", {"currencyCode": "398"}, [1, 2]):
        with pytest.raises(ApplePayDecryptionError):
            decryptor(shop, apple).decrypt(make_token(shop, apple, payload))


def test_the_pinned_root_is_apples() -> None:
    root = x509.load_pem_x509_certificate(APPLE_ROOT_CA_G3_PEM)
    fingerprint = root.fingerprint(hashes.SHA256()).hex()
    assert fingerprint == "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179"
    assert root.subject.rfc4514_string() == (
        "C=US,O=Apple Inc.,OU=Apple Certification Authority,CN=Apple Root CA - G3"
    )


def test_merchant_certificate_without_merchant_id(apple: Apple) -> None:
    key = new_key()
    plain = certificate("no merchant id", key)
    with pytest.raises(ValidationError, match="merchant identifier"):
        ApplePayDecryptor(
            key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            plain.public_bytes(PEM),
        )

"""A genuine Apple Pay EC_v1 token, signed by Apple's production broker certificate.

The token, the merchant certificate and its key are the test fixtures of the open-source Ruby
library gala (repository spreedly/gala, test/fixtures; MIT License, Copyright (c) 2016
Spreedly, Inc.); see tests/fixtures/applepay/SOURCE.md. The expected values are those gala's
own test asserts.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from epay_async import ApplePayPayment, ApplePaySignatureError, EpayClient, Order
from epay_async.applepay import ApplePayDecryptor, verify_signature
from epay_async.testing import Sandbox

FIXTURES = Path(__file__).parent / "fixtures" / "applepay"
TOKEN: dict[str, Any] = json.loads((FIXTURES / "token.json").read_text())
CERTIFICATE = (FIXTURES / "certificate.pem").read_bytes()
KEY = (FIXTURES / "private_key.pem").read_bytes()
#: The signing time in the token's signed attributes.
SIGNED_AT = datetime(2021, 9, 1, 19, 3, 6, tzinfo=timezone.utc)
JUST_AFTER = SIGNED_AT + timedelta(seconds=30)


def decryptor() -> ApplePayDecryptor:
    return ApplePayDecryptor(KEY, CERTIFICATE)


def test_the_signature_is_ber_with_indefinite_lengths() -> None:
    assert base64.b64decode(TOKEN["signature"])[:2] == b"\x30\x80"


def test_it_verifies_at_its_signing_time_against_apples_root() -> None:
    assert verify_signature(TOKEN, now=JUST_AFTER) == SIGNED_AT


def test_it_is_refused_long_after() -> None:
    with pytest.raises(ApplePaySignatureError, match="too long ago"):
        verify_signature(TOKEN, now=SIGNED_AT + timedelta(hours=1))


def test_it_decrypts_to_its_known_values() -> None:
    decrypted = decryptor().decrypt(TOKEN, now=JUST_AFTER)
    assert decrypted.application_primary_account_number == "5353756319181169"
    assert decrypted.application_expiration_date == "240930"
    assert decrypted.currency_code == "840"
    assert decrypted.transaction_amount == 100
    assert decrypted.amount == Decimal("1.00")
    assert decrypted.payment_data_type == "3DSecure"
    assert decrypted.online_payment_cryptogram == "AMwBRjPWDnAgAA7Rls7mAoABFA=="
    assert "5353756319181169" not in repr(decrypted)


def test_the_public_key_hash_and_merchant_id_match_the_real_certificate() -> None:
    certificate = x509.load_pem_x509_certificate(CERTIFICATE)
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (
        base64.b64encode(hashlib.sha256(spki).digest()).decode()
        == (TOKEN["header"]["publicKeyHash"])
    )
    # gala's expected merchant identifier, read from the 1.2.840.113635.100.6.32 extension.
    merchant_id = "358DA5890B9555C0A9EFB84B5CD6FF04BFDCD5AABF5DC14B9872D8DF51EAF439"
    assert decryptor()._merchant_id_hash == bytes.fromhex(merchant_id)


@pytest.mark.anyio
async def test_it_becomes_the_cryptopay_body(sandbox: Sandbox, epay: EpayClient) -> None:
    decrypted = decryptor().decrypt(TOKEN, now=JUST_AFTER)
    payment = ApplePayPayment.from_decrypted(decrypted)
    assert payment.cryptogram_apple_pay == "AMwBRjPWDnAgAA7Rls7mAoABFA=="
    order = Order(invoice_id="100000001", amount=Decimal("1.00"), description="test")
    result = await epay.pay_with_apple_pay(order, payment)
    assert result.invoice_id == "100000001"
    body = json.loads(sandbox.requests_to("/payment/cryptopay")[0].body)
    assert body["paymentType"] == "ApplePay"
    assert body["cryptogramApplePay"] == "AMwBRjPWDnAgAA7Rls7mAoABFA=="
    assert body["amount"] == 1
    assert "5353756319181169" not in json.dumps(body)


def _tampered(part: str) -> dict[str, Any]:
    token = copy.deepcopy(TOKEN)
    holder = token if part in ("data", "signature") else token["header"]
    if part == "transactionId":
        holder[part] = "0" + holder[part][1:]
    else:
        raw = bytearray(base64.b64decode(holder[part]))
        # In the signature: a byte of the ECDSA value, before the closing end-of-contents.
        raw[-20 if part == "signature" else 10] ^= 0x01
        holder[part] = base64.b64encode(bytes(raw)).decode()
    return token


@pytest.mark.parametrize("part", ["data", "transactionId", "ephemeralPublicKey", "signature"])
def test_tampered_copies_are_refused(part: str) -> None:
    with pytest.raises(ApplePaySignatureError):
        verify_signature(_tampered(part), now=JUST_AFTER)
    with pytest.raises(ApplePaySignatureError):
        decryptor().decrypt(_tampered(part), now=JUST_AFTER)

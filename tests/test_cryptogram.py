from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa

from epay_async import Card, CryptogramPadding, ValidationError
from epay_async.cryptogram import CryptogramEncryptor, load_public_key
from epay_async.testing._keys import decrypt, generated_key

KEY = generated_key(2048)
PUBLIC = KEY.public_key()
TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"


def spki_pem() -> bytes:
    return PUBLIC.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pkcs1_pem() -> bytes:
    return PUBLIC.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def der(fmt: serialization.PublicFormat) -> str:
    return base64.b64encode(PUBLIC.public_bytes(serialization.Encoding.DER, fmt)).decode()


@pytest.mark.parametrize(
    "key_text",
    [
        spki_pem(),
        pkcs1_pem().decode(),
        der(serialization.PublicFormat.SubjectPublicKeyInfo),
        der(serialization.PublicFormat.PKCS1),
        "\n".join(spki_pem().decode().splitlines()[1:-1]),
    ],
    ids=["spki-pem", "pkcs1-pem", "spki-der-b64", "pkcs1-der-b64", "bare-spki-lines"],
)
def test_key_formats_load(key_text: str | bytes) -> None:
    assert load_public_key(key_text).public_numbers() == PUBLIC.public_numbers()


@pytest.mark.parametrize(
    "bad", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
)
def test_unreadable_keys(bad: str) -> None:
    with pytest.raises(ValidationError):
        load_public_key(bad)


@pytest.mark.parametrize("padding", list(CryptogramPadding))
def test_cryptogram_decrypts_to_the_documented_json(padding: CryptogramPadding) -> None:
    card = Card(pan="377514500004820", exp_month=1, exp_year=2028, cvc="0198")
    encryptor = CryptogramEncryptor(spki_pem(), padding)
    text = encryptor.encrypt_card(card, TERMINAL)
    assert base64.b64encode(base64.b64decode(text, validate=True)).decode() == text  # standard
    plaintext = decrypt(KEY, text, padding)
    assert plaintext == (
        b'{"hpan":"377514500004820","expDate":"0128","cvc":"0198",'
        b'"terminalId":"67e34d63-102f-4bd1-898e-370781d0074d"}'
    )
    assert all(isinstance(v, str) for v in json.loads(plaintext).values())


def test_padding_is_what_the_terminal_expects() -> None:
    text = CryptogramEncryptor(spki_pem(), CryptogramPadding.OAEP_SHA256).encrypt(
        hpan="AppleToken", exp_date="expToken", cvc="", terminal_id=TERMINAL
    )
    try:  # PKCS#1 v1.5 may use implicit rejection: garbage instead of an error
        wrong = decrypt(KEY, text, CryptogramPadding.PKCS1_V15)
    except ValueError:
        wrong = b""
    assert b"AppleToken" not in wrong
    assert b"AppleToken" in decrypt(KEY, text, CryptogramPadding.OAEP_SHA256)


def test_rsa_4096_ciphertext_size() -> None:
    key4096 = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    encryptor = CryptogramEncryptor(key4096.public_key())
    text = encryptor.encrypt(
        hpan="4405639704015096", exp_date="0127", cvc="321", terminal_id=TERMINAL
    )
    assert len(base64.b64decode(text)) == 512
    assert len(text) == 684
    assert encryptor.key_size == 4096


def test_encryptor_repr_and_errors_hold_no_card_data() -> None:
    encryptor = CryptogramEncryptor(spki_pem())
    assert "PKCS1_V15" in repr(encryptor)
    with pytest.raises(ValidationError) as info:  # 2048-bit OAEP-SHA256 fits 190 bytes
        CryptogramEncryptor(PUBLIC, CryptogramPadding.OAEP_SHA256).encrypt(
            hpan="4405639704015096", exp_date="0127", cvc="321", terminal_id="t" * 200
        )
    assert "4405639704015096" not in str(info.value)
    assert info.value.__context__ is None
    assert "321" not in str(info.value)
    assert info.value.__cause__ is None


def test_the_default_padding_is_pkcs1_v15_read_independently() -> None:
    """Decrypted here with cryptography's own paddings, not the library's mapping."""
    card = Card(pan="4405639704015096", exp_month=1, exp_year=2027, cvc="321")
    raw = base64.b64decode(CryptogramEncryptor(spki_pem()).encrypt_card(card, TERMINAL))
    assert KEY.decrypt(raw, rsa_padding.PKCS1v15()).startswith(b'{"hpan":"4405639704015096"')
    oaep = rsa_padding.OAEP(
        mgf=rsa_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )
    with pytest.raises(ValueError, match=r"[Dd]ecryption failed"):
        KEY.decrypt(raw, oaep)
    sha256 = CryptogramEncryptor(spki_pem(), CryptogramPadding.OAEP_SHA256).encrypt_card(
        card, TERMINAL
    )
    assert KEY.decrypt(base64.b64decode(sha256), oaep).startswith(b'{"hpan"')

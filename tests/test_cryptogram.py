from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding

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


def ec_public() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


@pytest.mark.parametrize("form", ["pem", "der-b64"])
def test_a_key_that_is_not_rsa_is_refused(form: str) -> None:
    key = ec_public()
    if form == "pem":
        text = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        text = base64.b64encode(
            key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    with pytest.raises(ValidationError) as info:
        load_public_key(text)
    assert info.value.field == "public_key_pem"
    assert info.value.message == "is not an RSA key"


@pytest.mark.parametrize("bad", ["", "not a key", b"QUJD\x00", "-----BEGIN PUBLIC KEY-----\nAAAA"])
def test_an_unreadable_key_names_the_field(bad: str | bytes) -> None:
    with pytest.raises(ValidationError) as info:
        load_public_key(bad)
    assert info.value.field == "public_key_pem"
    assert info.value.message == "is not a readable RSA public key"


def test_a_bare_base64_pkcs1_key_split_over_lines_loads() -> None:
    """PKCS#1 DER as base64 with line breaks, as a key file holds it without its PEM lines."""
    text = der(serialization.PublicFormat.PKCS1)
    wrapped = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    assert "\n" in wrapped
    assert load_public_key(f"  {wrapped}\n").public_numbers() == PUBLIC.public_numbers()


@pytest.mark.parametrize("padding", ["pkcs1v15", None, 1])
def test_a_padding_that_is_not_a_cryptogram_padding_is_refused(padding: object) -> None:
    with pytest.raises(ValidationError) as info:
        CryptogramEncryptor(spki_pem(), padding)  # type: ignore[arg-type]
    assert (info.value.field, info.value.message) == ("padding", "must be a CryptogramPadding")


def test_base64_with_a_stray_character_is_refused_not_skipped() -> None:
    text = der(serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValidationError) as info:
        load_public_key(text[:40] + "!" + text[40:])
    assert info.value.message == "is not a readable RSA public key"


def test_an_rsa_key_object_is_used_as_it_is() -> None:
    encryptor = CryptogramEncryptor(PUBLIC, CryptogramPadding.OAEP_SHA1)
    assert encryptor.padding is CryptogramPadding.OAEP_SHA1
    assert repr(encryptor) == "CryptogramEncryptor(key_size=2048, padding=OAEP_SHA1)"
    assert encryptor.key_size == 2048


def test_oaep_sha1_is_read_by_an_independent_oaep_sha1() -> None:
    raw = base64.b64decode(
        CryptogramEncryptor(PUBLIC, CryptogramPadding.OAEP_SHA1).encrypt(
            hpan="4405639704015096", exp_date="0127", cvc="321", terminal_id=TERMINAL
        )
    )
    sha1 = rsa_padding.OAEP(
        mgf=rsa_padding.MGF1(hashes.SHA1()),  # noqa: S303
        algorithm=hashes.SHA1(),  # noqa: S303
        label=None,
    )
    assert json.loads(KEY.decrypt(raw, sha1)) == {
        "hpan": "4405639704015096",
        "expDate": "0127",
        "cvc": "321",
        "terminalId": TERMINAL,
    }


def test_non_ascii_card_data_is_sent_as_utf8_not_escaped() -> None:
    raw = base64.b64decode(
        CryptogramEncryptor(PUBLIC).encrypt(
            hpan="4405639704015096", exp_date="0127", cvc="321", terminal_id="терминал"
        )
    )
    assert KEY.decrypt(raw, rsa_padding.PKCS1v15()).endswith('"terminalId":"терминал"}'.encode())


def test_too_long_for_the_key_names_the_key_and_the_padding() -> None:
    with pytest.raises(ValidationError) as info:
        CryptogramEncryptor(PUBLIC).encrypt(
            hpan="4405639704015096", exp_date="0127", cvc="321", terminal_id="t" * 300
        )
    assert info.value.field == "card"
    assert info.value.message == "does not fit an RSA-2048 key with PKCS1_V15"

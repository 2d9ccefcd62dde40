"""Reading a detached CMS SignedData (RFC 5652): the signature of an Apple Pay token.

``cryptography`` builds PKCS#7 signatures but does not verify them, so the structure is read
here with pyasn1 and pyasn1-modules' RFC 5652 module. Apple writes the signature in BER with
indefinite lengths (``30 80 ...``), so it is decoded as BER; what was signed, the signed
attributes, is re-encoded in DER as a SET, as RFC 5652 section 5.4 requires, whatever encoding
the token used.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import attrs
from cryptography import x509
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, namedtype, tag, univ
from pyasn1_modules import rfc5652

__all__ = ["CMSError", "SignedData", "directory_string", "read_signed_data"]

SIGNED_DATA = "1.2.840.113549.1.7.2"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_TIME = "1.2.840.113549.1.9.5"
#: Apple's signatures are a few kilobytes; anything far larger is not one.
MAX_SIGNATURE_BYTES = 64 * 1024
_SET_TAG = 0x31
_IMPLICIT_0 = 0xA0


class CMSError(ValueError):
    """The bytes are not the CMS structure expected."""


class _SignedContentInfo(univ.Sequence):  # type: ignore[misc]
    """``ContentInfo`` with its content typed as ``SignedData``.

    RFC 5652's own ``ContentInfo`` holds the content as ``ANY``, and pyasn1 loses the
    end-of-contents octets of an indefinite-length ``ANY``: naming the type reads it whole.
    """

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contentType", univ.ObjectIdentifier()),
        namedtype.NamedType(
            "content",
            rfc5652.SignedData().subtype(
                explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0)
            ),
        ),
    )


@attrs.frozen
class SignedData:
    """What a verifier needs from a SignedData with one signer."""

    certificates: list[x509.Certificate]
    digest_algorithm: str
    #: The DER encoding of the signed attributes as a SET: the bytes the signature covers.
    signed_attributes: bytes = attrs.field(repr=False)
    message_digest: bytes
    signing_time: datetime
    signature: bytes = attrs.field(repr=False)


def read_signed_data(data: bytes) -> SignedData:
    """Read a BER or DER SignedData; :class:`CMSError` for anything else."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise CMSError("the signature is too large")
    try:
        return _read(data)
    except (PyAsn1Error, KeyError, IndexError, TypeError, ValueError) as exc:
        raise CMSError(f"unreadable SignedData ({type(exc).__name__})") from None


def _read(data: bytes) -> SignedData:
    content_info, rest = ber_decoder.decode(data, asn1Spec=_SignedContentInfo())
    if rest:
        raise CMSError("trailing bytes after the SignedData")
    if str(content_info["contentType"]) != SIGNED_DATA:
        raise CMSError("not a SignedData")
    signed_data = content_info["content"]
    signers = signed_data["signerInfos"]
    if len(signers) != 1:
        raise CMSError(f"expected one signer, found {len(signers)}")
    signer = signers[0]
    attributes = signer["signedAttrs"]
    if not attributes.isValue or len(attributes) == 0:
        raise CMSError("the signer has no signed attributes")
    values = {str(a["attrType"]): a["attrValues"] for a in attributes}
    if MESSAGE_DIGEST not in values or SIGNING_TIME not in values:
        raise CMSError("the signed attributes lack the digest or the signing time")
    encoded = der_encoder.encode(attributes)
    if encoded[0] != _IMPLICIT_0:
        raise CMSError("the signed attributes are not tagged [0]")
    return SignedData(
        certificates=[
            x509.load_der_x509_certificate(der_encoder.encode(choice["certificate"]))
            for choice in signed_data["certificates"]
            if choice.getName() == "certificate"
        ],
        digest_algorithm=str(signer["digestAlgorithm"]["algorithm"]),
        # RFC 5652 5.4: the signature is over the DER of the SET OF, not of the [0] field.
        signed_attributes=bytes([_SET_TAG]) + encoded[1:],
        message_digest=bytes(_single(values[MESSAGE_DIGEST], univ.OctetString())),
        signing_time=_aware(_single(values[SIGNING_TIME], rfc5652.SigningTime())),
        signature=bytes(signer["signature"]),
    )


def _single(values: Any, spec: Any) -> Any:
    """The one value of an attribute, decoded as ``spec``."""
    if len(values) != 1:
        raise CMSError("an attribute has more than one value")
    value, rest = ber_decoder.decode(bytes(values[0]), asn1Spec=spec)
    if rest:
        raise CMSError("trailing bytes in an attribute")
    return value


def _aware(time: Any) -> datetime:
    moment: datetime = time.getComponent().asDateTime
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def directory_string(data: bytes) -> str:
    """A DER string (UTF8String, PrintableString, IA5String...), as text."""
    try:
        value, rest = ber_decoder.decode(data)
    except PyAsn1Error:
        raise CMSError("not a DER string") from None
    if rest or not isinstance(value, char.AbstractCharacterString):
        raise CMSError("not a DER string")
    return str(value)

"""Reading an answer's body under the size cap, and undoing a ``Content-Encoding`` safely.

The library asks for ``Accept-Encoding: identity``; a server that compresses anyway is read raw
and decompressed here, layer by layer, never producing more than the cap: a compressed answer
could otherwise inflate far past it before any check.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping

from .. import _constants as C
from . import BodyTooLarge

__all__ = ["check_declared_length", "decode", "read_capped"]


def check_declared_length(headers: Mapping[str, str], limit: int = C.MAX_RESPONSE_BYTES) -> None:
    """Refuse an answer whose ``Content-Length`` already says it is too large."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"response body of {declared} bytes exceeds {limit}")


async def read_capped(chunks: AsyncIterator[bytes], limit: int = C.MAX_RESPONSE_BYTES) -> bytes:
    """The raw body, at most ``limit`` bytes; ``chunks`` is closed when cut short."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"response body exceeds {limit} bytes")
            parts.append(chunk)
    finally:
        close = getattr(chunks, "aclose", None)  # a generator: closed now, not by the GC
        if close is not None:
            await close()
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decode(content: bytes, headers: Mapping[str, str], limit: int = C.MAX_RESPONSE_BYTES) -> bytes:
    """Undo the answer's ``Content-Encoding`` (gzip, deflate, layered), at most ``limit``."""
    header = headers.get("content-encoding")
    if not header or not content:  # nothing to undo (a 204, an empty error answer)
        return content
    encodings = [
        part.strip().lower()
        for part in header.split(",")
        if part.strip().lower() not in ("", "identity")
    ]
    for encoding in reversed(encodings):  # the last one listed was applied last
        content = _decompress(content, encoding, limit)
    return content


#: zlib's window bits: gzip only, zlib or raw deflate (what servers send as "deflate").
_WBITS = {"gzip": 16 + 15, "x-gzip": 16 + 15, "deflate": 15}


def _decompress(content: bytes, encoding: str, limit: int) -> bytes:
    """One layer, whole and framed: a stream cut before its end (a gzip member without its
    CRC and length trailer, a deflate stream without its final block or checksum) or followed
    by bytes that are not another gzip member is refused, never read in part."""
    if encoding not in _WBITS:
        raise BodyTooLarge(f"response body has an unsupported Content-Encoding {encoding[:20]!r}")
    wbits = _WBITS[encoding]
    try:
        try:
            out, rest = _inflate(content, wbits, limit)
        except zlib.error:
            if encoding != "deflate":
                raise
            out, rest = _inflate(content, -15, limit)  # raw deflate, as some servers send it
        # RFC 1952: a gzip body may be several members, one after another.
        while rest and wbits != 15:
            more, rest = _inflate(rest, wbits, limit - len(out))
            out += more
    except zlib.error:
        raise BodyTooLarge(f"response body is not valid {encoding}") from None
    if rest:
        raise BodyTooLarge(f"response body has bytes after its {encoding} stream")
    return out


def _inflate(content: bytes, wbits: int, limit: int) -> tuple[bytes, bytes]:
    """One whole stream (at most ``limit`` bytes out) and the bytes that follow it."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(content, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"response body exceeds {limit} bytes once decompressed")
    if not inflater.eof:
        raise zlib.error("truncated")  # no trailer: the stream was cut short
    return out, inflater.unused_data

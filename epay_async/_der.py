"""A minimal DER reader: enough of ASN.1 to walk a CMS SignedData (Apple Pay signatures).

``cryptography`` builds PKCS#7 signatures but does not verify them, so the few structures
needed are read here: tag, length, value, nesting, object identifiers and times.
"""

from __future__ import annotations

from datetime import datetime, timezone

import attrs

SEQUENCE, SET, OID, OCTET_STRING, INTEGER = 0x30, 0x31, 0x06, 0x04, 0x02
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18


class DERError(ValueError):
    """The bytes are not the DER structure expected."""


@attrs.frozen
class Node:
    tag: int
    #: The whole encoding: tag, length and value.
    raw: bytes = attrs.field(repr=False)
    value: bytes = attrs.field(repr=False)

    def children(self) -> list[Node]:
        if not self.tag & 0x20:
            raise DERError(f"tag {self.tag:#x} is not constructed")
        return read_all(self.value)

    def expect(self, tag: int) -> Node:
        if self.tag != tag:
            raise DERError(f"expected tag {tag:#x}, found {self.tag:#x}")
        return self


def read(data: bytes, offset: int = 0) -> tuple[Node, int]:
    """The node at ``offset`` and the offset just past it."""
    if offset + 2 > len(data):
        raise DERError("truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DERError("multi-byte tags are not used here")
    first = data[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DERError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise DERError("truncated")
    return Node(tag, data[offset:end], data[start:end]), end


def read_all(data: bytes) -> list[Node]:
    nodes, offset = [], 0
    while offset < len(data):
        node, offset = read(data, offset)
        nodes.append(node)
    return nodes


def read_one(data: bytes) -> Node:
    node, end = read(data)
    if end != len(data):
        raise DERError("trailing bytes")
    return node


def oid(node: Node) -> str:
    """Dotted form of an OBJECT IDENTIFIER."""
    value = node.expect(OID).value
    if not value:
        raise DERError("empty OID")
    arcs = [min(value[0] // 40, 2), value[0] - 40 * min(value[0] // 40, 2)]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(number)
            number = 0
    return ".".join(map(str, arcs))


def time(node: Node) -> datetime:
    """A UTCTime or GeneralizedTime (the forms CMS signing times use), as aware UTC."""
    text = node.value.decode("ascii", "replace")
    formats = {UTC_TIME: "%y%m%d%H%M%SZ", GENERALIZED_TIME: "%Y%m%d%H%M%SZ"}
    if node.tag not in formats:
        raise DERError("not a time")
    try:
        return datetime.strptime(text, formats[node.tag]).replace(tzinfo=timezone.utc)
    except ValueError:
        raise DERError(f"unreadable time {text!r}") from None

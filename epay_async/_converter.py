"""The one cattrs converter: gateway JSON <-> attrs models, money as Decimal end to end.

Responses are read leniently where the gateway is inconsistent (key casing, int-or-string
numbers, string booleans) and strictly where it matters (a value of the wrong kind is a
:class:`ProtocolError` naming the field, never a bare ``KeyError``/``TypeError``).
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .errors import ProtocolError
from .types._fields import wire_name
from .types.status import ResultCode, StatusName

__all__ = ["dumps", "loads", "structure", "unstructure"]

T = TypeVar("T")

#: Key the response hook files unknown keys under while structuring. It must be a valid
#: identifier: cattrs < 24.2 pastes it into generated source, where a NUL byte is a SyntaxError.
_EXTRA = "__epay_extra__"
#: Timestamps without an offset are read as Kazakhstan time (UTC+5 since March 2024).
GATEWAY_TZ = timezone(timedelta(hours=5))


# -- JSON -----------------------------------------------------------------------------------


#: The longest number literal any answer needs (money, coordinates, codes). A longer one, or a
#: larger exponent, is refused while parsing: ``1e999999`` as a ``Decimal`` is cheap, but turning
#: it into an int (a result code) would block the event loop for seconds or hours.
MAX_NUMBER_LENGTH = 40
MAX_EXPONENT = 40


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _bounded_decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError("number literal too long")
    value = Decimal(text)
    if abs(value.adjusted()) > MAX_EXPONENT:
        raise ValueError("number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:
        raise ValueError("number literal too long")
    return int(text)


#: One decoder for every answer (``json.loads`` with these options builds a new one each time).
_DECODER = json.JSONDecoder(
    parse_float=_bounded_decimal, parse_int=_bounded_int, parse_constant=_reject_constant
)


def loads(content: bytes | str) -> Any:
    """Parse JSON with every non-integer number as ``Decimal`` (``100.10`` stays ``100.10``);
    every number is bounded (:data:`MAX_NUMBER_LENGTH`, :data:`MAX_EXPONENT`). Bytes are read
    as ``json.loads`` reads them (UTF-8, or UTF-16/32 by their first bytes)."""
    try:
        if isinstance(content, bytes | bytearray):
            content = content.decode(json.detect_encoding(content), "surrogatepass")
        elif content.startswith("\ufeff"):
            raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        return _DECODER.decode(content)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            f"response is not valid JSON, or has a number out of range ({type(exc).__name__})"
        ) from None


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, bool) or value is None:
        out.append("true" if value is True else "false" if value is False else "null")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("cannot send a non-finite amount")
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:  # float included: money never travels as a float.
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON in which ``Decimal`` is written as a plain JSON number."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode()


# -- lenient primitives ---------------------------------------------------------------------


def _fail(expected: str, value: Any) -> ProtocolError:
    return ProtocolError(f"expected {expected}, got {type(value).__name__}")


def to_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise _fail("a string", value)


def to_decimal(value: Any, _: Any = None) -> Decimal:
    """A number as ``Decimal``. A ``float`` (what ``json.loads`` without ``parse_float`` gives)
    becomes the exact decimal of its shortest repr (``12.22`` -> ``Decimal("12.22")``, not the
    binary value ``12.2199999...``); NaN, infinities and floats of more than 15 significant
    digits (which a double does not keep) are refused. Answers parsed by
    :func:`loads` never hold a float; only a caller's already decoded mapping can."""
    if isinstance(value, bool):
        raise _fail("a number", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError("expected a finite number in range")
        result = Decimal(repr(value))
        if len(result.as_tuple().digits) > 15:
            # A double keeps 15 significant digits exactly; past that the value the sender
            # wrote may already be lost (99999999999999.99 decodes as ...98).
            raise ProtocolError("a float with more than 15 significant digits is not exact")
    elif isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = _bounded_decimal(value.strip())
        except (InvalidOperation, ValueError):
            raise ProtocolError(f"expected a number, got {value[:20]!r}") from None
    else:
        raise _fail("a number", value)
    if not result.is_finite() or abs(result.adjusted()) > MAX_EXPONENT:
        raise ProtocolError("expected a finite number in range")
    return result


_INT_TEXT = re.compile(r"\s*-?[0-9]{1,18}\s*")


def to_int(value: Any, _: Any = None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 19  # never int() a huge exponent: it blocks the event loop
        and value == value.to_integral_value()
    ):
        return int(value)
    raise _fail("an integer", value)


_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f", ""})


def to_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _fail("a boolean", value)


_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
    r"(?:\.(?P<frac>\d+))?(?P<tz>Z|(?P<sign>[+-])(?P<th>\d{2}):?(?P<tm>\d{2}))?",
    re.ASCII,
)


#: The form the gateway writes (``2026-01-01T12:00:00+05:00``, or with no offset), which
#: ``datetime.fromisoformat`` reads on every supported Python exactly as
#: :func:`parse_timestamp` does, in a sixth of the time; any other form goes to that parser.
_COMMON_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)


def to_datetime(value: Any, _: Any = None) -> datetime:
    """ISO 8601 timestamp -> aware ``datetime`` (naive ones are read as gateway time), as
    :func:`parse_timestamp` reads it."""
    if value.__class__ is str and _COMMON_TIMESTAMP.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:  # a date or time out of range: the parser says which
            return parse_timestamp(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=GATEWAY_TZ)
    return parse_timestamp(value)


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 timestamp -> aware ``datetime`` (naive ones are read as gateway time).

    Built from the parts, not with ``datetime.fromisoformat`` (Python 3.10's refuses many of the
    forms the gateway sends): fractions of any length are cut to microseconds
    (``.123456789`` -> ``.123456``), the offset is kept (``+05:00``, ``+0500``, ``Z``), and
    seconds may be absent."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and (match := _ISO.fullmatch(value.strip())):
        tz: timezone | None = None
        if match["tz"] == "Z":
            tz = timezone.utc
        elif match["tz"]:
            offset = timedelta(hours=int(match["th"]), minutes=int(match["tm"]))
            if offset >= timedelta(hours=24) or int(match["tm"]) >= 60:
                raise ProtocolError(f"not a valid timestamp: {value[:40]!r}")
            tz = timezone(-offset if match["sign"] == "-" else offset)
        try:
            parsed = datetime(
                int(match["y"]),
                int(match["mo"]),
                int(match["d"]),
                int(match["h"]),
                int(match["mi"]),
                int(match["s"] or 0),
                int((match["frac"] or "")[:6].ljust(6, "0")),
                tzinfo=tz,
            )
        except ValueError:
            raise ProtocolError(f"not a valid timestamp: {value[:40]!r}") from None
    else:
        raise _fail("an ISO 8601 timestamp", value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=GATEWAY_TZ)


# -- the converter --------------------------------------------------------------------------


def _is_response(cls: Any) -> bool:
    return attrs.has(cls) and "extra" in attrs.fields_dict(cls)


def _format_error(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ProtocolError | ValueError):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    return f"invalid value for {getattr(type_, '__name__', type_)}"


def _make_response_hook(converter: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    """Structure hook matching gateway keys case-insensitively; the rest goes to ``extra``.

    The detailed converter uses cattrs' own generated function, which names a failing field;
    the fast one uses :func:`_compiled`, which does the same work in one pass.
    """
    renames: dict[str, str] = {}
    for field in attrs.fields(cls):
        renames[field.name] = _EXTRA if field.name == "extra" else wire_name(field).lower()
    known = set(renames.values()) - {_EXTRA}
    if not converter.detailed_validation:
        return _compiled(converter, cls)
    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    inner = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **overrides)

    def hook(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"expected an object, got {type(data).__name__}")
        folded: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            lowered = str(key).lower()
            if lowered in known:
                folded[lowered] = value
            else:
                extra[str(key)] = value
        folded[_EXTRA] = extra
        return inner(folded, cls)

    return hook


def _compiled(converter: cattrs.Converter, cls: Any) -> Callable[[Any, Any], Any]:
    """A structure function for one response class, generated as cattrs generates its own:
    keys matched by their wire spelling first (a dict lookup), then case-insensitively; a
    ``str`` value taken as it is; every other value through the converter's hook for its type;
    ``None`` kept for optional fields. Any failure is left to the detailed converter to name.
    """
    attrs.resolve_types(cls)
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    #: The gateway's own spelling of each key, and its lower-case form, to the field's index.
    index: dict[str, int] = {}
    for number, field in enumerate(fields):
        index[wire_name(field)] = number
        index[wire_name(field).lower()] = number
    #: Per field: its name, its type's hook (None for ``str``), its type, whether optional.
    specs: list[tuple[str, Callable[[Any, Any], Any] | None, Any, bool]] = []
    for field in fields:
        args = typing.get_args(field.type)
        is_optional = type(None) in args
        inner = next(a for a in args if a is not type(None)) if is_optional else field.type
        field_hook = None if inner is str else converter.get_structure_hook(inner)
        specs.append((field.name, field_hook, inner, is_optional))

    def hook(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ProtocolError(f"expected an object, got {type(data).__name__}")
        given: dict[int, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():  # a field the answer lacks costs nothing
            number = index.get(key)
            if number is None and (number := index.get(str(key).lower())) is None:
                extra[str(key)] = value
                continue
            given[number] = value  # a key in two casings: the last wins, as in cattrs' own
        kwargs: dict[str, Any] = {}
        for number, value in given.items():
            name, convert, type_, optional = specs[number]
            if value is None and optional:
                kwargs[name] = None
            elif convert is None:
                kwargs[name] = value if value.__class__ is str else to_str(value)
            else:
                kwargs[name] = convert(value, type_)
        return cls(extra=extra, **kwargs)

    return _exact_spelling(cls, fields, specs, hook) or hook


def _exact_spelling(
    cls: Any,
    fields: list[attrs.Attribute[Any]],
    specs: list[tuple[str, Callable[[Any, Any], Any] | None, Any, bool]],
    general: Callable[[Any, Any], Any],
) -> Callable[[Any, Any], Any] | None:
    """The same structure function, generated as straight-line code for the answer the
    gateway sends: a dict with every key in its documented spelling and none unknown. Each
    field is one lookup of its wire name; the class is built with positional arguments. Any
    other answer (another casing, an unknown key, a required field absent, not a dict) goes to
    ``general``. None when the class cannot be built positionally."""
    every = attrs.fields(cls)
    if every[-1].name != "extra" or any(not f.init or f.kw_only for f in every):
        return None
    namespace: dict[str, Any] = {"cls": cls, "general": general, "to_str": to_str, "M": _MISSING}
    lines = [
        "def hook(data, _):",
        "    if data.__class__ is not dict:",
        "        return general(data, _)",
        "    get = data.get",
    ]
    # Every key is looked up before any is converted: an answer with a key in another casing
    # as well (``invoiceId`` beside ``invoiceID``) is the general loop's to resolve, whatever
    # the value in the gateway's spelling would make of it.
    found: list[str] = []
    required: list[str] = []
    built: list[str] = []
    for number, (field, (_name, convert, type_, optional)) in enumerate(
        zip(fields, specs, strict=True)
    ):
        namespace[f"c{number}"], namespace[f"t{number}"] = convert, type_
        v = f"v{number}"
        value = (
            f"{v} if {v}.__class__ is str else to_str({v})"
            if convert is None
            else f"c{number}({v}, t{number})"
        )
        if optional:
            value = f"None if {v} is None else {value}"
        lines.append(f"    {v} = get({wire_name(field)!r}, M)")
        found.append(f"({v} is not M)")
        if field.default is attrs.NOTHING:
            required.append(f"{v} is M")
            built.append(f"    a{number} = {value}")
        else:
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                return None
            namespace[f"d{number}"] = field.default
            built.append(f"    a{number} = d{number} if {v} is M else {value}")
    every_key_known = "len(data) != " + " + ".join(found)
    lines += [
        f"    if {' or '.join([*required, every_key_known])}:",
        "        return general(data, _)",
        *built,
        f"    return cls({''.join(f'a{n}, ' for n in range(len(fields)))}{{}})",
    ]
    exec(compile("\n".join(lines), f"<structure {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    generated: Callable[[Any, Any], Any] = namespace["hook"]
    return generated


_MISSING = object()


def _make_response_unstructure(converter: cattrs.Converter, cls: Any) -> Callable[[Any], Any]:
    """Unstructure hook writing gateway names; ``extra`` keys are merged back in."""
    names = [(f.name, wire_name(f)) for f in attrs.fields(cls) if f.name != "extra"]

    def hook(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(obj.extra)
        for name, key in names:
            out[key] = converter.unstructure(getattr(obj, name))
        return out

    return hook


def _enum_hook(enum_cls: type[enum.Enum], parse: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    members = enum_cls._value2member_map_  # what ``enum_cls(value)`` looks in first

    def hook(value: Any, _: Any) -> Any:
        parsed = parse(value)
        member = members.get(parsed)
        return member if member is not None else enum_cls(parsed)

    return hook


def _optional(hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def structure_optional(value: Any, type_: Any) -> Any:
        return None if value is None else hook(value, type_)

    return structure_optional


def _build(*, detailed: bool) -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=detailed)
    primitives: dict[type, Callable[[Any, Any], Any]] = {
        str: to_str,
        Decimal: to_decimal,
        int: to_int,
        bool: to_bool,
        datetime: to_datetime,
    }
    for type_, hook in primitives.items():
        converter.register_structure_hook(type_, hook)
        # Direct hooks for the optional forms: cattrs' generic union handling is slow.
        converter.register_structure_hook(type_ | None, _optional(hook))
        converter.register_structure_hook(Optional[type_], _optional(hook))  # noqa: UP045
    converter.register_structure_hook(ResultCode, _enum_hook(ResultCode, to_int))
    converter.register_structure_hook(StatusName, _enum_hook(StatusName, to_str))
    # A predicate, not ``register_structure_hook(Any, ...)``: on Python 3.10 that goes through
    # ``functools.singledispatch``, which refuses ``typing.Any`` (not a class).
    converter.register_structure_hook_func(lambda type_: type_ is Any, lambda value, _: value)
    converter.register_structure_hook_factory(
        _is_response, lambda cls: _make_response_hook(converter, cls)
    )
    converter.register_unstructure_hook_factory(
        _is_response, lambda cls: _make_response_unstructure(converter, cls)
    )
    converter.register_unstructure_hook(Decimal, lambda value: value)
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    return converter


#: Structures answers fast; when that fails, ``_detailed`` runs to say which field was wrong.
_converter = _build(detailed=False)
_detailed = _build(detailed=True)


def structure(data: Any, cls: type[T], *, what: str) -> T:
    """Build ``cls`` from parsed JSON; any mismatch becomes a ``ProtocolError`` naming the field."""
    # On any failure, the slower detailed converter runs to name the field that was wrong.
    with contextlib.suppress(Exception):
        return _converter.structure(data, cls)
    try:
        _detailed.structure(data, cls)
    except ProtocolError as exc:
        raise ProtocolError(f"malformed {what}: {exc}", field=exc.field or "$") from None
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="$", format_exception=_format_error)
        first = messages[0] if messages else "invalid response"
        message, _, path = first.rpartition(" @ ")
        raise ProtocolError(f"malformed {what}: {message or first}", field=path or "$") from None
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise ProtocolError(f"malformed {what} ({type(exc).__name__})") from None
    raise ProtocolError(f"malformed {what}")


def unstructure(obj: Any) -> Any:
    """A model as the gateway would write it (wire names, ``Decimal`` money)."""
    return _converter.unstructure(obj)

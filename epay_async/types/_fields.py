"""Field helpers shared by the models and the converter."""

from __future__ import annotations

from typing import Any

import attrs

#: Metadata key for a field whose gateway name is not the camelCase of its Python name.
WIRE = "epay_wire"


def wire(name: str, **kwargs: Any) -> Any:
    """An attrs field sent and read as ``name`` on the wire."""
    metadata = {**kwargs.pop("metadata", {}), WIRE: name}
    return attrs.field(metadata=metadata, **kwargs)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: attrs.Attribute[Any]) -> str:
    """A field's name on the wire: declared with :func:`wire`, else its camelCase."""
    return str(field.metadata.get(WIRE) or camel(field.name))


def wire_fields(obj: Any, *names: str) -> dict[str, Any]:
    """The named fields of attrs instance ``obj`` that are set, keyed by their wire names, in
    the order given."""
    fields = attrs.fields_dict(type(obj))
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            out[wire_name(fields[name])] = value
    return out

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

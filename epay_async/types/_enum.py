"""Enums that keep values the gateway adds later instead of crashing on them."""

from __future__ import annotations

import enum
from typing import Any


class OpenIntEnum(enum.IntEnum):
    """An ``IntEnum`` whose unknown values become ``UNKNOWN_<n>`` members."""

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
        return None

    @property
    def is_known(self) -> bool:
        return self._name_ in type(self).__members__


class OpenStrEnum(str, enum.Enum):
    """A ``str`` enum whose unknown values become ``UNKNOWN_<value>`` members."""

    @classmethod
    def _missing_(cls, value: Any) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.upper():
                    return member
            pseudo = str.__new__(cls, value)
            pseudo._name_ = f"UNKNOWN_{value}"
            pseudo._value_ = value
            return pseudo
        return None

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_known(self) -> bool:
        return self._name_ in type(self).__members__

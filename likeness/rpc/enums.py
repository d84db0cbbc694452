"""Domain enums to and from the contracts' enums, by name, in one place.

A contract enum ``Transition`` has values ``TRANSITION_UNSPECIFIED``, ``TRANSITION_CUT``, ...; the
domain's ``Transition`` has members ``CUT``, ... with the same names less the prefix. Mapping by name
keeps the contracts' numbers out of the domain; a member the other side lacks is an error at once.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

E = TypeVar("E", bound=enum.Enum)


def _prefix(proto_enum: Any) -> str:
    return (
        "".join(
            f"_{char}" if char.isupper() and index else char
            for index, char in enumerate(proto_enum.DESCRIPTOR.name)
        ).upper()
        + "_"
    )


def to_proto(proto_enum: Any, member: enum.Enum | None) -> Any:
    """The contract's value for a domain member (None: the UNSPECIFIED value)."""
    name = member.name if member is not None else "UNSPECIFIED"
    return proto_enum.Value(_prefix(proto_enum) + name)


def from_proto(proto_enum: Any, value: int, domain: type[E]) -> E | None:
    """The domain member for a contract value (None for UNSPECIFIED); ValueError for a number the
    contract does not define or a name the domain lacks."""
    name = str(proto_enum.Name(value)).removeprefix(_prefix(proto_enum))
    if name == "UNSPECIFIED":
        return None
    try:
        return domain[name]
    except KeyError:
        raise ValueError(f"{proto_enum.DESCRIPTOR.full_name} {name} has no {domain.__name__}") from None

"""Per-method access rules and retry safety, as the contracts declare them.

Every RPC carries a ``(likeness.common.v1.access)`` option (the roles that may call it, and what a call
refused for lack of a role is recorded as) and the standard ``idempotency_level`` option. The servers
and the SDK read them from the descriptors at start-up, so no table of methods is kept by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from likeness.api.common.v1 import access_pb2
from likeness.rpc.auth import AccessRule, Role


@dataclass(frozen=True)
class RefusedAction:
    """What a call refused for lack of a role is recorded as in the brand's audit log."""

    action: str
    target_type: str
    #: The request field that names the target; empty: none.
    target_field: str


# The generated stub types the extension as a plain field descriptor.
_ACCESS: Any = access_pb2.access


def _access(method: MethodDescriptor) -> access_pb2.Access:
    options = method.GetOptions()
    if not options.HasExtension(_ACCESS) or not options.Extensions[_ACCESS].roles:
        raise ValueError(f"{method.full_name} declares no (likeness.common.v1.access) roles")
    access: access_pb2.Access = options.Extensions[_ACCESS]
    return access


def _role(value: int) -> Role:
    return Role[access_pb2.Role.Name(value).removeprefix("ROLE_")]


def method_roles(service: ServiceDescriptor) -> dict[str, AccessRule]:
    """Full method paths → the role (or any of the roles) the contract requires."""
    rules: dict[str, AccessRule] = {}
    for method in service.methods:
        roles = frozenset(_role(value) for value in _access(method).roles)
        rules[f"/{service.full_name}/{method.name}"] = next(iter(roles)) if len(roles) == 1 else roles
    return rules


def refused_actions(service: ServiceDescriptor) -> dict[str, RefusedAction]:
    """Method names → how a refused call is audited, for the RPCs whose contract says so."""
    actions = {}
    for method in service.methods:
        access = _access(method)
        if access.refused_action:
            actions[method.name] = RefusedAction(
                access.refused_action, access.refused_target_type, access.refused_target_field
            )
    return actions


def idempotent_methods(service: ServiceDescriptor) -> frozenset[str]:
    """The RPCs that are safe to retry: those whose contract declares them IDEMPOTENT or free of side
    effects. Every RPC must declare its level, IDEMPOTENCY_UNKNOWN included."""
    safe = set()
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasField("idempotency_level"):
            raise ValueError(f"{method.full_name} declares no idempotency_level")
        if options.idempotency_level in (
            descriptor_pb2.MethodOptions.IDEMPOTENT,
            descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        ):
            safe.add(method.name)
    return frozenset(safe)

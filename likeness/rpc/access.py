"""Per-method access rules, declared by each service and checked against its contract."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.descriptor import ServiceDescriptor

from likeness.rpc.auth import AccessRule


def method_roles(service: ServiceDescriptor, roles_by_rpc: Mapping[str, AccessRule]) -> dict[str, AccessRule]:
    """Full method paths → required role; every RPC of the service must have exactly one rule."""
    rpcs = {method.name for method in service.methods}
    missing = rpcs - set(roles_by_rpc)
    unknown = set(roles_by_rpc) - rpcs
    if missing or unknown:
        raise ValueError(
            f"{service.full_name} access rules: missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    return {f"/{service.full_name}/{name}": role for name, role in roles_by_rpc.items()}

"""gRPC edge of the identity service.

The face models arrive with the identity issue; until then every RPC answers UNIMPLEMENTED while
health, reflection and authentication behave exactly as they will.
"""

from __future__ import annotations

from likeness.api.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from likeness.identity.settings import IdentitySettings
from likeness.rpc.access import method_roles
from likeness.rpc.auth import Role
from likeness.rpc.server import ServiceSpec

SERVICE = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"]

ROLES = method_roles(
    SERVICE,
    {
        "EncodeIdentity": Role.VIEWER,
        "CompareIdentities": Role.VIEWER,
        "ScoreVideo": Role.VIEWER,
    },
)


class IdentityServicer(identity_service_pb2_grpc.IdentityServiceServicer):
    """Face detection, alignment, embedding and scoring (models load at start-up)."""


def build_spec(settings: IdentitySettings) -> ServiceSpec:
    servicer = IdentityServicer()  # type: ignore[abstract]
    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
            servicer, server
        ),
        method_roles=ROLES,
    )

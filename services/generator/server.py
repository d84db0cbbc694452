"""gRPC edge of the generator service.

The job table, the Ray Serve model and the gates arrive with the generator issue; until then the
service opens its database pool, reports health, and answers UNIMPLEMENTED.
"""

from __future__ import annotations

from likeness.api.generator.v1 import generator_service_pb2, generator_service_pb2_grpc
from likeness.db import open_pool
from likeness.generator.settings import GeneratorSettings
from likeness.rpc.access import method_roles
from likeness.rpc.auth import Role
from likeness.rpc.server import ServiceSpec

SERVICE = generator_service_pb2.DESCRIPTOR.services_by_name["GeneratorService"]

ROLES = method_roles(
    SERVICE,
    {
        "SubmitGeneration": Role.EDITOR,
        "WatchJob": Role.VIEWER,
        "GetJob": Role.VIEWER,
        "ListJobs": Role.VIEWER,
        "CancelJob": Role.EDITOR,
        "SynthesizeReference": Role.EDITOR,
    },
)


class GeneratorServicer(generator_service_pb2_grpc.GeneratorServiceServicer):
    """Durable generation jobs on the Ray Serve model."""


def build_spec(settings: GeneratorSettings) -> ServiceSpec:
    servicer = GeneratorServicer()  # type: ignore[abstract]
    pools = []

    async def start() -> None:
        pools.append(await open_pool(settings))

    async def stop() -> None:
        for pool in pools:
            await pool.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: generator_service_pb2_grpc.add_GeneratorServiceServicer_to_server(
            servicer, server
        ),
        method_roles=ROLES,
        start=start,
        stop=stop,
    )

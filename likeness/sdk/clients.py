"""Typed clients, async and blocking, one per service.

``client.api`` is the generated stub (typed by the ``.pyi`` files) behind a proxy that adds the bearer
token and default deadline and raises ``LikenessError``::

    async with AsyncAssetsClient("127.0.0.1:50052", token=token) as assets:
        brand = await assets.api.GetBrand(assets_pb2.GetBrandRequest(brand_id="acme"))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

from grpc_health.v1 import health_pb2, health_pb2_grpc

from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.api.generator.v1 import generator_service_pb2_grpc
from likeness.api.identity.v1 import identity_service_pb2_grpc
from likeness.sdk.channel import (
    AsyncStubProxy,
    ClientOptions,
    StubProxy,
    TokenSource,
    open_async_channel,
    open_channel,
)
from likeness.sdk.idempotency import IDEMPOTENT_METHODS

AsyncStubT = TypeVar("AsyncStubT")
StubT = TypeVar("StubT")


class _Connection:
    """What both kinds of client hold: the options, the channel (with retries for the service's
    idempotent methods) and ``api``, the stub behind a proxy that adds the token and deadline."""

    service: ClassVar[str]
    stub_class: ClassVar[Any]

    def __init__(
        self,
        target: str,
        *,
        token: TokenSource = None,
        timeout_s: float | None = 30.0,
        secure: bool = False,
        root_certificates: bytes | None = None,
    ) -> None:
        self.options = ClientOptions(target, token, timeout_s, secure, root_certificates)
        self.channel: Any = self._open(self.options, self.service, IDEMPOTENT_METHODS[self.service])
        self.api: Any = self._proxy(self.stub_class(self.channel), self.options)

    _open: Callable[..., Any]
    _proxy: Callable[..., Any]


class _AsyncClient(_Connection, Generic[AsyncStubT]):
    _open = staticmethod(open_async_channel)
    _proxy = AsyncStubProxy
    api: AsyncStubT

    async def health(self, timeout_s: float = 5.0) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
        """The service's serving status (no token needed)."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=self.service), timeout=timeout_s)
        return response.status

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _Client(_Connection, Generic[StubT]):
    _open = staticmethod(open_channel)
    _proxy = StubProxy
    api: StubT

    def health(self, timeout_s: float = 5.0) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
        stub = health_pb2_grpc.HealthStub(self.channel)
        status: health_pb2.HealthCheckResponse.ServingStatus.ValueType = stub.Check(
            health_pb2.HealthCheckRequest(service=self.service), timeout=timeout_s
        ).status
        return status

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncIdentityClient(_AsyncClient["identity_service_pb2_grpc.IdentityServiceAsyncStub"]):
    service = "likeness.identity.v1.IdentityService"
    stub_class = identity_service_pb2_grpc.IdentityServiceStub


class AsyncAssetsClient(_AsyncClient["assets_service_pb2_grpc.AssetsServiceAsyncStub"]):
    service = "likeness.assets.v1.AssetsService"
    stub_class = assets_service_pb2_grpc.AssetsServiceStub


class AsyncGeneratorClient(_AsyncClient["generator_service_pb2_grpc.GeneratorServiceAsyncStub"]):
    service = "likeness.generator.v1.GeneratorService"
    stub_class = generator_service_pb2_grpc.GeneratorServiceStub


class IdentityClient(_Client[identity_service_pb2_grpc.IdentityServiceStub]):
    service = AsyncIdentityClient.service
    stub_class = identity_service_pb2_grpc.IdentityServiceStub


class AssetsClient(_Client[assets_service_pb2_grpc.AssetsServiceStub]):
    service = AsyncAssetsClient.service
    stub_class = assets_service_pb2_grpc.AssetsServiceStub


class GeneratorClient(_Client[generator_service_pb2_grpc.GeneratorServiceStub]):
    service = AsyncGeneratorClient.service
    stub_class = generator_service_pb2_grpc.GeneratorServiceStub

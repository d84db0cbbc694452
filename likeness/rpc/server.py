"""grpc.aio server bootstrap shared by every service.

Health starts NOT_SERVING, turns SERVING once the service's dependencies are ready (pools open,
models loaded), and turns NOT_SERVING again as soon as shutdown begins, so load balancers stop
sending work while in-flight calls finish within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from likeness import pagination
from likeness.rpc import auth
from likeness.rpc.interceptors import (
    AuthenticationInterceptor,
    BrandInterceptor,
    BrandLookup,
    DeniedHook,
    ErrorMappingInterceptor,
    RequestContextInterceptor,
    ValidationInterceptor,
)
from likeness.rpc.settings import ServerSettings

logger = logging.getLogger("likeness.rpc.server")


@dataclass
class ServiceSpec:
    """What a service hands the bootstrap: how to register it, who may call what, its lifecycle."""

    name: str
    register: Callable[[aio.Server], None]
    method_roles: Mapping[str, auth.AccessRule]
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    extra_names: list[str] = field(default_factory=list)
    # Called with each call refused for lack of a role (after authentication), before it fails.
    on_denied: DeniedHook | None = None
    # Whether the caller's brand exists; None: the service does not check (see AuthenticationInterceptor).
    brand_exists: BrandLookup | None = None
    # Methods (short names) that need no existing brand, such as CreateBrand.
    brandless_methods: frozenset[str] = frozenset()
    # The servicer itself, for whoever runs the service in its own process (tools, tests).
    servicer: Any = None


def server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        ("grpc.max_send_message_length", settings.max_send_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", int(settings.min_client_ping_interval_s * 1000)),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.so_reuseport", 0),
    ]


class RpcServer:
    """One service behind the shared interceptors, health and reflection."""

    def __init__(self, settings: ServerSettings, spec: ServiceSpec) -> None:
        self.settings = settings
        self.spec = spec
        self.health = HealthServicer()
        pagination.use_page_token_secret(settings.page_token_secret.get_secret_value())
        verifier = auth.TokenVerifier(
            settings.jwt_keys, issuer=settings.jwt_issuer, max_lifetime_seconds=settings.jwt_max_lifetime_s
        )
        self._server = aio.server(
            interceptors=[
                RequestContextInterceptor(),
                ErrorMappingInterceptor(),
                AuthenticationInterceptor(verifier, spec.method_roles, spec.on_denied),
                ValidationInterceptor(),
                *([BrandInterceptor(spec.brand_exists, spec.brandless_methods)] if spec.brand_exists else []),
            ],
            options=server_options(settings),
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        )
        self.port = 0
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._startup: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Listen at once (health answers NOT_SERVING), then bring dependencies up."""
        self.spec.register(self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            [self.spec.name, *self.spec.extra_names, reflection.SERVICE_NAME, "grpc.health.v1.Health"],
            self._server,
        )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.port = self._server.add_insecure_port(f"{self.settings.host}:{self.settings.port}")
        if self.port == 0:
            raise OSError(f"could not bind {self.settings.host}:{self.settings.port}")
        await self._server.start()
        logger.info("listening", extra={"service": self.spec.name, "port": self.port})
        self._startup = asyncio.create_task(self._bring_up())
        return self.port

    async def _bring_up(self) -> None:
        if self.spec.start is not None:
            await self.spec.start()
        if self.settings.freeze_gc_after_start:
            gc.collect()
            gc.freeze()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        self._ready.set()
        logger.info("serving", extra={"service": self.spec.name})

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        await self.health.set("", status)
        await self.health.set(self.spec.name, status)

    async def wait_ready(self) -> None:
        """Returns when SERVING; raises the start-up error if dependencies could not come up."""
        assert self._startup is not None, "start() first"
        await self._startup

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight calls finish within the grace period, release resources."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        await self.health.enter_graceful_shutdown()
        if grace is None and self.settings.drain_delay_s > 0:
            await asyncio.sleep(self.settings.drain_delay_s)
        grace = self.settings.shutdown_grace_s if grace is None else grace
        await self._server.stop(grace)
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._startup
        if self.spec.stop is not None:
            await self.spec.stop()
        logger.info("stopped", extra={"service": self.spec.name})

    async def serve_until_signal(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully. Fails if start-up fails."""
        loop = asyncio.get_running_loop()
        shutdown = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, shutdown.set)
        await self.start()
        waiter = asyncio.create_task(shutdown.wait())
        assert self._startup is not None
        done, _ = await asyncio.wait({waiter, self._startup}, return_when=asyncio.FIRST_COMPLETED)
        if self._startup in done and self._startup.exception() is not None:
            waiter.cancel()
            error = self._startup.exception()
            logger.error("start-up failed", extra={"service": self.spec.name}, exc_info=error)
            await self.stop(grace=0)
            raise SystemExit(1)
        await waiter
        logger.info("shutting down", extra={"service": self.spec.name})
        await self.stop()


def run(settings: ServerSettings, spec: ServiceSpec) -> None:
    """Blocking entry point for ``likeness serve <service>``."""
    from likeness.rpc.logging import configure_logging

    configure_logging(settings.log_level)
    if not settings.jwt_keys:
        raise SystemExit(
            f"{spec.name}: no JWT keys configured; set the service's JWT_KEYS setting "
            "(`likeness up` does this for local use)"
        )

    async def serve() -> None:
        # The aio server binds to the running loop, so it is built inside it.
        await RpcServer(settings, spec).serve_until_signal()

    asyncio.run(serve())

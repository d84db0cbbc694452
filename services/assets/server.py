"""The assets service's wiring: the registry on its pool and object store, start-up and shutdown, the
contract's access rules, and the audit of refused calls (the handlers are in ``servicer.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from minio import Minio
from psycopg_pool import AsyncConnectionPool

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.assets import vectors
from likeness.assets.audit import Actor, AuditLog, Outcome
from likeness.assets.brands import Brands
from likeness.assets.cache import IdentityCache, InvalidationListener
from likeness.assets.characters import Characters
from likeness.assets.checkpoints import Checkpointer, CheckpointStore
from likeness.assets.consent import Consents
from likeness.assets.erasure import Eraser
from likeness.assets.generated import GeneratedAssets
from likeness.assets.identities import Identities
from likeness.assets.objects import Objects
from likeness.assets.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from likeness.assets.registry import Registry
from likeness.assets.search import Search
from likeness.assets.servicer import AssetsServicer
from likeness.assets.settings import AssetsSettings
from likeness.db import load_queries, migrate, open_pool
from likeness.errors import PermissionDenied
from likeness.rpc.access import method_roles, refused_actions
from likeness.rpc.auth import Principal
from likeness.rpc.logging import request_id_var
from likeness.rpc.server import ServiceSpec

logger = logging.getLogger("likeness.assets")

SERVICE = pb.DESCRIPTOR.services_by_name["AssetsService"]

ROLES = method_roles(SERVICE)
# What a call refused for lack of a role is recorded as (the contract says, per RPC).
REFUSED_ACTIONS = refused_actions(SERVICE)


async def record_denied_call(
    registry: Registry | None, method: str, principal: Principal, request: Any, denied: PermissionDenied
) -> None:
    """Audit a write refused for lack of a role, in the caller's brand."""
    entry = REFUSED_ACTIONS.get(method.rsplit("/", 1)[-1])
    if registry is None or entry is None:
        return
    field = entry.target_field
    target_id = str(getattr(request, field, "")) if field and request is not None else ""
    # The request was refused before validation: its target may be anything. What the log keeps of it
    # must still be storable (no NUL, short enough for the index), so that no refusal goes unrecorded.
    target_id = target_id.replace("\x00", "\\x00")[:200]
    try:
        async with registry.pool.connection() as connection, connection.transaction():
            await registry.audit.append(
                connection,
                principal.brand_id,
                Actor.of(principal, request_id_var.get()),
                entry.action,
                entry.target_type,
                target_id,
                Outcome.DENIED,
                details={"error": denied.message},
            )
    except Exception:  # the caller still gets PERMISSION_DENIED
        logger.warning("could not audit a refused call", extra={"method": method}, exc_info=True)


def object_store(settings: AssetsSettings) -> ObjectStore:
    if settings.s3_endpoint:
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            region=settings.s3_region,
            secure=settings.s3_secure,
        )
        return S3ObjectStore(client, settings.s3_bucket)
    if settings.object_store_dir is None:
        raise ValueError("set LIKENESS_ASSETS_OBJECT_STORE_DIR or LIKENESS_ASSETS_S3_ENDPOINT")
    return LocalObjectStore(settings.object_store_dir)


async def _sweep_forever(objects: Objects, interval_s: float, grace: timedelta) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await objects.sweep_orphans(grace)
        except Exception:
            logger.warning("orphan sweep failed", exc_info=True)


def build_registry(
    settings: AssetsSettings, pool: AsyncConnectionPool, objects_store: ObjectStore, queries: dict[str, str]
) -> Registry:
    audit = AuditLog(queries)
    cache = IdentityCache(settings.identity_cache_entries, settings.identity_cache_ttl_s)
    characters = Characters(pool, queries, audit)
    objects = Objects(pool, queries, audit, store=objects_store, max_upload_bytes=settings.max_upload_bytes)
    consents = Consents(pool, queries, audit, characters=characters, objects=objects)
    identities = Identities(
        pool,
        queries,
        audit,
        characters=characters,
        consents=consents,
        objects=objects,
        cache=cache,
        collision_threshold=settings.collision_threshold,
        read_audit_async_commit=settings.read_audit_async_commit,
    )
    search = Search(
        pool,
        queries,
        audit,
        search_ef=settings.search_ef,
        read_audit_async_commit=settings.read_audit_async_commit,
    )
    generated = GeneratedAssets(
        pool, queries, audit, characters=characters, consents=consents, identities=identities, objects=objects
    )
    eraser = Eraser(pool, queries, audit, characters=characters, store=objects_store, cache=cache)
    key = settings.audit_checkpoint_key
    checkpointer = (
        Checkpointer(pool, queries, audit, CheckpointStore(objects_store, key.get_secret_value().encode()))
        if key is not None
        else None
    )
    return Registry(
        pool=pool,
        objects_store=objects_store,
        audit=audit,
        brands=Brands(pool, queries, audit),
        characters=characters,
        objects=objects,
        consents=consents,
        identities=identities,
        search=search,
        generated=generated,
        eraser=eraser,
        cache=cache,
        checkpointer=checkpointer,
    )


def build_spec(settings: AssetsSettings) -> ServiceSpec:
    servicer = AssetsServicer()  # type: ignore[abstract]
    background: list[asyncio.Task[None]] = []
    listeners: list[InvalidationListener] = []

    async def start() -> None:
        objects_store = object_store(settings)
        queries = load_queries("likeness.assets")
        pool = await open_pool(settings, configure=vectors.connection_setup(queries, settings.search_ef))
        try:
            await migrate(settings, "likeness.assets", append_only=("audit_events",))
            await objects_store.ensure_ready()
            registry = build_registry(settings, pool, objects_store, queries)
            if registry.cache.enabled:
                listener = InvalidationListener(settings.database_url, registry.cache)
                await listener.start()
                listeners.append(listener)
        except BaseException:
            await pool.close()
            raise
        if settings.orphan_sweep_interval_s > 0:
            background.append(
                asyncio.create_task(
                    _sweep_forever(
                        registry.objects,
                        settings.orphan_sweep_interval_s,
                        timedelta(seconds=settings.orphan_grace_s),
                    ),
                    name="orphan-sweep",
                )
            )
        if registry.checkpointer is not None and settings.audit_checkpoint_interval_s > 0:
            background.append(
                asyncio.create_task(
                    registry.checkpointer.run_forever(settings.audit_checkpoint_interval_s),
                    name="audit-checkpoints",
                )
            )
        elif registry.checkpointer is None:
            logger.warning(
                "no audit checkpoint key: a rewrite of the audit chain by the database's owner goes unseen"
            )
        servicer.registry = registry

    async def stop() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for listener in listeners:
            await listener.stop()
        if servicer.registry is not None:
            await servicer.registry.pool.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: assets_service_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server),
        method_roles=ROLES,
        start=start,
        stop=stop,
        on_denied=lambda method, principal, request, denied: record_denied_call(
            servicer.registry, method, principal, request, denied
        ),
        brand_exists=lambda brand_id: servicer._registry.brands.exists(brand_id),
        brandless_methods=frozenset({"CreateBrand"}),
    )

"""gRPC edge of the assets service: decode requests, call the registry, encode responses.

Brands are served now; characters, identities, consent, audit, objects, search and erasure arrive
with the assets issue and answer UNIMPLEMENTED until then.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import timestamp_pb2
from minio import Minio
from psycopg_pool import AsyncConnectionPool

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.api.assets.v1 import assets_service_pb2_grpc
from likeness.assets.brands import Brand, Brands
from likeness.assets.objectstore import LocalObjectStore, ObjectStore, S3ObjectStore
from likeness.assets.settings import AssetsSettings
from likeness.db import apply_migrations, load_migrations, load_queries, open_pool
from likeness.rpc.access import method_roles
from likeness.rpc.auth import Role, current_principal
from likeness.rpc.interceptors import Context
from likeness.rpc.server import ServiceSpec

SERVICE = pb.DESCRIPTOR.services_by_name["AssetsService"]
ADMIN_OR_SERVICE = frozenset({Role.ADMIN, Role.SERVICE})

ROLES = method_roles(
    SERVICE,
    {
        "CreateBrand": ADMIN_OR_SERVICE,
        "GetBrand": Role.VIEWER,
        "CreateCharacter": Role.EDITOR,
        "GetCharacter": Role.VIEWER,
        "ListCharacters": Role.VIEWER,
        "UpdateCharacter": Role.EDITOR,
        "ArchiveCharacter": Role.EDITOR,
        "AddIdentityVersion": Role.EDITOR,
        "GetIdentity": Role.VIEWER,
        "ListIdentityVersions": Role.VIEWER,
        "SetIdentityVersionStatus": ADMIN_OR_SERVICE,
        "RecordConsent": Role.EDITOR,
        "RevokeConsent": Role.ADMIN,
        "GetConsent": Role.VIEWER,
        "ListConsents": Role.VIEWER,
        "CheckConsent": Role.VIEWER,
        "ListAuditEvents": Role.VIEWER,
        "VerifyAuditChain": Role.ADMIN,
        "UploadObject": Role.EDITOR,
        "DownloadObject": Role.VIEWER,
        "GetObjectUrl": Role.VIEWER,
        "GetObjectInfo": Role.VIEWER,
        "SearchLikeness": Role.VIEWER,
        "RecordGeneratedAsset": Role.SERVICE,
        "GetGeneratedAsset": Role.VIEWER,
        "ListGeneratedAssets": Role.VIEWER,
        "EraseCharacter": Role.ADMIN,
    },
)


def _timestamp(value: object) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def brand_message(brand: Brand) -> pb.Brand:
    return pb.Brand(
        brand_id=brand.brand_id,
        display_name=brand.display_name,
        create_time=_timestamp(brand.created_at),
        created_by=brand.created_by,
    )


@dataclass
class Registry:
    """Everything the servicer needs once start-up is done."""

    pool: AsyncConnectionPool
    objects: ObjectStore
    brands: Brands


class AssetsServicer(assets_service_pb2_grpc.AssetsServiceServicer):
    def __init__(self) -> None:
        self.registry: Registry | None = None

    @property
    def _registry(self) -> Registry:
        if self.registry is None:
            raise RuntimeError("assets registry used before start-up finished")
        return self.registry

    async def CreateBrand(self, request: pb.CreateBrandRequest, context: Context) -> pb.CreateBrandResponse:
        brand = await self._registry.brands.create(
            current_principal(), request.brand_id, request.display_name
        )
        return pb.CreateBrandResponse(brand=brand_message(brand))

    async def GetBrand(self, request: pb.GetBrandRequest, context: Context) -> pb.GetBrandResponse:
        principal = current_principal()
        brand = await self._registry.brands.get(principal, request.brand_id or principal.brand_id)
        return pb.GetBrandResponse(brand=brand_message(brand))


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


def build_spec(settings: AssetsSettings) -> ServiceSpec:
    servicer = AssetsServicer()  # type: ignore[abstract]

    async def start() -> None:
        objects = object_store(settings)
        pool = await open_pool(settings)
        try:
            async with pool.connection() as connection:
                await apply_migrations(
                    connection, settings.database_schema, load_migrations("likeness.assets")
                )
            await objects.ensure_ready()
        except BaseException:
            await pool.close()
            raise
        servicer.registry = Registry(pool, objects, Brands(pool, load_queries("likeness.assets")))

    async def stop() -> None:
        if servicer.registry is not None:
            await servicer.registry.pool.close()

    return ServiceSpec(
        name=SERVICE.full_name,
        register=lambda server: assets_service_pb2_grpc.add_AssetsServiceServicer_to_server(servicer, server),
        method_roles=ROLES,
        start=start,
        stop=stop,
    )

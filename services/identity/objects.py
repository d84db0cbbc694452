"""Reading photos and videos stored in the assets service, on the caller's behalf.

The identity service calls the assets service with a short-lived service token that carries the
caller's brand, so an object of another brand is NOT_FOUND exactly as it is to the caller.
"""

from __future__ import annotations

import grpc

from likeness.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from likeness.identity.settings import IdentitySettings
from likeness.rpc.auth import ServiceTokens, current_principal, first_signing_key
from likeness.sdk import AsyncAssetsClient, LikenessError
from likeness.sdk.objects import ObjectTooLarge, download_bytes

SERVICE_SUBJECT = "service:identity"
SERVICE_TOKEN_TTL_S = 300.0


class ObjectReader:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._client: AsyncAssetsClient | None = None

    def open(self) -> None:
        key = first_signing_key(self.settings.jwt_keys)
        settings = self.settings
        tokens = (
            ServiceTokens(key, settings.jwt_issuer, SERVICE_SUBJECT, SERVICE_TOKEN_TTL_S) if key else None
        )

        def token() -> str:
            if tokens is None:
                raise Unavailable("the identity service has no key to sign its calls to the assets service")
            return tokens(current_principal().brand_id)

        self._client = AsyncAssetsClient(
            settings.assets_address, token=token, timeout_s=settings.assets_timeout_s
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def read(self, object_id: str, max_bytes: int, field: str) -> bytes:
        """The object's bytes; NOT_FOUND for unknown or another brand's objects, INVALID_ARGUMENT over
        ``max_bytes``."""
        if self._client is None:
            raise Unavailable("the assets client is not open yet; retry with backoff")
        too_large = InvalidArgument(
            f"{field}: object {object_id} is larger than {max_bytes} bytes",
            [FieldViolation(field, f"the object is larger than {max_bytes} bytes")],
        )
        try:
            _, data = await download_bytes(self._client.api, object_id, max_bytes=max_bytes)
        except ObjectTooLarge:
            raise too_large from None
        except LikenessError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                raise NotFound(
                    f"{field}: object {object_id} not found", resource_type="object", resource_id=object_id
                ) from None
            if error.code == grpc.StatusCode.PERMISSION_DENIED:
                raise PermissionDenied(f"{field}: {error.message}") from None
            raise Unavailable(
                f"the assets service could not return object {object_id}: {error.message}"
            ) from None
        return data

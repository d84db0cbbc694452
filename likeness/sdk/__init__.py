"""Client SDK: typed async and blocking clients for the three services, one error type."""

from likeness.sdk.clients import (
    AssetsClient,
    AsyncAssetsClient,
    AsyncGeneratorClient,
    AsyncIdentityClient,
    GeneratorClient,
    IdentityClient,
)
from likeness.sdk.errors import LikenessError

__all__ = [
    "AssetsClient",
    "AsyncAssetsClient",
    "AsyncGeneratorClient",
    "AsyncIdentityClient",
    "GeneratorClient",
    "IdentityClient",
    "LikenessError",
]

"""Which calls the SDK may retry on UNAVAILABLE: those the contracts declare IDEMPOTENT (reads, checks,
and writes that are idempotent by contract: SubmitGeneration carries an idempotency key; cancelling or
erasing twice is harmless)."""

from __future__ import annotations

from likeness.api.assets.v1 import assets_service_pb2
from likeness.api.generator.v1 import generator_service_pb2
from likeness.api.identity.v1 import identity_service_pb2
from likeness.rpc.access import idempotent_methods

IDEMPOTENT_METHODS: dict[str, frozenset[str]] = {
    service.full_name: idempotent_methods(service)
    for module in (identity_service_pb2, assets_service_pb2, generator_service_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
}

"""The contracts say, per RPC, who may call it, how a refused call is audited, and whether it is safe to
retry; the servers and the SDK read that at start-up instead of keeping tables by hand."""

from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from likeness.api.assets.v1 import assets_service_pb2
from likeness.api.common.v1 import access_pb2
from likeness.api.generator.v1 import generator_service_pb2
from likeness.api.identity.v1 import identity_service_pb2
from likeness.rpc.access import idempotent_methods, method_roles, refused_actions
from likeness.rpc.auth import Role
from likeness.sdk.idempotency import IDEMPOTENT_METHODS

SERVICES: list[ServiceDescriptor] = [
    module.DESCRIPTOR.services_by_name[name]
    for module, name in (
        (identity_service_pb2, "IdentityService"),
        (assets_service_pb2, "AssetsService"),
        (generator_service_pb2, "GeneratorService"),
    )
]


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_every_rpc_declares_its_roles_and_its_idempotency(service: ServiceDescriptor) -> None:
    rules = method_roles(service)
    assert len(rules) == len(service.methods) > 0
    assert set(IDEMPOTENT_METHODS[service.full_name]) <= {method.name for method in service.methods}


def test_the_rules_read_from_the_contracts_are_the_platforms_policy() -> None:
    assets = method_roles(SERVICES[1])
    generator = method_roles(SERVICES[2])
    prefix = "/likeness.assets.v1.AssetsService/"
    assert assets[prefix + "GetCharacter"] is Role.VIEWER
    assert assets[prefix + "EraseCharacter"] is Role.ADMIN
    assert assets[prefix + "RecordGeneratedAsset"] is Role.SERVICE
    assert assets[prefix + "SetIdentityVersionStatus"] == frozenset({Role.ADMIN, Role.SERVICE})
    assert generator["/likeness.generator.v1.GeneratorService/SetBrandQuota"] is Role.SERVICE
    refused = refused_actions(SERVICES[1])
    assert refused["EraseCharacter"].action == "character.erase"
    assert refused["EraseCharacter"].target_field == "character_id"
    assert "GetCharacter" not in refused  # reads refused for their role are not audited
    assert "SubmitGeneration" in IDEMPOTENT_METHODS["likeness.generator.v1.GeneratorService"]
    assert "CreateBrand" not in IDEMPOTENT_METHODS["likeness.assets.v1.AssetsService"]


def _service(options: str) -> ServiceDescriptor:
    """A one-RPC service of the contracts' kind, with only ``options`` set."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, access_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    file = descriptor_pb2.FileDescriptorProto(
        name="probe.proto", package="probe", syntax="proto3", dependency=["likeness/common/v1/access.proto"]
    )
    file.message_type.add(name="Empty")
    method = file.service.add(name="Probe").method.add(name="Call", input_type=".probe.Empty")
    method.output_type = ".probe.Empty"
    if options == "idempotency":
        method.options.idempotency_level = descriptor_pb2.MethodOptions.IDEMPOTENT
    pool.Add(file)
    service: ServiceDescriptor = pool.FindServiceByName("probe.Probe")
    return service


def test_an_rpc_without_its_declarations_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match=re.escape("declares no (likeness.common.v1.access) roles")):
        method_roles(_service("idempotency"))
    with pytest.raises(ValueError, match="declares no idempotency_level"):
        idempotent_methods(_service("none"))

"""Every field a client can send is bounded before a handler sees it: each repeated field has a
protovalidate ``max_items``, each string a length (or a uuid, pattern or set of values), each bytes
field a ``max_len``; the few whose bound is a setting (the size of an uploaded photo or video) are
named here with the setting that bounds them, and the whole message is bounded by the server's
``max_receive_message_bytes``. A new unbounded field fails this test."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from likeness.api.assets.v1 import assets_service_pb2
from likeness.api.buf.validate import validate_pb2
from likeness.api.generator.v1 import generator_service_pb2
from likeness.api.identity.v1 import identity_service_pb2
from likeness.identity.settings import IdentitySettings
from likeness.rpc.settings import ServerSettings

#: Fields bounded by a service setting rather than by the contract, with that setting.
BOUNDED_BY_SETTINGS = {
    "likeness.identity.v1.ReferencePhoto.image": ("max_image_bytes", IdentitySettings),
    "likeness.identity.v1.ScoreVideoRequest.video_bytes": ("max_video_bytes", IdentitySettings),
}


def _rules(field: FieldDescriptor) -> Any:
    options = field.GetOptions()
    return options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None


def _string_bounded(rules: Any) -> bool:
    if rules is None or not rules.HasField("string"):
        return False
    string = rules.string
    bounded = ("max_len", "max_bytes", "len", "uuid", "pattern")
    return any(string.HasField(name) for name in bounded) or len(getattr(string, "in")) > 0


def request_types() -> list[Descriptor]:
    return [
        method.input_type
        for module in (assets_service_pb2, generator_service_pb2, identity_service_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def unbounded_fields(requests: list[Descriptor]) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []

    def walk(message: Descriptor) -> None:
        if message.full_name in seen or message.full_name.startswith("google."):
            return
        seen.add(message.full_name)
        for field in message.fields:
            rules = _rules(field)
            name = f"{message.full_name}.{field.name}"
            if field.is_repeated and not (
                rules is not None and rules.HasField("repeated") and rules.repeated.HasField("max_items")
            ):
                found.append(f"repeated {name}")
            if (
                field.type == FieldDescriptor.TYPE_STRING
                and not field.is_repeated
                and not _string_bounded(rules)
            ):
                found.append(f"string {name}")
            if field.type == FieldDescriptor.TYPE_BYTES and not (
                rules is not None and rules.HasField("bytes") and rules.bytes.HasField("max_len")
            ):
                found.append(f"bytes {name}")
            if field.message_type is not None:
                if field.message_type.full_name == "google.protobuf.Struct":
                    found.append(f"struct {name}")
                walk(field.message_type)

    for request in requests:
        walk(request)
    return found


def test_every_request_field_is_bounded_by_the_contract_or_a_named_setting() -> None:
    unbounded = unbounded_fields(request_types())
    assert sorted(unbounded) == sorted(f"bytes {name}" for name in BOUNDED_BY_SETTINGS)
    for setting, settings_class in BOUNDED_BY_SETTINGS.values():
        assert settings_class.model_fields[setting].default > 0
    # Inline bytes are never larger than a whole message may be.
    assert ServerSettings.model_fields["max_receive_message_bytes"].default == 16 * 2**20


def test_the_scan_finds_unbounded_fields() -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="probe.proto", package="probe", syntax="proto3")
    message = file.message_type.add(name="Probe")
    message.field.add(name="note", number=1, type=FieldDescriptor.TYPE_STRING, label=1)
    message.field.add(name="blob", number=2, type=FieldDescriptor.TYPE_BYTES, label=1)
    message.field.add(name="tags", number=3, type=FieldDescriptor.TYPE_INT32, label=3)
    pool.Add(file)
    found = unbounded_fields([pool.FindMessageTypeByName("probe.Probe")])
    assert found == ["string probe.Probe.note", "bytes probe.Probe.blob", "repeated probe.Probe.tags"]

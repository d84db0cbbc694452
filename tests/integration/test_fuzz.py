"""Property-based fuzzing of every RPC of the three services, over real gRPC, against real servers on a
real PostgreSQL (and the generator on the session's Ray Serve tiny model).

Requests are generated from the ``*_pb2`` descriptors: each field gets values that keep to the
protovalidate rules declared on it (so that calls reach the domain code, with real ids of a seeded brand)
or hostile ones (NUL bytes, very long and odd unicode strings, NaN and infinities, integers at the ends of
their type, Timestamps and Durations out of range, corrupt media, unknown enum numbers, forged page
tokens, lists of every length). A quarter of the calls send raw bytes that are not a valid message:
truncated, bit-flipped, invalid UTF-8 in a string field, wrong wire types, overlong varints, groups
nested thousands deep.

The property: no call answers INTERNAL or UNKNOWN, and none runs into its (generous) deadline. After the
run the servers still serve, were not replaced, and every brand's audit chain still verifies.

The default run is small (about 1,500 calls, half a minute); ``--fuzz-long`` makes it at least 10,000. Set
``LIKENESS_FUZZ_SEED`` to replay a run (the seed is printed with the summary and with every failure).
The generator runs no jobs (``workers=0``): submissions are checked and queued, never rendered, so the
fuzz cannot queue GPU work; SynthesizeReference renders 32 x 32 stills on the tiny model.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import math
import os
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor as protobuf_descriptor
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.buf.validate import validate_pb2
from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.api.identity.v1 import identity_service_pb2 as identity_pb
from likeness.generator.serve_app import APP_NAME
from likeness.rpc.auth import Principal, Role
from likeness.sdk import AsyncAssetsClient, AsyncGeneratorClient, AsyncIdentityClient
from tests.assets_support import (
    C2PA,
    JPEG,
    MP4,
    PNG,
    WEBP,
    add_identity,
    consenting_character,
    create_brand,
    create_character,
    record_consent,
    sha256,
    unit_vector,
    upload,
)
from tests.fixtures.identity import encode, letterbox, make_mp4, png_claiming, t1_person
from tests.integration.generator_support import shot, submission
from tests.integration.test_assets_generated import record_request, usage

BRAND = "fuzz"
RIVAL = "rival"

SERVICES = {
    "identity": identity_pb.DESCRIPTOR.services_by_name["IdentityService"],
    "assets": assets_pb.DESCRIPTOR.services_by_name["AssetsService"],
    "generator": generator_pb.DESCRIPTOR.services_by_name["GeneratorService"],
}
#: gRPC's default limit on the metadata a client receives (grpc.max_metadata_size).
DEFAULT_METADATA_LIMIT = 16 * 1024
FAILING_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}

#: Deadlines far above what a healthy call takes here, so that running into one means a hung server.
DEADLINE_S = 30.0
SLOW_DEADLINE_S = {"EncodeIdentity": 90.0, "ScoreVideo": 90.0, "SynthesizeReference": 120.0}
#: Calls that change or remove pool entries for good: they get ids of their own (``Pool.spare_*``), so
#: that the other calls keep finding live characters and consents.
DESTRUCTIVE = {"ArchiveCharacter", "EraseCharacter", "RevokeConsent"}
#: Run last, so that whatever they break cannot hide anything from the others.
LAST = ("CancelJob", "ArchiveCharacter", "RevokeConsent", "EraseCharacter")


@dataclass(frozen=True)
class Budget:
    """Generated calls per RPC (structured and raw together)."""

    per_rpc: int
    minimum_total: int


DEFAULT_BUDGET = Budget(per_rpc=40, minimum_total=0)
LONG_BUDGET = Budget(per_rpc=290, minimum_total=10_000)


# ---- values ------------------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\r\n",
    "\x7f\x1b[31m\x07",
    "\u202eevil\u202c",
    "\u200b\u200c\u200d",
    "\ufeff",
    "\uffff\ufffe",
    "\U0010ffff",
    "e\u0301\u0301\u0301",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\u0130\u0131\u00df\ufb01",
    "\uff21\uff22",
    "\u2028\u2029\u0085",
    "' OR '1'='1",
    "'; DROP TABLE assets.characters; --",
    "%",
    "_",
    "\\",
    "%s%n%x",
    "${jndi:ldap://x/a}",
    "../../../../etc/passwd",
    "<script>alert(1)</script>",
    "null",
    "NaN",
    "-1",
    "1e999",
    "9" * 40,
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "not-a-uuid",
    "WORLD",
    "world",
    "ZZ",
]
LONG_PIECES = ["a", "\u00e9", "\U0001f600", "\u0301", "ab\x00", "-"]
LONG_LENGTHS = [129, 201, 256, 2_001, 65_537, 1_048_577]
UUID_VARIANTS: list[Callable[[str], str]] = [
    str.upper,
    lambda value: "{" + value + "}",
    lambda value: value.replace("-", ""),
    lambda value: "urn:uuid:" + value,
    lambda value: value + "\n",
    lambda value: value + "\x00",
    lambda value: value[:-1],
    lambda value: " " + value,
]
UPDATE_PATHS = [
    "display_name",
    "description",
    "declared_attributes",
    "declared_attributes.age_range",
    "declared_attributes.gender",
    "declared_attributes.tags",
]
AUDIT_ACTIONS = [
    "character.create",
    "character.erase",
    "consent.check",
    "identity_version.read",
    "likeness.search",
    "object.upload",
]
#: Values for int fields whose rule is a CEL expression (not readable as a range).
CEL_INT_HINTS = {"num_frames": [0, 5, 9, 17, 81, 161], "fps": [0, 8, 16, 30]}
#: Which objects an ``..._object_id`` field wants, by a word in its name.
OBJECT_HINTS = {
    "reference_photo": "photo",
    "evidence": "evidence",
    "clip": "clip",
    "video": "clip",
    "manifest": "manifest",
}
VERSION_FIELDS = {"version", "identity_version", "current_identity_version"}

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_RULE_KINDS = {
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "sint64",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_FIXED64: "fixed64",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_DOUBLE: "double",
}
_FLOAT32_MAX = 3.4028234663852886e38
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, -0.0, _FLOAT32_MAX, -_FLOAT32_MAX, 1.4e-45, 1e-40]
#: Timestamp and Duration seconds and nanos at and just past the documented ranges, and at int ends.
EDGE_SECONDS = [
    -(2**63),
    -62_135_596_801,
    -62_135_596_800,
    -1,
    0,
    253_402_300_799,
    253_402_300_800,
    315_576_000_000,
    315_576_000_001,
    2**63 - 1,
]
EDGE_NANOS = [-(2**31), -1, 0, 1, 999_999_999, 1_000_000_000, 2**31 - 1]


@dataclass
class Pool:
    """Real values from the seeded brands, for the fields that name things."""

    characters: list[str] = field(default_factory=list)
    spare_characters: list[str] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    spare_consents: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    #: The objects by what they hold: "photo", "evidence", "clip", "manifest".
    objects_by_kind: dict[str, list[str]] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    generated_assets: list[str] = field(default_factory=list)
    etags: list[str] = field(default_factory=list)
    page_tokens: list[str] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    sha256s: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    embeddings: list[list[float]] = field(default_factory=list)
    model_packs: list[str] = field(default_factory=lambda: ["buffalo_l"])
    #: Ids of the rival brand: for the main brand's tokens they must look exactly like unknown ids.
    foreign: list[str] = field(default_factory=list)

    def strings_for(self, name: str, destructive: bool, service: str) -> list[str]:
        """Real values for a string field, by its name ([] when it names nothing known)."""
        if name == "character_id":
            return self.spare_characters if destructive else self.characters
        if name == "consent_id":
            return self.spare_consents if destructive else self.consents
        if name.endswith(("object_id", "object_ids")):
            for hint, kind in OBJECT_HINTS.items():
                if hint in name and self.objects_by_kind.get(kind):
                    return self.objects_by_kind[kind]
            return self.objects
        if name == "job_id":
            return self.jobs
        if name == "generated_asset_id":
            return self.generated_assets
        if name == "brand_id":
            return [BRAND, RIVAL, "ghost"]
        if name == "target_id":
            return self.characters + self.objects + self.consents
        if name == "etag":
            return self.etags
        if name == "page_token":
            return self.page_tokens
        if name == "idempotency_key":
            return self.idempotency_keys
        if name in ("model_pack_id", "scoring_model_pack_id"):
            # The identity service refuses any pack but its own; the registry stores any name.
            return self.model_packs[1:] if service == "identity" else self.model_packs
        if name.endswith("sha256"):
            return self.sha256s
        if name in ("territory", "territories"):
            return ["DE", "FR", "US", "WORLD"]
        if name == "action":
            return AUDIT_ACTIONS
        if name == "target_type":
            return ["character", "object", "consent", "identity_version"]
        if name == "actor_subject":
            return self.subjects
        if name in ("declared_content_type", "content_type"):
            return ["image/jpeg", "image/png", "image/webp", "video/mp4", "application/c2pa"]
        return []


@dataclass(frozen=True)
class Samples:
    """Media: real files (a face, a short MP4 of faces) and broken ones."""

    valid: tuple[bytes, ...]
    broken: tuple[bytes, ...]
    images: tuple[bytes, ...]
    videos: tuple[bytes, ...]

    @classmethod
    def make(cls) -> Samples:
        face = letterbox(t1_person(0), 160)
        other = letterbox(t1_person(3), 160)
        face_png = encode(face, "PNG")
        face_jpeg = encode(face, "JPEG", quality=80)
        clip = make_mp4([face, face, other, other])
        images = (face_jpeg, face_png, encode(other, "WEBP"), JPEG, PNG, WEBP)
        videos = (clip, MP4)
        valid = (*images, *videos, C2PA)
        broken = (
            face_jpeg[: len(face_jpeg) // 2],
            face_png[:100],
            clip[: len(clip) // 3],
            clip[:64] + bytes(512),
            _flip(face_jpeg, len(face_jpeg) // 3),
            _flip(clip, len(clip) // 2),
            png_claiming(100_000, 100_000),
            png_claiming(0, 0),
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff",
            b"\x00\x00\x00\x18ftypmp42",
            b"RIFF\xff\xff\xff\xffWEBPVP8 ",
            bytes(2 * 1024 * 1024),
        )
        return cls(valid, broken, images, videos)


#: A field left unset.
ABSENT = object()


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, chosen in proportion to its weight (the first when shrinking).

    ``st.one_of`` with a strategy repeated does not weigh it: Hypothesis steers away from branches whose
    few values it has already tried (a small pool of real ids), so they come up far less than listed.
    """
    # Hypothesis favours the ends of an integer range; a wide range keeps that from skewing the weights.
    scale = 25
    total = scale * sum(weight for weight, _ in options)

    def choose(selector: int) -> st.SearchStrategy[Any]:
        for weight, strategy in options:
            if selector < weight * scale:
                return strategy
            selector -= weight * scale
        raise AssertionError(selector)

    return st.integers(0, total - 1).flatmap(choose)


def _flip(data: bytes, position: int, mask: int = 0xFF) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def _rules(field_descriptor: FieldDescriptor) -> Any:
    options = field_descriptor.GetOptions()
    return options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None


def _typed_rules(rules: Any, kind: str) -> Any:
    return getattr(rules, kind) if rules is not None and rules.WhichOneof("type") == kind else None


def _is_map(field_descriptor: FieldDescriptor) -> bool:
    message_type = field_descriptor.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _real_oneofs(descriptor: protobuf_descriptor.Descriptor) -> list[Any]:
    """Oneofs the .proto declares (not the synthetic ones of proto3 ``optional`` fields)."""
    return [
        oneof
        for oneof in descriptor.oneofs
        if not (len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}")
    ]


def _unit(seed_value: int) -> list[float]:
    return unit_vector(seed_value)


def _near(base: Sequence[float], seed_value: int) -> list[float]:
    rng = random.Random(seed_value)
    values = [value + rng.gauss(0.0, 0.01) for value in base]
    norm = math.sqrt(sum(value * value for value in values))
    return [value / norm for value in values]


def _spoiled(vector: Sequence[float], index: int, value: float) -> list[float]:
    spoiled = list(vector)
    spoiled[index % len(spoiled)] = value
    return spoiled


# The message-level CEL rules of the contracts, which a generator cannot read, kept by hand: a conforming
# request is passed through its type's fixup after it is drawn.


def _fix_storyboard(board: Any) -> Any:
    for later in board.shots[1:]:
        later.resolution = board.shots[0].resolution
        later.fps = board.shots[0].fps
    if board.stitching.HasField("crossfade_duration"):
        board.stitching.transition = generator_pb.TRANSITION_CROSSFADE
    return board


def _one_entry_per_character(characters: Any) -> None:
    """Keep the first entry of each character in a repeated field (the contracts refuse repeats)."""
    seen: set[str] = set()
    kept = []
    for character in characters:
        if character.character_id not in seen:
            seen.add(character.character_id)
            kept.append(character)
    del characters[:]
    characters.extend(kept)


def _fix_shot(shot_message: Any) -> Any:
    if shot_message.preset == generator_pb.SPEED_PRESET_DRAFT:
        shot_message.ClearField("guidance_scale")
        shot_message.num_inference_steps = 0
    _one_entry_per_character(shot_message.characters)
    return shot_message


def _fix_shot_character(character: Any) -> Any:
    if character.HasField("reference_conditioning_scale"):
        character.use_reference_images = True
    return character


def _fix_region(region: Any) -> Any:
    if region.x + region.width > 1.0:
        region.x, region.width = min(region.x, 0.5), min(region.width, 0.5)
    if region.y + region.height > 1.0:
        region.y, region.height = min(region.y, 0.5), min(region.height, 0.5)
    return region


def _fix_score_video(request: Any) -> Any:
    for index, identity in enumerate(request.identities):
        identity.label = f"{identity.label[:190]}#{index}"
    return request


def _fix_add_identity_version(request: Any) -> Any:
    reports = list(request.quality.photo_reports)[: len(request.reference_photo_object_ids)]
    while len(reports) < len(request.reference_photo_object_ids):
        reports.append(assets_pb.PhotoQualityReport(accepted=True, face_count=1))
    for index, report in enumerate(reports):
        report.index = index
    del request.quality.photo_reports[:]
    request.quality.photo_reports.extend(reports)
    return request


def _later(first: Any, second: Any) -> None:
    """Make the Timestamp ``second`` later than ``first`` (swapping them when it is not); now and then
    only just later: a nanosecond, just under or at a microsecond (PostgreSQL keeps microseconds)."""
    if (second.seconds, second.nanos) <= (first.seconds, first.nanos):
        first_copy = timestamp_pb2.Timestamp(seconds=first.seconds, nanos=first.nanos)
        first.CopyFrom(second)
        second.CopyFrom(first_copy)
        if (second.seconds, second.nanos) == (first.seconds, first.nanos):
            second.seconds = min(second.seconds + 1, 253_402_300_799)
            first.seconds = second.seconds - 1
    if second.nanos % 2 == 0:
        gap = (1, 999, 1_000)[second.seconds % 3]
        second.seconds, second.nanos = first.seconds, first.nanos + gap
        if second.nanos > 999_999_999:
            second.seconds, second.nanos = second.seconds + 1, second.nanos - 1_000_000_000


def _fix_record_consent(request: Any) -> Any:
    if request.HasField("valid_until"):
        _later(request.valid_from, request.valid_until)
    return request


def _fix_list_audit_events(request: Any) -> Any:
    if request.HasField("start_time") and request.HasField("end_time"):
        _later(request.start_time, request.end_time)
    return request


def _fix_verify_audit_chain(request: Any) -> Any:
    if request.to_sequence and request.to_sequence < request.from_sequence:
        request.from_sequence, request.to_sequence = request.to_sequence, request.from_sequence
    return request


def _fix_record_generated_asset(request: Any) -> Any:
    for index, generated_shot in enumerate(request.shots):
        generated_shot.shot_index = index
    _one_entry_per_character(request.characters)
    return request


def _fix_age_range(age_range: Any) -> Any:
    if age_range.min_years > age_range.max_years:
        age_range.min_years, age_range.max_years = age_range.max_years, age_range.min_years
    return age_range


def _fix_update_character(request: Any) -> Any:
    if "display_name" in request.update_mask.paths and not request.display_name:
        request.display_name = "Renamed"
    return request


CEL_FIXUPS: dict[str, Callable[[Any], Any]] = {
    "likeness.generator.v1.Storyboard": _fix_storyboard,
    "likeness.generator.v1.Shot": _fix_shot,
    "likeness.generator.v1.ShotCharacter": _fix_shot_character,
    "likeness.generator.v1.ScreenRegion": _fix_region,
    "likeness.identity.v1.ScoreVideoRequest": _fix_score_video,
    "likeness.assets.v1.AddIdentityVersionRequest": _fix_add_identity_version,
    "likeness.assets.v1.RecordConsentRequest": _fix_record_consent,
    "likeness.assets.v1.ListAuditEventsRequest": _fix_list_audit_events,
    "likeness.assets.v1.VerifyAuditChainRequest": _fix_verify_audit_chain,
    "likeness.assets.v1.RecordGeneratedAssetRequest": _fix_record_generated_asset,
    "likeness.assets.v1.AgeRange": _fix_age_range,
    "likeness.assets.v1.UpdateCharacterRequest": _fix_update_character,
}


class Strategies:
    """Hypothesis strategies for the request messages of one RPC, built from the descriptors."""

    MAX_DEPTH = 5

    def __init__(self, pool: Pool, samples: Samples, destructive: bool, service: str) -> None:
        self.pool = pool
        self.samples = samples
        self.destructive = destructive
        self.service = service
        self._messages: dict[tuple[str, bool, int], st.SearchStrategy[Message]] = {}

    # -- messages --

    def message(
        self, descriptor: protobuf_descriptor.Descriptor, conforming: bool, depth: int = 0
    ) -> st.SearchStrategy[Message]:
        key = (descriptor.full_name, conforming, depth)
        if key not in self._messages:
            self._messages[key] = self._build_message(descriptor, conforming, depth)
        return self._messages[key]

    def _build_message(
        self, descriptor: protobuf_descriptor.Descriptor, conforming: bool, depth: int
    ) -> st.SearchStrategy[Message]:
        message_class = GetMessageClass(descriptor)
        if descriptor.full_name == "google.protobuf.Timestamp":
            return self._timestamp(conforming)
        if descriptor.full_name == "google.protobuf.Duration":
            return self._duration(conforming)
        if depth >= self.MAX_DEPTH:
            return st.just(message_class())
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        choices: list[st.SearchStrategy[dict[str, Any]]] = []
        oneofs = _real_oneofs(descriptor) if conforming else []
        in_oneof = {member.name for oneof in oneofs for member in oneof.fields}
        for field_descriptor in descriptor.fields:
            if field_descriptor.name in in_oneof:
                continue
            values = self._field(descriptor, field_descriptor, conforming, depth)
            rules = _rules(field_descriptor)
            # A conforming request sets every field the contract has a rule for (an empty id breaks its
            # uuid rule); a mixed one every scalar and list (the hostile values include the empty
            # ones), while nested messages and oneof members may be left out.
            in_any_oneof = (
                field_descriptor.containing_oneof is not None
                and field_descriptor.containing_oneof.name != f"_{field_descriptor.name}"
            )
            always = rules is not None or (
                not conforming
                and not in_any_oneof
                and (field_descriptor.message_type is None or field_descriptor.is_repeated)
            )
            if always:
                required[field_descriptor.name] = values
            else:
                # Set two times out of three (Hypothesis's own optional keys come up far less often).
                optional[field_descriptor.name] = weighted((2, values), (1, st.just(ABSENT)))
        for oneof in oneofs:
            members = [
                st.fixed_dictionaries({member.name: self._field(descriptor, member, conforming, depth)})
                for member in oneof.fields
            ]
            choices.append(st.one_of(*members))
        fields = st.fixed_dictionaries({**required, **optional})
        if choices:
            fields = st.tuples(fields, *choices).map(
                lambda parts: {k: v for p in parts for k, v in p.items()}
            )
        assembled = fields.map(lambda values: _assemble(message_class, values))
        fix = CEL_FIXUPS.get(descriptor.full_name)
        return assembled.map(fix) if conforming and fix is not None else assembled

    def _timestamp(self, conforming: bool) -> st.SearchStrategy[Message]:
        now = int(time.time())
        valid = st.builds(
            lambda seconds, nanos: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos),
            st.one_of(
                st.integers(now - 86400 * 30, now + 86400 * 30),
                st.sampled_from([-62_135_596_800, 0, 253_402_300_799]),
                st.integers(-62_135_596_800, 253_402_300_799),
            ),
            st.integers(0, 999_999_999),
        )
        if conforming:
            return valid
        edges = st.builds(
            lambda seconds, nanos: timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos),
            st.one_of(st.sampled_from(EDGE_SECONDS), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.sampled_from(EDGE_NANOS), st.integers(-(2**31), 2**31 - 1)),
        )
        return st.one_of(valid, edges)

    def _duration(self, conforming: bool, rules: Any = None) -> st.SearchStrategy[Message]:
        bounds = _typed_rules(rules, "duration")
        if bounds is not None and (bounds.HasField("gte") or bounds.HasField("lte")):
            low = bounds.gte.ToNanoseconds() if bounds.HasField("gte") else 0
            high = bounds.lte.ToNanoseconds() if bounds.HasField("lte") else low + 86_400 * 10**9
            within = st.integers(low, high).map(
                lambda nanos: duration_pb2.Duration(seconds=nanos // 10**9, nanos=nanos % 10**9)
            )
            if conforming:
                return within
            return st.one_of(within, self._duration(False))
        valid = st.one_of(
            st.builds(
                lambda seconds, nanos: duration_pb2.Duration(seconds=seconds, nanos=nanos),
                st.integers(0, 4000),
                st.integers(0, 999_999_999),
            ),
            st.builds(
                lambda seconds, nanos: duration_pb2.Duration(seconds=-seconds, nanos=-nanos),
                st.integers(0, 4000),
                st.integers(0, 999_999_999),
            ),
        )
        if conforming:
            return valid
        edges = st.builds(
            lambda seconds, nanos: duration_pb2.Duration(seconds=seconds, nanos=nanos),
            st.one_of(st.sampled_from(EDGE_SECONDS), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.sampled_from(EDGE_NANOS), st.integers(-(2**31), 2**31 - 1)),
        )
        return st.one_of(valid, edges)

    def _field_mask(
        self, container: protobuf_descriptor.Descriptor, conforming: bool, rules: Any = None
    ) -> st.SearchStrategy[Any]:
        mask_rules = _typed_rules(rules, "field_mask")
        allowed = list(getattr(mask_rules, "in")) if mask_rules is not None else []
        if allowed:
            known = st.lists(st.sampled_from(allowed), min_size=1, max_size=4, unique=True)
            if not conforming:
                known = st.one_of(known, st.lists(self._hostile_text(), max_size=4))
            return known.map(lambda chosen: field_mask_pb2.FieldMask(paths=chosen))
        paths = [f.name for f in container.fields if f.message_type is None or f.name != "update_mask"]
        paths += [
            f"{f.name}.{sub.name}"
            for f in container.fields
            if f.message_type is not None and not f.message_type.full_name.startswith("google.")
            for sub in f.message_type.fields
        ]
        paths = [path for path in paths if path != "update_mask"] or UPDATE_PATHS
        known = st.lists(st.sampled_from(paths), max_size=4)
        if not conforming:
            known = st.one_of(known, st.lists(self._hostile_text(), max_size=4))
        return known.map(lambda chosen: field_mask_pb2.FieldMask(paths=chosen))

    # -- fields --

    def _field(
        self,
        container: protobuf_descriptor.Descriptor,
        field_descriptor: FieldDescriptor,
        conforming: bool,
        depth: int,
    ) -> st.SearchStrategy[Any]:
        rules = _rules(field_descriptor)
        if field_descriptor.message_type is not None and _is_map(field_descriptor):
            entry = field_descriptor.message_type
            keys = self._element(entry, entry.fields_by_name["key"], None, conforming, depth + 1)
            values = self._element(entry, entry.fields_by_name["value"], None, conforming, depth + 1)
            return st.dictionaries(keys, values, max_size=4)
        if not field_descriptor.is_repeated:
            return self._element(container, field_descriptor, rules, conforming, depth)
        repeated = _typed_rules(rules, "repeated")
        item_rules = repeated.items if repeated is not None and repeated.HasField("items") else None
        if "z_id" in field_descriptor.name:
            return self._embedding(conforming)
        element = self._element(container, field_descriptor, item_rules, conforming, depth)
        low = repeated.min_items if repeated is not None and repeated.HasField("min_items") else 0
        high = repeated.max_items if repeated is not None and repeated.HasField("max_items") else 6
        unique = repeated is not None and repeated.unique and field_descriptor.message_type is None
        listed = st.lists(element, min_size=low, max_size=max(low, min(high, 3)), unique=unique)
        if conforming:
            return listed
        hostile_element = self._element(container, field_descriptor, None, False, depth)
        return st.one_of(
            listed,
            st.lists(hostile_element, max_size=8),
            st.builds(lambda item, count: [item] * count, hostile_element, st.sampled_from([high + 1, 1000])),
        )

    def _embedding(self, conforming: bool) -> st.SearchStrategy[list[float]]:
        seeds = st.integers(0, 2**32)
        valid: list[st.SearchStrategy[list[float]]] = [st.builds(_unit, seeds)]
        if self.pool.embeddings:
            valid.append(st.builds(_near, st.sampled_from(self.pool.embeddings), seeds))
        if conforming:
            return st.one_of(*valid)
        return st.one_of(
            *valid,
            st.builds(_spoiled, st.one_of(*valid), st.integers(0, 511), st.sampled_from(SPECIAL_FLOATS)),
            st.builds(
                lambda v, scale: [x * scale for x in v],
                st.builds(_unit, seeds),
                st.sampled_from([0.0, 3.0, 1.0005]),
            ),
            st.builds(
                lambda v, size: (v * 2)[:size],
                st.builds(_unit, seeds),
                st.sampled_from([0, 1, 511, 513, 1024]),
            ),
            st.lists(st.floats(width=32), max_size=8),
        )

    def _element(
        self,
        container: protobuf_descriptor.Descriptor,
        field_descriptor: FieldDescriptor,
        rules: Any,
        conforming: bool,
        depth: int,
    ) -> st.SearchStrategy[Any]:
        """One value of the field (one item, for a repeated field)."""
        kind = field_descriptor.type
        if kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
            well_known = field_descriptor.message_type.full_name
            if well_known == "google.protobuf.FieldMask":
                return self._field_mask(container, conforming, rules)
            if well_known == "google.protobuf.Duration":
                return self._duration(conforming, rules)
            if well_known == "google.protobuf.Timestamp":
                return self._timestamp(conforming)
            if conforming:
                return self.message(field_descriptor.message_type, True, depth + 1)
            return st.one_of(
                self.message(field_descriptor.message_type, True, depth + 1),
                self.message(field_descriptor.message_type, False, depth + 1),
            )
        valid = self._conforming_scalar(field_descriptor, rules)
        if conforming:
            return valid
        # Mostly conforming values, so that a mixed request often breaks one or two fields, not all.
        return weighted((3, valid), (1, self._hostile_scalar(field_descriptor)))

    def _conforming_scalar(self, field_descriptor: FieldDescriptor, rules: Any) -> st.SearchStrategy[Any]:
        kind = field_descriptor.type
        name = field_descriptor.name
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            enum_rules = _typed_rules(rules, "enum")
            numbers = [value.number for value in field_descriptor.enum_type.values]
            if enum_rules is not None:
                allowed_in = list(getattr(enum_rules, "in"))
                if allowed_in:
                    numbers = allowed_in
                numbers = [number for number in numbers if number not in enum_rules.not_in] or numbers
            return st.sampled_from(numbers)
        if kind == FieldDescriptor.TYPE_STRING:
            return self._conforming_text(name, _typed_rules(rules, "string"), rules)
        if kind == FieldDescriptor.TYPE_BYTES:
            if "video" in name:
                return st.sampled_from(self.samples.videos)
            if "image" in name:
                return st.sampled_from(self.samples.images)
            return st.sampled_from(self.samples.valid)
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return self._conforming_float(field_descriptor, _typed_rules(rules, _RULE_KINDS[kind]))
        low, high = _INT_RANGES[kind]
        numeric = _typed_rules(rules, _RULE_KINDS[kind])
        if numeric is not None:
            if numeric.HasField("gte"):
                low = max(low, numeric.gte)
            if numeric.HasField("gt"):
                low = max(low, numeric.gt + 1)
            if numeric.HasField("lte"):
                high = min(high, numeric.lte)
            if numeric.HasField("lt"):
                high = min(high, numeric.lt - 1)
        if name in CEL_INT_HINTS:
            return st.sampled_from(CEL_INT_HINTS[name])
        edges = sorted({value for value in (low, high, 0, 1, 2) if low <= value <= high})
        options = [st.sampled_from(edges), st.integers(low, high)]
        numbers = st.one_of(*options)
        if name in VERSION_FIELDS:
            return weighted((3, st.sampled_from([v for v in (0, 1, 2, 3) if low <= v <= high])), (1, numbers))
        return numbers

    def _conforming_float(self, field_descriptor: FieldDescriptor, numeric: Any) -> st.SearchStrategy[float]:
        width = 32 if field_descriptor.type == FieldDescriptor.TYPE_FLOAT else 64
        low = high = None
        exclude_low = exclude_high = False
        if numeric is not None:
            if numeric.HasField("gte"):
                low = numeric.gte
            if numeric.HasField("gt"):
                low, exclude_low = numeric.gt, True
            if numeric.HasField("lte"):
                high = numeric.lte
            if numeric.HasField("lt"):
                high, exclude_high = numeric.lt, True
        if low is None and high is None:
            return st.one_of(
                st.floats(0.0, 1.0, width=width),
                st.floats(width=width, allow_nan=False, allow_infinity=False),
            )
        return st.floats(
            low, high, width=width, exclude_min=exclude_low, exclude_max=exclude_high, allow_nan=False
        )

    def _conforming_text(self, name: str, rules: Any, field_rules: Any) -> st.SearchStrategy[str]:
        real = self.pool.strings_for(name, self.destructive, self.service)
        if rules is not None and rules.WhichOneof("well_known") == "uuid":
            generated: st.SearchStrategy[str] = weighted(
                (1, st.sampled_from(self.pool.foreign or ["x"])), (1, st.uuids().map(str))
            )
        elif rules is not None and list(getattr(rules, "in")):
            generated = st.sampled_from(list(getattr(rules, "in")))
        else:
            low = rules.min_len if rules is not None and rules.HasField("min_len") else 0
            high = rules.max_len if rules is not None and rules.HasField("max_len") else 2_000
            if rules is not None and rules.pattern:
                generated = st.from_regex(rules.pattern, fullmatch=True).filter(
                    lambda text: low <= len(text) <= high
                )
            else:
                alphabet = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
                generated = weighted(
                    (4, st.text(alphabet, min_size=low, max_size=max(low, min(high, 40)))),
                    (
                        1,
                        st.sampled_from(["a", "\u00e9", "\U0001f600"]).map(
                            lambda piece: (piece * high)[:high]
                        ),
                    ),
                )
        if name in ("page_token", "etag"):
            # Empty (the first page; no etag check) most of the time: a used etag or token is stale or
            # belongs to another listing.
            return weighted((2, st.just("")), (1, st.sampled_from(real or [""])), (1, generated))
        if field_rules is not None and field_rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE:
            generated = weighted((1, st.just("")), (2, generated))
        if not real:
            return generated
        # Mostly real values, so that most calls get past the not-found checks (even with several ids in
        # one request), but a used idempotency key only now and then: it answers ALREADY_EXISTS first.
        return weighted((1 if name == "idempotency_key" else 7, st.sampled_from(real)), (1, generated))

    def _hostile_text(self) -> st.SearchStrategy[str]:
        ids = self.pool.characters + self.pool.objects + self.pool.consents + self.pool.jobs
        return st.one_of(
            st.sampled_from(HOSTILE_STRINGS),
            st.builds(
                lambda piece, count: piece * count,
                st.sampled_from(LONG_PIECES),
                st.sampled_from(LONG_LENGTHS),
            ),
            st.text(max_size=60),
            st.builds(
                lambda value, variant: variant(value), st.sampled_from(ids), st.sampled_from(UUID_VARIANTS)
            ),
            st.builds(
                _forged_token, st.sampled_from(self.pool.page_tokens or ["x.y"]), st.integers(0, 2**16)
            ),
        )

    def _hostile_scalar(self, field_descriptor: FieldDescriptor) -> st.SearchStrategy[Any]:
        kind = field_descriptor.type
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_ENUM:
            return st.one_of(st.sampled_from([-1, 2**31 - 1, -(2**31), 99]), st.integers(-(2**31), 2**31 - 1))
        if kind == FieldDescriptor.TYPE_STRING:
            return self._hostile_text()
        if kind == FieldDescriptor.TYPE_BYTES:
            magic = st.sampled_from(
                [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\x18ftypmp42", b""]
            )
            return st.one_of(
                st.sampled_from(self.samples.broken),
                st.binary(max_size=256),
                st.builds(lambda head, body: head + body, magic, st.binary(max_size=512)),
            )
        if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            width = 32 if kind == FieldDescriptor.TYPE_FLOAT else 64
            return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(width=width))
        low, high = _INT_RANGES[kind]
        edges = sorted(
            {value for value in (low, high, -1, 0, 1, 2**31 - 1, 2**31, 2**32 - 1) if low <= value <= high}
        )
        return st.one_of(st.sampled_from(edges), st.integers(low, high))

    # -- requests --

    def requests(
        self, method: protobuf_descriptor.MethodDescriptor
    ) -> st.SearchStrategy[tuple[Message, ...]]:
        """The messages of one call: one, or a short stream for a client-streaming RPC."""
        input_type = method.input_type
        one = st.one_of(self.message(input_type, True), self.message(input_type, False))
        if not method.client_streaming:
            return one.map(lambda message: (message,))
        hostile_stream = st.lists(one, max_size=6).map(tuple)
        if input_type.full_name != assets_pb.UploadObjectRequest.DESCRIPTOR.full_name:
            return hostile_stream
        header = self.message(assets_pb.UploadObjectHeader.DESCRIPTOR, True)
        data = st.one_of(st.sampled_from(self.samples.valid), st.sampled_from(self.samples.broken))
        upload_stream = st.builds(
            _upload_stream, header, data, st.lists(st.integers(0, 1 << 20), max_size=4), st.booleans()
        )
        return weighted((2, upload_stream), (1, hostile_stream))


def _assemble(message_class: type[Message], values: dict[str, Any]) -> Message:
    message = message_class()
    descriptor = message.DESCRIPTOR
    for name, value in values.items():
        if value is ABSENT:
            continue
        field_descriptor = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if _is_map(field_descriptor):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field_descriptor.is_repeated:
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _upload_stream(header: Any, data: bytes, cuts: list[int], honest: bool) -> tuple[Message, ...]:
    if honest:
        header = assets_pb.UploadObjectHeader(purpose=header.purpose, filename_hint=header.filename_hint)
        if data:
            header.declared_size_bytes = len(data)
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    chunks = [data[start:end] for start, end in itertools.pairwise(points) if end > start]
    return (
        assets_pb.UploadObjectRequest(header=header),
        *(assets_pb.UploadObjectRequest(chunk=chunk) for chunk in chunks),
    )


def _forged_token(token: str, noise: int) -> str:
    """A page token someone edited: a flipped character, the halves swapped or cut, re-encoded, ..."""
    body, _, signature = token.partition(".")
    rng = random.Random(noise)
    match noise % 8:
        case 0:
            position = rng.randrange(max(1, len(body)))
            return (
                body[:position]
                + ("A" if body[position : position + 1] != "A" else "B")
                + body[position + 1 :]
                + "."
                + signature
            )
        case 1:
            return signature + "." + body
        case 2:
            return body
        case 3:
            return token + "." + signature
        case 4:  # the same bytes in standard base64 (with + and /) instead of the URL-safe alphabet
            return body.replace("-", "+").replace("_", "/") + "=" * (-len(body) % 4) + "." + signature
        case 5:
            return (
                base64.urlsafe_b64encode(
                    b'{"p":{"t":"9999-99-99","id":"x","after":-1,"v":"x"},"f":"0"}'
                ).decode()
                + "."
                + signature
            )
        case 6:
            return token[: rng.randrange(max(1, len(token)))]
        case _:
            return token + "=" * rng.randrange(1, 4)


# ---- malformed bytes ---------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


def _string_paths(descriptor: protobuf_descriptor.Descriptor, depth: int = 0) -> list[list[FieldDescriptor]]:
    """Paths (lists of fields) from the message to each string field, through nested messages."""
    paths: list[list[FieldDescriptor]] = []
    for field_descriptor in descriptor.fields:
        if field_descriptor.type == FieldDescriptor.TYPE_STRING:
            paths.append([field_descriptor])
        elif (
            field_descriptor.type == FieldDescriptor.TYPE_MESSAGE
            and depth < 3
            and not _is_map(field_descriptor)
        ):
            paths += [
                [field_descriptor, *rest] for rest in _string_paths(field_descriptor.message_type, depth + 1)
            ]
    return paths


def _invalid_utf8_at(path: list[FieldDescriptor], garbage: bytes) -> bytes:
    payload = _delimited(path[-1].number, garbage)
    for outer in reversed(path[:-1]):
        payload = _delimited(outer.number, payload)
    return payload


@st.composite
def malformed(
    draw: st.DrawFn, descriptor: protobuf_descriptor.Descriptor, valid: st.SearchStrategy[Message]
) -> bytes:
    """Bytes that are not a valid ``descriptor`` message, or valid only in odd ways."""
    data = draw(valid).SerializeToString()
    numbers = [f.number for f in descriptor.fields] or [1]
    number = draw(st.sampled_from(numbers))
    mutation = draw(
        st.sampled_from(
            ["utf8", "truncate", "flip", "wire", "varint", "length", "groups", "garbage", "unknown", "packed"]
        )
    )
    if mutation == "utf8":
        paths = _string_paths(descriptor)
        garbage = draw(
            st.sampled_from(
                [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xfe\xfd", b"\xc0\x80"]
            )
        )
        if paths:
            return data + _invalid_utf8_at(draw(st.sampled_from(paths)), garbage)
        return data + _delimited(number, garbage)
    if mutation == "truncate" and len(data) > 1:
        return data[: draw(st.integers(1, len(data) - 1))]
    if mutation == "flip" and data:
        return _flip(data, draw(st.integers(0, len(data) - 1)), draw(st.integers(1, 255)))
    if mutation == "wire":
        wire = draw(st.sampled_from([0, 1, 2, 3, 5, 6, 7]))
        body = {0: _varint(7), 1: bytes(8), 2: _varint(3) + b"abc", 3: b"", 5: bytes(4)}.get(wire, b"")
        return data + _tag(number, wire) + body
    if mutation == "varint":
        return data + _tag(number, 0) + b"\xff" * draw(st.integers(10, 12)) + b"\x01"
    if mutation == "length":
        return (
            data + _tag(number, 2) + _varint(draw(st.sampled_from([2**31, 2**32 - 1, 2**63, 1000]))) + b"abc"
        )
    if mutation == "groups":
        depth = draw(st.sampled_from([50, 101, 1_000, 10_000]))
        closed = draw(st.booleans())
        return data + _tag(1000, 3) * depth + (_tag(1000, 4) * depth if closed else b"")
    if mutation == "unknown":
        return (
            data
            + _delimited(draw(st.integers(1000, 536_870_911)), draw(st.binary(max_size=32)))
            + _tag(999, 0)
            + _varint(-1)
        )
    if mutation == "packed":
        return data + _delimited(number, draw(st.binary(min_size=1, max_size=13)))
    return draw(st.binary(max_size=64))


# ---- calls -------------------------------------------------------------------------------------------


def _compact(value: Any, limit: int = 60) -> str:
    if isinstance(value, Message):
        parts = []
        for field_descriptor, item in value.ListFields():
            if _is_map(field_descriptor):
                parts.append(f"{field_descriptor.name}={{{len(item)} entries}}")
            elif field_descriptor.is_repeated:
                shown = ", ".join(_compact(x, limit) for x in list(item)[:4])
                more = f", ... {len(item)} items" if len(item) > 4 else ""
                parts.append(f"{field_descriptor.name}=[{shown}{more}]")
            else:
                parts.append(f"{field_descriptor.name}={_compact(item, limit)}")
        return f"{value.DESCRIPTOR.name}({', '.join(parts)})"
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}...(len {len(value)})"
    return repr(value)


@dataclass(frozen=True)
class Case:
    """One generated call: the messages (or raw bytes) and who sends them."""

    method: protobuf_descriptor.MethodDescriptor
    messages: tuple[Message, ...]
    raw: tuple[bytes, ...] | None
    brand: str
    role: Role
    request_id: str | None

    def payloads(self) -> list[bytes]:
        if self.raw is not None:
            return list(self.raw)
        return [message.SerializeToString() for message in self.messages]

    def __repr__(self) -> str:
        sent = (
            ", ".join(_compact(chunk, 120) for chunk in self.raw)
            if self.raw is not None
            else ", ".join(_compact(message) for message in self.messages)
        )
        return (
            f"{self.method.name}[{'raw ' if self.raw is not None else ''}{sent}] "
            f"as {self.role.name} of {self.brand!r}, x-request-id={self.request_id!r}"
        )


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str
    request_id: str
    responses: int
    #: Size of the status message and trailing metadata; over 16 KiB most clients cannot read them.
    trailer_bytes: int


class ServerErrors(logging.Handler):
    """What the in-process servers log with a traceback (or at ERROR): shown with a failing call, and
    counted for the summary when a call that answered well had swallowed one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._records: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.swallowed: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR and not record.exc_info:
            return
        text = f"{record.name}: {record.getMessage()}"
        headline = text
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            error = record.exc_info[1]
            headline += f" ({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''})"
        with self._lock:
            self._records.append((text, headline))

    def take(self, method: str = "", failed: bool = True) -> list[str]:
        with self._lock:
            taken, self._records = self._records, []
        if not failed:
            self.swallowed.update(f"{method}: {headline}" for _, headline in taken)
        return [text for text, _ in taken]


@dataclass
class Stats:
    structured: Counter[str] = field(default_factory=Counter)
    raw: Counter[str] = field(default_factory=Counter)
    codes: dict[str, Counter[str]] = field(default_factory=dict)
    oversized: Counter[str] = field(default_factory=Counter)

    def record(self, service: str, case: Case, outcome: Outcome) -> None:
        (self.raw if case.raw is not None else self.structured)[service] += 1
        self.codes.setdefault(case.method.name, Counter())[outcome.code.name] += 1
        if outcome.trailer_bytes > DEFAULT_METADATA_LIMIT:
            self.oversized[f"{case.method.name} {outcome.code.name}"] += 1

    def total(self, service: str | None = None) -> int:
        if service is None:
            return sum(self.structured.values()) + sum(self.raw.values())
        return self.structured[service] + self.raw[service]


class Caller:
    """Blocking gRPC calls to the three services, with a token per (brand, role)."""

    def __init__(self, targets: dict[str, str], tokens: dict[tuple[str, Role], str]) -> None:
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # Far above gRPC's default 16 KiB, so that an oversized error status is still read (and
            # counted in the summary) instead of turning into RESOURCE_EXHAUSTED on the client.
            ("grpc.max_metadata_size", 8 * 1024 * 1024),
        ]
        self.channels = {
            service: grpc.insecure_channel(target, options=options) for service, target in targets.items()
        }
        self.tokens = tokens

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def call(self, service: str, case: Case) -> Outcome:
        method = case.method
        path = f"/{SERVICES[service].full_name}/{method.name}"
        response_class = GetMessageClass(method.output_type)
        metadata = [("authorization", f"Bearer {self.tokens[(case.brand, case.role)]}")]
        if case.request_id is not None:
            metadata.append(("x-request-id", case.request_id))
        timeout = SLOW_DEADLINE_S.get(method.name, DEADLINE_S)
        channel = self.channels[service]
        payloads = case.payloads()
        responses = 0
        try:
            if method.client_streaming:
                stream_unary = channel.stream_unary(
                    path, request_serializer=None, response_deserializer=response_class.FromString
                )
                _, call = stream_unary.with_call(iter(payloads), timeout=timeout, metadata=metadata)
                responses = 1
            elif method.server_streaming:
                unary_stream = channel.unary_stream(
                    path, request_serializer=None, response_deserializer=response_class.FromString
                )
                call = unary_stream(payloads[0], timeout=timeout, metadata=metadata)
                for _ in call:
                    responses += 1
            else:
                unary_unary = channel.unary_unary(
                    path, request_serializer=None, response_deserializer=response_class.FromString
                )
                _, call = unary_unary.with_call(payloads[0], timeout=timeout, metadata=metadata)
                responses = 1
        except grpc.RpcError as error:
            call = error  # type: ignore[assignment]
        trailing = call.trailing_metadata() or ()
        request_id = str(dict(trailing).get("x-request-id", ""))
        details = call.details() or ""
        trailer_bytes = len(details.encode()) + sum(len(key) + len(value) for key, value in trailing)
        return Outcome(call.code(), details, request_id, responses, trailer_bytes)


def _cases(
    service: str, method: protobuf_descriptor.MethodDescriptor, pools: dict[str, Pool], samples: Samples
) -> st.SearchStrategy[Case]:
    """Calls of ``method`` as either brand (mostly the main one), each with its own brand's ids."""
    accepted = st.sampled_from(_accepted_roles(service, method))
    # Mostly a role the RPC accepts; now and then any (refusals are audited, with the request).
    roles = weighted((3, accepted), (1, st.sampled_from(list(Role))))
    request_ids = st.one_of(
        st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
    )
    by_brand = {}
    for brand, pool in pools.items():
        strategies = Strategies(pool, samples, method.name in DESTRUCTIVE, service)
        structured = strategies.requests(method)
        element = st.one_of(
            strategies.message(method.input_type, True), strategies.message(method.input_type, False)
        )
        one_raw = malformed(method.input_type, element)
        raw: st.SearchStrategy[tuple[bytes, ...]] = (
            st.lists(
                st.one_of(one_raw, element.map(lambda m: m.SerializeToString())), min_size=1, max_size=4
            ).map(tuple)
            if method.client_streaming
            else one_raw.map(lambda payload: (payload,))
        )
        # Three structured calls to one of raw bytes.
        sent = weighted(
            (3, structured.map(lambda messages: (messages, None))),
            (1, raw.map(lambda payloads: ((), payloads))),
        )
        by_brand[brand] = st.builds(
            lambda parts, role, request_id, brand=brand: Case(
                method, parts[0], parts[1], brand, role, request_id
            ),
            sent,
            roles,
            request_ids,
        )
    return weighted((3, by_brand[BRAND]), (1, by_brand[RIVAL]))


def _accepted_roles(service: str, method: protobuf_descriptor.MethodDescriptor) -> list[Role]:
    """The roles the service's access rule for ``method`` lets in."""
    from likeness.assets.server import ROLES as ASSETS_ROLES
    from likeness.generator.server import ROLES as GENERATOR_ROLES
    from likeness.identity.server import ROLES as IDENTITY_ROLES

    rules = {"identity": IDENTITY_ROLES, "assets": ASSETS_ROLES, "generator": GENERATOR_ROLES}[service]
    rule = rules[f"/{SERVICES[service].full_name}/{method.name}"]
    required = rule if isinstance(rule, frozenset) else frozenset({rule})
    return [
        role
        for role in Role
        if any(Principal("fuzz", BRAND, frozenset({role})).has(needed) for needed in required)
    ]


@dataclass
class Fuzz:
    caller: Caller
    pools: dict[str, Pool]
    samples: Samples
    stats: Stats
    errors: ServerErrors
    seed_value: int
    budget: Budget

    def methods(self) -> Iterator[tuple[str, protobuf_descriptor.MethodDescriptor]]:
        every = [
            (service, method) for service, descriptor in SERVICES.items() for method in descriptor.methods
        ]
        yield from (pair for pair in every if pair[1].name not in LAST)
        for name in LAST:
            yield from (pair for pair in every if pair[1].name == name)

    def run(self) -> list[str]:
        """Every RPC in turn; the failures (hypothesis's report of each), not raised."""
        failures = []
        for service, method in self.methods():
            failure = self.run_method(service, method)
            if failure is not None:
                failures.append(failure)
        return failures

    def run_method(self, service: str, method: protobuf_descriptor.MethodDescriptor) -> str | None:

        @seed(self.seed_value)
        @settings(
            max_examples=self.budget.per_rpc,
            database=None,
            deadline=None,
            print_blob=False,
            # Each example is a real call (milliseconds to seconds), and some requests are large on
            # purpose (1 MiB strings, 512-float embeddings); neither is a problem of the strategies.
            # (No function_scoped_fixture to suppress: the servers are set up once, outside @given.)
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(_cases(service, method, self.pools, self.samples))
        def survives(case: Case) -> None:
            self.errors.take(method.name, failed=False)  # logged between calls: counted, not shown
            note(f"request: {case!r}")
            outcome = self.caller.call(service, case)
            self.stats.record(service, case, outcome)
            failed = outcome.code in FAILING_CODES
            logged = self.errors.take(method.name, failed)
            if failed:
                note(
                    f"server log for request {outcome.request_id}:\n"
                    + ("\n".join(logged) or "(nothing logged)")
                )
                raise AssertionError(
                    f"{SERVICES[service].full_name}/{method.name} answered {outcome.code.name}: "
                    f"{outcome.details!r} (request id {outcome.request_id})"
                )

        try:
            survives()
        except Exception as error:  # noqa: BLE001 — every RPC runs; each failure is reported at the end
            # Hypothesis prints the failing request in full; a 1 MiB string is cut to its start.
            report = "\n".join(
                line if len(line) <= 2_000 else f"{line[:2_000]}... ({len(line)} characters)"
                for line in "".join(traceback.format_exception(error)).splitlines()
            )
            return f"=== {method.name} (LIKENESS_FUZZ_SEED={self.seed_value}) ===\n{report}"
        return None


# ---- the seeded brands -------------------------------------------------------------------------------


async def _page_tokens(
    assets: AsyncAssetsClient, generator: AsyncGeneratorClient, character_id: str
) -> list[str]:
    pages = [
        await assets.api.ListCharacters(assets_pb.ListCharactersRequest(page_size=1)),
        await assets.api.ListAuditEvents(assets_pb.ListAuditEventsRequest(page_size=1)),
        await assets.api.ListConsents(assets_pb.ListConsentsRequest(character_id=character_id, page_size=1)),
        await assets.api.ListIdentityVersions(
            assets_pb.ListIdentityVersionsRequest(character_id=character_id, page_size=1)
        ),
        await assets.api.ListGeneratedAssets(assets_pb.ListGeneratedAssetsRequest(page_size=1)),
        await generator.api.ListJobs(generator_pb.ListJobsRequest(page_size=1)),
    ]
    return [page.next_page_token for page in pages if page.next_page_token]


async def _cancelled_job(generator: AsyncGeneratorClient, key: str, request_shot: Any) -> str:
    job = (await generator.api.SubmitGeneration(submission(key, request_shot))).job
    await generator.api.CancelJob(generator_pb.CancelJobRequest(job_id=job.job_id))
    return job.job_id


async def seed_brands(
    assets_target: str, generator_target: str, make_token: Any, samples: Samples, model_pack: str
) -> dict[str, Pool]:
    """Two brands with characters in every state, consents, objects, identity versions, a generated
    asset and (cancelled) jobs: each brand's pool, in which the other brand's ids are ``foreign``."""
    pools = {
        BRAND: await _seed_brand(BRAND, assets_target, generator_target, make_token, samples, 11),
        RIVAL: await _seed_brand(RIVAL, assets_target, generator_target, make_token, samples, 77),
    }
    for brand, other in ((BRAND, pools[RIVAL]), (RIVAL, pools[BRAND])):
        pool = pools[brand]
        pool.foreign = other.characters + other.consents + other.objects + other.jobs + other.generated_assets
        pool.embeddings += other.embeddings
        pool.idempotency_keys += other.idempotency_keys
        pool.page_tokens += other.page_tokens  # another brand's tokens are refused like forged ones
        pool.model_packs.append(model_pack)
    return pools


async def _seed_brand(
    brand: str, assets_target: str, generator_target: str, make_token: Any, samples: Samples, face_seed: int
) -> Pool:
    async with (
        AsyncAssetsClient(assets_target, token=make_token(brand=brand)) as admin,
        AsyncAssetsClient(
            assets_target, token=make_token(brand=brand, roles=[Role.SERVICE], subject="generator")
        ) as service,
        AsyncGeneratorClient(
            generator_target, token=make_token(brand=brand, roles=[Role.EDITOR])
        ) as generator,
    ):
        await create_brand(admin, brand)
        mia = await consenting_character(admin, f"Mia {brand}")
        leo = await consenting_character(admin, f"Leo {brand}")
        face = unit_vector(face_seed)
        await add_identity(admin, mia.character_id, face, [mia.photo_id])
        await add_identity(admin, leo.character_id, unit_vector(face_seed + 1), [leo.photo_id])
        await add_identity(admin, leo.character_id, unit_vector(face_seed + 2), [leo.photo_id])
        expired = await record_consent(
            admin,
            leo.character_id,
            leo.evidence,
            valid_from=datetime.now(UTC) - timedelta(days=30),
            valid_until=datetime.now(UTC) - timedelta(days=1),
        )
        archived = await create_character(admin, f"Archived {brand}")
        await admin.api.ArchiveCharacter(
            assets_pb.ArchiveCharacterRequest(character_id=archived.character_id)
        )
        erased = await consenting_character(admin, f"Erased {brand}")
        await admin.api.EraseCharacter(
            assets_pb.EraseCharacterRequest(character_id=erased.character_id, reason="fuzz seed")
        )
        spares = [await consenting_character(admin, f"Spare {index} {brand}") for index in range(3)]
        photo = await upload(admin, samples.images[0], assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO)
        clip = await upload(service, samples.videos[0], assets_pb.OBJECT_PURPOSE_GENERATED_CLIP)
        manifest = await upload(service, C2PA + brand.encode(), assets_pb.OBJECT_PURPOSE_C2PA_MANIFEST)
        seed_job = await _cancelled_job(generator, f"seed-{brand}", shot(steps=2))
        consent_job = await _cancelled_job(
            generator,
            f"seed-mia-{brand}",
            shot(steps=2, characters=[generator_pb.ShotCharacter(character_id=mia.character_id)]),
        )
        asset = await service.api.RecordGeneratedAsset(
            record_request(
                clip.object_id, manifest.object_id, consent_job, [usage(mia.character_id, mia.consent_id)]
            )
        )
        current = await admin.api.GetCharacter(assets_pb.GetCharacterRequest(character_id=mia.character_id))
        await admin.api.CheckConsent(
            assets_pb.CheckConsentRequest(
                character_id=mia.character_id,
                purpose=usage_pb2.USAGE_PURPOSE_ADVERTISING,
                channel=usage_pb2.USAGE_CHANNEL_TV,
                territory="DE",
            )
        )
        return Pool(
            characters=[mia.character_id, leo.character_id, archived.character_id, erased.character_id],
            spare_characters=[spare.character_id for spare in spares],
            consents=[mia.consent_id, leo.consent_id, expired.consent_id, erased.consent_id],
            spare_consents=[spare.consent_id for spare in spares],
            objects=[
                mia.photo_id,
                mia.evidence.object_id,
                photo.object_id,
                clip.object_id,
                manifest.object_id,
                erased.photo_id,
            ],
            objects_by_kind={
                "photo": [mia.photo_id, photo.object_id, leo.photo_id],
                "evidence": [mia.evidence.object_id, leo.evidence.object_id],
                "clip": [clip.object_id],
                "manifest": [manifest.object_id],
            },
            jobs=[seed_job, consent_job],
            generated_assets=[asset.generated_asset.generated_asset_id],
            etags=[current.character.etag],
            page_tokens=await _page_tokens(admin, generator, leo.character_id),
            idempotency_keys=[f"seed-{brand}", f"seed-mia-{brand}"],
            # The evidence objects' hashes (RecordConsent checks the pair), and a hash of nothing.
            sha256s=[mia.evidence.sha256, leo.evidence.sha256, sha256(b"")],
            subjects=["tester", "generator"],
            embeddings=[face],
        )


# ---- the test ----------------------------------------------------------------------------------------


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        return response.status


async def _compare_same(target: str, token: str) -> identity_pb.CompareIdentitiesResponse:
    async with AsyncIdentityClient(target, token=token) as faces:
        return await faces.api.CompareIdentities(
            identity_pb.CompareIdentitiesRequest(first_z_id=unit_vector(5), second_z_id=unit_vector(5))
        )


def _replicas() -> list[str]:
    """Names of the video application's Serve replica actors (a restarted replica gets a new name)."""
    import ray

    return sorted(
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if APP_NAME in actor["name"] and "VideoModel" in actor["name"]
    )


#: What PostgreSQL logs when a backend dies and the postmaster resets every connection.
POSTGRES_CRASH_MARKERS = (
    "terminated by signal",
    "PANIC",
    "all server processes terminated",
    "was terminated by",
)


def _postgres_crashes(log: Path, start: int) -> str:
    """The log lines since ``start`` (with the statements logged before them) that show a PostgreSQL
    crash, or ""."""
    lines = log.read_bytes()[start:].decode(errors="replace").splitlines()
    shown = [
        "\n".join(lines[max(0, index - 3) : index + 2])
        for index, line in enumerate(lines)
        if any(marker in line for marker in POSTGRES_CRASH_MARKERS)
    ]
    return "\n---\n".join(shown)


@contextlib.contextmanager
def _capturing_server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.mark.timeout(3600)  # bounded by the budget; the long run takes many minutes, a hung call 2 at most
async def test_no_generated_request_breaks_a_service(
    request: pytest.FixtureRequest,
    postgres_server: Any,
    video_model: Any,
    assets_server: Any,
    identity_server: Any,
    generator_server: Any,
    make_token: Any,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_run = bool(request.config.getoption("--fuzz-long"))
    budget = LONG_BUDGET if long_run else DEFAULT_BUDGET
    configured = os.environ.get("LIKENESS_FUZZ_SEED")
    seed_value = int(configured) if configured else (random.randrange(2**32) if long_run else 20_260_101)
    samples = Samples.make()
    postgres_log: Path = postgres_server.log
    postgres_log_start = await asyncio.to_thread(lambda: postgres_log.stat().st_size)
    async with (
        assets_server() as assets,
        identity_server(assets_address=f"127.0.0.1:{assets.port}") as identity,
    ):
        async with generator_server(
            assets_address=f"127.0.0.1:{assets.port}",
            identity_address=f"127.0.0.1:{identity.port}",
            serve_app_name=APP_NAME,
            frame_size=(32, 32),
            workers=0,
            max_queued_jobs_per_brand=40,
            watch_poll_s=0.1,
            c2pa_dev_dir=tmp_path / "c2pa",
        ) as generator:
            servers = {"identity": identity, "assets": assets, "generator": generator}
            ports = {name: server.port for name, server in servers.items()}
            targets = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            model_pack = (await _compare_same(targets["identity"], make_token(brand=BRAND))).model_pack_id
            pools = await seed_brands(
                targets["assets"], targets["generator"], make_token, samples, model_pack
            )
            replicas_before = await asyncio.to_thread(_replicas)
            assert replicas_before, "no replica of the video application found to watch"
            tokens = {
                (brand, role): make_token(brand=brand, roles=[role], ttl_seconds=4 * 3600.0)
                for brand in (BRAND, RIVAL)
                for role in Role
            }
            caller = Caller(targets, tokens)
            stats = Stats()
            started = time.monotonic()
            with (
                _capturing_server_errors() as errors,
                ThreadPoolExecutor(1, thread_name_prefix="fuzz") as executor,
            ):
                fuzz = Fuzz(caller, pools, samples, stats, errors, seed_value, budget)
                # Hypothesis keeps caches next to the working directory unless told otherwise; its
                # example database is off (database=None).
                set_hypothesis_home_dir(tmp_path / "hypothesis")
                try:
                    # The calls block; the servers keep running on this loop meanwhile.
                    failures = await asyncio.get_running_loop().run_in_executor(executor, fuzz.run)
                finally:
                    set_hypothesis_home_dir(None)
            elapsed = time.monotonic() - started
            caller.close()

            for name, server in servers.items():
                assert server.port == ports[name]
                if await _health(server.port) != health_pb2.HealthCheckResponse.SERVING:
                    failures.append(f"{name} is not SERVING after the run")
            async with (
                AsyncAssetsClient(targets["assets"], token=make_token(brand=BRAND)) as admin,
                AsyncGeneratorClient(targets["generator"], token=make_token(brand=BRAND)) as jobs,
            ):
                brand = await admin.api.GetBrand(assets_pb.GetBrandRequest(brand_id=BRAND))
                assert brand.brand.brand_id == BRAND
                listed = await jobs.api.ListJobs(generator_pb.ListJobsRequest(page_size=500))
                assert set(pools[BRAND].jobs) <= {job.job_id for job in listed.jobs}
            assert (await _compare_same(targets["identity"], make_token(brand=BRAND))).same_person
            for brand_id in (BRAND, RIVAL):
                async with AsyncAssetsClient(targets["assets"], token=make_token(brand=brand_id)) as admin:
                    chain = await admin.api.VerifyAuditChain(assets_pb.VerifyAuditChainRequest())
                if not chain.ok or chain.events_checked == 0:
                    failures.append(f"the audit chain of {brand_id!r} does not verify: {chain}")
            crashes = await asyncio.to_thread(_postgres_crashes, postgres_log, postgres_log_start)
            if crashes:
                failures.append("PostgreSQL restarted after a crash during the run:\n" + crashes)
            replicas_after = await asyncio.to_thread(_replicas)
            if replicas_after != replicas_before:
                failures.append(
                    f"the video model's replica was replaced: {replicas_before} -> {replicas_after}"
                )

    counts = " ".join(f"{service}={stats.total(service)}" for service in SERVICES)
    raw = sum(stats.raw.values())
    summary = (
        f"fuzz: {stats.total()} requests ({counts}; {raw} of them raw bytes) in {elapsed:.1f} s, "
        f"seed {seed_value}, {'long' if long_run else 'default'} budget"
    )
    with capsys.disabled():
        print("\n" + summary)
        for answer, count in stats.oversized.most_common():
            print(f"  status over 16 KiB, unreadable with gRPC's default limits ({count}x): {answer}")
        for swallowed, count in errors.swallowed.most_common():
            print(f"  server logged, call answered normally ({count}x): {swallowed}")
        if long_run:
            for method_name, codes in sorted(stats.codes.items()):
                print(f"  {method_name}: {dict(codes.most_common())}")
    assert not failures, f"{summary}\n\n" + "\n\n".join(failures)
    assert stats.total() >= budget.minimum_total, summary
    missing = {method.name for descriptor in SERVICES.values() for method in descriptor.methods} - set(
        stats.codes
    )
    assert not missing, f"RPCs never called: {sorted(missing)}"

"""Stored JSON back into messages: the fast path (the message's constructor) gives exactly what
json_format gives, and whatever it refuses still comes back through json_format."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.assets.messages import from_dict, to_dict
from tests.assets_support import filled


def parsed(data: dict[str, Any], message_type: type[Message]) -> Message:
    return json_format.ParseDict(data, message_type(), ignore_unknown_fields=True)


@pytest.mark.parametrize(
    "message_type",
    [
        pb.IdentityQualityReport,
        pb.EstimatedAttributes,
        pb.DeclaredAttributes,
        pb.GeneratedShot,
        pb.IdentityScore,
        pb.ModelDescription,
    ],
)
def test_a_stored_message_comes_back_as_json_format_reads_it(message_type: type[Message]) -> None:
    original = filled(message_type())
    stored = to_dict(original)
    back = from_dict(stored, message_type())
    assert back == parsed(stored, message_type) == original
    assert back.SerializeToString(deterministic=True) == original.SerializeToString(deterministic=True)


def test_the_constructor_path_is_taken_and_what_it_refuses_falls_back() -> None:
    report = to_dict(filled(pb.IdentityQualityReport()))
    assert pb.IdentityQualityReport(**report) == parsed(report, pb.IdentityQualityReport)
    # A field this version does not know: json_format ignores it, so does from_dict.
    newer = {**report, "field_from_a_later_version": 1}
    with pytest.raises(ValueError):
        pb.IdentityQualityReport(**newer)
    assert from_dict(newer, pb.IdentityQualityReport()) == parsed(report, pb.IdentityQualityReport)
    # An int64 that JSON holds as a string.
    shot = to_dict(pb.GeneratedShot(shot_index=1, prompt="p", seed=2**40 + 3))
    assert shot["seed"] == str(2**40 + 3)
    assert from_dict(shot, pb.GeneratedShot()).seed == 2**40 + 3
    # A NaN that JSON holds as a string.
    score = to_dict(pb.IdentityScore(mean_similarity=math.nan, min_similarity=0.25))
    back = from_dict(score, pb.IdentityScore())
    assert math.isnan(back.mean_similarity) and back.min_similarity == 0.25


def test_nothing_stored_leaves_the_message_empty() -> None:
    assert from_dict(None, pb.IdentityQualityReport()) == pb.IdentityQualityReport()
    assert from_dict({}, pb.EstimatedAttributes()) == pb.EstimatedAttributes()

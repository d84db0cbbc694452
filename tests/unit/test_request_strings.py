"""Strings with a NUL character are found at any depth of a request (the validation interceptor's
first check), named by their path."""

from __future__ import annotations

from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.rpc.interceptors import _strings_with_nul


def test_nul_characters_are_found_in_nested_and_repeated_strings() -> None:
    request = generator_pb.SubmitGenerationRequest(idempotency_key="k", territory="FR")
    request.storyboard.shots.add(prompt="fine")
    request.storyboard.shots.add(prompt="bad\x00prompt", negative_prompt="also\x00bad")
    request.storyboard.shots[1].characters.add(character_id="\x00")
    assert list(_strings_with_nul(request)) == [
        "storyboard.shots[1].prompt",
        "storyboard.shots[1].negative_prompt",
        "storyboard.shots[1].characters[0].character_id",
    ]


def test_a_clean_request_has_none() -> None:
    request = generator_pb.SubmitGenerationRequest(idempotency_key="k", territory="FR")
    request.storyboard.shots.add(prompt="a woman smiles")
    assert list(_strings_with_nul(request)) == []

"""The YAML storyboard format of `likeness generate`, turned into a SubmitGenerationRequest.

A storyboard names its characters once and refers to them by a short name in each shot::

    purpose: advertising          # advertising | social | editorial | internal_testing
    channel: online_video         # tv | online_video | social | print | out_of_home | internal
    territory: FR                 # ISO 3166-1 alpha-2, or WORLD
    strict_attribute_check: false # true: a prompt contradicting a character's attributes is refused
    qa_similarity_threshold: 0.5  # optional; flag shots whose identity score is lower
    stitching:                    # optional; default hard cuts
      transition: crossfade       # cut | crossfade
      crossfade_seconds: 0.5
    defaults:                     # optional; apply to every shot unless the shot says otherwise
      resolution: 480p            # 480p | 720p
      frames: 81                  # 4k+1, 5-161
      fps: 16
      steps: 40
      guidance: 4.0
      preset: final               # final | draft (4 distilled steps, no guidance: a quick preview)
    characters:
      ava:
        id: 6f1c...               # the character's id
        version: 0                # 0: the current identity version
        strength: 0.8             # identity adapter weight, 0.0-1.5
        reference_images: false   # also condition on the reference photos (VACE)
    shots:
      - prompt: a woman walks through a sunlit market, smiling
        negative_prompt: blurry
        characters: [ava]         # names from `characters`, or {name: ava, strength: 0.7}
        seed: 42
"""

from __future__ import annotations

from typing import Any

import yaml

from likeness.api.generator.v1 import generator_service_pb2 as generator_pb


class StoryboardError(ValueError):
    """The storyboard file is not valid; the message says where."""


def _enum(enum_type: Any, value: Any, prefix: str, where: str) -> Any:
    key = prefix + str(value).strip().upper().replace("-", "_")
    try:
        return enum_type.Value(key)
    except ValueError:
        choices = ", ".join(
            n.removeprefix(prefix).lower() for n in enum_type.keys() if not n.endswith("_UNSPECIFIED")
        )
        raise StoryboardError(f"{where}: unknown value {value!r}; choose one of: {choices}") from None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StoryboardError(f"{where}: expected a mapping")
    return value


def _check_keys(value: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise StoryboardError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


_RESOLUTIONS = {"480p": generator_pb.RESOLUTION_480P, "720p": generator_pb.RESOLUTION_720P}
_SHOT_KEYS = {
    "prompt",
    "negative_prompt",
    "characters",
    "resolution",
    "frames",
    "fps",
    "steps",
    "guidance",
    "seed",
    "preset",
}


def parse_storyboard(
    text: str, idempotency_key: str, preset: str | None = None
) -> generator_pb.SubmitGenerationRequest:
    """Parse a YAML storyboard; raises StoryboardError with the place of the first mistake.

    ``preset`` ("final" or "draft") replaces every shot's: ``draft`` renders the storyboard as a
    preview (its shots' steps and guidance, meant for final, are then left to the draft LoRA).
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise StoryboardError(f"not valid YAML: {error}") from None
    root = _mapping(document, "storyboard")
    _check_keys(
        root,
        {
            "purpose",
            "channel",
            "territory",
            "strict_attribute_check",
            "qa_similarity_threshold",
            "stitching",
            "defaults",
            "characters",
            "shots",
        },
        "storyboard",
    )
    for required in ("purpose", "channel", "territory", "shots"):
        if required not in root:
            raise StoryboardError(f"storyboard: {required!r} is required")
    request = generator_pb.SubmitGenerationRequest(
        idempotency_key=idempotency_key,
        purpose=_enum(generator_pb.UsagePurpose, root["purpose"], "USAGE_PURPOSE_", "purpose"),
        channel=_enum(generator_pb.UsageChannel, root["channel"], "USAGE_CHANNEL_", "channel"),
        territory=str(root["territory"]).upper(),
        strict_attribute_check=bool(root.get("strict_attribute_check", False)),
    )
    board = request.storyboard
    if "qa_similarity_threshold" in root:
        board.qa_similarity_threshold = float(root["qa_similarity_threshold"])
    stitching = _mapping(root.get("stitching"), "stitching")
    _check_keys(stitching, {"transition", "crossfade_seconds"}, "stitching")
    if stitching:
        board.stitching.transition = _enum(
            generator_pb.Transition, stitching.get("transition", "cut"), "TRANSITION_", "stitching.transition"
        )
        if "crossfade_seconds" in stitching:
            board.stitching.crossfade_duration.FromNanoseconds(
                int(float(stitching["crossfade_seconds"]) * 1e9)
            )
    defaults = _mapping(root.get("defaults"), "defaults")
    _check_keys(defaults, _SHOT_KEYS - {"prompt", "characters", "seed"}, "defaults")

    characters = _mapping(root.get("characters"), "characters")
    for name, spec in characters.items():
        _check_keys(
            _mapping(spec, f"characters.{name}"),
            {"id", "version", "strength", "reference_images", "reference_scale"},
            f"characters.{name}",
        )
        if "id" not in spec:
            raise StoryboardError(f"characters.{name}: 'id' is required")

    shots = root["shots"]
    if not isinstance(shots, list) or not shots:
        raise StoryboardError("shots: expected a non-empty list")
    for index, raw in enumerate(shots):
        where = f"shots[{index}]"
        spec = defaults | _mapping(raw, where)
        _check_keys(spec, _SHOT_KEYS, where)
        if "prompt" not in spec:
            raise StoryboardError(f"{where}: 'prompt' is required")
        shot = board.shots.add(
            prompt=str(spec["prompt"]),
            negative_prompt=str(spec.get("negative_prompt", "")),
            num_frames=int(spec.get("frames", 0)),
            fps=int(spec.get("fps", 0)),
            num_inference_steps=int(spec.get("steps", 0)),
        )
        resolution = str(spec.get("resolution", "480p")).lower()
        if resolution not in _RESOLUTIONS:
            raise StoryboardError(f"{where}.resolution: {resolution!r}; choose 480p or 720p")
        shot.resolution = _RESOLUTIONS[resolution]
        chosen = preset or spec.get("preset", "final")
        shot.preset = _enum(generator_pb.SpeedPreset, chosen, "SPEED_PRESET_", f"{where}.preset")
        if shot.preset == generator_pb.SPEED_PRESET_DRAFT:
            if preset is None and ("steps" in spec or "guidance" in spec):
                raise StoryboardError(
                    f"{where}: a draft shot runs the draft LoRA's own 4 steps without guidance; "
                    "remove steps and guidance from it (and from defaults), or use --preset draft"
                )
            shot.num_inference_steps = 0
        elif "guidance" in spec:
            shot.guidance_scale = float(spec["guidance"])
        if "seed" in spec:
            shot.seed = int(spec["seed"])
        for position, entry in enumerate(spec.get("characters") or []):
            entry_where = f"{where}.characters[{position}]"
            override: dict[str, Any] = {}
            if isinstance(entry, dict):
                override = dict(entry)
                name = override.pop("name", None)
                _check_keys(override, {"strength", "reference_images", "reference_scale"}, entry_where)
            else:
                name = entry
            if name not in characters:
                raise StoryboardError(f"{entry_where}: {name!r} is not in the storyboard's characters")
            merged = dict(characters[name]) | override
            character = shot.characters.add(
                character_id=str(merged["id"]),
                identity_version=int(merged.get("version", 0)),
                use_reference_images=bool(merged.get("reference_images", False)),
            )
            if "strength" in merged:
                character.identity_strength = float(merged["strength"])
            if "reference_scale" in merged:
                character.reference_conditioning_scale = float(merged["reference_scale"])
    return request

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
      preset: final               # final | fast (step caching) | draft (4 distilled steps: a preview)
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

from likeness.api.common.v1 import usage_pb2
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


def _number(kind: type[int] | type[float], value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise StoryboardError(f"{where}: expected a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise StoryboardError(
            f"{where}: expected {'an integer' if kind is int else 'a number'}, got {value!r}"
        ) from None


class StoryboardPaths:
    """Where each field of the request came from in the YAML, so that a mistake found by the contract's
    rules (here, or by the server) is reported in the storyboard's own words: ``characters.ava.id``,
    ``shots[1].frames``, ``defaults.steps``."""

    def __init__(self) -> None:
        self._paths: dict[str, str] = {}

    def add(self, field: str, where: str) -> None:
        self._paths[field] = where

    def of(self, field: str) -> str:
        """The YAML path of a request field (``storyboard.shots[0].num_frames`` style); a field
        without its own entry is named through its nearest recorded parent."""
        field = field.removeprefix("storyboard.") if field.startswith("storyboard.") else field
        candidate = field
        while candidate:
            if candidate in self._paths:
                return self._paths[candidate] + field[len(candidate) :]
            candidate = candidate.rpartition(".")[0]
        return field or "storyboard"


def check_request(request: generator_pb.SubmitGenerationRequest, paths: StoryboardPaths) -> None:
    """The contract's own rules (protovalidate, as the server applies them), reported at YAML paths."""
    import protovalidate

    from likeness.rpc.interceptors import field_path

    try:
        protovalidate.validate(request)
    except protovalidate.ValidationError as error:
        # A mistake in defaults or in the characters table shows once, however many shots repeat it.
        problems = dict.fromkeys(f"{paths.of(field_path(v))}: {v.proto.message}" for v in error.violations)
        raise StoryboardError("; ".join(problems)) from None


def parse_storyboard(
    text: str, idempotency_key: str, preset: str | None = None
) -> generator_pb.SubmitGenerationRequest:
    """Parse and check a YAML storyboard; raises StoryboardError naming the place of each mistake."""
    request, paths = parse_storyboard_with_paths(text, idempotency_key, preset)
    check_request(request, paths)
    return request


def parse_storyboard_with_paths(
    text: str, idempotency_key: str, preset: str | None = None
) -> tuple[generator_pb.SubmitGenerationRequest, StoryboardPaths]:
    """The request and where its fields came from (unchecked against the contract's rules).

    ``preset`` ("final", "fast" or "draft") replaces every shot's: ``draft`` renders the storyboard as a
    preview (its shots' steps and guidance, meant for final, are then left to the draft LoRA).
    """
    paths = StoryboardPaths()
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
        purpose=_enum(usage_pb2.UsagePurpose, root["purpose"], "USAGE_PURPOSE_", "purpose"),
        channel=_enum(usage_pb2.UsageChannel, root["channel"], "USAGE_CHANNEL_", "channel"),
        territory=str(root["territory"]).upper(),
        strict_attribute_check=bool(root.get("strict_attribute_check", False)),
    )
    for name in ("purpose", "channel", "territory"):
        paths.add(name, name)
    board = request.storyboard
    if "qa_similarity_threshold" in root:
        board.qa_similarity_threshold = _number(
            float, root["qa_similarity_threshold"], "qa_similarity_threshold"
        )
        paths.add("qa_similarity_threshold", "qa_similarity_threshold")
    stitching = _mapping(root.get("stitching"), "stitching")
    _check_keys(stitching, {"transition", "crossfade_seconds"}, "stitching")
    if stitching:
        board.stitching.transition = _enum(
            generator_pb.Transition, stitching.get("transition", "cut"), "TRANSITION_", "stitching.transition"
        )
        paths.add("stitching", "stitching")
        paths.add("stitching.crossfade_duration", "stitching.crossfade_seconds")
        if "crossfade_seconds" in stitching:
            seconds = _number(float, stitching["crossfade_seconds"], "stitching.crossfade_seconds")
            if not 0 <= seconds < 1e6:
                raise StoryboardError(f"stitching.crossfade_seconds: {seconds} is out of range")
            board.stitching.crossfade_duration.FromNanoseconds(int(seconds * 1e9))
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
        own = _mapping(raw, where)
        spec = defaults | own
        _check_keys(spec, _SHOT_KEYS, where)
        if "prompt" not in spec:
            raise StoryboardError(f"{where}: 'prompt' is required")

        def origin(key: str, where: str = where, own: dict[str, Any] = own) -> str:
            return f"{where}.{key}" if key in own else f"defaults.{key}"

        field = f"shots[{index}]"
        paths.add(field, where)
        for key, proto_name in (
            ("prompt", "prompt"), ("negative_prompt", "negative_prompt"), ("frames", "num_frames"),
            ("fps", "fps"), ("steps", "num_inference_steps"), ("guidance", "guidance_scale"),
            ("seed", "seed"), ("resolution", "resolution"), ("preset", "preset"),
        ):  # fmt: skip
            paths.add(f"{field}.{proto_name}", origin(key))
        shot = board.shots.add(
            prompt=str(spec["prompt"]),
            negative_prompt=str(spec.get("negative_prompt", "")),
            num_frames=_number(int, spec.get("frames", 0), origin("frames")),
            fps=_number(int, spec.get("fps", 0), origin("fps")),
            num_inference_steps=_number(int, spec.get("steps", 0), origin("steps")),
        )
        resolution = str(spec.get("resolution", "480p")).lower()
        if resolution not in _RESOLUTIONS:
            raise StoryboardError(f"{origin('resolution')}: {resolution!r}; choose 480p or 720p")
        shot.resolution = _RESOLUTIONS[resolution]
        chosen = preset or spec.get("preset", "final")
        shot.preset = _enum(generator_pb.SpeedPreset, chosen, "SPEED_PRESET_", origin("preset"))
        if shot.preset == generator_pb.SPEED_PRESET_DRAFT:
            if preset is None and ("steps" in spec or "guidance" in spec):
                raise StoryboardError(
                    f"{where}: a draft shot runs the draft LoRA's own 4 steps without guidance; "
                    "remove steps and guidance from it (and from defaults), or use --preset draft"
                )
            shot.num_inference_steps = 0
        elif "guidance" in spec:
            shot.guidance_scale = _number(float, spec["guidance"], origin("guidance"))
        if "seed" in spec:
            shot.seed = _number(int, spec["seed"], origin("seed"))
            if not 0 <= shot.seed < 2**32:
                raise StoryboardError(f"{origin('seed')}: {shot.seed} is outside 0-4294967295")
        entries = spec.get("characters") or []
        if not isinstance(entries, list):
            raise StoryboardError(f"{origin('characters')}: expected a list of character names")
        for position, entry in enumerate(entries):
            entry_where = f"{where}.characters[{position}]"
            override: dict[str, Any] = {}
            if isinstance(entry, dict):
                override = dict(entry)
                name = override.pop("name", None)
                _check_keys(override, {"strength", "reference_images", "reference_scale"}, entry_where)
            else:
                name = entry
            if not isinstance(name, str) or name not in characters:
                known = ", ".join(sorted(characters)) or "none"
                raise StoryboardError(
                    f"{entry_where}: {name!r} is not in the storyboard's characters (known: {known})"
                )
            merged = dict(characters[name]) | override
            # The server names a character it refuses (consent, identity) by its id.
            paths.add(str(merged["id"]), f"characters.{name}")
            field_prefix = f"{field}.characters[{position}]"
            paths.add(field_prefix, entry_where)
            paths.add(f"{field_prefix}.character_id", f"characters.{name}.id")
            paths.add(f"{field_prefix}.identity_version", f"characters.{name}.version")
            for key, proto_name in (
                ("strength", "identity_strength"),
                ("reference_scale", "reference_conditioning_scale"),
                ("reference_images", "use_reference_images"),
            ):
                paths.add(
                    f"{field_prefix}.{proto_name}",
                    f"{entry_where}.{key}" if key in override else f"characters.{name}.{key}",
                )
            character = shot.characters.add(
                character_id=str(merged["id"]),
                identity_version=_number(
                    int, merged.get("version", 0), paths.of(f"{field_prefix}.identity_version")
                ),
                use_reference_images=bool(merged.get("reference_images", False)),
            )
            if "strength" in merged:
                character.identity_strength = _number(
                    float, merged["strength"], paths.of(f"{field_prefix}.identity_strength")
                )
            if "reference_scale" in merged:
                character.reference_conditioning_scale = _number(
                    float, merged["reference_scale"], paths.of(f"{field_prefix}.reference_conditioning_scale")
                )
    return request, paths


def in_storyboard_words(error: Any, paths: StoryboardPaths) -> list[str]:
    """The field and precondition violations of a refused submission (a LikenessError), each at its
    YAML path (or the character's name); empty when the error carries none."""
    from google.rpc import error_details_pb2

    problems: list[str] = []
    bad_request = error.detail(error_details_pb2.BadRequest)
    if bad_request is not None:
        problems += [f"{paths.of(v.field)}: {v.description}" for v in bad_request.field_violations]
    precondition = error.detail(error_details_pb2.PreconditionFailure)
    if precondition is not None:
        problems += [f"{paths.of(v.subject)}: {v.description}" for v in precondition.violations]
    return list(dict.fromkeys(problems))


#: Precondition violations about a character that are not about its consent.
_NOT_CONSENT = {"CHARACTER_UNAVAILABLE", "ATTRIBUTE_CONTRADICTION", "NO_IDENTITY_ADAPTER"}


def consent_refusals(error: Any) -> list[str]:
    """The ids of the characters whose consent refused a submission (a LikenessError)."""
    import uuid

    from google.rpc import error_details_pb2

    precondition = error.detail(error_details_pb2.PreconditionFailure)
    refused: list[str] = []
    for violation in precondition.violations if precondition is not None else []:
        try:
            uuid.UUID(violation.subject)
        except ValueError:
            continue
        if violation.type not in _NOT_CONSENT and violation.subject not in refused:
            refused.append(violation.subject)
    return refused

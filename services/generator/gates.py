"""The gates every job passes before any GPU work: characters usable, identity versions usable,
consent for the purpose, channel and territory, prompts consistent with the characters.

They run at submission (problems refuse the request) and again when a worker takes the job (problems
fail the job); consent alone is checked once more before every shot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from likeness.errors import FieldViolation, InvalidArgument, NotFound
from likeness.generator.attributes import contradictions
from likeness.generator.domain import (
    ErrorCode,
    JobCharacter,
    JobWarning,
    Preset,
    Storyboard,
    UsageChannel,
    UsagePurpose,
    WarningKind,
)
from likeness.generator.peers import CharacterInfo, ConsentAnswer, IdentityVersionInfo, attributes_of

USABLE_VERSION_STATES = ("active", "superseded")


class GatePeers(Protocol):
    """What the gates ask the assets service (``peers.Peers`` in the service; fakes in unit tests).
    Unknown characters and versions raise ``NotFound``; an unreachable peer raises ``PeerError``."""

    async def character(self, brand_id: str, character_id: str) -> CharacterInfo: ...

    async def identity_version(
        self, brand_id: str, character_id: str, version: int
    ) -> IdentityVersionInfo | None: ...

    async def check_consent(
        self, brand_id: str, character_id: str, purpose: UsagePurpose, channel: UsageChannel, territory: str
    ) -> ConsentAnswer: ...


@dataclass(frozen=True)
class Problem:
    """One reason a job may not run: a PreconditionFailure violation at submission, a job error later."""

    type: str
    subject: str
    description: str
    code: ErrorCode
    character_id: str = ""
    shot_index: int | None = None


@dataclass(frozen=True)
class GateResult:
    characters: tuple[JobCharacter, ...]
    warnings: tuple[JobWarning, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Usage:
    brand_id: str
    purpose: UsagePurpose
    channel: UsageChannel
    territory: str
    strict_attribute_check: bool


def requested_versions(storyboard: Storyboard) -> dict[str, set[int]]:
    versions: dict[str, set[int]] = {}
    for shot in storyboard.shots:
        for character in shot.characters:
            versions.setdefault(character.character_id, set()).add(character.identity_version)
    return versions


#: What a deployment needs to serve each non-final preset.
PRESET_NEEDS = {
    Preset.DRAFT: "it needs a draft LoRA, draft_lora/ in the model directory",
    Preset.FAST: "it needs the step cache, off in this deployment",
}
#: Why each non-final preset cannot take reference images (the VACE experts).
PRESET_VACE_REASON = {
    Preset.DRAFT: "has no LoRA for the reference-image (VACE) experts",
    Preset.FAST: "has no step cache for the reference-image (VACE) experts, whose hints it would add twice",
}


async def check(
    peers: GatePeers,
    usage: Usage,
    storyboard: Storyboard,
    pinned: dict[str, int] | None = None,
    has_adapter: bool = True,
    presets: tuple[str, ...] = ("final", "draft"),
) -> GateResult:
    """Resolve and check every character; ``pinned`` versions (a stored job's) replace the requested ones.

    Raises NotFound for an unknown character or identity version (at submission; a stored job's
    characters exist).
    """
    character_ids = storyboard.character_ids()
    characters = await asyncio.gather(*(peers.character(usage.brand_id, cid) for cid in character_ids))
    by_id = dict(zip(character_ids, characters, strict=True))
    problems: list[Problem] = []
    versions: dict[str, int] = {}
    for character_id, requested in requested_versions(storyboard).items():
        info = by_id[character_id]
        if pinned is not None:
            versions[character_id] = pinned[character_id]
            continue
        explicit = {version for version in requested if version != 0}
        if 0 in requested:
            explicit.add(info.current_identity_version)
        explicit.discard(0)
        if len(explicit) > 1:
            raise InvalidArgument(
                f"character {character_id} is asked for with identity versions {sorted(explicit)}; "
                "every shot must use the same identity version of a character",
                [FieldViolation("storyboard.shots.characters.identity_version", "one version per character")],
            )
        versions[character_id] = explicit.pop() if explicit else 0

    identities = await asyncio.gather(
        *(_version(peers, usage.brand_id, by_id[cid], versions[cid]) for cid in character_ids)
    )
    identity_by_id = dict(zip(character_ids, identities, strict=True))
    if pinned is None:
        for character_id in character_ids:
            version = versions[character_id]
            if version and by_id[character_id].status == "active" and identity_by_id[character_id] is None:
                # The contract's answer for a version that was never made: NOT_FOUND, as for a character.
                raise NotFound(
                    f"character {character_id} has no identity version {version}",
                    "identity_version",
                    f"{character_id}/{version}",
                )
    for character_id in character_ids:
        problem = _availability(by_id[character_id], versions[character_id], identity_by_id[character_id])
        if problem is not None:
            problems.append(problem)

    consent_ids, denials = await check_consent(peers, usage, character_ids)
    problems.extend(denials)

    warnings: list[JobWarning] = []
    for index, shot in enumerate(storyboard.shots):
        attributes = [
            attributes_of(by_id[c.character_id], identity_by_id[c.character_id]) for c in shot.characters
        ]
        for found in contradictions(shot.prompt, attributes):
            if usage.strict_attribute_check:
                problems.append(
                    Problem(
                        "ATTRIBUTE_CONTRADICTION",
                        f"storyboard.shots[{index}].prompt",
                        found.message,
                        ErrorCode.ATTRIBUTE_CONTRADICTION,
                        character_id=found.character_id,
                        shot_index=index,
                    )
                )
            else:
                warnings.append(
                    JobWarning(
                        kind=WarningKind.ATTRIBUTE_CONTRADICTION,
                        character_id=found.character_id,
                        shot_index=index,
                        message=found.message,
                    )
                )
        if shot.preset is not Preset.FINAL:
            # Checked at submission and again before the shot: the deployment may change in between.
            if shot.preset not in presets:
                problems.append(
                    Problem(
                        "PRESET_UNAVAILABLE",
                        f"storyboard.shots[{index}].preset",
                        f"this deployment does not serve the {shot.preset} preset "
                        f"({PRESET_NEEDS[shot.preset]}); use the final preset",
                        ErrorCode.INTERNAL,
                        shot_index=index,
                    )
                )
            if any(character.use_reference_images for character in shot.characters):
                problems.append(
                    Problem(
                        f"{shot.preset.upper()}_WITH_REFERENCE_IMAGES",
                        f"storyboard.shots[{index}].preset",
                        f"the {shot.preset} preset {PRESET_VACE_REASON[shot.preset]}; "
                        "use the final preset for shots with reference images",
                        ErrorCode.INTERNAL,
                        shot_index=index,
                    )
                )
        if not has_adapter:
            for position, character in enumerate(shot.characters):
                if character.identity_strength is not None and character.identity_strength > 0:
                    problems.append(
                        Problem(
                            "NO_IDENTITY_ADAPTER",
                            f"storyboard.shots[{index}].characters[{position}].identity_strength",
                            "this deployment has no identity adapter; leave identity_strength unset or 0",
                            ErrorCode.INTERNAL,
                            character_id=character.character_id,
                            shot_index=index,
                        )
                    )
    job_characters = tuple(
        JobCharacter(character_id=cid, identity_version=versions[cid], consent_id=consent_ids.get(cid, ""))
        for cid in character_ids
    )
    return GateResult(job_characters, tuple(warnings), tuple(problems))


async def _version(
    peers: GatePeers, brand_id: str, character: CharacterInfo, version: int
) -> IdentityVersionInfo | None:
    if version == 0 or character.status == "erased":
        return None
    return await peers.identity_version(brand_id, character.character_id, version)


def _availability(
    character: CharacterInfo, version: int, identity: IdentityVersionInfo | None
) -> Problem | None:
    def unavailable(description: str) -> Problem:
        return Problem(
            "CHARACTER_UNAVAILABLE",
            character.character_id,
            description,
            ErrorCode.CHARACTER_UNAVAILABLE,
            character_id=character.character_id,
        )

    if character.status != "active":
        return unavailable(f"character {character.character_id} is {character.status}")
    if version == 0:
        return unavailable(f"character {character.character_id} has no active identity version")
    if identity is None:
        return unavailable(f"character {character.character_id} has no identity version {version}")
    if identity.status not in USABLE_VERSION_STATES:
        status = identity.status.replace("_", " ")
        return unavailable(f"identity version {version} of character {character.character_id} is {status}")
    return None


async def check_consent(
    peers: GatePeers, usage: Usage, character_ids: list[str]
) -> tuple[dict[str, str], list[Problem]]:
    """Consent only (before each shot): consent ids by character, and a problem per denial."""
    answers = await asyncio.gather(
        *(
            peers.check_consent(usage.brand_id, cid, usage.purpose, usage.channel, usage.territory)
            for cid in character_ids
        )
    )
    consent_ids: dict[str, str] = {}
    problems: list[Problem] = []
    for character_id, answer in zip(character_ids, answers, strict=True):
        if answer.allowed:
            consent_ids[character_id] = answer.consent_id
        else:
            problems.append(
                Problem(
                    answer.reason or "CONSENT_DENIED",
                    character_id,
                    answer.message or f"consent denied for character {character_id}",
                    ErrorCode.CONSENT_DENIED,
                    character_id=character_id,
                )
            )
    return consent_ids, problems

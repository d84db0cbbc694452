"""In-memory fakes of the generator's ports that several unit tests share: the assets service as the
gates see it (characters, identity versions, consent)."""

from __future__ import annotations

import dataclasses

import grpc

from likeness.errors import NotFound
from likeness.generator.peers import CharacterInfo, ConsentAnswer, IdentityVersionInfo, PeerError

MIA = "0f8e6a52-4c8b-4d6f-9a57-0c1f2e3d4a5b"
ALLOWED = ConsentAnswer(True, "consent-2", "", "")


def _mia() -> dict[str, CharacterInfo]:
    return {MIA: CharacterInfo(MIA, "active", 1, None, None)}


def _mia_v1() -> dict[tuple[str, int], IdentityVersionInfo]:
    return {(MIA, 1): IdentityVersionInfo(MIA, 1, "active", "pack-1", ("photo-1",), "female", (30.0, 40.0))}


@dataclasses.dataclass
class FakeRegistry:
    """The assets service as the gates see it: by default Mia, active, with version 1, and consent."""

    characters: dict[str, CharacterInfo] = dataclasses.field(default_factory=_mia)
    versions: dict[tuple[str, int], IdentityVersionInfo] = dataclasses.field(default_factory=_mia_v1)
    consent: ConsentAnswer = ALLOWED
    down: bool = False
    calls: int = 0

    async def character(self, brand_id: str, character_id: str) -> CharacterInfo:
        self.calls += 1
        if self.down:
            raise PeerError(grpc.StatusCode.UNAVAILABLE, "assets is restarting")
        if character_id not in self.characters:
            raise NotFound(f"character {character_id!r} not found", "character", character_id)
        return self.characters[character_id]

    async def identity_version(
        self, brand_id: str, character_id: str, version: int
    ) -> IdentityVersionInfo | None:
        return self.versions.get((character_id, version))

    async def check_consent(
        self, brand_id: str, character_id: str, purpose: object, channel: object, territory: str
    ) -> ConsentAnswer:
        return self.consent

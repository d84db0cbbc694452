"""Publishing a clip: sign it (C2PA), store it and its manifest, have the identity service score it,
and record it as a generated asset in the registry; and the QA flags its scores raise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from likeness.generator import provenance, stitching
from likeness.generator.attempt import peer_failure, seed_of
from likeness.generator.domain import ErrorCode, IdentityScore, Job, StoredKind
from likeness.generator.peers import GeneratedAssetRecord, PeerError, Peers
from likeness.generator.settings import GeneratorSettings


@dataclass(frozen=True)
class Published:
    """A clip as stored and recorded."""

    asset_id: str
    clip_id: str
    scores: list[IdentityScore]
    #: The identity model pack that scored it; "" when it shows no character.
    pack: str
    flags: list[str]
    signed: provenance.SignedClip


class Publisher:
    def __init__(
        self, peers: Peers, signing: provenance.SigningIdentity, settings: GeneratorSettings
    ) -> None:
        self.peers = peers
        self.signing = signing
        self.settings = settings

    def flags(self, scores: Sequence[IdentityScore], threshold: float) -> list[str]:
        """Why a clip is flagged for review: a face missing too often, or too unlike its identity."""
        reasons = []
        for score in scores:
            if score.no_face_fraction > self.settings.qa_max_no_face_fraction:
                reasons.append(
                    f"character {score.character_id}: face missing in "
                    f"{score.no_face_fraction:.0%} of sampled frames"
                )
            if score.mean_similarity is None:
                if score.no_face_fraction <= self.settings.qa_max_no_face_fraction:
                    reasons.append(f"character {score.character_id}: no face found")
            elif score.mean_similarity < threshold:
                reasons.append(
                    f"character {score.character_id}: mean identity similarity "
                    f"{score.mean_similarity:.2f} below {threshold:.2f}"
                )
        return reasons

    async def publish(
        self,
        job: Job,
        clip: bytes,
        shot_indexes: list[int],
        character_ids: list[str],
        title: str,
        z_ids: dict[str, np.ndarray],
        scoring: Callable[[], Awaitable[None]] | None = None,
    ) -> Published:
        """Sign, upload, score and record a clip (``scoring`` runs before the scores are asked for)."""
        assertion = provenance.likeness_assertion(
            job_id=job.job_id,
            brand_id=job.brand_id,
            shot_indexes=shot_indexes,
            presets=[str(job.storyboard.shots[index].preset) for index in shot_indexes],
            characters=[
                {
                    "character_id": cid,
                    "identity_version": job.pinned_version(cid),
                    "consent_id": job.consent_id(cid),
                }
                for cid in character_ids
            ],
            purpose=job.purpose.name,
            channel=job.channel.name,
            territory=job.territory,
            model=job.model.model_dump(mode="json"),
        )
        signed = await asyncio.to_thread(provenance.sign_clip, self.signing, clip, assertion, title)
        try:
            clip_id = await self.peers.upload(
                job.brand_id, StoredKind.GENERATED_CLIP, signed.clip, f"{title}.mp4", "video/mp4"
            )
        except PeerError as error:
            raise peer_failure(error, ErrorCode.STORAGE_FAILED) from error
        scores: list[IdentityScore] = []
        pack = ""
        if scoring is not None:
            await scoring()
        if character_ids:
            identities = [(cid, job.pinned_version(cid), z_ids[cid]) for cid in character_ids]
            try:
                clip_scores = await self.peers.score_clip(
                    job.brand_id, clip_id, identities, self.settings.qa_sample_frames
                )
            except PeerError as error:
                raise peer_failure(error, ErrorCode.SCORING_FAILED) from error
            scores = [clip_scores.scores[cid] for cid in character_ids]
            pack = clip_scores.model_pack_id
        threshold = job.storyboard.qa_similarity_threshold
        flags = self.flags(scores, self.settings.qa_similarity_threshold if threshold is None else threshold)
        try:
            manifest_id = await self.peers.upload(
                job.brand_id,
                StoredKind.C2PA_MANIFEST,
                signed.manifest_store,
                f"{title}.c2pa",
                "application/c2pa",
            )
            shots = job.storyboard.shots
            asset_id = await self.peers.record_generated_asset(
                job.brand_id,
                GeneratedAssetRecord(
                    clip_object_id=clip_id,
                    job_id=job.job_id,
                    shots=[
                        (
                            index,
                            shots[index].prompt,
                            shots[index].negative_prompt or self.settings.default_negative_prompt,
                            seed_of(job, index),
                        )
                        for index in shot_indexes
                    ],
                    characters=[
                        (
                            score.character_id,
                            score.identity_version,
                            job.consent_id(score.character_id),
                            score,
                        )
                        for score in scores
                    ],
                    purpose=job.purpose,
                    channel=job.channel,
                    territory=job.territory,
                    flagged=bool(flags),
                    flag_reasons=flags,
                    provenance_manifest_sha256=signed.provenance_sha256,
                    c2pa_manifest_object_id=manifest_id,
                    model=job.model,
                    scoring_model_pack_id=pack or "none",
                ),
            )
        except PeerError as error:
            raise peer_failure(error, ErrorCode.STORAGE_FAILED) from error
        return Published(asset_id, clip_id, scores, pack, flags, signed)


def stitch_clips(clips: list[bytes], fps: int, crossfade_s: float | None) -> bytes:
    """Shots joined into one clip: cut, or crossfaded by ``crossfade_s``."""
    frames = [stitching.decode_mp4(clip)[0] for clip in clips]
    return stitching.encode_mp4(stitching.stitch(frames, fps, crossfade_s), fps)

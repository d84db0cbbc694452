"""Which calls the SDK may retry on UNAVAILABLE: reads, checks, and writes that are idempotent by
contract (SubmitGeneration carries an idempotency key; cancelling or erasing twice is harmless)."""

from __future__ import annotations

IDEMPOTENT_METHODS: dict[str, frozenset[str]] = {
    "likeness.identity.v1.IdentityService": frozenset({"EncodeIdentity", "CompareIdentities", "ScoreVideo"}),
    "likeness.assets.v1.AssetsService": frozenset(
        {
            "GetBrand",
            "GetCharacter",
            "ListCharacters",
            "ArchiveCharacter",
            "GetIdentity",
            "ListIdentityVersions",
            "GetConsent",
            "ListConsents",
            "CheckConsent",
            "ListAuditEvents",
            "VerifyAuditChain",
            "DownloadObject",
            "GetObjectUrl",
            "GetObjectInfo",
            "SearchLikeness",
            "GetGeneratedAsset",
            "ListGeneratedAssets",
            "EraseCharacter",
        }
    ),
    "likeness.generator.v1.GeneratorService": frozenset(
        {"SubmitGeneration", "WatchJob", "GetJob", "ListJobs", "CancelJob", "GetBrandQuota", "SetBrandQuota"}
    ),
}

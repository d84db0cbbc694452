-- Stored objects (photos, consent evidence, clips, manifests). The bytes live in the object store
-- under a generated key; this row is what makes an object exist. Rows are deleted by erasure.
CREATE TABLE objects (
    object_id     uuid PRIMARY KEY,
    brand_id      text NOT NULL,
    storage_key   text NOT NULL UNIQUE,
    purpose       text NOT NULL CHECK (purpose IN (
                      'reference_photo', 'synthetic_reference', 'consent_evidence', 'video',
                      'generated_clip', 'c2pa_manifest')),
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 1),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    filename_hint text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX objects_by_brand ON objects (brand_id, object_id);

-- Characters (digital actors). An erased character keeps only this row as its tombstone, with the
-- descriptive fields cleared and the erasure's counts in `erasure`.
CREATE TABLE characters (
    character_id             uuid PRIMARY KEY,
    brand_id                 text NOT NULL REFERENCES brands (brand_id),
    display_name             text NOT NULL,
    description              text NOT NULL DEFAULT '',
    declared_attributes      jsonb,
    status                   text NOT NULL CHECK (status IN ('active', 'archived', 'erased')),
    current_identity_version integer NOT NULL DEFAULT 0,
    revision                 bigint NOT NULL DEFAULT 1,
    created_by               text NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    archived_at              timestamptz,
    erased_at                timestamptz,
    erasure                  jsonb
);

CREATE INDEX characters_by_brand ON characters (brand_id, created_at DESC, character_id DESC);

-- Consent records. Kept through erasure: they are the legal basis of past use.
CREATE TABLE consent_records (
    consent_id         uuid PRIMARY KEY,
    brand_id           text NOT NULL,
    character_id       uuid NOT NULL REFERENCES characters (character_id),
    subject_name       text NOT NULL,
    purposes           text[] NOT NULL,
    channels           text[] NOT NULL,
    territories        text[] NOT NULL,
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz CHECK (valid_until IS NULL OR valid_until > valid_from),
    evidence_object_id uuid NOT NULL,
    evidence_sha256    text NOT NULL CHECK (evidence_sha256 ~ '^[0-9a-f]{64}$'),
    notes              text NOT NULL DEFAULT '',
    recorded_by        text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    revoked_by         text NOT NULL DEFAULT '',
    revoke_reason      text NOT NULL DEFAULT ''
);

CREATE INDEX consent_records_by_character ON consent_records (character_id, created_at DESC, consent_id DESC);

-- Identity versions: the face embedding (z_id, L2-normalised) with its quality report. Erasure sets
-- z_id, quality and estimated_attributes to NULL and the status to 'erased'.
CREATE TABLE identity_versions (
    character_id               uuid NOT NULL REFERENCES characters (character_id),
    version                    integer NOT NULL CHECK (version >= 1),
    brand_id                   text NOT NULL,
    status                     text NOT NULL CHECK (status IN (
                                   'active', 'pending_review', 'rejected', 'superseded', 'erased')),
    z_id                       vector(512),
    model_pack_id              text NOT NULL,
    quality                    jsonb,
    reference_photo_object_ids uuid[] NOT NULL DEFAULT '{}',
    estimated_attributes       jsonb,
    collision_detected         boolean NOT NULL DEFAULT false,
    review_reason              text NOT NULL DEFAULT '',
    reviewed_by                text NOT NULL DEFAULT '',
    reviewed_at                timestamptz,
    created_by                 text NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    erased_at                  timestamptz,
    PRIMARY KEY (character_id, version),
    CHECK ((status = 'erased') = (z_id IS NULL))
);

-- At most one current identity per character.
CREATE UNIQUE INDEX identity_versions_one_active ON identity_versions (character_id) WHERE status = 'active';
-- Likeness search and the cross-brand collision check.
CREATE INDEX identity_versions_z_id ON identity_versions USING hnsw (z_id vector_cosine_ops);

-- Generated clips with their provenance. Erasure of a character in a clip deletes the clip and
-- manifest objects and sets erased_at; the record stays.
CREATE TABLE generated_assets (
    generated_asset_id         uuid PRIMARY KEY,
    brand_id                   text NOT NULL,
    job_id                     uuid NOT NULL,
    clip_object_id             uuid NOT NULL UNIQUE,
    c2pa_manifest_object_id    uuid NOT NULL,
    shots                      jsonb NOT NULL,
    characters                 jsonb NOT NULL,
    purpose                    text NOT NULL,
    channel                    text NOT NULL,
    territory                  text NOT NULL,
    flagged                    boolean NOT NULL,
    flag_reasons               text[] NOT NULL,
    provenance_manifest_sha256 text NOT NULL CHECK (provenance_manifest_sha256 ~ '^[0-9a-f]{64}$'),
    model                      jsonb NOT NULL,
    scoring_model_pack_id      text NOT NULL,
    request_sha256             text NOT NULL,
    recorded_by                text NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    erased_at                  timestamptz
);

CREATE INDEX generated_assets_by_brand ON generated_assets (brand_id, created_at DESC, generated_asset_id DESC);
CREATE INDEX generated_assets_by_job ON generated_assets (brand_id, job_id);

-- Which characters appear in which generated asset (for filtering and erasure).
CREATE TABLE generated_asset_characters (
    generated_asset_id uuid NOT NULL REFERENCES generated_assets (generated_asset_id),
    character_id       uuid NOT NULL REFERENCES characters (character_id),
    PRIMARY KEY (character_id, generated_asset_id)
);

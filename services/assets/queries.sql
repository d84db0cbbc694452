-- name: insert_brand
INSERT INTO brands (brand_id, display_name, created_by)
VALUES (%(brand_id)s, %(display_name)s, %(created_by)s)
ON CONFLICT (brand_id) DO NOTHING
RETURNING brand_id, display_name, created_by, created_at;

-- name: get_brand
SELECT brand_id, display_name, created_by, created_at
FROM brands
WHERE brand_id = %(brand_id)s;

-- name: append_audit_event
-- The next link of the brand's chain (migration 0004): serialised per brand until the transaction
-- ends, hashed in the database.
SELECT append_audit_event(
    %(brand_id)s, %(event_id)s, %(event_time)s, %(actor_subject)s, %(actor_roles)s, %(action)s,
    %(target_type)s, %(target_id)s, %(request_id)s, %(outcome)s, %(details)s,
    %(json_before_sequence)s::bytea, %(json_after_sequence)s::bytea, %(flush_commit)s
);

-- name: list_audit_events
SELECT brand_id, sequence, event_id, event_time, actor_subject, actor_roles, action, target_type,
       target_id, request_id, outcome, details, prev_hash, hash
FROM audit_events
WHERE brand_id = %(brand_id)s
  AND sequence > %(after_sequence)s
  AND (%(target_type)s = '' OR target_type = %(target_type)s)
  AND (%(target_id)s = '' OR target_id = %(target_id)s)
  AND (%(action)s = '' OR action = %(action)s)
  AND (%(actor_subject)s = '' OR actor_subject = %(actor_subject)s)
  AND (%(start_time)s::timestamptz IS NULL OR event_time >= %(start_time)s)
  AND (%(end_time)s::timestamptz IS NULL OR event_time < %(end_time)s)
ORDER BY sequence
LIMIT %(limit)s;

-- name: audit_events_from
SELECT brand_id, sequence, event_id, event_time, actor_subject, actor_roles, action, target_type,
       target_id, request_id, outcome, details, prev_hash, hash
FROM audit_events
WHERE brand_id = %(brand_id)s AND sequence >= %(from_sequence)s AND sequence <= %(to_sequence)s
ORDER BY sequence;

-- name: audit_event_hash
SELECT hash FROM audit_events WHERE brand_id = %(brand_id)s AND sequence = %(sequence)s;

-- name: audit_heads
-- Each brand's newest sequence (one index probe per brand).
SELECT brands.brand_id, head.sequence
FROM brands
CROSS JOIN LATERAL (
    SELECT sequence FROM audit_events WHERE audit_events.brand_id = brands.brand_id
    ORDER BY sequence DESC LIMIT 1
) AS head;

-- name: notify_identity_change
-- Tells every replica (delivered at commit) to drop cached identities of one character.
SELECT pg_notify('likeness_assets_identity', %(payload)s);

-- ---------------------------------------------------------------------------------------------
-- Characters
-- ---------------------------------------------------------------------------------------------

-- name: insert_character
INSERT INTO characters (character_id, brand_id, display_name, description, declared_attributes, status,
                        created_by)
VALUES (%(character_id)s, %(brand_id)s, %(display_name)s, %(description)s, %(declared_attributes)s,
        'active', %(created_by)s)
RETURNING *;

-- name: get_character
SELECT * FROM characters WHERE brand_id = %(brand_id)s AND character_id = %(character_id)s;

-- name: list_characters
SELECT * FROM characters
WHERE brand_id = %(brand_id)s
  AND (CASE WHEN %(status)s = '' THEN status <> 'erased' ELSE status = %(status)s END)
  AND (%(after_time)s::timestamptz IS NULL
       OR (created_at, character_id) < (%(after_time)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, character_id DESC
LIMIT %(limit)s;

-- name: update_character
UPDATE characters
SET display_name = %(display_name)s, description = %(description)s,
    declared_attributes = %(declared_attributes)s, revision = revision + 1, updated_at = now()
WHERE character_id = %(character_id)s
RETURNING *;

-- name: archive_character
UPDATE characters
SET status = 'archived', archived_at = now(), updated_at = now(), revision = revision + 1
WHERE character_id = %(character_id)s
RETURNING *;

-- ---------------------------------------------------------------------------------------------
-- Objects
-- ---------------------------------------------------------------------------------------------

-- name: insert_object
INSERT INTO objects (object_id, brand_id, storage_key, purpose, content_type, size_bytes, sha256,
                     filename_hint, created_by)
VALUES (%(object_id)s, %(brand_id)s, %(storage_key)s, %(purpose)s, %(content_type)s, %(size_bytes)s,
        %(sha256)s, %(filename_hint)s, %(created_by)s)
RETURNING *;

-- name: get_object
SELECT * FROM objects WHERE brand_id = %(brand_id)s AND object_id = %(object_id)s;

-- name: get_objects
SELECT * FROM objects WHERE brand_id = %(brand_id)s AND object_id = ANY(%(object_ids)s);

-- name: known_storage_keys
SELECT storage_key FROM objects WHERE storage_key = ANY(%(keys)s);

-- name: delete_objects
DELETE FROM objects WHERE brand_id = %(brand_id)s AND object_id = ANY(%(object_ids)s)
RETURNING storage_key;

-- ---------------------------------------------------------------------------------------------
-- Consent
-- ---------------------------------------------------------------------------------------------

-- name: insert_consent
INSERT INTO consent_records (consent_id, brand_id, character_id, subject_name, purposes, channels,
                             territories, valid_from, valid_until, evidence_object_id, evidence_sha256,
                             notes, recorded_by)
VALUES (%(consent_id)s, %(brand_id)s, %(character_id)s, %(subject_name)s, %(purposes)s, %(channels)s,
        %(territories)s, %(valid_from)s, %(valid_until)s, %(evidence_object_id)s, %(evidence_sha256)s,
        %(notes)s, %(recorded_by)s)
RETURNING *;

-- name: get_consent
SELECT * FROM consent_records WHERE brand_id = %(brand_id)s AND consent_id = %(consent_id)s;

-- name: consents_of_character
SELECT * FROM consent_records WHERE character_id = %(character_id)s ORDER BY created_at DESC, consent_id DESC;

-- name: list_consents
SELECT * FROM consent_records
WHERE character_id = %(character_id)s
  AND (%(after_time)s::timestamptz IS NULL
       OR (created_at, consent_id) < (%(after_time)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, consent_id DESC
LIMIT %(limit)s;

-- name: revoke_consent
UPDATE consent_records
SET revoked_at = now(), revoked_by = %(revoked_by)s, revoke_reason = %(reason)s
WHERE consent_id = %(consent_id)s
RETURNING *;

-- ---------------------------------------------------------------------------------------------
-- Identity versions
-- ---------------------------------------------------------------------------------------------

-- name: configure_vector_search
-- Once per pooled connection: the HNSW search width, and iterative scans (keep walking the graph until
-- enough rows pass the filters: brand, model pack, status).
SELECT set_config('hnsw.ef_search', %(ef)s, false), set_config('hnsw.iterative_scan', 'relaxed_order', false);

-- name: set_search_ef
-- For one transaction: a search that wants more rows than the connection's ef_search would get fewer.
SELECT set_config('hnsw.ef_search', %(ef)s, true);

-- name: nearest_other_brand_identity
SELECT 1 - distance AS similarity
FROM (
    SELECT z_id <=> %(z_id)b::float4[]::vector AS distance
    FROM identity_versions
    WHERE brand_id <> %(brand_id)s
      AND model_pack_id = %(model_pack_id)s
      AND status IN ('active', 'pending_review', 'superseded')
    ORDER BY z_id <=> %(z_id)b::float4[]::vector
    LIMIT 1
) AS nearest;

-- name: next_identity_version
SELECT coalesce(max(version), 0) + 1 FROM identity_versions WHERE character_id = %(character_id)s;

-- name: insert_identity_version
INSERT INTO identity_versions (character_id, version, brand_id, status, z_id, model_pack_id, quality,
                               reference_photo_object_ids, estimated_attributes, collision_detected,
                               created_by)
VALUES (%(character_id)s, %(version)s, %(brand_id)s, %(status)s, %(z_id)b::float4[]::vector, %(model_pack_id)s,
        %(quality)s, %(reference_photo_object_ids)s, %(estimated_attributes)s, %(collision_detected)s,
        %(created_by)s)
RETURNING character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
          estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
          created_at, erased_at;

-- name: supersede_versions
-- A new current version replaces the previous ACTIVE one and every older pending one.
UPDATE identity_versions
SET status = 'superseded'
WHERE character_id = %(character_id)s
  AND version <> %(version)s
  AND (status = 'active' OR (status = 'pending_review' AND version < %(version)s));

-- name: set_current_identity_version
UPDATE characters
SET current_identity_version = %(version)s, revision = revision + 1, updated_at = now()
WHERE character_id = %(character_id)s;

-- name: get_identity_version
SELECT character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
       estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
       created_at, erased_at
FROM identity_versions
WHERE character_id = %(character_id)s AND version = %(version)s;

-- name: get_identity_version_with_embedding
SELECT character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
       estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
       created_at, erased_at, z_id::float4[] AS z_id
FROM identity_versions
WHERE character_id = %(character_id)s AND version = %(version)s;

-- name: list_identity_versions
SELECT character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
       estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
       created_at, erased_at
FROM identity_versions
WHERE character_id = %(character_id)s AND version < %(before_version)s
ORDER BY version DESC
LIMIT %(limit)s;

-- name: review_identity_version
UPDATE identity_versions
SET status = %(status)s, review_reason = %(reason)s, reviewed_by = %(reviewed_by)s, reviewed_at = now()
WHERE character_id = %(character_id)s AND version = %(version)s;

-- ---------------------------------------------------------------------------------------------
-- Likeness search
-- ---------------------------------------------------------------------------------------------

-- name: search_likeness
-- The HNSW scan runs on identity_versions alone; names are joined to the few rows it returns.
WITH nearest AS MATERIALIZED (
    SELECT character_id, version, z_id <=> %(z_id)b::float4[]::vector AS distance
    FROM identity_versions
    WHERE brand_id = %(brand_id)s AND status = 'active' AND model_pack_id = %(model_pack_id)s
    ORDER BY z_id <=> %(z_id)b::float4[]::vector
    LIMIT %(limit)s
)
SELECT nearest.character_id, nearest.version AS identity_version, characters.display_name,
       characters.status AS character_status, (1 - nearest.distance)::float8 AS similarity
FROM nearest
JOIN characters ON characters.character_id = nearest.character_id
WHERE characters.status <> 'erased'
  AND (%(min_similarity)s::float8 IS NULL OR 1 - nearest.distance >= %(min_similarity)s::float8)
ORDER BY nearest.distance;

-- ---------------------------------------------------------------------------------------------
-- Generated assets
-- ---------------------------------------------------------------------------------------------

-- name: lock_clip_record
-- Serialises two recordings of the same clip, so the second finds the first.
SELECT pg_advisory_xact_lock(hashtextextended('likeness.clip:' || %(clip_object_id)s, 0));

-- name: generated_asset_by_clip
SELECT * FROM generated_assets WHERE brand_id = %(brand_id)s AND clip_object_id = %(clip_object_id)s;

-- name: insert_generated_asset
INSERT INTO generated_assets (generated_asset_id, brand_id, job_id, clip_object_id, c2pa_manifest_object_id,
                              shots, characters, purpose, channel, territory, flagged, flag_reasons,
                              provenance_manifest_sha256, model, scoring_model_pack_id, request_sha256,
                              recorded_by)
VALUES (%(generated_asset_id)s, %(brand_id)s, %(job_id)s, %(clip_object_id)s, %(c2pa_manifest_object_id)s,
        %(shots)s, %(characters)s, %(purpose)s, %(channel)s, %(territory)s, %(flagged)s, %(flag_reasons)s,
        %(provenance_manifest_sha256)s, %(model)s, %(scoring_model_pack_id)s, %(request_sha256)s,
        %(recorded_by)s)
RETURNING *;

-- name: insert_generated_asset_character
INSERT INTO generated_asset_characters (generated_asset_id, character_id)
VALUES (%(generated_asset_id)s, %(character_id)s);

-- name: get_generated_asset
SELECT * FROM generated_assets WHERE brand_id = %(brand_id)s AND generated_asset_id = %(generated_asset_id)s;

-- name: list_generated_assets
SELECT * FROM generated_assets
WHERE brand_id = %(brand_id)s
  AND (%(job_id)s::uuid IS NULL OR job_id = %(job_id)s::uuid)
  AND (%(character_id)s::uuid IS NULL OR generated_asset_id IN (
          SELECT generated_asset_id FROM generated_asset_characters WHERE character_id = %(character_id)s::uuid))
  AND (%(after_time)s::timestamptz IS NULL
       OR (created_at, generated_asset_id) < (%(after_time)s::timestamptz, %(after_id)s::uuid))
ORDER BY created_at DESC, generated_asset_id DESC
LIMIT %(limit)s;

-- ---------------------------------------------------------------------------------------------
-- Erasure
-- ---------------------------------------------------------------------------------------------

-- name: reference_photos_of_character
SELECT DISTINCT unnest(reference_photo_object_ids)
FROM identity_versions
WHERE character_id = %(character_id)s;

-- name: erase_generated_assets_of_character
UPDATE generated_assets
SET erased_at = now()
WHERE brand_id = %(brand_id)s
  AND erased_at IS NULL
  AND generated_asset_id IN (
      SELECT generated_asset_id FROM generated_asset_characters WHERE character_id = %(character_id)s)
RETURNING generated_asset_id, clip_object_id, c2pa_manifest_object_id;

-- name: erase_identity_versions
UPDATE identity_versions
SET z_id = NULL, quality = NULL, estimated_attributes = NULL, reference_photo_object_ids = '{}',
    status = 'erased', erased_at = now()
WHERE character_id = %(character_id)s AND status <> 'erased'
RETURNING version;

-- name: erase_character
UPDATE characters
SET display_name = '', description = '', declared_attributes = NULL, status = 'erased',
    erased_at = now(), updated_at = now(), revision = revision + 1, erasure = %(erasure)s
WHERE character_id = %(character_id)s
RETURNING erased_at;

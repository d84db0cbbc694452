-- name: insert_brand
INSERT INTO brands (brand_id, display_name, created_by)
VALUES (%(brand_id)s, %(display_name)s, %(created_by)s)
ON CONFLICT (brand_id) DO NOTHING
RETURNING brand_id, display_name, created_by, created_at;

-- name: get_brand
SELECT brand_id, display_name, created_by, created_at
FROM brands
WHERE brand_id = %(brand_id)s;

-- name: lock_audit_chain
-- Serialises writers of one brand's chain until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('likeness.audit:' || %(brand_id)s, 0));

-- name: audit_chain_head
SELECT sequence, hash
FROM audit_events
WHERE brand_id = %(brand_id)s
ORDER BY sequence DESC
LIMIT 1;

-- name: insert_audit_event
INSERT INTO audit_events (
    brand_id, sequence, event_id, event_time, actor_subject, actor_roles, action, target_type,
    target_id, request_id, outcome, details, prev_hash, hash
) VALUES (
    %(brand_id)s, %(sequence)s, %(event_id)s, %(event_time)s, %(actor_subject)s, %(actor_roles)s,
    %(action)s, %(target_type)s, %(target_id)s, %(request_id)s, %(outcome)s, %(details)s,
    %(prev_hash)s, %(hash)s
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

-- name: lock_character
SELECT * FROM characters WHERE brand_id = %(brand_id)s AND character_id = %(character_id)s FOR UPDATE;

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

-- name: lock_consent
SELECT * FROM consent_records WHERE brand_id = %(brand_id)s AND consent_id = %(consent_id)s FOR UPDATE;

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

-- name: set_search_ef
SELECT set_config('hnsw.ef_search', %(ef)s, true);

-- name: set_iterative_scan
-- Keep walking the HNSW graph until enough rows pass the filters (brand, model pack, status).
SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true);

-- name: nearest_other_brand_identity
SELECT 1 - distance AS similarity
FROM (
    SELECT z_id <=> %(z_id)s::vector AS distance
    FROM identity_versions
    WHERE brand_id <> %(brand_id)s
      AND model_pack_id = %(model_pack_id)s
      AND status IN ('active', 'pending_review', 'superseded')
    ORDER BY z_id <=> %(z_id)s::vector
    LIMIT 1
) AS nearest;

-- name: next_identity_version
SELECT coalesce(max(version), 0) + 1 FROM identity_versions WHERE character_id = %(character_id)s;

-- name: insert_identity_version
INSERT INTO identity_versions (character_id, version, brand_id, status, z_id, model_pack_id, quality,
                               reference_photo_object_ids, estimated_attributes, collision_detected,
                               created_by)
VALUES (%(character_id)s, %(version)s, %(brand_id)s, %(status)s, %(z_id)s::vector, %(model_pack_id)s,
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

-- name: lock_identity_version
SELECT character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
       estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
       created_at, erased_at
FROM identity_versions
WHERE character_id = %(character_id)s AND version = %(version)s
FOR UPDATE;

-- name: get_identity_version_with_embedding
SELECT character_id, version, brand_id, status, model_pack_id, quality, reference_photo_object_ids,
       estimated_attributes, collision_detected, review_reason, reviewed_by, reviewed_at, created_by,
       created_at, erased_at, z_id::text AS z_id
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

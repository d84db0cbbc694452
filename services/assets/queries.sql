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

-- The next link of a brand's audit chain as one function call, so that an event written on its own
-- (the audit of a read) is a single statement: one round trip, no BEGIN or COMMIT of its own.
--
-- The transaction-scoped advisory lock serialises the brand's writers until the caller's transaction
-- commits; the INSERT that follows it takes a fresh snapshot (a VOLATILE function's statements each
-- do), so it sees the head every earlier writer committed. The caller sends the event's canonical
-- JSON cut around its sequence number; the hash is SHA-256 over the head's hash (64 zeros before the
-- first event) followed by that JSON with the sequence filled in. likeness.assets.audit recomputes it.
--
-- With flush_commit false the enclosing transaction commits without waiting for its WAL to reach
-- disk (synchronous_commit off for that transaction only).
CREATE FUNCTION append_audit_event(
    p_brand_id text,
    p_event_id uuid,
    p_event_time timestamptz,
    p_actor_subject text,
    p_actor_roles text[],
    p_action text,
    p_target_type text,
    p_target_id text,
    p_request_id text,
    p_outcome text,
    p_details jsonb,
    p_json_before_sequence bytea,
    p_json_after_sequence bytea,
    p_flush_commit boolean
) RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT p_flush_commit THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('likeness.audit:' || p_brand_id, 0));
    INSERT INTO audit_events (
        brand_id, sequence, event_id, event_time, actor_subject, actor_roles, action, target_type,
        target_id, request_id, outcome, details, prev_hash, hash
    )
    SELECT p_brand_id, head.sequence + 1, p_event_id, p_event_time, p_actor_subject, p_actor_roles,
           p_action, p_target_type, p_target_id, p_request_id, p_outcome, p_details, head.hash,
           encode(sha256(convert_to(head.hash, 'UTF8') || p_json_before_sequence
                         || convert_to((head.sequence + 1)::text, 'UTF8') || p_json_after_sequence),
                  'hex')
    FROM (
        (SELECT sequence, hash FROM audit_events WHERE brand_id = p_brand_id
         ORDER BY sequence DESC LIMIT 1)
        UNION ALL
        SELECT 0, repeat('0', 64)
        ORDER BY 1 DESC
        LIMIT 1
    ) AS head;
END;
$$;

-- The audit log: one hash-chained, append-only sequence of events per brand.
-- hash = SHA-256(prev_hash || canonical JSON of the event's other fields); see likeness.assets.audit.
CREATE TABLE audit_events (
    brand_id      text NOT NULL,
    sequence      bigint NOT NULL CHECK (sequence >= 1),
    event_id      uuid NOT NULL UNIQUE,
    event_time    timestamptz NOT NULL,
    actor_subject text NOT NULL,
    actor_roles   text[] NOT NULL,
    action        text NOT NULL,
    target_type   text NOT NULL,
    target_id     text NOT NULL,
    request_id    text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('succeeded', 'denied', 'failed')),
    details       jsonb NOT NULL DEFAULT '{}',
    prev_hash     text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash          text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- Two writers can never both hold the same place in a brand's chain.
    PRIMARY KEY (brand_id, sequence)
);

CREATE INDEX audit_events_by_target ON audit_events (brand_id, target_type, target_id, sequence);

-- Rows are never changed or removed through the application; a direct edit by someone with
-- table-owner rights must first disable this trigger, and VerifyAuditChain then finds the break.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

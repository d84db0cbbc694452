-- Generation jobs. A job belongs to one brand; its idempotency key is unique within the brand.
-- Storyboard, pinned characters, progress, warnings, results and the error are JSON documents written
-- by likeness.generator.jobs (pydantic models); the columns queried on are plain columns.
CREATE TABLE jobs (
    job_id                uuid PRIMARY KEY,
    brand_id              text NOT NULL,
    idempotency_key       text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 128),
    -- SHA-256 of the submission as received: a repeated key must carry the same request.
    request_sha256        text NOT NULL CHECK (request_sha256 ~ '^[0-9a-f]{64}$'),
    state                 text NOT NULL CHECK (
        state IN ('queued', 'checking', 'running', 'scoring', 'succeeded', 'failed', 'cancelled')
    ),
    purpose               integer NOT NULL,
    channel               integer NOT NULL,
    territory             text NOT NULL,
    strict_attribute_check boolean NOT NULL,
    storyboard            jsonb NOT NULL,
    characters            jsonb NOT NULL DEFAULT '[]',
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    progress              jsonb NOT NULL,
    warnings              jsonb NOT NULL DEFAULT '[]',
    error                 jsonb,
    shot_results          jsonb NOT NULL DEFAULT '[]',
    final_identity_scores jsonb NOT NULL DEFAULT '[]',
    flagged               boolean NOT NULL DEFAULT false,
    generated_asset_id    text NOT NULL DEFAULT '',
    clip_object_id        text NOT NULL DEFAULT '',
    model                 jsonb NOT NULL,
    scoring_model_pack_id text NOT NULL DEFAULT '',
    last_event_sequence   bigint NOT NULL DEFAULT 0,
    -- The lease of the worker running the job: lease_id fences every write of that worker, so a worker
    -- whose lease expired and was taken over can no longer change the job.
    lease_id              uuid,
    lease_owner           text,
    lease_expires_at      timestamptz,
    -- How many times a worker took the job; a job taken more often than the limit fails.
    attempts              integer NOT NULL DEFAULT 0,
    last_failure          text NOT NULL DEFAULT '',
    UNIQUE (brand_id, idempotency_key)
);

CREATE INDEX jobs_by_brand ON jobs (brand_id, created_at DESC, job_id DESC);
-- Workers look for unfinished jobs only; this index stays small.
CREATE INDEX jobs_runnable ON jobs (created_at) WHERE state IN ('queued', 'checking', 'running', 'scoring');

-- Each job's event log; sequences increase strictly per job (PROGRESS events are coalesced).
CREATE TABLE job_events (
    job_id      uuid NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    sequence    bigint NOT NULL CHECK (sequence >= 1),
    event_time  timestamptz NOT NULL DEFAULT now(),
    type        text NOT NULL CHECK (
        type IN ('state_changed', 'progress', 'shot_started', 'shot_finished', 'warning', 'log')
    ),
    state       text NOT NULL,
    progress    jsonb NOT NULL,
    message     text NOT NULL DEFAULT '',
    shot_index  integer,
    warning     jsonb,
    shot_result jsonb,
    error       jsonb,
    PRIMARY KEY (job_id, sequence)
);

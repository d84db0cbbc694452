-- name: job_columns
-- Not a query: the column list every job read selects (kept here so all reads agree).
job_id::text, brand_id, idempotency_key, state, purpose, channel, territory, strict_attribute_check,
storyboard, characters, created_by, created_at, started_at, finished_at, progress, warnings, error,
shot_results, final_identity_scores, flagged, generated_asset_id, clip_object_id, model,
scoring_model_pack_id, last_event_sequence, attempts, lease_id::text

-- name: job_by_key
SELECT {columns}, request_sha256 FROM jobs
WHERE brand_id = %(brand_id)s AND idempotency_key = %(idempotency_key)s;

-- name: lock_queue
-- Submissions take the queue's lock before counting, so that two at once cannot both see room for
-- one more job: the count and the insert become one step (held until the transaction ends).
SELECT pg_advisory_xact_lock(hashtext('likeness.generator.queue'));

-- name: lock_starts
-- Starting a job (a claim, or a submission's hand-off to an idle worker) takes this lock first, so that
-- two starts at once cannot both see room under a brand's running limit; held until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('likeness.generator.starts'));

-- name: count_queued
-- The whole queue, the brand's share of it, and the brand's own queued-job limit (NULL: the default).
SELECT count(*) AS queued, count(*) FILTER (WHERE brand_id = %(brand_id)s) AS brand_queued,
       (SELECT max_queued_jobs FROM brand_quotas WHERE brand_id = %(brand_id)s) AS brand_limit
FROM jobs WHERE state = 'queued';

-- name: brand_quota
SELECT quota.max_queued_jobs, quota.max_running_jobs,
       (SELECT count(*) FROM jobs WHERE brand_id = %(brand_id)s AND state = 'queued') AS queued_jobs,
       (SELECT count(*) FROM jobs WHERE brand_id = %(brand_id)s
          AND state IN ('checking', 'running', 'scoring')) AS running_jobs
FROM (SELECT %(brand_id)s::text AS brand_id) AS brand
LEFT JOIN brand_quotas quota USING (brand_id);

-- name: set_brand_quota
INSERT INTO brand_quotas (brand_id, max_queued_jobs, max_running_jobs, updated_by)
VALUES (%(brand_id)s, %(max_queued_jobs)s, %(max_running_jobs)s, %(updated_by)s)
ON CONFLICT (brand_id) DO UPDATE
SET max_queued_jobs = EXCLUDED.max_queued_jobs, max_running_jobs = EXCLUDED.max_running_jobs,
    updated_by = EXCLUDED.updated_by, updated_at = now();

-- name: insert_job
-- A new job is queued or, when ``lease_owner`` is given and no other job waits for a worker, leased at
-- once to that generator's idle worker and already checking: its claim costs no transaction of its own,
-- and no waiting job is overtaken.
WITH handoff AS (
    SELECT %(lease_owner)s::text IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM jobs
        WHERE state IN ('queued', 'checking', 'running', 'scoring')
          AND (lease_expires_at IS NULL OR lease_expires_at < now())
    ) AND (
        -- Not past the brand's running limit (0: none).
        coalesce((SELECT max_running_jobs FROM brand_quotas WHERE brand_id = %(brand_id)s),
                 %(max_running_per_brand)s) = 0
        OR (SELECT count(*) FROM jobs WHERE brand_id = %(brand_id)s
              AND state IN ('checking', 'running', 'scoring'))
           < coalesce((SELECT max_running_jobs FROM brand_quotas WHERE brand_id = %(brand_id)s),
                      %(max_running_per_brand)s)
    ) AS leased
)
INSERT INTO jobs (
    job_id, brand_id, idempotency_key, request_sha256, state, purpose, channel, territory,
    strict_attribute_check, storyboard, characters, created_by, progress, warnings, model,
    started_at, lease_id, lease_owner, lease_expires_at, attempts
)
SELECT %(job_id)s, %(brand_id)s, %(idempotency_key)s, %(request_sha256)s,
       CASE WHEN leased THEN 'checking' ELSE 'queued' END, %(purpose)s,
       %(channel)s, %(territory)s, %(strict_attribute_check)s, %(storyboard)s, %(characters)s,
       %(created_by)s, %(progress)s, %(warnings)s, %(model)s,
       CASE WHEN leased THEN now() END,
       CASE WHEN leased THEN gen_random_uuid() END,
       CASE WHEN leased THEN %(lease_owner)s::text END,
       CASE WHEN leased THEN now() + make_interval(secs => %(lease_s)s) END,
       CASE WHEN leased THEN 1 ELSE 0 END
FROM handoff
ON CONFLICT (brand_id, idempotency_key) DO NOTHING
RETURNING {columns};

-- name: get_job
SELECT {columns} FROM jobs WHERE brand_id = %(brand_id)s AND job_id = %(job_id)s;

-- name: get_job_by_id
SELECT {columns} FROM jobs WHERE job_id = %(job_id)s;

-- name: list_jobs
SELECT {columns} FROM jobs
WHERE brand_id = %(brand_id)s
  AND (%(state)s::text IS NULL OR state = %(state)s)
  AND (%(after_time)s::timestamptz IS NULL OR (created_at, job_id) < (%(after_time)s, %(after_id)s::uuid))
ORDER BY created_at DESC, job_id DESC
LIMIT %(limit)s;

-- name: append_event
-- Numbers the event from the job's counter, whose row lock orders one job's events by commit.
WITH numbered AS (
    UPDATE jobs SET last_event_sequence = last_event_sequence + 1
    WHERE job_id = %(job_id)s
    RETURNING last_event_sequence
)
INSERT INTO job_events (
    job_id, sequence, type, state, progress, message, shot_index, warning, shot_result, error
)
SELECT %(job_id)s, numbered.last_event_sequence, %(type)s, %(state)s, %(progress)s, %(message)s,
       %(shot_index)s, %(warning)s, %(shot_result)s, %(error)s
FROM numbered;

-- name: async_commit
-- This transaction's commit returns before its WAL reaches disk (flushed within a few hundred ms,
-- in order, and by the next synchronous commit).
SET LOCAL synchronous_commit = off;

-- name: events_after
SELECT job_id::text, sequence, event_time, type, state, progress, message, shot_index, warning,
       shot_result, error
FROM job_events
WHERE job_id = %(job_id)s AND sequence > %(after)s
ORDER BY sequence
LIMIT %(limit)s;

-- name: cancel_job
UPDATE jobs SET state = 'cancelled', finished_at = now(), lease_id = NULL, lease_owner = NULL,
                lease_expires_at = NULL
WHERE job_id = %(job_id)s;

-- name: claim_job
-- One runnable job whose lease is free or expired. Jobs whose attempt stopped come first; then the
-- brands take turns: the brand whose last job started longest ago (or never) goes next, so one brand's
-- flood cannot hold back another brand's job; within a brand, oldest first. SKIP LOCKED lets workers
-- of every replica claim concurrently without waiting on each other; the new lease_id fences the old
-- holder. A queued job moves to checking in the same change (the caller adds the event before
-- committing). A brand at its running limit (its own, or the default; 0: none) starts no more jobs
-- until one of its jobs ends; its stopped attempts still resume.
WITH candidate AS (
    SELECT job_id AS claimed_id, state AS previous_state FROM jobs runnable
    WHERE state IN ('queued', 'checking', 'running', 'scoring')
      AND (lease_expires_at IS NULL OR lease_expires_at < now())
      AND (state <> 'queued' OR (
          SELECT limits.running_limit = 0 OR (
              SELECT count(*) FROM jobs busy
              WHERE busy.brand_id = runnable.brand_id AND busy.state IN ('checking', 'running', 'scoring')
          ) < limits.running_limit
          FROM (SELECT coalesce(
              (SELECT max_running_jobs FROM brand_quotas WHERE brand_quotas.brand_id = runnable.brand_id),
              %(max_running_per_brand)s) AS running_limit) AS limits
      ))
    ORDER BY state = 'queued',
             (SELECT max(started_at) FROM jobs served WHERE served.brand_id = runnable.brand_id) NULLS FIRST,
             created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET lease_id = gen_random_uuid(), lease_owner = %(owner)s,
                lease_expires_at = now() + make_interval(secs => %(lease_s)s),
                attempts = attempts + 1,
                state = CASE WHEN previous_state = 'queued' THEN 'checking' ELSE state END,
                started_at = CASE WHEN previous_state = 'queued' THEN now() ELSE started_at END
FROM candidate
WHERE jobs.job_id = candidate.claimed_id
RETURNING {columns}, last_failure, previous_state;

-- name: heartbeat
UPDATE jobs SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
WHERE job_id = %(job_id)s AND lease_id = %(lease_id)s
  AND state IN ('queued', 'checking', 'running', 'scoring')
RETURNING state;

-- name: lock_leased_job
SELECT {columns} FROM jobs
WHERE job_id = %(job_id)s AND lease_id = %(lease_id)s
  AND state IN ('queued', 'checking', 'running', 'scoring')
FOR UPDATE;

-- name: release_lease
-- Give the job back for another attempt (a retriable failure), noting why.
UPDATE jobs SET lease_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
                last_failure = %(reason)s,
                attempts = attempts - CASE WHEN %(refund)s THEN 1 ELSE 0 END
WHERE job_id = %(job_id)s AND lease_id = %(lease_id)s;

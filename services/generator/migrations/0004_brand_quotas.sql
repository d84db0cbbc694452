-- A brand's own job limits in place of the platform's defaults (settings max_queued_jobs_per_brand and
-- max_running_jobs_per_brand); NULL keeps the default. Set by the platform's operators (SetBrandQuota).
CREATE TABLE brand_quotas (
    brand_id         text PRIMARY KEY,
    max_queued_jobs  integer CHECK (max_queued_jobs >= 0),
    max_running_jobs integer CHECK (max_running_jobs >= 0),
    updated_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Counting a brand's started, unfinished jobs (the running limit) by an index.
CREATE INDEX jobs_active_by_brand ON jobs (brand_id) WHERE state IN ('checking', 'running', 'scoring');

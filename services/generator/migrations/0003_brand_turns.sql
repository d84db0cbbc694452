-- Workers take brands in turn (claim_job): the latest start of each brand's jobs, found by an index.
CREATE INDEX jobs_started_by_brand ON jobs (brand_id, started_at DESC) WHERE started_at IS NOT NULL;

-- Jobs name their purpose and channel (as the assets registry stores them) instead of carrying the
-- contracts' enum numbers, which stay at the gRPC edges.
ALTER TABLE jobs ALTER COLUMN purpose TYPE text USING CASE purpose
    WHEN 1 THEN 'advertising' WHEN 2 THEN 'social' WHEN 3 THEN 'editorial' WHEN 4 THEN 'internal_testing'
    ELSE purpose::text END;
ALTER TABLE jobs ALTER COLUMN channel TYPE text USING CASE channel
    WHEN 1 THEN 'tv' WHEN 2 THEN 'online_video' WHEN 3 THEN 'social' WHEN 4 THEN 'print'
    WHEN 5 THEN 'out_of_home' WHEN 6 THEN 'internal' ELSE channel::text END;

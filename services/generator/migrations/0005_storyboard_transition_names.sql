-- Stored storyboards name their transition ("cut", "crossfade"; absent when not set) instead of
-- carrying the contract's enum number, which stays at the gRPC edge.
UPDATE jobs
SET storyboard = CASE storyboard->>'transition'
    WHEN '1' THEN jsonb_set(storyboard, '{transition}', '"cut"')
    WHEN '2' THEN jsonb_set(storyboard, '{transition}', '"crossfade"')
    ELSE storyboard - 'transition'
END
WHERE jsonb_typeof(storyboard->'transition') = 'number';

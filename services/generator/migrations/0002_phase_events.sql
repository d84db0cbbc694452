-- PHASE_CHANGED events: the job entered another phase of a shot or of its finishing (JobPhase).
ALTER TABLE job_events DROP CONSTRAINT job_events_type_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_type_check CHECK (
    type IN ('state_changed', 'progress', 'shot_started', 'shot_finished', 'warning', 'log', 'phase_changed')
);

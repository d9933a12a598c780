-- Cost tracking (docs/workflows.md, Cost tracking): what activities used, from the
-- usage and duration_ms of ActivityTaskCompleted/ActivityTaskFailed, summed over attempts
-- per node and over nodes per execution. `usage` maps a name the handler chose (tokens,
-- usd, ...) to a number.

ALTER TABLE node_executions ADD COLUMN duration_ms bigint;
ALTER TABLE node_executions ADD COLUMN usage jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE executions ADD COLUMN activity_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN usage jsonb NOT NULL DEFAULT '{}'::jsonb;

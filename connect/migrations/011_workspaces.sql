-- Workspaces (tenants): every execution and every workflow id belongs to one
-- (docs/workspaces.md). Rows from before workspaces are in 'default', as their events are.
-- Every query of the API filters on the caller's workspace, so the indexes the lists use
-- lead with it.

ALTER TABLE executions ADD COLUMN workspace text NOT NULL DEFAULT 'default';
CREATE INDEX executions_workspace_started_idx
    ON executions (workspace, started_at DESC, execution_id DESC);
CREATE INDEX executions_workspace_status_started_idx
    ON executions (workspace, status, started_at DESC, execution_id DESC);

ALTER TABLE workflow_definitions ADD COLUMN workspace text NOT NULL DEFAULT 'default';
CREATE INDEX workflow_definitions_workspace_idx
    ON workflow_definitions (workspace, workflow_id);

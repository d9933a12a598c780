-- LinkFlow visibility schema: a projection of the linkflow.history topic.
--
-- Written only by the visibility sink (connect/sink.py); everything here can be rebuilt by
-- replaying history from offset 0. Times are the events' own timestamps (timestamp_ms of the
-- history envelope), not the wall clock at write time, so a replay writes identical rows.
-- The history_events table holds the history as events; executions and node_executions
-- hold the fold of it. last_event_id on both projections is the id of the last history
-- event applied to the row: the sink never applies an event whose id is not greater, so a
-- replayed older event cannot move a row backwards.

CREATE TABLE executions (
    execution_id        text PRIMARY KEY,
    workflow_id         text NOT NULL,
    workflow_version    integer NOT NULL,
    status              text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'canceled',
                          'terminated', 'continued_as_new')),
    input               jsonb,
    output              jsonb,                -- WorkflowExecutionCompleted.output
    error               jsonb,                -- {type, message, retryable, node_id, details}
    started_at          timestamptz NOT NULL,
    closed_at           timestamptz,          -- set by the terminal event, NULL while running
    updated_at          timestamptz NOT NULL, -- timestamp of the last applied event
    last_event_id       bigint NOT NULL,      -- = history length once fully projected
    request_id          text,                 -- the StartWorkflow request id
    parent_execution_id text,
    parent_node_id      text,
    parent_scope        text,
    idempotency_key     text,
    execution_timeout_ms bigint,
    search_attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,  -- map<string,string>; filter with @>
    cancel_requested    boolean NOT NULL DEFAULT false,
    close_reason        text,                 -- reason of Canceled/Terminated
    new_execution_id    text                  -- ContinuedAsNew: the execution that continues
);

-- Keyset pagination: ORDER BY started_at DESC, execution_id DESC with
-- WHERE (started_at, execution_id) < ($cursor_started_at, $cursor_execution_id).
CREATE INDEX executions_started_idx
    ON executions (started_at DESC, execution_id DESC);
CREATE INDEX executions_status_started_idx
    ON executions (status, started_at DESC, execution_id DESC);
CREATE INDEX executions_workflow_started_idx
    ON executions (workflow_id, started_at DESC, execution_id DESC);
CREATE INDEX executions_search_attributes_idx
    ON executions USING gin (search_attributes);
CREATE INDEX executions_parent_idx
    ON executions (parent_execution_id) WHERE parent_execution_id IS NOT NULL;
CREATE INDEX executions_idempotency_idx
    ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- One row per node instance: a node runs at most once per scope ("" at top level,
-- "foreach1[3]" inside loops), retries are attempts of the same row.
CREATE TABLE node_executions (
    execution_id        text NOT NULL,
    node_id             text NOT NULL,
    scope               text NOT NULL DEFAULT '',
    status              text NOT NULL
        CHECK (status IN ('scheduled', 'running', 'completed', 'failed', 'skipped',
                          'canceled', 'timed_out')),
    attempt             integer NOT NULL DEFAULT 0,  -- 0 for nodes that are not activities
    activity_id         text,
    node_type           text,
    task_queue          text,
    child_execution_id  text,                 -- subworkflow nodes
    handle              text,                 -- NodeCompleted.handle (success/true/case:x/...)
    routed              boolean NOT NULL DEFAULT false,  -- NodeFailed taken by an error edge
    input               jsonb,
    output              jsonb,
    error               jsonb,                -- last error (kept while a retry is pending)
    scheduled_at        timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL,
    last_event_id       bigint NOT NULL,
    PRIMARY KEY (execution_id, node_id, scope)
);

CREATE TABLE history_events (
    execution_id        text NOT NULL,
    event_id            bigint NOT NULL,
    event_type          text NOT NULL,
    event_time          timestamptz NOT NULL,  -- envelope timestamp_ms
    attributes          jsonb NOT NULL,        -- the typed attributes; json payloads inlined
    PRIMARY KEY (execution_id, event_id)
);

-- The sink's Kafka offsets, written in the same transaction as the rows they produced.
CREATE TABLE sink_offsets (
    consumer_group      text NOT NULL,
    topic               text NOT NULL,
    partition           integer NOT NULL,
    next_offset         bigint NOT NULL,       -- the offset of the next record to project
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

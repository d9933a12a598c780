-- Registered workflow definitions, for the query service (linkflow/api/).
--
-- A projection of the compacted topic linkflow.definitions (key "id:version"): the API writes
-- a row when it registers a definition, and follows the topic so that definitions published
-- by other producers (the client SDK) appear too. Like the topic, the latest record of an
-- (id, version) wins. Numbered 010 so the visibility sink's own migrations keep 002-009.

CREATE TABLE workflow_definitions (
    workflow_id     text NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    definition      jsonb NOT NULL,          -- the whole document as registered
    registered_at   timestamptz NOT NULL,    -- registered_at_ms of the definition record
    PRIMARY KEY (workflow_id, version)
);

"""The OpenAPI 3.1 document of the query service, served at `GET /openapi.json`.

Written by hand next to the handlers; tests/integration/test_api_openapi.py fails when a
route or method is in the router but not here or the other way round, and checks the
answers of the running service against the response schemas below.
"""

from __future__ import annotations

from typing import Any

from linkflow.api.credentials import NAME as CREDENTIAL_NAME
from linkflow.api.executions import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT
from linkflow.api.filters import DEFAULT_LIMIT, MAX_LIMIT, STATUSES
from linkflow.limits import HISTORY_EVENTS
from linkflow.model.limits import MAX_ID_LENGTH, MAX_VERSION
from linkflow.secrets.records import TYPES as CREDENTIAL_TYPES

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema.update(extra)
    return schema


_STR = {"type": "string"}
_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
_OPTIONAL_STR = {"type": ["string", "null"], "description": "null: as if absent"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_ANY: Schema = {}
# Cursors are unpadded base64url (linkflow/api/pagination.py).
_CURSOR = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_TIME_PARAM = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[0-9]{1,13}$", "description": "epoch milliseconds"},
    ]
}
_EVENT_ID = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "default": 0}

SCHEMAS: dict[str, Schema] = {
    "DeadLetter": _obj(
        {
            "ref": {**_STR, "description": "partition:offset in linkflow.dlq"},
            "reason": _STR,
            "error_type": _nullable(_STR),
            "detail": _nullable(_STR),
            "source": _obj(
                {
                    "topic": _nullable(_STR),
                    "partition": _nullable(_INT),
                    "offset": _nullable(_INT),
                }
            ),
            "failed_at_ms": _nullable(_INT),
            "key": _nullable(_STR),
            "value_bytes": _INT,
        }
    ),
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": {**_STR, "description": "machine-readable reason, e.g. not_found"},
                    "message": {**_STR, "description": "for people"},
                    "parameter": {**_STR, "description": "the bad query parameter or header"},
                    "field": {**_STR, "description": "the bad request body field"},
                    "problems": {"type": "array", "items": _ref("Problem")},
                    "status": {**_STR, "description": "the status of a closed execution"},
                    "failed": {"type": "array", "items": _STR},
                },
                required=["code", "message"],
            )
        }
    ),
    "Problem": _obj(
        {
            "message": _STR,
            "node_id": _nullable(_STR),
            "edge": _nullable({**_STR, "description": 'e.g. "edges[2] (a -> b)"'}),
            "field": _nullable({**_STR, "description": 'dotted path, e.g. "config.url"'}),
        }
    ),
    "WorkflowDefinition": {
        "type": "object",
        "description": "A workflow definition document (see docs and linkflow.model).",
        "required": ["id", "version", "nodes"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
            "name": _STR,
            "description": _STR,
            "nodes": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            "edges": {"type": "array", "items": {"type": "object"}},
            "settings": {"type": "object"},
            "metadata": _ANY,
        },
    },
    "WorkflowRegistered": _obj(
        {
            "workflow_id": _STR,
            "version": _INT,
            "registered_at": _TIME,
            "created": {**_BOOL, "description": "false when this exact version already existed"},
            "warnings": {
                "type": "array",
                "items": _ref("Problem"),
                "description": "registered anyway: e.g. a subworkflow naming a workflow "
                "that is not registered yet",
            },
        }
    ),
    "WorkflowSummary": _obj(
        {
            "workflow_id": _STR,
            "latest_version": _INT,
            "version_count": _INT,
            "name": _nullable(_STR),
            "description": _nullable(_STR),
            "first_registered_at": _TIME,
            "last_registered_at": _TIME,
        }
    ),
    "WorkflowList": _obj(
        {
            "workflows": {"type": "array", "items": _ref("WorkflowSummary")},
            "next_cursor": _nullable(_CURSOR),
        }
    ),
    "WorkflowVersion": _obj(
        {"version": _INT, "registered_at": _TIME, "definition": _ref("WorkflowDefinition")}
    ),
    "Workflow": _obj(
        {
            "workflow_id": _STR,
            "latest_version": _INT,
            "versions": {"type": "array", "items": _ref("WorkflowVersion")},
        }
    ),
    "StartExecution": _obj(
        {
            "workflow_id": _ID,
            "workflow_version": {
                "anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                    {"type": "null"},
                ],
                "description": "null or absent: the latest registered version",
            },
            "input": {**_ANY, "description": "any JSON value: the execution input"},
            "idempotency_key": {
                "anyOf": [_ID, {"type": "null"}],
                "description": "starts with the same workflow and key create one execution",
            },
            "search_attributes": _STR_MAP,
        },
        required=["workflow_id"],
        additionalProperties=False,
    ),
    "StartAccepted": _obj(
        {
            "execution_id": _STR,
            "request_id": _STR,
            "workflow_id": _STR,
            "workflow_version": _nullable(_INT),
            "idempotency_key": _nullable(_STR),
            "execution": {
                **_nullable(_ref("Execution")),
                "description": "with ?wait: the execution when closed or at the deadline",
            },
        }
    ),
    "ExecutionStatus": {"type": "string", "enum": list(STATUSES)},
    "ExecutionSummary": _obj(
        {
            "execution_id": _STR,
            "workflow_id": _STR,
            "workflow_version": _INT,
            "status": _ref("ExecutionStatus"),
            "cancel_requested": _BOOL,
            "started_at": _TIME,
            "closed_at": _nullable(_TIME),
            "updated_at": _TIME,
            "last_event_id": _INT,
            "parent_execution_id": _nullable(_STR),
            "search_attributes": _STR_MAP,
            "workspace": {**_STR, "description": "the workspace the execution belongs to"},
        }
    ),
    "ExecutionList": _obj(
        {
            "executions": {"type": "array", "items": _ref("ExecutionSummary")},
            "next_cursor": _nullable(_CURSOR),
        }
    ),
    "Execution": {
        "allOf": [
            _ref("ExecutionSummary"),
            _obj(
                {
                    "input": _ANY,
                    "output": _ANY,
                    "error": _nullable(_ref("ExecutionError")),
                    "request_id": _nullable(_STR),
                    "parent_node_id": _nullable(_STR),
                    "parent_scope": _nullable(_STR),
                    "idempotency_key": _nullable(_STR),
                    "execution_timeout_ms": _nullable(_INT),
                    "close_reason": _nullable(_STR),
                    "new_execution_id": _nullable(_STR),
                    "nodes": {"type": "array", "items": _ref("NodeExecution")},
                    "cost": _ref("Cost"),
                }
            ),
        ]
    },
    "ExecutionError": {
        "type": "object",
        "properties": {
            "type": _STR,
            "message": _STR,
            "retryable": _BOOL,
            "node_id": _nullable(_STR),
            "details": _ANY,
        },
    },
    "Usage": {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "description": "what activities used, as their handlers reported it (tokens, usd, ...)",
    },
    "Cost": _obj(
        {
            "activity_ms": {**_INT, "description": "time the activities' handlers ran, summed"},
            "usage": _ref("Usage"),
            "attempts": {**_INT, "description": "activity attempts"},
            "bytes": {**_INT, "description": "JSON bytes into and out of the nodes"},
        }
    ),
    "WorkflowCosts": _obj(
        {
            "workflow_id": _STR,
            "executions": _INT,
            "running": _INT,
            "activity_ms": _INT,
            "usage": _ref("Usage"),
        }
    ),
    "NodeExecution": _obj(
        {
            "node_id": _STR,
            "scope": {**_STR, "description": '"" at top level, e.g. "loop[3]" in loops'},
            "status": {
                "type": "string",
                "enum": [
                    "scheduled",
                    "running",
                    "completed",
                    "failed",
                    "skipped",
                    "canceled",
                    "timed_out",
                ],
            },
            "attempt": _INT,
            "activity_id": _nullable(_STR),
            "node_type": _nullable(_STR),
            "task_queue": _nullable(_STR),
            "child_execution_id": _nullable(_STR),
            "handle": _nullable(_STR),
            "routed": _BOOL,
            "input": _ANY,
            "output": _ANY,
            "error": _nullable(_ref("ExecutionError")),
            "scheduled_at": _nullable(_TIME),
            "started_at": _nullable(_TIME),
            "finished_at": _nullable(_TIME),
            "updated_at": _TIME,
            "last_event_id": _INT,
            "duration_ms": {
                **_nullable(_INT),
                "description": "time its handler ran, summed over attempts",
            },
            "usage": _ref("Usage"),
            "bytes": {**_INT, "description": "JSON bytes of its input and output"},
        }
    ),
    "HistoryEvent": _obj(
        {
            "event_id": _INT,
            "event_type": _STR,
            "event_time": _TIME,
            "attributes": {"type": "object", "description": "see docs/events.md"},
        }
    ),
    "SseEnd": _obj(
        {
            "execution_id": _STR,
            "status": _STR,
            "last_event_id": _INT,
        }
    ),
    "HistoryPage": _obj(
        {
            "execution_id": _STR,
            "events": {"type": "array", "items": _ref("HistoryEvent")},
            "next_after": {
                **_nullable(_INT),
                "description": "pass as ?after= for the next page; null on the last page",
            },
        }
    ),
    "Signal": _obj(
        {"name": _ID, "payload": _ANY},
        required=["name"],
        additionalProperties=False,
    ),
    "Stop": _obj(
        {"reason": _OPTIONAL_STR, "identity": _OPTIONAL_STR},
        required=[],
        additionalProperties=False,
    ),
    "CredentialSummary": _obj(
        {
            "name": _STR,
            "type": _STR,
            "updated_at_ms": {**_INT, "description": "when it was last stored"},
        }
    ),
    "Reset": _obj(
        {
            "event_id": {
                **_INT,
                "minimum": 1,
                "maximum": HISTORY_EVENTS.maximum,
                "description": "the event to go on from (the cut moves to the end of its decision)",
            },
            "reason": _OPTIONAL_STR,
            "identity": _OPTIONAL_STR,
        },
        required=["event_id"],
        additionalProperties=False,
    ),
    "ResetAccepted": _obj(
        {
            "execution_id": {**_STR, "description": "the new run"},
            "request_id": _STR,
            "source_execution_id": _STR,
            "reset_event_id": _INT,
            "last_event_id": {**_INT, "description": "the last event copied from the source"},
            "source_terminated": {
                **_BOOL,
                "description": "true: the source was running and is being terminated",
            },
        }
    ),
    "CommandAccepted": _obj(
        {
            "execution_id": _STR,
            "request_id": _STR,
            "execution_visible": {
                **_BOOL,
                "description": "false: the views do not show the execution yet (it may have "
                "just started); the engine decides the command after the start, or "
                "dead-letters it (reason unknown_execution) if the execution never started",
            },
        }
    ),
    "Health": _obj({"status": {"type": "string", "enum": ["ok"]}}),
    "Check": _obj({"ok": _BOOL, "error": _STR}, required=["ok"]),
    "Ready": _obj(
        {
            "status": {"type": "string", "enum": ["ready"]},
            "checks": _obj({"kafka": _ref("Check"), "postgres": _ref("Check")}),
        }
    ),
    "NotReady": {
        "allOf": [
            _ref("Error"),
            _obj({"checks": _obj({"kafka": _ref("Check"), "postgres": _ref("Check")})}),
        ]
    },
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(_ref("Error"), description)


def _query(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _path(name: str) -> Schema:
    schema = {"type": "string", "maxLength": MAX_ID_LENGTH}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _limit(default: int, maximum: int) -> Schema:
    return _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
        "page size",
    )


_BAD = _error("bad JSON, body field or query parameter")
_UNAVAILABLE = _error("Kafka or Postgres unavailable")
_EXECUTION_ID = _path("execution_id")
_CLOSED = _error("the execution is already closed")
# Any request with a body: larger than 1 MiB or a payload above the payload limit (413), or
# a body that did not arrive within the read timeout (408).
_BODY_ERRORS = {
    "408": _error("the request body did not arrive in time"),
    "413": _error("the body, or a payload in it, is too large"),
}


def _credential_body(kind: str) -> Schema:
    required, optional = CREDENTIAL_TYPES[kind]
    secret = {**_STR, "minLength": 1}
    fields = {name: secret for name in required + optional}
    data = (
        {"type": "object", "additionalProperties": secret, "minProperties": 1}
        if kind == "headers"
        else _obj(fields, required=list(required), additionalProperties=False)
    )
    return _obj(
        {
            "name": {**_STR, "pattern": CREDENTIAL_NAME.pattern},
            "type": {**_STR, "enum": [kind]},
            "data": data,
        },
        required=["name", "type", "data"],
        additionalProperties=False,
    )


def _command(operation_id: str, summary: str, body: Schema, required: bool) -> Schema:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["executions"],
            "parameters": [_EXECUTION_ID],
            "requestBody": {"required": required, "content": {JSON: {"schema": body}}},
            "responses": {
                "202": _json(_ref("CommandAccepted"), "the command is on linkflow.commands"),
                "400": _BAD,
                **_BODY_ERRORS,
                "409": _CLOSED,
                "503": _UNAVAILABLE,
            },
        }
    }


PATHS: dict[str, Schema] = {
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness: the process serves HTTP",
            "tags": ["operations"],
            "responses": {"200": _json(_ref("Health"), "alive")},
        }
    },
    "/v1/whoami": {
        "get": {
            "operationId": "whoami",
            "summary": "The caller's name, role, workspace and permissions (all permissions "
            "and authenticated false when the API has no tokens configured)",
            "tags": ["operations"],
            "responses": {
                "200": _json(
                    _obj(
                        {
                            "authenticated": _BOOL,
                            "name": _nullable(_STR),
                            "role": _nullable(_STR),
                            "workspace": _nullable(_STR),
                            "permissions": {"type": "array", "items": _STR},
                        }
                    ),
                    "the caller",
                )
            },
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness: Kafka metadata and a Postgres query both answer",
            "tags": ["operations"],
            "responses": {
                "200": _json(_ref("Ready"), "ready"),
                "503": _json(_ref("NotReady"), "not ready; `failed` names the services"),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics of this process",
            "tags": ["operations"],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": _STR}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["operations"],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
        }
    },
    "/ui": {
        "get": {
            "operationId": "uiRedirect",
            "summary": "Redirects to /ui/",
            "tags": ["ui"],
            "responses": {"302": {"description": "to /ui/"}},
        }
    },
    "/ui/": {
        "get": {
            "operationId": "ui",
            "summary": "The web UI: executions, one execution's graph, nodes and history, "
            "signal/cancel/terminate",
            "tags": ["ui"],
            "responses": {
                "200": {"description": "the page", "content": {"text/html": {"schema": _STR}}}
            },
        }
    },
    "/ui/{name}": {
        "get": {
            "operationId": "uiFile",
            "summary": "A file of the web UI (app.js, style.css)",
            "tags": ["ui"],
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": _STR},
            ],
            "responses": {
                "200": {
                    "description": "the file",
                    "content": {"text/javascript": {"schema": _STR}},
                },
                "404": _json(_ref("Error"), "no such file"),
            },
        }
    },
    "/v1/workflows": {
        "post": {
            "operationId": "registerWorkflow",
            "summary": "Validate and register a workflow definition version",
            "tags": ["workflows"],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("WorkflowDefinition")}},
            },
            "responses": {
                "200": _json(_ref("WorkflowRegistered"), "this exact version already existed"),
                "201": _json(_ref("WorkflowRegistered"), "registered"),
                "400": _BAD,
                **_BODY_ERRORS,
                "409": _error(
                    "this version exists with a different definition, or the workflow id "
                    "belongs to another workspace"
                ),
                "422": _error("invalid definition; `problems` lists every problem"),
                "503": _UNAVAILABLE,
            },
        },
        "get": {
            "operationId": "listWorkflows",
            "summary": "Registered workflows with their latest version, by id",
            "tags": ["workflows"],
            "parameters": [
                _limit(100, 500),
                _query("cursor", _CURSOR, "next_cursor of the previous page"),
            ],
            "responses": {
                "200": _json(_ref("WorkflowList"), "one page"),
                "400": _BAD,
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/workflows/{workflow_id}": {
        "get": {
            "operationId": "getWorkflow",
            "summary": "A workflow with all its versions, newest first",
            "tags": ["workflows"],
            "parameters": [_path("workflow_id")],
            "responses": {
                "200": _json(_ref("Workflow"), "the workflow"),
                "400": _BAD,
                "404": _error("unknown workflow"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/workflows/{workflow_id}/costs": {
        "get": {
            "operationId": "getWorkflowCosts",
            "summary": "What the workflow's executions used, summed: activity time and the "
            "usage their handlers reported",
            "tags": ["workflows"],
            "parameters": [_path("workflow_id")],
            "responses": {
                "200": _json(_ref("WorkflowCosts"), "the sums"),
                "400": _BAD,
                "404": _error("unknown workflow"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/executions": {
        "post": {
            "operationId": "startExecution",
            "summary": "Start an execution of a registered workflow",
            "tags": ["executions"],
            "parameters": [
                _query(
                    "wait",
                    {"type": "number", "minimum": 0, "maximum": 60, "default": 0},
                    "seconds to wait for the execution to close before answering",
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("StartExecution")}},
            },
            "responses": {
                "200": _json(_ref("StartAccepted"), "with ?wait: the execution closed in time"),
                "202": _json(_ref("StartAccepted"), "the start command is on linkflow.commands"),
                "400": _BAD,
                **_BODY_ERRORS,
                "404": _error("unknown workflow or version"),
                "503": _UNAVAILABLE,
            },
        },
        "get": {
            "operationId": "listExecutions",
            "summary": "Executions by filter, a keyset page at a time, by start time",
            # OpenAPI cannot declare a family of parameter names, so sa.* is described here.
            "description": "Search attributes filter with any number of `sa.<name>=<value>` "
            "query parameters; an execution matches when it has all of them. Unknown "
            "parameters are rejected with 400.",
            "tags": ["executions"],
            "parameters": [
                _query(
                    "status",
                    {"type": "array", "items": _ref("ExecutionStatus")},
                    "repeat for several (comma-separated works too)",
                ),
                _query(
                    "workflow_id",
                    {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "repeat for several",
                ),
                _query(
                    "parent_execution_id",
                    {"type": "string", "minLength": 1},
                    "children of this execution",
                ),
                _query("started_after", _TIME_PARAM, "inclusive"),
                _query("started_before", _TIME_PARAM, "exclusive"),
                _query("order", {"type": "string", "enum": ["desc", "asc"]}, "by started_at"),
                _limit(DEFAULT_LIMIT, MAX_LIMIT),
                _query("cursor", _CURSOR, "next_cursor of the previous page (same order)"),
            ],
            "responses": {
                "200": _json(_ref("ExecutionList"), "one page"),
                "400": _BAD,
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/executions/{execution_id}": {
        "get": {
            "operationId": "getExecution",
            "summary": "One execution with the state of each node instance",
            "tags": ["executions"],
            "parameters": [_EXECUTION_ID],
            "responses": {
                "200": _json(_ref("Execution"), "the execution"),
                "400": _BAD,
                "404": _error("unknown execution"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/executions/{execution_id}/history": {
        "get": {
            "operationId": "getExecutionHistory",
            "summary": "History events in event id order, a page at a time",
            "tags": ["executions"],
            "parameters": [
                _EXECUTION_ID,
                _query("after", _EVENT_ID, "return events with a greater event id"),
                _limit(HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT),
            ],
            "responses": {
                "200": _json(_ref("HistoryPage"), "one page"),
                "400": _BAD,
                "404": _error("unknown execution"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/executions/{execution_id}/events": {
        "get": {
            "operationId": "streamExecutionEvents",
            "summary": "Live tail of the history as Server-Sent Events",
            "description": "Each message: `id:` the event id, `data:` a HistoryEvent as JSON. "
            "Resume with the Last-Event-ID header or ?after=. When the execution is closed "
            "and its last event sent, an `event: end` message ends the stream.",
            "tags": ["executions"],
            "parameters": [
                _EXECUTION_ID,
                _query("after", _EVENT_ID, "start after this event id"),
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    "description": "wins over ?after=",
                },
            ],
            "responses": {
                "200": {
                    "description": "text/event-stream of HistoryEvent messages",
                    "content": {
                        "text/event-stream": {
                            "schema": {
                                "type": "string",
                                "description": "a `retry:` line; then per event `id: "
                                "<event_id>` and `data: <HistoryEvent as JSON>`; once the "
                                "execution is closed and its last event sent, `event: end` "
                                "and `data: <SseEnd as JSON>`; `: keepalive` comments "
                                "while idle",
                            },
                            "x-item-schema": {
                                "oneOf": [_ref("HistoryEvent"), _ref("SseEnd")],
                            },
                        }
                    },
                },
                "400": _BAD,
                "404": _error("unknown execution"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/executions/{execution_id}/signal": _command(
        "signalExecution", "Send a named signal to an open execution", _ref("Signal"), True
    ),
    "/v1/executions/{execution_id}/cancel": _command(
        "cancelExecution", "Cancel gracefully: nothing new starts", _ref("Stop"), False
    ),
    "/v1/executions/{execution_id}/terminate": _command(
        "terminateExecution", "Stop immediately, without cleanup", _ref("Stop"), False
    ),
    "/v1/executions/{execution_id}/reset": {
        "post": {
            "operationId": "resetExecution",
            "summary": "Start a new run that goes on from an event of this execution's history",
            "description": "Copies the events up to the end of the decision that wrote "
            "event_id into a new execution, which goes on from there (pending timers keep "
            "the time they had left, attempts that were out run again). A running source "
            "is terminated. See docs/workflows.md, Reset.",
            "tags": ["executions"],
            "parameters": [_EXECUTION_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Reset")}}},
            "responses": {
                "202": _json(_ref("ResetAccepted"), "the reset command is on linkflow.commands"),
                "400": _BAD,
                **_BODY_ERRORS,
                "404": _error("unknown execution"),
                "422": _error("the execution cannot be reset to that event (the reason)"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/dlq": {
        "get": {
            "operationId": "listDeadLetters",
            "summary": "Records of linkflow.dlq, newest first, with why each could not be "
            "processed (read from the topic's beginning: meant for a DLQ that is kept small)",
            "tags": ["operations"],
            "parameters": [
                _query("reason", _STR, "only dead letters with this reason"),
                _query("limit", {**_INT, "minimum": 1, "maximum": 10_000, "default": 100}, ""),
            ],
            "responses": {
                "200": _json(
                    _obj(
                        {
                            "total": {**_INT, "description": "matching, before the limit"},
                            "dead_letters": {"type": "array", "items": _ref("DeadLetter")},
                        }
                    ),
                    "dead letters",
                ),
                "400": _BAD,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/credentials": {
        "post": {
            "operationId": "setCredential",
            "summary": "Store (or replace) a credential, encrypted with LINKFLOW_APP_KEY",
            "description": "Types and fields: bearer {token}, basic {username, password}, "
            "api_key {key, header?}, headers {any}. Nodes name it in `credentials`; only "
            "workers decrypt it. No response ever holds the fields.",
            "tags": ["credentials"],
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": {"oneOf": [_credential_body(k) for k in CREDENTIAL_TYPES]}}
                },
            },
            "responses": {
                "201": _json(_ref("CredentialSummary"), "stored"),
                "400": _BAD,
                **_BODY_ERRORS,
                "409": _error("the API has no LINKFLOW_APP_KEY to encrypt with"),
                "503": _UNAVAILABLE,
            },
        },
        "get": {
            "operationId": "listCredentials",
            "summary": "The stored credentials' names and types (never their fields)",
            "tags": ["credentials"],
            "responses": {
                "200": _json(
                    _obj({"credentials": {"type": "array", "items": _ref("CredentialSummary")}}),
                    "stored credentials",
                ),
                "400": _BAD,
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/credentials/{name}": {
        "delete": {
            "operationId": "deleteCredential",
            "summary": "Delete a stored credential",
            "tags": ["credentials"],
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": _STR},
            ],
            "responses": {
                "200": _json(_obj({"name": _STR, "deleted": _BOOL}), "deleted"),
                "400": _BAD,
                "404": _error("no such credential"),
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/dlq/requeue": {
        "post": {
            "operationId": "requeueDeadLetters",
            "summary": "Send dead letters back to the topic they came from",
            "tags": ["operations"],
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": _obj(
                            {
                                "refs": {
                                    "type": "array",
                                    "items": {**_STR, "description": "partition:offset"},
                                    "minItems": 1,
                                    "maxItems": 1000,
                                }
                            },
                            additionalProperties=False,
                        )
                    }
                },
            },
            "responses": {
                "202": _json(
                    _obj({"requeued": _INT, "to": _STR_MAP}), "sent back to their source topics"
                ),
                "400": _BAD,
                **_BODY_ERRORS,
                "404": _error("no dead letter with one of the refs"),
                "422": _error("a dead letter that does not say where it came from"),
                "503": _UNAVAILABLE,
            },
        }
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LinkFlow query service",
            "version": "1",
            "description": "Workflows, executions, history and commands of LinkFlow. Reads "
            "come from the Postgres visibility projection of linkflow.history; writes publish "
            "commands to Kafka and answer once Kafka has them. Errors are "
            '{"error": {"code", "message"}}. Strings must not contain U+0000 (PostgreSQL '
            "cannot store it): a body or parameter holding it is refused with 400, and an id "
            "holding it names nothing (404).",
        },
        "tags": [{"name": "workflows"}, {"name": "executions"}, {"name": "operations"}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }

"""Prometheus metrics shared by every LinkFlow process (one definition per name, here).

Import the metric you update; never define a LinkFlow metric elsewhere, so names, labels and
buckets stay consistent and the Grafana dashboard (deploy/grafana/linkflow.json) keeps working.
Processes without an HTTP server call `serve(port)`; the aiohttp API serves `render()`.

Names (all in the default registry; label names in braces):

Executions (history processor, when it appends the event)
  linkflow_executions_started_total{workflow_id}             counter
  linkflow_executions_completed_total{workflow_id,status}    counter; status is the terminal
      status: completed, failed, timed_out, canceled, terminated, continued_as_new
  linkflow_execution_duration_seconds{workflow_id,status}    histogram, start to close
  linkflow_history_events_total{event_type}                  counter, events appended
  linkflow_processor_batch_seconds{processor}                histogram, one input batch
  linkflow_inputs_ignored_total{reason}                      counter, inputs that changed
      nothing (the engine's reason: execution closed, stale activity result, ...)
Activities (workers)
  linkflow_activity_duration_seconds{node_type,outcome}      histogram, one attempt;
      outcome: completed, failed, timed_out, canceled
  linkflow_activities_total{node_type,outcome}               counter, attempts run
  linkflow_activity_schedule_to_start_seconds{task_queue}   histogram, queueing delay
  linkflow_worker_activities_in_flight                       gauge
  linkflow_worker_dead_letters_total{reason}                 counter, undecodable tasks
  linkflow_worker_rate_limited_seconds_total                 counter, waits for --rate-limit
  linkflow_circuit_open{circuit}                             gauge, 1 while the circuit
      breaker of an integration is open (linkflow.worker.circuits)
Kafka consumers (any consumer group)
  linkflow_consumer_lag_messages{group,topic,partition}      gauge, high watermark - position
Timers (timers processor)
  linkflow_timer_lateness_seconds                            histogram, fired - due time
  linkflow_timers_pending                                    gauge
Dead letters
  linkflow_dead_letters_total{source,reason}                 counter
HTTP API (route is the route template, e.g. /v1/executions/{id}, never the raw path)
  linkflow_definitions_skipped_total{reason}                 counter, definition records the
      catalog could not store: undecodable, unstorable (logged with the record's offset)
  linkflow_api_requests_total{method,route,status}           counter
  linkflow_api_request_duration_seconds{method,route}        histogram (SSE: stream life)
  linkflow_api_commands_published_total{type}                counter
  linkflow_api_sse_streams                                   gauge, open event streams
Visibility sink
  linkflow_sink_events_total                                 counter, events projected
  linkflow_sink_batch_seconds                                histogram, one batch transaction
  linkflow_sink_batch_events                                 histogram, records per batch
  linkflow_sink_lag_messages{topic,partition}                gauge, high watermark - position
  linkflow_sink_db_retries_total                             counter, batch writes retried
      after a database error (an outage shows as a steady rate)
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

# Latency of one step of a workflow: sub-millisecond transforms up to minutes-long calls.
_DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
# Whole executions run from milliseconds to days.
_EXECUTION_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 21600.0, 86400.0, 604800.0,
)  # fmt: skip
# Timers should fire within tens of milliseconds of their due time; the tail shows outages.
_LATENESS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip
_API_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_SIZE_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 2500, 5000, 10000)

EXECUTIONS_STARTED = Counter(
    "linkflow_executions_started",
    "Workflow executions started (WorkflowExecutionStarted appended).",
    ["workflow_id"],
)
EXECUTIONS_COMPLETED = Counter(
    "linkflow_executions_completed",
    "Workflow executions that reached a terminal status, by that status.",
    ["workflow_id", "status"],
)
EXECUTION_DURATION = Histogram(
    "linkflow_execution_duration_seconds",
    "Time from an execution's start to its terminal event.",
    ["workflow_id", "status"],
    buckets=_EXECUTION_BUCKETS,
)
HISTORY_EVENTS = Counter(
    "linkflow_history_events",
    "History events appended to linkflow.history.",
    ["event_type"],
)
DEFINITIONS_SKIPPED = Counter(
    "linkflow_definitions_skipped",
    "linkflow.definitions records the API's catalog could not store (each instance "
    "counts what it read), by reason: undecodable, unstorable.",
    ["reason"],
)
INPUTS_IGNORED = Counter(
    "linkflow_inputs_ignored",
    "Inputs the engine decided to change nothing, by its reason (a late result of a "
    "closed execution, a duplicate signal, a stale activity result, ...).",
    ["reason"],
)
PROCESSOR_BATCH_SECONDS = Histogram(
    "linkflow_processor_batch_seconds",
    "Time to decide and write one batch of inputs.",
    ["processor"],
    buckets=_BATCH_BUCKETS,
)

ACTIVITY_SCHEDULE_TO_START = Histogram(
    "linkflow_activity_schedule_to_start_seconds",
    "Time an activity task waited in its queue before a worker started it.",
    ["task_queue"],
    buckets=_DURATION_BUCKETS,
)

CONSUMER_LAG = Gauge(
    "linkflow_consumer_lag_messages",
    "Records between a consumer group's position and the partition's high watermark.",
    ["group", "topic", "partition"],
)

TIMER_LATENESS = Histogram(
    "linkflow_timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=_LATENESS_BUCKETS,
)
TIMERS_PENDING = Gauge("linkflow_timers_pending", "Timers registered and not yet fired.")

DEAD_LETTERS = Counter(
    "linkflow_dead_letters",
    "Records sent to the dead-letter topic, by the component that gave up and why.",
    ["source", "reason"],
)

API_REQUESTS = Counter(
    "linkflow_api_requests",
    "HTTP requests answered by the query service.",
    ["method", "route", "status"],
)
API_REQUEST_DURATION = Histogram(
    "linkflow_api_request_duration_seconds",
    "Time to answer an HTTP request (for SSE: the life of the stream).",
    ["method", "route"],
    buckets=_API_BUCKETS,
)
API_COMMANDS_PUBLISHED = Counter(
    "linkflow_api_commands_published",
    "Commands and definitions the query service published to Kafka.",
    ["type"],
)
API_SSE_STREAMS = Gauge("linkflow_api_sse_streams", "Open Server-Sent Events streams.")

SINK_EVENTS = Counter(
    "linkflow_sink_events", "History events projected into PostgreSQL by the visibility sink."
)
SINK_BATCH_SECONDS = Histogram(
    "linkflow_sink_batch_seconds",
    "Time to project one batch into PostgreSQL (one transaction).",
    buckets=_BATCH_BUCKETS,
)
SINK_BATCH_EVENTS = Histogram(
    "linkflow_sink_batch_events",
    "History records per sink batch.",
    buckets=_BATCH_SIZE_BUCKETS,
)
SINK_LAG = Gauge(
    "linkflow_sink_lag_messages",
    "History records not yet projected, per partition (high watermark - sink position).",
    ["topic", "partition"],
)
SINK_DB_RETRIES = Counter(
    "linkflow_sink_db_retries",
    "Sink batch writes retried after a database error.",
)


_WORKER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
ACTIVITY_DURATION = Histogram(
    "linkflow_activity_duration_seconds",
    "Time from starting an activity attempt to its outcome.",
    ["node_type", "outcome"],
    buckets=_WORKER_BUCKETS,
)
ACTIVITIES = Counter(
    "linkflow_activities",
    "Activity attempts run, by node type and outcome (completed, failed, timed_out, canceled).",
    ["node_type", "outcome"],
)
WORKER_DEAD_LETTERS = Counter(
    "linkflow_worker_dead_letters",
    "Task messages sent to the dead letter topic, by reason.",
    ["reason"],
)
WORKER_ACTIVITIES_IN_FLIGHT = Gauge(
    "linkflow_worker_activities_in_flight", "Activities running right now."
)
WORKER_RATE_LIMITED_SECONDS = Counter(
    "linkflow_worker_rate_limited_seconds",
    "Seconds attempts waited for the worker's --rate-limit before starting.",
)
CIRCUIT_OPEN = Gauge(
    "linkflow_circuit_open",
    "1 while the circuit breaker of an integration is open (linkflow.worker.circuits).",
    ["circuit"],
)


def serve(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> int:
    """Serve /metrics on a background thread for processes without an HTTP server.

    Returns the bound port (pass 0 for any free port).
    """
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return int(server.server_port)


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The exposition text and its content type, for an HTTP handler's /metrics."""
    return generate_latest(registry), CONTENT_TYPE_LATEST

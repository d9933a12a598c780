"""Prometheus metrics of the worker (served by `linkflow worker --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACTIVITY_DURATION = Histogram(
    "linkflow_activity_duration_seconds",
    "Time from starting an activity attempt to its outcome.",
    ["node_type", "outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ACTIVITIES = Counter(
    "linkflow_activities",  # exported as linkflow_activities_total
    "Activity attempts run, by node type and outcome (completed, failed, timed_out, canceled).",
    ["node_type", "outcome"],
)
DEAD_LETTERS = Counter(
    "linkflow_worker_dead_letters",
    "Task messages sent to the dead letter topic, by reason.",
    ["reason"],
)
IN_FLIGHT = Gauge("linkflow_worker_activities_in_flight", "Activities running right now.")

# A node type arrives from the wire: unknown ones share one label value so a stream of
# garbage cannot create unbounded time series.
UNKNOWN_NODE_TYPE_LABEL = "_unknown"

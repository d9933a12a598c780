"""The worker's metrics (served by `linkflow worker --metrics-port`), as linkflow.metrics
declares them."""

from __future__ import annotations

from linkflow.metrics import ACTIVITIES, ACTIVITY_DURATION, CIRCUIT_OPEN
from linkflow.metrics import WORKER_ACTIVITIES_IN_FLIGHT as IN_FLIGHT
from linkflow.metrics import WORKER_DEAD_LETTERS as DEAD_LETTERS

# A node type arrives from the wire: unknown ones share one label value so a stream of
# garbage cannot create unbounded time series.
UNKNOWN_NODE_TYPE_LABEL = "_unknown"

__all__ = [
    "ACTIVITIES",
    "ACTIVITY_DURATION",
    "CIRCUIT_OPEN",
    "DEAD_LETTERS",
    "IN_FLIGHT",
    "UNKNOWN_NODE_TYPE_LABEL",
]

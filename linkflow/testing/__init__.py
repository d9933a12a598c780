"""Testing workflows without Kafka: an in-memory runner over the pure engine with plain-function
activity handlers and a controllable clock (loosely after temporalio.testing)."""

from linkflow.testing.activities import NO_REPLY, ActivityContext, ActivityError, Delayed
from linkflow.testing.builder import chain, edge, node, trigger, with_options, workflow
from linkflow.testing.env import (
    WorkflowFailedError,
    WorkflowRun,
    WorkflowStalled,
    WorkflowTestEnv,
)
from linkflow.testing.history import (
    dump_history,
    fold_history,
    history_from_json,
    history_to_json,
    load_history,
)

__all__ = [
    "NO_REPLY",
    "ActivityContext",
    "ActivityError",
    "Delayed",
    "WorkflowFailedError",
    "WorkflowRun",
    "WorkflowStalled",
    "WorkflowTestEnv",
    "chain",
    "dump_history",
    "edge",
    "fold_history",
    "history_from_json",
    "history_to_json",
    "load_history",
    "node",
    "trigger",
    "with_options",
    "workflow",
]

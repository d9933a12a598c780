"""Deciders, one module per input type, registered by input type."""

from linkflow.engine.deciders import (  # noqa: F401  (importing registers them)
    activity_completed,
    activity_failed,
    activity_heartbeat,
    activity_started,
    cancel_workflow,
    child_workflow_outcome,
    reset_workflow,
    signal_workflow,
    start_workflow,
    terminate_workflow,
    timer_fired,
)
from linkflow.engine.deciders.registry import DECIDERS, decides

__all__ = ["DECIDERS", "decides"]

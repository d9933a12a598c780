"""Appliers, one module per event type, registered by event type (and version)."""

from linkflow.engine.appliers import (  # noqa: F401  (importing registers them)
    activity_task_canceled,
    activity_task_completed,
    activity_task_failed,
    activity_task_scheduled,
    activity_task_started,
    activity_task_timed_out,
    child_workflow_execution_completed,
    child_workflow_execution_failed,
    child_workflow_execution_started,
    compensation_completed,
    compensation_failed,
    compensation_started,
    marker_recorded,
    node_completed,
    node_failed,
    node_skipped,
    timer_canceled,
    timer_fired,
    timer_started,
    workflow_execution_cancel_requested,
    workflow_execution_canceled,
    workflow_execution_completed,
    workflow_execution_continued_as_new,
    workflow_execution_failed,
    workflow_execution_signaled,
    workflow_execution_started,
    workflow_execution_terminated,
    workflow_execution_timed_out,
)
from linkflow.engine.appliers.registry import (
    ReplayError,
    applies,
    apply_event,
    fold,
    registered_event_types,
)

__all__ = ["ReplayError", "applies", "apply_event", "fold", "registered_event_types"]

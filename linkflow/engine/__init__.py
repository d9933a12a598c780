"""The pure engine: appliers change execution state, deciders turn inputs into events,
effects derive from events. No I/O, clock or randomness (see DESIGN.md)."""

from linkflow.engine import events, inputs
from linkflow.engine.appliers import ReplayError, apply_event, fold
from linkflow.engine.effects import (
    ActivityTask,
    CancelActivityTask,
    CancelChildWorkflow,
    CancelTimer,
    Effect,
    NotifyParent,
    ScheduleTimer,
    StartChildWorkflow,
    TerminateChildWorkflow,
    effects_of,
    outstanding_effects,
)
from linkflow.engine.engine import Decision, Engine
from linkflow.engine.events import EVENT_TYPES, TERMINAL_EVENT_TYPES, Error, HistoryEvent
from linkflow.engine.inputs import (
    ActivityCompleted,
    ActivityFailed,
    ActivityHeartbeat,
    ActivityStarted,
    CancelWorkflow,
    ChildWorkflowOutcome,
    EngineInput,
    Input,
    ResetWorkflow,
    SignalWorkflow,
    StartWorkflow,
    TerminateWorkflow,
    input_from_dict,
)
from linkflow.engine.inputs import TimerFired as FireTimer
from linkflow.engine.scheduler import EngineBug
from linkflow.engine.state import ExecutionState

__all__ = [
    "EVENT_TYPES",
    "TERMINAL_EVENT_TYPES",
    "ActivityCompleted",
    "ActivityFailed",
    "ActivityHeartbeat",
    "ActivityStarted",
    "ActivityTask",
    "CancelActivityTask",
    "CancelChildWorkflow",
    "CancelTimer",
    "CancelWorkflow",
    "ChildWorkflowOutcome",
    "Decision",
    "Effect",
    "Engine",
    "EngineBug",
    "EngineInput",
    "Error",
    "ExecutionState",
    "FireTimer",
    "HistoryEvent",
    "Input",
    "NotifyParent",
    "ReplayError",
    "ResetWorkflow",
    "ScheduleTimer",
    "SignalWorkflow",
    "StartChildWorkflow",
    "StartWorkflow",
    "TerminateChildWorkflow",
    "TerminateWorkflow",
    "apply_event",
    "effects_of",
    "events",
    "fold",
    "input_from_dict",
    "inputs",
    "outstanding_effects",
]

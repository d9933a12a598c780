"""Appliers by event type (and schema version). An applier is the only code that changes an
ExecutionState; it mutates the state in place (see linkflow.engine.state)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from linkflow.engine.events import EventAttributes, HistoryEvent
from linkflow.engine.state import ExecutionState
from linkflow.model.catalog import PlanSource

A = TypeVar("A", bound=EventAttributes)
Applier = Callable[[ExecutionState, HistoryEvent, Any], None]

# (event type name, version) -> applier. Every event type is at version 1 so far; a changed
# event shape gets a new version and its own applier, so old histories still replay.
_APPLIERS: dict[tuple[str, int], Applier] = {}
_BY_CLASS: dict[type[EventAttributes], Applier] = {}


class ReplayError(RuntimeError):
    """A history that cannot be applied (gap in event ids, wrong execution, no applier)."""


def applies(
    cls: type[A], version: int = 1
) -> Callable[[Callable[[ExecutionState, HistoryEvent, A], None]], Applier]:
    def register(fn: Callable[[ExecutionState, HistoryEvent, A], None]) -> Applier:
        key = (cls.EVENT_TYPE, version)
        if key in _APPLIERS:
            raise ValueError(f"two appliers for {key}")
        _APPLIERS[key] = fn
        if version == 1:
            _BY_CLASS[cls] = fn
        return fn

    return register


def registered_event_types() -> set[str]:
    return {name for name, _ in _APPLIERS}


def apply_event(state: ExecutionState, event: HistoryEvent) -> None:
    """Apply one event to `state` (in place)."""
    if event.event_id != state.last_event_id + 1:
        raise ReplayError(
            f"{state.execution_id}: event id {event.event_id} after {state.last_event_id}"
        )
    if event.execution_id != state.execution_id:
        raise ReplayError(f"event of {event.execution_id} applied to {state.execution_id}")
    applier = _BY_CLASS.get(type(event.attributes))
    if applier is None:
        raise ReplayError(f"no applier for {event.event_type}")
    applier(state, event, event.attributes)
    state.last_event_id = event.event_id


def fold(events: Iterable[HistoryEvent], plans: PlanSource | None) -> ExecutionState | None:
    """Rebuild an execution's state from its history (None for an empty history)."""
    state: ExecutionState | None = None
    for event in events:
        if state is None:
            state = ExecutionState(execution_id=event.execution_id, plans=plans)
        apply_event(state, event)
    return state

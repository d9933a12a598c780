"""The decision context: one input being decided. `emit` applies each new event before the
next decision step runs, so deciders always read the state their events produced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from linkflow.engine.appliers import apply_event
from linkflow.engine.events import EventAttributes, HistoryEvent
from linkflow.engine.state import ExecutionState
from linkflow.model.catalog import PlanSource

if TYPE_CHECKING:
    from linkflow.engine.admission import Admission
    from linkflow.engine.effects import Effect


class DecisionContext:
    __slots__ = ("admission", "carried", "env", "events", "fresh_from", "now_ms", "plans", "state")

    def __init__(
        self,
        state: ExecutionState,
        now_ms: int,
        env: Mapping[str, str],
        plans: PlanSource,
        admission: Admission | None = None,
    ) -> None:
        self.state = state
        self.admission = admission  # None: every start is admitted
        self.now_ms = now_ms
        self.env = env
        self.plans = plans
        self.events: list[HistoryEvent] = []
        # A reset copies recorded events (`adopt`): only the events after them are new
        # decisions with effects, plus the effects the copied history still owes (`carried`).
        self.fresh_from = 0
        self.carried: list[Effect] = []

    @property
    def next_event_id(self) -> int:
        return self.state.last_event_id + 1

    def emit(self, attributes: EventAttributes) -> HistoryEvent:
        state = self.state
        event = HistoryEvent(state.execution_id, state.last_event_id + 1, self.now_ms, attributes)
        apply_event(state, event)
        self.events.append(event)
        return event

    def adopt(self, event: HistoryEvent) -> None:
        """Take a recorded event as it is (id and time kept), as a reset copies history."""
        apply_event(self.state, event)
        self.events.append(event)
        self.fresh_from = len(self.events)

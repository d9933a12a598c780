"""The engine: decide an input against a state, giving events (already applied to the state)
and the effects they imply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from linkflow.engine.admission import Admission
from linkflow.engine.appliers import fold
from linkflow.engine.closing import close_execution
from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders import DECIDERS
from linkflow.engine.deciders.registry import Refusal
from linkflow.engine.effects import Effect, effects_of
from linkflow.engine.events import Error, HistoryEvent, WorkflowExecutionFailed
from linkflow.engine.inputs import EngineInput, ResetWorkflow, StartWorkflow
from linkflow.engine.state import ExecutionState
from linkflow.model.catalog import PlanSource
from linkflow.model.limits import MAX_HISTORY_EVENTS

_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class Decision:
    state: ExecutionState | None
    events: list[HistoryEvent] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    ignored: str | None = None  # why an input produced no events (duplicate, late, ...)
    refusal: Refusal | None = None  # set when the input is to be dead-lettered


class Engine:
    """Pure: no clock, no randomness, no I/O. `plans` resolves workflow definitions (a
    `linkflow.model.Catalog`); `env` is the allow-listed environment expressions may read.

    `decide` updates the given state in place and returns it (or a new one for a start).
    """

    def __init__(
        self,
        plans: PlanSource,
        *,
        env: Mapping[str, str] | None = None,
        admission: Admission | None = None,
        max_history_events: int = MAX_HISTORY_EVENTS,
    ) -> None:
        self.plans = plans
        self.env: Mapping[str, str] = MappingProxyType(dict(env)) if env else _NO_ENV
        self.admission = admission
        self.max_history_events = max_history_events

    def decide(self, state: ExecutionState | None, inp: EngineInput, now_ms: int) -> Decision:
        if state is None or state.last_event_id == 0:  # never started: no event yet
            if not isinstance(inp, StartWorkflow | ResetWorkflow):
                return Decision(None, ignored="unknown execution")
            if state is None:
                state = ExecutionState(execution_id=inp.execution_id, plans=self.plans)
        else:
            sender = getattr(inp, "workspace", None)
            if sender is not None and sender != state.workspace:
                # A workspace learns nothing of another's executions: the refusal names only
                # the sender's workspace.
                refusal = Refusal(
                    "wrong_workspace",
                    f"{type(inp).__name__} from workspace {sender!r} for execution "
                    f"{state.execution_id!r}, which is not in that workspace",
                )
                return Decision(state, ignored=refusal.reason, refusal=refusal)
            if state.is_closed and not isinstance(inp, StartWorkflow | ResetWorkflow):
                return Decision(state, ignored="execution closed")
        ctx = DecisionContext(state, now_ms, self.env, self.plans, self.admission)
        ignored = DECIDERS[type(inp)](ctx, inp)
        if isinstance(ignored, Refusal):
            return Decision(state, ignored=ignored.reason, refusal=ignored)
        if state.is_open and state.last_event_id >= self.max_history_events:
            _history_limit_reached(ctx, self.max_history_events)
        if not ctx.events:
            return Decision(state, ignored=ignored or "no change")
        effects = effects_of(state, ctx.events[ctx.fresh_from :])
        return Decision(state, ctx.events, ctx.carried + effects if ctx.carried else effects)

    def decide_batch(
        self, state: ExecutionState | None, inputs: Iterable[tuple[EngineInput, int]]
    ) -> Decision:
        """Decide several inputs of one execution in order (input, now_ms); the events and
        effects of all of them, for a processor that writes a batch at once."""
        events: list[HistoryEvent] = []
        effects: list[Effect] = []
        for inp, now_ms in inputs:
            decision = self.decide(state, inp, now_ms)
            state = decision.state
            events.extend(decision.events)
            effects.extend(decision.effects)
        return Decision(state, events, effects)

    def replay(self, events: Iterable[HistoryEvent]) -> ExecutionState | None:
        """The state an execution's history rebuilds."""
        return fold(events, self.plans)


def _history_limit_reached(ctx: DecisionContext, limit: int) -> None:
    """An execution that keeps going (a loop without end, a signal storm) would grow its
    history and the work of every reader for ever: it fails, with a reason that says so."""
    error = Error(
        type="HistoryLimitExceeded",
        message=f"the execution's history reached {ctx.state.last_event_id} events; the "
        f"limit is {limit} (split the work into child workflows)",
        retryable=False,
        details={"events": ctx.state.last_event_id, "limit": limit},
    )
    close_execution(ctx, WorkflowExecutionFailed(error=error), "history limit reached")

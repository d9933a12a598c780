"""Reset: a new execution that goes on from a point in another one's history (Temporal's
reset, `linkflow reset ID --to EVENT`), e.g. to run again the part of a workflow after a
failure whose cause has been fixed.

The new run copies the source's events 1..k, where k ends the decision that wrote the
chosen event: a cut inside a decision would leave a half-decided state (an activity's
result recorded but its node not completed), so the cut moves forward to the end of that
decision, found by replaying the source (`linkflow.engine.replay`). The copies keep their
ids and times; the execution id becomes the new one and the start's idempotency key is
dropped (it belongs to the source). The reset's own decision then records an
`execution_reset` marker and starts every pending timer again, later by the time since
event k, so waits, retry back-offs and timeouts keep the time they had left; the attempts
that were out at event k are dispatched again under their attempt numbers. What the source
received after event k (signals, results) is not carried over.

Refused: a child execution (its parent waits for the source, so reset the parent), a cut
while a child workflow runs (its outcome goes to the source), and a cut in the decision
that closed the execution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import (
    EXECUTION_RESET,
    HistoryEvent,
    MarkerRecorded,
    WorkflowExecutionStarted,
)
from linkflow.engine.timers import cancel_timers, start_timer
from linkflow.model.catalog import PlanSource


@dataclass(frozen=True, slots=True)
class ResetPlan:
    kept: list[HistoryEvent]  # the source's events 1..k, under the new execution id

    @property
    def last_event_id(self) -> int:
        return self.kept[-1].event_id


def plan_reset(
    source: Sequence[HistoryEvent], event_id: int, execution_id: str, plans: PlanSource
) -> ResetPlan | str:
    """The events a reset of `source` to `event_id` keeps, renamed to `execution_id`; or
    why the reset cannot be done."""
    # Imported here: replay drives the engine, whose deciders import this module.
    from linkflow.engine.replay import replay_steps

    if not source:
        return "the source has no history"
    if [e.event_id for e in source] != list(range(1, len(source) + 1)):
        return "the history must be whole, from event 1 with consecutive ids"
    first = source[0].attributes
    if not isinstance(first, WorkflowExecutionStarted):
        return "the history does not begin with WorkflowExecutionStarted"
    if first.parent_execution_id is not None:
        return (
            f"it is a child of execution {first.parent_execution_id!r}, which waits for this "
            "one: reset the parent instead"
        )
    if not 1 <= event_id <= len(source):
        return f"the history has events 1 to {len(source)}, not {event_id}"
    for step in replay_steps(source, plans):
        if step.divergence is not None:
            return (
                f"the history does not replay on this engine at event "
                f"{step.divergence.event_id} ({step.divergence.reason}); "
                "`linkflow replay` shows the difference"
            )
        if step.position < event_id:
            continue
        state = step.state
        assert state is not None
        if state.is_closed:
            return (
                f"event {event_id} belongs to the decision that closed the execution "
                f"(events up to {step.position}): reset to an earlier event"
            )
        for child in state.children.values():
            return (
                f"at event {step.position} child execution {child.child_execution_id!r} "
                f"(node {child.node_id!r}) is running and reports to the source: reset to "
                "an event before it started or after it ended"
            )
        kept = [dataclasses.replace(e, execution_id=execution_id) for e in source[: step.position]]
        started = dataclasses.replace(first, idempotency_key=None)
        kept[0] = dataclasses.replace(kept[0], attributes=started)
        return ResetPlan(kept)
    return f"the history has events 1 to {len(source)}, not {event_id}"


def reset_details(
    plan: ResetPlan,
    *,
    source_execution_id: str,
    reset_event_id: int,
    request_id: str,
    reason: str,
    identity: str,
    now_ms: int,
) -> dict[str, Any]:
    """The `execution_reset` marker's details (docs/events.md)."""
    return {
        "source_execution_id": source_execution_id,
        "reset_event_id": reset_event_id,
        "last_event_id": plan.last_event_id,
        "shift_ms": max(0, now_ms - plan.kept[-1].timestamp_ms),
        "request_id": request_id,
        "reason": reason,
        "identity": identity,
    }


def resume(ctx: DecisionContext, details: Mapping[str, Any]) -> None:
    """The reset's own decision after the copied history: the marker, then every pending
    timer again, `shift_ms` later (deterministic from the marker, so replay re-derives it)."""
    ctx.emit(MarkerRecorded(marker_name=EXECUTION_RESET, details=dict(details)))
    shift = int(details["shift_ms"])
    for timer in list(ctx.state.timers.values()):
        cancel_timers(ctx, [timer.timer_id])
        start_timer(
            ctx,
            timer.purpose,
            timer.fire_at_ms + shift,
            node_id=timer.node_id,
            scope=timer.scope,
            timeout_type=timer.timeout_type,
            attempt=timer.attempt,
        )

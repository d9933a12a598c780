"""Starting and cancelling timers (the timers processor acts on the events)."""

from __future__ import annotations

from collections.abc import Iterable

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import TimerCanceled, TimerStarted
from linkflow.engine.ids import timer_id


def start_timer(
    ctx: DecisionContext,
    purpose: str,
    fire_at_ms: int,
    *,
    node_id: str | None = None,
    scope: str = "",
    timeout_type: str | None = None,
    attempt: int | None = None,
) -> str:
    new_id = timer_id(ctx.next_event_id)
    ctx.emit(
        TimerStarted(
            timer_id=new_id,
            fire_at_ms=fire_at_ms,
            purpose=purpose,
            node_id=node_id,
            scope=scope,
            timeout_type=timeout_type,
            attempt=attempt,
        )
    )
    return new_id


def cancel_timers(ctx: DecisionContext, timer_ids: Iterable[str]) -> None:
    for pending in list(timer_ids):
        if pending in ctx.state.timers:
            ctx.emit(TimerCanceled(timer_id=pending))

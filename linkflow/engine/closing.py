"""Cancelling outstanding work and closing an execution with its one terminal event."""

from __future__ import annotations

from collections.abc import Callable

from linkflow.engine import compensation
from linkflow.engine.context import DecisionContext
from linkflow.engine.events import ActivityTaskCanceled, EventAttributes
from linkflow.engine.timers import cancel_timers


def cancel_work(
    ctx: DecisionContext, reason: str, inside: Callable[[str], bool] | None = None
) -> None:
    """ActivityTaskCanceled for every pending activity and TimerCanceled for every timer
    (only those whose scope `inside` accepts, when given). The execution timeout timer has no
    node and is only cancelled when the whole execution closes."""
    state = ctx.state
    for run in list(state.activities.values()):
        if run.pending and (inside is None or inside(run.scope)):
            ctx.emit(
                ActivityTaskCanceled(
                    activity_id=run.activity_id, attempt=run.attempt, reason=reason
                )
            )
    cancel_timers(
        ctx,
        [
            timer.timer_id
            for timer in state.timers.values()
            if inside is None or (timer.node_id is not None and inside(timer.scope))
        ],
    )


def cancel_loop_work(ctx: DecisionContext, scope: str, loop_node: str, reason: str) -> None:
    """Cancel what runs inside the iterations of one loop instance."""
    loop = ctx.state.scopes[scope].loops.get(loop_node)
    if loop is None or not loop.running:
        return
    prefixes = tuple(loop.running.values())
    nested = tuple(f"{p}/" for p in prefixes)
    cancel_work(ctx, reason, lambda key: key in prefixes or key.startswith(nested))


def close_execution(ctx: DecisionContext, terminal: EventAttributes, reason: str) -> None:
    """Nothing new starts; outstanding activities and timers are cancelled, then the terminal
    event. Exactly one terminal event per execution: callers only get here while it is open."""
    assert terminal.TERMINAL and ctx.state.is_open
    if compensation.begin(ctx, terminal, reason):
        return  # it closes once the compensations have run
    cancel_work(ctx, reason)
    ctx.emit(terminal)

from __future__ import annotations

from linkflow.engine.context import DecisionContext
from linkflow.engine.deciders.registry import decides
from linkflow.engine.events import WorkflowExecutionSignaled
from linkflow.engine.inputs import SignalWorkflow
from linkflow.engine.nodes.waiting import complete_signal_wait
from linkflow.engine.scheduler import drain


@decides(SignalWorkflow)
def decide(ctx: DecisionContext, inp: SignalWorkflow) -> str | None:
    state = ctx.state
    if inp.request_id in state.request_ids:
        return "duplicate signal"
    ctx.emit(
        WorkflowExecutionSignaled(
            request_id=inp.request_id, signal_name=inp.signal_name, payload=inp.payload
        )
    )
    waiters = state.signal_waiters.get(inp.signal_name)
    if waiters:
        # One signal wakes one waiter (the one that waited first); others keep waiting.
        scope, node_id = waiters[0]
        complete_signal_wait(ctx, state.plan.nodes[node_id], scope, inp.payload)
        drain(ctx)
    return None

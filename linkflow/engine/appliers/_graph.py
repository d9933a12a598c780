"""Graph bookkeeping shared by appliers: resolving a node propagates along its edges (taken or
not taken: dead-path elimination), makes targets ready, and closes iterations whose nodes are
all resolved."""

from __future__ import annotations

from typing import Any

from linkflow.engine.ids import scope_key
from linkflow.engine.state import (
    N_READY,
    ExecutionState,
    LoopState,
    ScopeState,
)
from linkflow.model.plan import ExecutionPlan, PlanNode


def resolve(state: ExecutionState, scope: ScopeState, node: PlanNode, handle: str | None) -> None:
    """`node` is done in `scope` (handle None: skipped). Edges of `handle` are taken, all
    others are not, so the nodes behind them learn either way."""
    nodes = state.plan.nodes
    took = False
    for edge_handle, targets in node.out.items():
        taken = edge_handle == handle
        took = took or taken
        for target in targets:
            arrive(state, scope, nodes[target], node.id, taken)
    if handle is not None and not took:
        scope.leaves.append(node.id)
    scope.arrived.pop(node.id, None)
    scope.taken_from.pop(node.id, None)
    scope.unresolved -= 1
    if scope.unresolved == 0 and scope.loop_node is not None:
        finish_iteration(state, scope)


def arrive(
    state: ExecutionState, scope: ScopeState, target: PlanNode, source: str, taken: bool
) -> None:
    if target.id in scope.status:
        return  # already under way (a merge in "first" mode fired on an earlier edge)
    arrived = scope.arrived.get(target.id)
    if arrived is None:
        arrived = scope.arrived[target.id] = [0, 0]
    arrived[0] += 1
    first = False
    if taken:
        arrived[1] += 1
        if target.type == "merge":
            scope.taken_from.setdefault(target.id, []).append(source)
            first = target.definition.config.get("mode") == "first"
    if first or arrived[0] >= target.in_count:
        scope.status[target.id] = N_READY
        state.ready[(scope.key, target.id)] = None


def start_iteration(
    state: ExecutionState, parent: ScopeState, loop_node: PlanNode, index: int, item: Any
) -> None:
    loop = parent.loops[loop_node.id]
    key = scope_key(parent.key, loop_node.id, index)
    child = ScopeState(
        key=key,
        parent=parent.key,
        loop_node=loop_node.id,
        index=index,
        item=item,
        unresolved=len(loop_node.body_members),
    )
    state.scopes[key] = child
    loop.running[index] = key
    loop.next_index = index + 1
    nodes = state.plan.nodes
    for entry in loop_node.body_entries:
        arrive(state, child, nodes[entry], loop_node.id, True)
    refresh_attention(state, parent.key, loop)


def iteration_result(plan: ExecutionPlan, scope: ScopeState) -> Any:
    """What an iteration produced: the output of its exit node, or {node: output} when more
    than one exit node completed (in definition order, whatever order they finished in)."""
    leaves = scope.leaves
    if not leaves:
        return None
    if len(leaves) == 1:
        return scope.outputs.get(leaves[0])
    ordered = sorted(leaves, key=lambda n: plan.nodes[n].index)
    return {node_id: scope.outputs.get(node_id) for node_id in ordered}


def finish_iteration(state: ExecutionState, scope: ScopeState) -> None:
    assert scope.parent is not None and scope.loop_node is not None
    parent = state.scopes[scope.parent]
    loop = parent.loops[scope.loop_node]
    loop.results[scope.index] = iteration_result(state.plan, scope)
    loop.last_outputs = scope.outputs
    loop.running.pop(scope.index, None)
    del state.scopes[scope.key]
    refresh_attention(state, parent.key, loop)


def refresh_attention(state: ExecutionState, scope: str, loop: LoopState) -> None:
    key = (scope, loop.node_id)
    if loop.needs_decision():
        state.attention[key] = None
    else:
        state.attention.pop(key, None)


def drop_loop(state: ExecutionState, scope: ScopeState, node_id: str) -> None:
    """Forget a loop instance and everything inside its running iterations (the deciders have
    already cancelled their activities and timers)."""
    loop = scope.loops.pop(node_id, None)
    state.attention.pop((scope.key, node_id), None)
    if loop is None:
        return
    prefixes = tuple(loop.running.values())
    nested = tuple(f"{p}/" for p in prefixes)

    def inside(key: str) -> bool:
        return key in prefixes or key.startswith(nested)

    for key in [k for k in state.scopes if inside(k)]:
        del state.scopes[key]
    for ready_key in [k for k in state.ready if inside(k[0])]:
        del state.ready[ready_key]
    for attention_key in [k for k in state.attention if inside(k[0])]:
        del state.attention[attention_key]
    for wait_key in [k for k in state.waits if inside(k[0])]:
        wait = state.waits.pop(wait_key)
        if wait.signal_name is not None:
            remove_waiter(state, wait.signal_name, wait_key)
    for activity in [a for a, run in state.activities.items() if inside(run.scope)]:
        del state.activities[activity]  # runs between attempts (pending ones were cancelled)
    for child_id in [c for c, info in state.children.items() if inside(info.scope)]:
        # Abandoned: its outcome will find no pending child and be ignored.
        del state.children[child_id]


def remove_waiter(state: ExecutionState, signal_name: str, key: tuple[str, str]) -> None:
    waiters = state.signal_waiters.get(signal_name)
    if waiters is None:
        return
    if key in waiters:
        waiters.remove(key)
    if not waiters:
        del state.signal_waiters[signal_name]


def consume_signal(state: ExecutionState, signal_name: str) -> None:
    buffered = state.signal_buffer.get(signal_name)
    if buffered:
        buffered.pop(0)
        if not buffered:
            del state.signal_buffer[signal_name]


def close(state: ExecutionState, status: str, now_ms: int) -> None:
    state.status = status
    state.closed_at_ms = now_ms
    state.ready.clear()
    state.attention.clear()


def signal_name(node: PlanNode) -> str:
    name = node.definition.config.get("signal")
    return name if isinstance(name, str) else "approval"

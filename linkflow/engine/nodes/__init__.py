"""What the engine does when a node's turn comes, one executor per inline node type."""

from __future__ import annotations

from collections.abc import Callable

from linkflow.engine.context import DecisionContext
from linkflow.engine.nodes.branching import run_if, run_switch
from linkflow.engine.nodes.child import run_subworkflow
from linkflow.engine.nodes.data import run_merge, run_set, run_transform
from linkflow.engine.nodes.ending import run_fail, run_terminate
from linkflow.engine.nodes.loops import run_loop
from linkflow.engine.nodes.waiting import run_signal_wait, run_wait
from linkflow.model.plan import PlanNode

NodeExecutor = Callable[[DecisionContext, PlanNode, str], None]

INLINE_EXECUTORS: dict[str, NodeExecutor] = {
    "if": run_if,
    "switch": run_switch,
    "merge": run_merge,
    "foreach": run_loop,
    "parallel": run_loop,
    "while": run_loop,
    "wait": run_wait,
    "wait_for_signal": run_signal_wait,
    "approval": run_signal_wait,
    "subworkflow": run_subworkflow,
    "set": run_set,
    "transform": run_transform,
    "fail": run_fail,
    "terminate": run_terminate,
}

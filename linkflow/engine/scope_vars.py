"""The variables an expression sees: trigger, nodes, vars, env, loop, parallel, execution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linkflow.engine.context import DecisionContext
from linkflow.engine.events import Error
from linkflow.expr import ExpressionError
from linkflow.model.plan import PlanNode


def expression_scope(
    ctx: DecisionContext,
    scope_key: str,
    *,
    attempt: int = 1,
    overlay: Mapping[str, Any] | None = None,
    loop: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    state = ctx.state
    scopes = state.scopes
    scope = scopes[scope_key]
    loop_var: Mapping[str, Any] | None = loop
    parallel_var: Mapping[str, Any] | None = None
    if scope.parent is None and overlay is None:
        nodes: Mapping[str, Any] = scope.outputs  # top level: no copy
    else:
        chain = [scope]
        while chain[-1].parent is not None:
            chain.append(scopes[chain[-1].parent])
        merged: dict[str, Any] = {}
        for item in reversed(chain):
            merged.update(item.outputs)
        if overlay:
            merged.update(overlay)
        nodes = merged
        plan_nodes = state.plan.nodes
        for item in chain:  # innermost first: the nearest loop wins
            if item.loop_node is None:
                continue
            kind = plan_nodes[item.loop_node].type
            if kind == "parallel":
                if parallel_var is None:
                    parallel_var = {"index": item.index, "item": item.item}
            elif loop_var is None:
                loop_var = {"index": item.index, "item": item.item}
    variables: dict[str, Any] = {
        "trigger": state.input,
        "nodes": nodes,
        "vars": state.vars,
        "env": ctx.env,
        "execution": {
            "id": state.execution_id,
            "workflow_id": state.workflow_id,
            "attempt": attempt,
        },
    }
    # Absent outside a loop / fan-out, so using them there says "no such variable".
    if loop_var is not None:
        variables["loop"] = loop_var
    if parallel_var is not None:
        variables["parallel"] = parallel_var
    return variables


def expression_error(node: PlanNode, exc: ExpressionError, field: str | None = None) -> Error:
    location = ".".join(part for part in (field, exc.location) if part) or None
    field = location
    where = f" in config.{location}" if location else ""
    return Error(
        type="ExpressionError",
        message=f"expression {exc.expression!r}{where} failed: {exc.reason}",
        retryable=False,
        node_id=node.id,
        details={"expression": exc.expression, "reason": exc.reason, "field": field},
    )

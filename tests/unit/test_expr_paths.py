"""Plain paths: recognised at compile time, resolved by lookup, errors that name the path."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.expr import ExpressionError, compile_expression

SCOPE: dict[str, Any] = {
    "trigger": {"items": [{"id": 1}, {"id": 2}], "x": 5, "name": "abc"},
    "nodes": {
        "fetch": {"body": {"id": 42, "tags": ["a", "b"], "none": None}, "status": 200},
        "my-node": {"x": "dash"},
        "if": {"y": 1},
    },
    "vars": {"limit": 10},
    "env": {"REGION": "eu"},
    "loop": {"index": 3, "item": {"sku": "X1"}},
    "parallel": {"index": 0, "item": "p"},
    "execution": {"id": "exec-1", "workflow_id": "wf", "attempt": 1},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("nodes.fetch.body.id", 42),
        ("nodes.fetch.status", 200),
        ("nodes.fetch.body.none", None),
        ("nodes.fetch.body.tags", ["a", "b"]),
        ("nodes.fetch.body.tags[1]", "b"),
        ("trigger.items[0]", {"id": 1}),
        ("trigger.items[1].id", 2),
        ("nodes['my-node'].x", "dash"),
        ('nodes["my-node"]["x"]', "dash"),
        ("nodes.if.y", 1),
        ("(nodes.fetch).body.id", 42),
        ("  nodes.fetch.body.id  ", 42),
        ("trigger", SCOPE["trigger"]),
        ("vars.limit", 10),
        ("env.REGION", "eu"),
        ("loop.index", 3),
        ("loop.item.sku", "X1"),
        ("parallel.item", "p"),
        ("execution.attempt", 1),
    ],
)
def test_path_is_a_lookup(source: str, expected: Any) -> None:
    expression = compile_expression(source)
    assert expression.is_path
    assert expression.evaluate(SCOPE) == expected


def test_path_returns_the_stored_object_not_a_copy() -> None:
    # Documented: results are read-only views of the scope, at no copying cost.
    assert compile_expression("nodes.fetch.body").evaluate(SCOPE) is SCOPE["nodes"]["fetch"]["body"]


@pytest.mark.parametrize(
    "source",
    [
        "nodes.fetch.body.id + 1",
        "nodes[x].y",
        "nodes.fetch.body.tags[-1]",
        "nodes.fetch.body.tags[0x1]",
        "nodes.fetch.body.tags[1u]",
        "nodes.fetch.body.size()",
        "has(nodes.fetch)",
        ".nodes.fetch",
        "int",
        "dyn(nodes.fetch)",
    ],
)
def test_other_shapes_are_not_paths(source: str) -> None:
    try:
        expression = compile_expression(source)
    except ExpressionError:
        return  # rejected at compile time is fine too (nodes[x])
    assert not expression.is_path


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("nodes.fetch.body.missing", "no such key 'missing' in nodes.fetch.body"),
        ("nodes.nope.x", "no such key 'nope' in nodes"),
        ("nodes['my-node'].q", "no such key 'q' in nodes['my-node']"),
        ("trigger.items[5]", "index 5 out of range in trigger.items (size 2)"),
        ("trigger.items[0].zz", "no such key 'zz' in trigger.items[0]"),
    ],
)
def test_missing_key_names_the_key_and_the_path(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate(SCOPE)
    assert caught.value.expression == source
    assert caught.value.reason == reason
    assert str(caught.value) == f"expression {source!r}: {reason}"


def test_missing_variable_is_named_the_same_way_with_and_without_cel() -> None:
    scope: dict[str, Any] = {"trigger": {}}
    for source in ("loop.item", "loop.item + 1"):
        with pytest.raises(ExpressionError) as caught:
            compile_expression(source).evaluate(scope)
        assert caught.value.reason == "no such variable 'loop' in scope"
    # has() still answers instead of failing, as CEL defines it.
    assert compile_expression("has(loop.item)").evaluate(scope) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("trigger.name[0]", "a"),  # celpy indexes strings; the fast path defers to it
    ],
)
def test_unusual_shapes_defer_to_cel(source: str, expected: Any) -> None:
    assert compile_expression(source).evaluate(SCOPE) == expected


@pytest.mark.parametrize(
    ("source", "reason_start"),
    [
        ("nodes.fetch.status.x", "type mismatch: int does not support field selection"),
        ("trigger.items.x", "type mismatch: list does not support field selection"),
        ("trigger.items['0']", "type mismatch"),
        ("trigger.x[0]", "type mismatch"),
    ],
)
def test_type_mismatch_on_a_path_is_an_expression_error(source: str, reason_start: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source).evaluate(SCOPE)
    assert caught.value.reason.startswith(reason_start)


def test_node_refs_list_the_nodes_named_literally() -> None:
    expression = compile_expression("nodes.a.x == nodes['b-c'].y && size(trigger.items) > 0")
    assert expression.node_refs == frozenset({"a", "b-c"})
    assert compile_expression("trigger.items.map(nodes, nodes.x)").node_refs == frozenset()

"""Definitions: loading, the node-type registry, and validation naming node/edge and field."""

from __future__ import annotations

import json

import pytest

from linkflow.model import (
    Catalog,
    DefinitionError,
    NodeKind,
    Problem,
    load_definition,
    parse_duration,
    validate_document,
)
from linkflow.testing import chain, node, trigger, with_options, workflow
from linkflow.worker.registry import installed_node_types


def problems_of(doc: object, registry=None) -> list[Problem]:
    return validate_document(doc, registry or installed_node_types())


def find(problems: list[Problem], *, node_id=None, edge_part=None, field=None) -> Problem:
    for p in problems:
        if node_id is not None and p.node_id != node_id:
            continue
        if edge_part is not None and (p.edge is None or edge_part not in p.edge):
            continue
        if field is not None and p.field != field:
            continue
        return p
    raise AssertionError(
        f"no problem with node={node_id} edge={edge_part} field={field}: {problems}"
    )


def linear() -> dict:
    return workflow(
        "lin",
        [trigger(), node("a", "http", url="http://x"), node("b", "noop")],
        chain("start", "a", "b"),
    )


def test_valid_definition_loads_from_dict_json_and_yaml() -> None:
    doc = linear()
    assert validate_document(doc, installed_node_types()) == []
    from_json = load_definition(json.dumps(doc), installed_node_types())
    yaml_text = """
id: lin
version: 1
nodes:
  - {id: start, type: trigger}
  - id: a
    type: http
    config: {url: "http://x"}
    retry: {max_attempts: 3, initial_interval: 1s}
    timeout: {start_to_close: 30s}
  - {id: b, type: noop}
edges:
  - {source: start, target: a}
  - {source: a, target: b}
settings: {execution_timeout: 1h, output: "{{ nodes.b }}"}
"""
    from_yaml = load_definition(yaml_text, installed_node_types())
    assert from_json.id == from_yaml.id == "lin"
    assert [n.id for n in from_yaml.nodes] == ["start", "a", "b"]
    a = from_yaml.node("a")
    assert a.retry is not None and a.retry.max_attempts == 3
    assert a.retry.initial_interval_ms == 1000
    assert a.timeout.start_to_close_ms == 30_000
    assert from_yaml.settings.execution_timeout_ms == 3_600_000


def test_every_problem_is_reported_at_once() -> None:
    doc = workflow(
        "bad",
        [
            trigger(),
            node("a", "nope"),
            node("b", "http"),  # missing url
            node("c", "http", url="x", colour="red"),  # unknown key
            node("d", "if", condition="trigger.x >"),  # bad expression
            node("e", "noop"),  # unreachable
        ],
        ["start -> a", "start -> b", "b -> c", "c -> d", "d -> zz", "b -true-> c"],
    )
    problems = problems_of(doc)
    assert "unknown node type" in find(problems, node_id="a", field="type").message
    assert "missing" in find(problems, node_id="b", field="config.url").message
    assert "unknown config key" in find(problems, node_id="c", field="config.colour").message
    assert "bad expression" in find(problems, node_id="d", field="config.condition").message
    assert "unreachable" in find(problems, node_id="e").message
    assert "unknown node" in find(problems, edge_part="d -> zz", field="target").message
    assert "no handle 'true'" in find(problems, edge_part="b -> c", field="handle").message
    with pytest.raises(DefinitionError) as info:
        load_definition(doc, installed_node_types())
    assert len(info.value.problems) == len(problems) >= 7
    assert "node 'b', field 'config.url'" in str(info.value)


def test_duplicate_ids_and_structural_problems() -> None:
    doc = {
        "id": "",
        "version": 0,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "start", "type": "noop"},
            {"id": "9bad", "type": "noop"},
            {"id": "x", "type": "noop", "retry": {"max_attempts": 0}, "colour": 1},
            {"id": "y", "type": "noop", "timeout": {"start_to_close": "soon"}},
        ],
        "edges": [{"source": "start", "target": "x"}, {"source": "start", "target": "y"}],
        "extra": True,
    }
    problems = problems_of(doc)
    find(problems, field="id")
    find(problems, field="version")
    find(problems, field="extra")
    assert "duplicate" in find(problems, node_id="start", field="nodes[1].id").message
    find(problems, field="nodes[2].id")
    find(problems, node_id="x", field="retry.max_attempts")
    find(problems, node_id="x", field="colour")
    assert "duration" in find(problems, node_id="y", field="timeout.start_to_close").message


def test_cycles_outside_loops_are_rejected_inside_loops_allowed() -> None:
    cyclic = workflow(
        "cyc",
        [trigger(), node("a", "noop"), node("b", "noop")],
        ["start -> a", "a -> b", "b -> a"],
    )
    assert "cycle" in find(problems_of(cyclic), field="edges").message
    looped = workflow(
        "loop",
        [trigger(), node("l", "foreach", items="trigger.xs"), node("a", "noop"), node("b", "noop")],
        ["start -> l", "l -loop_body-> a", "a -> b", "b -> l"],  # back edge to the loop node
    )
    assert problems_of(looped) == []


def test_loop_boundaries_and_missing_body() -> None:
    doc = workflow(
        "lb",
        [
            trigger(),
            node("l", "foreach", items="trigger.xs"),
            node("a", "noop"),
            node("out", "noop"),
            node("w", "while", condition="true", max_iterations=3),
        ],
        ["start -> l", "l -loop_body-> a", "a -> out", "start -> w", "w -loop_done-> out"],
    )
    problems = problems_of(doc)
    # "out" is reachable from the loop body, so it belongs to it; entering it from outside
    # crosses the boundary.
    message = find(problems, edge_part="w -> out", field="target").message
    assert "loop boundary (top level -> body of 'l')" in message
    assert "loop_body" in find(problems, node_id="w", field="edges").message


def test_switch_handles_come_from_cases() -> None:
    doc = workflow(
        "sw",
        [
            trigger(),
            node("s", "switch", cases=[{"name": "big", "when": "trigger.n > 10"}]),
            node("a", "noop"),
            node("b", "noop"),
            node("c", "noop"),
        ],
        ["start -> s", "s -case:big-> a", "s -default-> b", "s -case:small-> c"],
    )
    problems = problems_of(doc)
    assert "case:small" in find(problems, edge_part="s -> c", field="handle").message


def test_wait_and_trigger_rules() -> None:
    doc = workflow(
        "w",
        [
            trigger(),
            trigger("t2"),
            node("w1", "wait"),
            node("w2", "wait_for_signal", signal="go"),
            node("x", "noop"),
        ],
        ["start -> w1", "w1 -> w2", "w2 -timeout-> x", "x -> start"],
    )
    problems = problems_of(doc)
    assert "exactly one" in find(problems, node_id="w1", field="config").message
    find(problems, node_id="t2", field="type")
    assert "timeout" in find(problems, edge_part="w2 -> x", field="handle").message
    find(problems, edge_part="x -> start", field="target")


def test_activity_options_on_inline_node_rejected() -> None:
    doc = workflow(
        "o",
        [trigger(), with_options(node("s", "set", values={}), retry={"max_attempts": 2})],
        ["start -> s"],
    )
    assert "activity nodes only" in find(problems_of(doc), node_id="s", field="retry").message


def test_bad_template_in_config_names_the_field() -> None:
    doc = workflow(
        "t",
        [trigger(), node("h", "http", url="http://x/{{ trigger. }}", headers={"A": "{{ 1 + }}"})],
        ["start -> h"],
    )
    problems = problems_of(doc)
    find(problems, node_id="h", field="config.url")
    find(problems, node_id="h", field="config.headers.A")


def test_bad_output_expression() -> None:
    doc = workflow("o", [trigger()], [], output="{{ nodes. }}")
    find(problems_of(doc), field="settings.output")


def test_not_json_or_yaml() -> None:
    assert "not JSON or YAML" in problems_of("{: [")[0].message
    assert problems_of([1, 2])[0].message.startswith("a workflow definition must be an object")


def test_registry_user_activity_type() -> None:
    registry = installed_node_types().copy()
    registry.register_activity(
        "stripe_charge",
        {
            "type": "object",
            "properties": {"amount": {"type": "integer"}},
            "required": ["amount"],
            "additionalProperties": False,
        },
        task_queue="payments",
    )
    doc = workflow("p", [trigger(), node("pay", "stripe_charge", amount=5)], ["start -> pay"])
    catalog = Catalog([doc], registry=registry)
    plan = catalog.plan("p")
    assert plan is not None
    assert plan.nodes["pay"].kind is NodeKind.ACTIVITY
    assert plan.nodes["pay"].task_queue == "payments"
    bad = workflow("p", [trigger(), node("pay", "stripe_charge")], ["start -> pay"])
    find(validate_document(bad, registry), node_id="pay", field="config.amount")
    # the default registry does not know it
    find(validate_document(doc, installed_node_types()), node_id="pay", field="type")
    with pytest.raises(ValueError):
        registry.register_activity("stripe_charge")


def test_every_builtin_type_declares_kind_handles_and_schema() -> None:
    registry = installed_node_types().copy()
    names = set(registry.names())
    expected = {
        "trigger", "start", "http", "code", "kafka_publish", "noop", "echo", "sleep", "if",
        "switch", "merge", "foreach", "while", "parallel", "wait", "wait_for_signal",
        "approval", "subworkflow", "set", "transform", "fail", "terminate",
    }  # fmt: skip
    assert expected <= names
    for node_type in registry:
        assert node_type.config_schema.get("type") == "object"
        assert isinstance(node_type.kind, NodeKind)


def test_catalog_versions_and_plan_cache() -> None:
    v1 = linear()
    v2 = {**linear(), "version": 2}
    catalog = Catalog([v1, v2], registry=installed_node_types())
    assert catalog.latest_version("lin") == 2
    plan = catalog.plan("lin")
    assert plan is not None and plan.version == 2
    assert catalog.plan("lin", 2) is plan  # cached
    assert catalog.plan("lin", 1) is not plan
    assert catalog.plan("nope") is None
    catalog.register(v2)  # re-registering replaces the plan
    assert catalog.plan("lin", 2) is not plan


def test_plan_stages() -> None:
    doc = workflow(
        "p",
        [
            trigger(),
            node("l", "foreach", items="trigger.xs"),
            node("a", "noop"),
            node("inner", "while", condition="loop.index < 2", max_iterations=5),
            node("b", "noop"),
            node("c", "noop"),
            node("done", "noop"),
        ],
        [
            "start -> l",
            "l -loop_body-> a",
            "a -> inner",
            "inner -loop_body-> b",
            "b -> inner",
            "inner -loop_done-> c",
            "l -loop_done-> done",
        ],
    )
    plan = Catalog([doc], registry=installed_node_types()).plan("p")
    assert plan is not None
    nodes = plan.nodes
    assert plan.trigger == "start" and plan.top_count == 3
    assert nodes["a"].chain == ("l",) and nodes["b"].chain == ("l", "inner")
    assert nodes["l"].body_members == ("a", "inner", "c")
    assert nodes["l"].body_entries == ("a",)
    assert nodes["inner"].body_members == ("b",)
    assert nodes["a"].in_count == 1  # the loop_body edge
    assert nodes["inner"].in_count == 1  # the back edge from b does not count
    assert dict(nodes["l"].out) == {"loop_done": ("done",)}


@pytest.mark.parametrize(
    ("text", "ms"),
    [(250, 250), ("250", 250), ("500ms", 500), ("5s", 5000), ("1m30s", 90_000), ("2h", 7_200_000),
     ("1d", 86_400_000), ("1.5s", 1500)],
)  # fmt: skip
def test_durations(text: object, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "soon", "5x", -1, True, "5s 3"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_reference_to_a_node_the_workflow_does_not_have_is_a_problem() -> None:
    doc = workflow(
        "refs",
        [
            trigger(),
            node("a", "echo", v="{{ nodes.nope.value }}", ok="{{ nodes.start }}"),
            node("b", "if", condition="has(nodes['gone'].x) || nodes.a.v == 1"),
        ],
        ["start -> a", "a -> b"],
    )
    doc["settings"] = {"output": "{{ nodes.zz }}"}
    problems = problems_of(doc)
    located = {(p.node_id, p.field) for p in problems}
    assert located == {("a", "config.v"), ("b", "config.condition"), (None, "settings.output")}
    assert all("does not have" in p.message for p in problems)

"""The commands the query service publishes: shapes, ids and encoding (pure)."""

from __future__ import annotations

import uuid

import pytest

from linkflow.api.commands import (
    cancel_command,
    signal_command,
    start_command,
    terminate_command,
)
from linkflow.api.definitions import (
    definition_key,
    encode_definition_record,
    validate_definition,
)
from linkflow.api.json_values import MAX_JSON_DEPTH, value_problem
from linkflow.client import execution_id_for
from linkflow.codec import decode_command, decode_definition


def test_start_round_trips_through_the_commands_codec() -> None:
    command = start_command(
        "orders",
        now_ms=1_700_000_000_000,
        input={"id": 7, "tags": ["a"]},
        version=3,
        search_attributes={"customer": "c1"},
    )
    uuid.UUID(command.execution_id)
    assert command.key == command.execution_id.encode()
    assert decode_command(command.encode()) == {
        "execution_id": command.execution_id,
        "sent_at_ms": 1_700_000_000_000,
        "input_type": "StartWorkflow",
        "workspace": None,
        "request_id": command.request_id,
        "workflow_id": "orders",
        "workflow_version": 3,
        "input": {"id": 7, "tags": ["a"]},
        "idempotency_key": None,
        "parent_execution_id": None,
        "parent_node_id": None,
        "parent_scope": None,
        "search_attributes": {"customer": "c1"},
    }


def test_starts_without_a_key_are_distinct() -> None:
    a = start_command("orders", now_ms=1)
    b = start_command("orders", now_ms=1)
    assert a.execution_id != b.execution_id
    assert a.request_id != b.request_id


def test_keyed_starts_are_the_same_request_to_the_same_execution() -> None:
    a = start_command("orders", now_ms=1, idempotency_key="k1")
    b = start_command("orders", now_ms=2, idempotency_key="k1", input={"other": True})
    assert a.execution_id == b.execution_id == execution_id_for("orders", "k1")
    assert a.request_id == b.request_id == "start:k1"
    assert start_command("payments", now_ms=1, idempotency_key="k1").execution_id != (
        a.execution_id
    )
    assert start_command("orders", now_ms=1, idempotency_key="k2").execution_id != (a.execution_id)


@pytest.mark.parametrize(
    ("build", "input_type", "fields"),
    [
        (
            lambda: signal_command("e1", "approve", {"by": "ana"}, now_ms=5),
            "SignalWorkflow",
            {"signal_name": "approve", "payload": {"by": "ana"}},
        ),
        (
            lambda: cancel_command("e1", "not needed", "ana", now_ms=5),
            "CancelWorkflow",
            {"reason": "not needed", "identity": "ana"},
        ),
        (
            lambda: terminate_command("e1", "", "ops", now_ms=5),
            "TerminateWorkflow",
            {"reason": "", "identity": "ops"},
        ),
    ],
)
def test_steering_commands(build: object, input_type: str, fields: dict[str, object]) -> None:
    command = build()  # type: ignore[operator]
    decoded = decode_command(command.encode())
    assert decoded["input_type"] == command.input_type == input_type
    assert decoded["execution_id"] == "e1"
    assert decoded["request_id"] == command.request_id
    assert {k: decoded[k] for k in fields} == fields


def test_definition_record_and_key() -> None:
    doc = {"id": "orders", "version": 2, "nodes": [{"id": "start", "type": "trigger"}]}
    assert definition_key("orders", 2) == b"orders:2"
    assert decode_definition(encode_definition_record(doc, 99, "acme")) == {
        "definition_type": "WorkflowDefinition",
        "id": "orders",
        "version": 2,
        "definition": doc,
        "registered_at_ms": 99,
        "workspace": "acme",
    }


def test_validation_problems_name_node_edge_and_field() -> None:
    problems = validate_definition(
        {
            "id": "w",
            "version": 1,
            "nodes": [{"id": "start", "type": "trigger"}, {"id": "x", "type": "nope"}],
            "edges": [{"source": "start", "target": "x"}, {"source": "x", "target": "ghost"}],
        }
    )
    assert {
        "message": "unknown node type 'nope'",
        "node_id": "x",
        "edge": None,
        "field": "type",
    } in (problems)
    assert any(p["edge"] == "edges[1] (x -> ghost)" and p["field"] == "target" for p in problems)
    assert (
        validate_definition({"id": "w", "version": 1, "nodes": [{"id": "s", "type": "trigger"}]})
        == []
    )


def test_body_checks_reach_nested_keys_and_values() -> None:
    assert value_problem({"a": ["b", {"c": 1}], "d": None, "é": "ü"}, 0) is None
    assert "U+0000" in str(value_problem({"a": ["b", {"c": "x\x00"}]}, 0))
    assert "U+0000" in str(value_problem({"k\x00": 1}, 0))
    assert "U+0000" in str(value_problem("\x00", 0))
    assert "surrogate" in str(value_problem({"a": ["\ud800"]}, 0))
    assert "surrogate" in str(value_problem({"\udfff": 1}, 0))
    deep: object = 1
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    assert value_problem(deep, 0) is None
    assert "nested deeper than" in str(value_problem([deep], 0))

"""Every record type of every family survives encode -> decode unchanged.

Strategies are derived from the .avsc files, so a new event type or field is covered the
moment it is added to a schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from io import BytesIO
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import linkflow.codec as lc
from linkflow.codec import FAMILIES, DecodeError, codec, direct
from linkflow.codec.framing import HEADER_SIZE, MARKER
from linkflow.codec.store import load_current

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "string": st.text(),
    "bytes": st.binary(),
    # Doubles that survive the round trip exactly (NaN is never equal to itself).
    "double": st.floats(allow_nan=False),
}


def _full_name(record: Mapping[str, Any], namespace: str) -> str:
    name: str = record["name"]
    ns = record.get("namespace", namespace)
    return name if "." in name or not ns else f"{ns}.{name}"


def strategy_for(schema: Any, named: dict[str, Any], namespace: str) -> st.SearchStrategy[Any]:
    """Values valid for `schema`, as the Python side of the codec sees them."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        return named[schema if "." in schema else f"{namespace}.{schema}"]
    if isinstance(schema, list):
        return st.one_of([strategy_for(branch, named, namespace) for branch in schema])
    if schema.get("logicalType") == "json":
        return json_values
    kind = schema["type"]
    if kind == "map":
        return st.dictionaries(st.text(), strategy_for(schema["values"], named, namespace))
    if kind == "array":
        return st.lists(strategy_for(schema["items"], named, namespace), max_size=3)
    if kind == "record":
        full = _full_name(schema, namespace)
        inner = full.rsplit(".", 1)[0]
        strategy = st.fixed_dictionaries(
            {f["name"]: strategy_for(f["type"], named, inner) for f in schema["fields"]}
        )
        named[full] = strategy
        return strategy
    raise AssertionError(f"no strategy for {schema!r}")


def message_strategies(family: str) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """{type name: strategy of whole messages of that type}, in the family's shape."""
    fam = FAMILIES[family]
    schema = load_current(family)
    namespace = schema["namespace"]
    named: dict[str, Any] = {}
    envelope: dict[str, st.SearchStrategy[Any]] = {}
    branches: list[dict[str, Any]] = []
    for field in schema["fields"]:
        if field["name"] == fam.union_field:
            branches = field["type"]
        elif field["name"] != fam.type_field:
            envelope[field["name"]] = strategy_for(field["type"], named, namespace)
    out = {}
    for branch in branches:
        typed: dict[str, st.SearchStrategy[Any]] = {fam.type_field: st.just(branch["name"])}
        if fam.flat:
            inner = branch["namespace"]
            for field in branch["fields"]:
                typed[field["name"]] = strategy_for(field["type"], named, inner)
        else:
            typed[fam.union_field] = strategy_for(branch, named, namespace)
        out[branch["name"]] = st.fixed_dictionaries({**envelope, **typed})
    return out


STRATEGIES = {family: message_strategies(family) for family in FAMILIES}
CASES = [(family, name) for family, types in STRATEGIES.items() for name in types]

FUNCTIONS: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], dict[str, Any]]]] = {
    "commands": (lc.encode_command, lc.decode_command),
    "results": (lc.encode_result, lc.decode_result),
    "history": (lc.encode_history, lc.decode_history),
    "tasks": (lc.encode_task, lc.decode_task),
    "definitions": (lc.encode_definition, lc.decode_definition),
}


def test_every_schema_type_has_a_case() -> None:
    assert {family for family, _ in CASES} == set(FAMILIES)
    assert len(STRATEGIES["history"]) == 28
    for family, types in STRATEGIES.items():
        assert set(types) == codec(family).type_names


@pytest.mark.parametrize(("family", "type_name"), CASES, ids=[f"{f}-{t}" for f, t in CASES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(family: str, type_name: str, data: st.DataObject) -> None:
    message = data.draw(STRATEGIES[family][type_name])
    encode, decode = FUNCTIONS[family]

    encoded = encode(message)

    assert encoded[:2] == MARKER
    assert encoded[2:HEADER_SIZE] == codec(family).fingerprint
    decoded = decode(encoded)
    assert decoded == message
    assert encode(decoded) == encoded


@pytest.mark.parametrize(("family", "type_name"), CASES, ids=[f"{f}-{t}" for f, t in CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_direct_fastavro_calls_match_the_public_ones(
    family: str, type_name: str, data: st.DataObject
) -> None:
    assert direct.AVAILABLE  # else every codec silently uses the public calls
    message = data.draw(STRATEGIES[family][type_name])
    fast = codec(family)
    encoded = fast.encode(message)
    decoded = fast.decode(encoded)
    broken = encoded[:-1] if len(encoded) > HEADER_SIZE + 1 else encoded + b"\0"
    with pytest.raises(DecodeError) as ours:
        fast.decode(broken)
    fast._direct = False
    try:
        assert fast.encode(message) == encoded
        assert fast.decode(encoded) == decoded
        with pytest.raises(DecodeError) as public:
            fast.decode(broken)
    finally:
        fast._direct = True
    assert ours.value.reason == public.value.reason


def test_json_payloads_travel_as_json_bytes() -> None:
    """Analytics consumers that know nothing of LinkFlow see JSON text in bytes fields."""
    event = {
        "execution_id": "e-1",
        "event_id": 3,
        "timestamp_ms": 1_700_000_000_000,
        "event_type": "NodeCompleted",
        "attributes": {
            "node_id": "fetch",
            "scope": "foreach1[2]",
            "output": {"status": 200, "body": {"name": "Zoë"}},
            "handle": "success",
        },
    }
    data = lc.encode_history(event)

    # A plain Avro reader: no logical type for "json", so it must hand back the bytes.
    plain = json.loads(
        json.dumps(load_current("history")).replace('"logicalType": "json"', '"x": "json"')
    )
    raw = schemaless_reader(BytesIO(data[HEADER_SIZE:]), parse_schema(plain), None)

    assert raw["event_type"] == "NodeCompleted"
    assert raw["attributes"]["output"] == '{"status":200,"body":{"name":"Zoë"}}'.encode()
    assert lc.decode_history(data) == event


def test_omitted_optional_fields_decode_as_their_defaults() -> None:
    data = lc.encode_result(
        {
            "input_type": "ChildWorkflowOutcome",
            "execution_id": "parent-1",
            "sent_at_ms": 5,
            "child_execution_id": "c-1",
            "completed": True,
            "output": [1, 2],
        }
    )

    assert lc.decode_result(data) == {
        "input_type": "ChildWorkflowOutcome",
        "execution_id": "parent-1",
        "sent_at_ms": 5,
        "child_execution_id": "c-1",
        "completed": True,
        "output": [1, 2],
        "error": None,
    }


def test_nested_optional_record_round_trips_as_a_plain_dict() -> None:
    error = {"type": "Boom", "message": "m", "retryable": False, "node_id": "n", "details": [1]}
    message = {
        "input_type": "ChildWorkflowOutcome",
        "execution_id": "parent-1",
        "sent_at_ms": 5,
        "child_execution_id": "c-1",
        "completed": False,
        "output": None,
        "error": error,
    }
    assert lc.decode_result(lc.encode_result(message)) == message


def test_flat_messages_are_nested_on_the_wire() -> None:
    """Inputs are flat in Python (as docs/events.md lists them) but envelope + union in Avro."""
    message = {
        "input_type": "SignalWorkflow",
        "execution_id": "e-1",
        "sent_at_ms": 9,
        "request_id": "r-1",
        "signal_name": "approve",
        "payload": {"by": "ana"},
    }
    data = lc.encode_command(message)
    raw = schemaless_reader(
        BytesIO(data[HEADER_SIZE:]), parse_schema(load_current("commands")), None
    )

    assert raw == {
        "execution_id": "e-1",
        "sent_at_ms": 9,
        "input_type": "SignalWorkflow",
        "workspace": None,
        "attributes": {"request_id": "r-1", "signal_name": "approve", "payload": {"by": "ana"}},
    }
    assert lc.decode_command(data) == {**message, "workspace": None}


def test_single_type_families_need_no_type_field() -> None:
    definition = {"id": "order", "version": 3, "definition": {"nodes": []}, "registered_at_ms": 1}

    decoded = lc.decode_definition(lc.encode_definition(definition))

    assert decoded == {
        "definition_type": "WorkflowDefinition",
        **definition,
        "workspace": "default",
    }

"""The codec's public surface: family codecs, and EncodeError as the only encode failure."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linkflow.codec as lc
from linkflow.codec import FAMILIES, DecodeError, EncodeError, codec

NODE_COMPLETED: dict[str, Any] = {
    "execution_id": "e-1",
    "event_id": 4,
    "timestamp_ms": 1_700_000_000_000,
    "event_type": "NodeCompleted",
    "attributes": {"node_id": "n", "scope": "", "output": {"a": 1}, "handle": "success"},
}


def with_attributes(**changes: Any) -> dict[str, Any]:
    return {**NODE_COMPLETED, "attributes": {**NODE_COMPLETED["attributes"], **changes}}


def test_codec_is_built_once_per_family() -> None:
    assert codec("history") is codec("history")
    assert {codec(name).family.name for name in FAMILIES} == set(FAMILIES)
    assert len({codec(name).fingerprint for name in FAMILIES}) == len(FAMILIES)


def test_unknown_family() -> None:
    with pytest.raises(ValueError, match=r"unknown message family 'events'.*history"):
        codec("events")


def test_errors_are_distinct_value_errors() -> None:
    assert issubclass(DecodeError, ValueError)
    assert issubclass(EncodeError, ValueError)
    assert not issubclass(DecodeError, EncodeError)
    assert not issubclass(EncodeError, DecodeError)


def test_encode_does_not_modify_the_message() -> None:
    message = copy.deepcopy(NODE_COMPLETED)
    lc.encode_history(message)
    assert message == NODE_COMPLETED


def test_every_type_name_is_accepted_only_in_its_family() -> None:
    assert "TimerFired" in codec("history").type_names
    assert "TimerFired" in codec("results").type_names
    assert "StartWorkflow" not in codec("results").type_names


BAD_MESSAGES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown type": ({**NODE_COMPLETED, "event_type": "NodeExploded"}, "unknown event_type"),
    "type of another family": ({**NODE_COMPLETED, "event_type": "StartWorkflow"}, "unknown"),
    "type not a string": ({**NODE_COMPLETED, "event_type": ["NodeCompleted"]}, "unknown"),
    "no type": ({k: v for k, v in NODE_COMPLETED.items() if k != "event_type"}, "event_type"),
    "no attributes": ({k: v for k, v in NODE_COMPLETED.items() if k != "attributes"}, "attrib"),
    "missing envelope field": (
        {k: v for k, v in NODE_COMPLETED.items() if k != "event_id"},
        "event_id",
    ),
    "missing attribute": (
        {**NODE_COMPLETED, "attributes": {"node_id": "n", "output": 1}},
        "handle",
    ),
    "misspelt attribute": (with_attributes(hndle="x"), "more fields"),
    "extra envelope field": ({**NODE_COMPLETED, "partition": 3}, "more fields"),
    "wrong type": (with_attributes(node_id=42), "NodeCompleted"),
    "long out of range": ({**NODE_COMPLETED, "event_id": 2**64}, "NodeCompleted"),
    "NaN in payload": (with_attributes(output={"x": float("nan")}), "JSON compliant"),
    "set in payload": (with_attributes(output={1, 2}), "not JSON serializable"),
    "bytes in payload": (with_attributes(output=b"{}"), "not JSON serializable"),
    "attributes not a dict": ({**NODE_COMPLETED, "attributes": ["n"]}, "NodeCompleted"),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_bad_message_raises_encode_error(case: str) -> None:
    message, expected = BAD_MESSAGES[case]
    with pytest.raises(EncodeError, match=expected):
        lc.encode_history(message)


def test_not_a_mapping_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        lc.encode_history(None)  # type: ignore[arg-type]


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    envelope=st.dictionaries(st.text(max_size=12), junk, max_size=4),
    attributes=junk,
    type_index=st.integers(0, 30),
)
def test_encode_raises_nothing_but_encode_error(
    family: str, envelope: dict[str, Any], attributes: Any, type_index: int
) -> None:
    c = codec(family)
    names = sorted(c.type_names)
    message = {**envelope, c.family.type_field: names[type_index % len(names)]}
    if not c.family.flat:
        message[c.family.union_field] = attributes
    elif isinstance(attributes, dict):
        message.update(attributes)
    try:
        data = c.encode(message)
    except EncodeError:
        return
    assert c.decode(data)[c.family.type_field] == message[c.family.type_field]


FLAT_BAD: dict[str, tuple[str, dict[str, Any], str]] = {
    "extra field": (
        "commands",
        {"input_type": "CancelWorkflow", "execution_id": "e", "sent_at_ms": 1,
         "request_id": "r", "reason": "x", "identity": "i", "force": True},
        "more fields",
    ),
    "envelope field missing": (
        "results",
        {"input_type": "TimerFired", "sent_at_ms": 1, "timer_id": "t", "fired_at_ms": 2},
        "execution_id",
    ),
    "no input_type": (
        "results",
        {"execution_id": "e", "sent_at_ms": 1, "timer_id": "t", "fired_at_ms": 2},
        "no 'input_type'",
    ),
    "nested attributes instead of flat": (
        "commands",
        {"input_type": "CancelWorkflow", "execution_id": "e", "sent_at_ms": 1,
         "attributes": {"request_id": "r", "reason": "x", "identity": "i"}},
        "CancelWorkflow",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FLAT_BAD))
def test_bad_flat_message_raises_encode_error(case: str) -> None:
    family, message, expected = FLAT_BAD[case]
    with pytest.raises(EncodeError, match=expected):
        codec(family).encode(message)

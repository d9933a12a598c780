"""The history processor's store values: an execution state with its decision time, encoded
compactly (msgpack), and as JSON where msgpack cannot hold a value."""

from __future__ import annotations

import pytest

from linkflow.engine import ExecutionState
from linkflow.model.catalog import Catalog
from processors.history_records import StoredExecution


def stored(value: object = "v") -> StoredExecution:
    state = ExecutionState("ex-1", plans=Catalog())
    state.last_event_id = 7
    state.vars = {"x": value, "nested": {"list": [1, 2.5, None, True]}}
    state.request_ids = {"r-1", "r-2"}
    return StoredExecution(state, 1_700_000)


def test_a_stored_execution_round_trips_in_msgpack() -> None:
    data = stored().to_bytes()
    assert data[:1] == b"M"
    again = StoredExecution.from_bytes(data, Catalog())
    assert again.now_ms == 1_700_000
    assert again.state.to_dict() == stored().state.to_dict()


def test_integers_beyond_64_bits_fall_back_to_json() -> None:
    data = stored(2**70).to_bytes()
    assert data[:1] == b"J"
    assert StoredExecution.from_bytes(data, Catalog()).state.vars["x"] == 2**70


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown state encoding"):
        StoredExecution.from_bytes(b"X{}", Catalog())

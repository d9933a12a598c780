"""The history processor's table values: a state stored with its outbox, and the in-flight
marker a batch writes before it (what crash recovery reads back)."""

from __future__ import annotations

import json

from linkflow.engine import ExecutionState
from linkflow.model.catalog import Catalog
from processors.history_records import (
    IN_FLIGHT_PREFIX,
    InFlight,
    Outgoing,
    StoredExecution,
    in_flight_key,
)

RECORDS = [
    Outgoing("linkflow.history", b"ex-1", b"\xc3\x01binary\x00event"),
    Outgoing("linkflow.tasks.default", b"ex-1", b""),
]


def stored() -> StoredExecution:
    state = ExecutionState("ex-1", plans=Catalog())
    state.last_event_id = 7
    return StoredExecution(
        state, {"commands": 3, "results": 9}, 1_700_000, list(RECORDS), "proc-a:12"
    )


def test_a_stored_execution_round_trips_with_its_outbox() -> None:
    again = StoredExecution.from_bytes(stored().to_bytes(), Catalog())
    assert again.applied == {"commands": 3, "results": 9}
    assert again.now_ms == 1_700_000
    assert again.state.last_event_id == 7
    assert again.outbox == RECORDS
    assert again.outbox_batch == "proc-a:12"
    assert again.already_applied("results", 9) and not again.already_applied("results", 10)


def test_the_outbox_reads_without_rebuilding_the_state() -> None:
    assert StoredExecution.outbox_of(stored().to_bytes()) == ("proc-a:12", RECORDS)


def test_a_value_stored_before_outboxes_existed_reads_with_an_empty_one() -> None:
    data = json.loads(stored().to_bytes())
    del data["outbox"], data["outbox_batch"]
    old = json.dumps(data).encode()
    again = StoredExecution.from_bytes(old, Catalog())
    assert again.outbox == [] and again.outbox_batch == ""
    assert StoredExecution.outbox_of(old) == ("", [])


def test_in_flight_marker_round_trips_under_a_key_no_execution_id_has() -> None:
    marker = InFlight("proc-a:12", ("ex-1", "ex-2"))
    assert InFlight.from_bytes(marker.to_bytes()) == marker
    assert in_flight_key(5) == IN_FLIGHT_PREFIX + b"5"
    assert in_flight_key(5).startswith(b"\x00")

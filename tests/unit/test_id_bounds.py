"""Ids and versions past linkflow/model/limits.py's bounds are refused where commands enter:
the client before sending, the history processor (dead letter) for any other producer."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow.client import Client
from linkflow.codec import encode_command
from linkflow.engine import SignalWorkflow, StartWorkflow
from linkflow.model.limits import MAX_ID_LENGTH
from processors.history_records import Rejected, read_input

LONG = "x" * (MAX_ID_LENGTH + 1)
LONGEST = "x" * MAX_ID_LENGTH


_HEADER = {"execution_id": "e-1", "sent_at_ms": 1, "request_id": "r-1"}


def _start(**fields: Any) -> dict[str, Any]:
    start = {"input_type": "StartWorkflow", "workflow_id": "wf", "search_attributes": {}}
    optional = ("workflow_version", "input", "idempotency_key", "parent_execution_id")
    nones = dict.fromkeys((*optional, "parent_node_id", "parent_scope"))
    return {**_HEADER, **start, **nones, **fields}


def _signal(**fields: Any) -> dict[str, Any]:
    signal = {"input_type": "SignalWorkflow", "signal_name": "go", "payload": None}
    return {**_HEADER, **signal, **fields}


def _read(message: dict[str, Any]) -> Any:
    return read_input("commands", message["execution_id"].encode(), encode_command(message))


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (_start(execution_id=LONG), "execution_id"),
        (_start(workflow_id=LONG), "workflow_id"),
        (_start(idempotency_key=LONG), "idempotency_key"),
        (_start(workflow_version=0), "workflow_version"),
        (_signal(signal_name=LONG), "signal_name"),
        (_signal(execution_id=LONG), "execution_id"),
    ],
)
def test_the_history_processor_refuses_what_is_past_a_bound(
    message: dict[str, Any], field: str
) -> None:
    rejected = _read(message)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "invalid"
    assert rejected.detail.startswith(f"{field} ")


def test_the_longest_ids_pass() -> None:
    started = _read(_start(execution_id=LONGEST, workflow_id=LONGEST, idempotency_key=LONGEST))
    assert isinstance(started, StartWorkflow)
    assert isinstance(_read(_signal(signal_name=LONGEST)), SignalWorkflow)


def test_a_childs_start_is_the_processors_own_and_passes() -> None:
    # Child ids append to their parent's: deep nesting may pass the bound, and refusing the
    # start would leave the parent waiting for a child that never runs.
    child = _read(_start(execution_id=LONG, parent_execution_id="p-1", parent_node_id="n"))
    assert isinstance(child, StartWorkflow)


def test_the_client_refuses_before_sending() -> None:
    client = Client("127.0.0.1:1")  # no broker there: refusing must not need one
    try:
        with pytest.raises(ValueError, match=r"^workflow_id is 1001 characters long"):
            client.start(LONG, flush=False)
        with pytest.raises(ValueError, match=r"^idempotency_key "):
            client.start("wf", idempotency_key=LONG, flush=False)
        with pytest.raises(ValueError, match=r"^execution_id "):
            client.start("wf", execution_id=LONG, flush=False)
        with pytest.raises(ValueError, match=r"^version is 0; a version is an integer"):
            client.start("wf", version=0, flush=False)
        with pytest.raises(ValueError, match=r"^name "):
            client.signal("e-1", LONG)
    finally:
        client._producer.purge()

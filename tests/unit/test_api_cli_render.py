"""Pure pieces of the execution CLI: SSE parsing, watch lines, tables, argument types."""

from __future__ import annotations

import argparse
import io

import pytest

from linkflow.api.remote import RemoteApi, SseMessage, parse_sse
from linkflow.cli.executions import NodeProgress, json_arg, pair_arg, table


def test_parse_sse_messages_comments_and_multiline_data() -> None:
    wire = io.BytesIO(
        b"retry: 1000\n\n"
        b": keepalive\n\n"
        b'id: 1\ndata: {"a": 1}\n\n'
        b"id: 2\r\ndata:first\r\ndata: second\r\n\r\n"
        b"event: end\ndata: {}\n\n"
        b"data: unterminated"
    )
    assert list(parse_sse(wire)) == [
        SseMessage("message", "1", '{"a": 1}'),
        SseMessage("message", "2", "first\nsecond"),
        SseMessage("end", "2", "{}"),
    ]


def test_urls_repeat_list_parameters_and_drop_none() -> None:
    api = RemoteApi("http://h:1/")
    url = api.url("/v1/executions", {"status": ["running", "failed"], "limit": 5, "x": None})
    assert url == "http://h:1/v1/executions?status=running&status=failed&limit=5"


def _event(event_id: int, kind: str, **attrs: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event_type": kind,
        "event_time": f"2025-01-01T10:00:0{event_id}.000000Z",
        "attributes": attrs,
    }


def test_watch_lines_follow_node_instances() -> None:
    progress = NodeProgress()
    events = [
        _event(1, "WorkflowExecutionStarted", workflow_id="w", workflow_version=1),
        _event(
            2,
            "ActivityTaskScheduled",
            activity_id="a1",
            node_id="fetch",
            scope="loop[2]",
            node_type="http",
            attempt=1,
        ),
        _event(3, "ActivityTaskStarted", activity_id="a1", attempt=1),
        _event(4, "ActivityTaskFailed", activity_id="a1", attempt=1, error={"message": "503"}),
        _event(5, "TimerStarted", purpose="retry_backoff", node_id="fetch", scope="loop[2]"),
        _event(
            6, "NodeFailed", node_id="fetch", scope="loop[2]", routed=True, error={"message": "x"}
        ),
        _event(7, "WorkflowExecutionSignaled", signal_name="go"),
        _event(8, "WorkflowExecutionFailed", error={"message": "boom"}),
    ]
    lines = [line for e in events for line in progress.lines(e)]
    assert lines == [
        "10:00:01.000  started w v1",
        "10:00:02.000  fetch [loop[2]]  scheduled (http, attempt 1)",
        "10:00:03.000  fetch [loop[2]]  running (attempt 1)",
        "10:00:04.000  fetch [loop[2]]  attempt 1 failed: 503",
        "10:00:06.000  fetch [loop[2]]  failed (routed to error edge): x",
        "10:00:07.000  signal 'go' received",
        "10:00:08.000  execution failed: boom",
    ]
    assert progress.status == "failed"


def test_table_aligns_and_renders_values() -> None:
    text = table(["id", "ok", "data"], [["a", True, None], ["bbb", False, {"k": [1]}]])
    assert text.splitlines() == [
        "ID   OK   DATA",
        "a    yes  -",
        'bbb  no   {"k":[1]}',
    ]


def test_argument_types() -> None:
    assert json_arg('{"a": [1]}') == {"a": [1]}
    assert pair_arg("team=blue=green") == ("team", "blue=green")
    for bad, parse in (("{nope", json_arg), ("novalue", pair_arg), ("=x", pair_arg)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)

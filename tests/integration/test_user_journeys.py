"""What a user does through the CLI and the API, against the whole runtime on the real broker
(history and timers processors, a worker, the sink, the API): commands right after a start,
child executions by id, nodes left waiting when an execution closes, a step that failed and
went on, bad requests and a record the catalog cannot store, a large signal, and a sink
killed and started again. After each, a new execution completes."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import Producer
from test_runtime_support import (
    HttpServer,
    Runtime,
    http_get,
    http_server,
    linear,
    runtime_with_api,
    unique_id,
)
from test_timers_support import wait_until

from linkflow import transport
from linkflow.api.definitions import definition_key, encode_definition_record
from linkflow.cli.main import main
from linkflow.transport import MAX_PAYLOAD_BYTES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHOWN = 60.0  # seconds for the view to show what history says


@pytest.fixture(scope="module")
def journey(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Runtime, str]]:
    folder = tmp_path_factory.mktemp("journeys")
    with runtime_with_api(kafka_bootstrap, database_url, folder, "journeys") as started:
        started[0].start_worker("http-worker", "http")
        yield started


@pytest.fixture(scope="module")
def web() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


def call(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw or b"null")


def register(api: str, definition: dict[str, Any]) -> None:
    status, body = call("POST", f"{api}/v1/workflows", json.dumps(definition).encode())
    assert status == 201, body


def cli(capsys: pytest.CaptureFixture[str], api: str, *args: str) -> str:
    capsys.readouterr()
    code = main([*args, "--api", api])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def started(capsys: pytest.CaptureFixture[str], api: str, workflow_id: str) -> str:
    return str(json.loads(cli(capsys, api, "start", workflow_id, "--json"))["execution_id"])


def shown(api: str, execution_id: str, status: str) -> dict[str, Any]:
    """The API's view of the execution once it says `status`."""

    def view() -> dict[str, Any] | None:
        code, body, _ = http_get(f"{api}/v1/executions/{quote(execution_id, safe='')}")
        return body if code == 200 and body["status"] == status else None

    return wait_until(view, SHOWN, f"the API to show {execution_id} {status}")


def nodes_of(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in execution["nodes"]}


def approval(workflow_id: str, **settings: Any) -> dict[str, Any]:
    return {
        "id": workflow_id,
        "version": 1,
        "settings": settings,
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "approve", "type": "approval", "config": {"signal": "approve"}},
        ],
        "edges": [{"source": "start", "target": "approve"}],
    }


def a_new_execution_completes(rt: Runtime, api: str) -> None:
    wf = unique_id("after")
    register(api, linear(wf, ["noop", "noop"]))
    status, answer = call(
        "POST", f"{api}/v1/executions", json.dumps({"workflow_id": wf, "input": {}}).encode()
    )
    assert status in (200, 201, 202), answer
    assert rt.wait(answer["execution_id"]).status == "completed"
    shown(api, answer["execution_id"], "completed")


def test_signal_cancel_and_terminate_right_after_the_cli_starts(
    journey: tuple[Runtime, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17, cases 4 and 5: a command sent by the CLI right after `linkflow start` reaches
    the execution (it could answer 404 while the view lagged), and the node that was waiting
    when the execution was cancelled or terminated shows `canceled`, not `running`."""
    rt, api = journey
    wf = unique_id("right-after")
    register(api, approval(wf))
    for _ in range(3):
        signalled = started(capsys, api, wf)
        cli(capsys, api, "signal", signalled, "approve", "--payload", '{"approved": true}')
        canceled = started(capsys, api, wf)
        cli(capsys, api, "cancel", canceled)
        terminated = started(capsys, api, wf)
        cli(capsys, api, "terminate", terminated)

        assert rt.wait(signalled).status == "completed"
        assert rt.wait(canceled).status == "canceled"
        assert rt.wait(terminated).status == "terminated"
        assert nodes_of(shown(api, signalled, "completed"))["approve"]["status"] == "completed"
    # The last two may have closed before their approval node waited: wait for one that did.
    waiting = started(capsys, api, wf)
    wait_until(
        lambda: (
            nodes_of(shown(api, waiting, "running")).get("approve", {}).get("status") == "running"
        ),
        SHOWN,
        "the approval to wait",
    )
    cli(capsys, api, "terminate", waiting)
    assert nodes_of(shown(api, waiting, "terminated"))["approve"]["status"] == "canceled"
    assert "canceled" in cli(capsys, api, "get", waiting)


def test_a_waiting_node_shows_canceled_when_the_execution_times_out(
    journey: tuple[Runtime, str],
) -> None:
    """Issue 17, case 4 (execution timeout)."""
    rt, api = journey
    wf = unique_id("times-out")
    register(api, approval(wf, execution_timeout="2s"))
    execution_id = rt.client.start(wf, {})
    assert rt.wait(execution_id).status == "timed_out"
    assert nodes_of(shown(api, execution_id, "timed_out"))["approve"]["status"] == "canceled"


def test_a_child_execution_by_its_id_in_the_cli(
    journey: tuple[Runtime, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17, case 3: a child's id holds `/`; get, history and cancel find it."""
    rt, api = journey
    child_wf, parent_wf = unique_id("child"), unique_id("parent")
    register(api, approval(child_wf))
    register(
        api,
        {
            "id": parent_wf,
            "version": 1,
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "sub", "type": "subworkflow", "config": {"workflow_id": child_wf}},
            ],
            "edges": [{"source": "start", "target": "sub"}],
        },
    )
    parent = rt.client.start(parent_wf, {})
    child = wait_until(
        lambda: nodes_of(shown(api, parent, "running")).get("sub", {}).get("child_execution_id"),
        SHOWN,
        "the parent to show its child",
    )
    assert "/" in child
    shown(api, child, "running")
    assert child in cli(capsys, api, "get", child)
    history = json.loads(cli(capsys, api, "history", child, "--json"))
    assert history[0]["event_type"] == "WorkflowExecutionStarted"
    cli(capsys, api, "cancel", child)
    assert rt.wait(child).status == "canceled"
    assert rt.wait(parent).status == "failed"
    shown(api, child, "canceled")


def test_a_step_that_failed_and_went_on_is_shown_failed_and_continued(
    journey: tuple[Runtime, str], web: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17, case 8: `on_error: continue` showed the failed step as `completed`."""
    rt, api = journey
    doc = json.loads((EXAMPLES / "continue_on_error.json").read_text())
    doc["id"] = unique_id("continued")
    register(api, doc)
    execution_id = rt.client.start(doc["id"], {"url": f"{web.url}/status/404", "a": 2, "b": 3})
    assert rt.wait(execution_id).status == "completed"
    enrich = nodes_of(shown(api, execution_id, "completed"))["enrich"]
    assert (enrich["status"], enrich["handle"]) == ("failed", "success")
    line = next(
        row
        for row in cli(capsys, api, "get", execution_id).splitlines()
        if row.startswith("enrich")
    )
    assert "failed" in line and "(continued)" in line


def test_bad_requests_and_a_bad_definitions_record_stop_nothing(
    journey: tuple[Runtime, str], kafka_bootstrap: str
) -> None:
    """Issue 16, cases 2 and 4: each answers a 4xx with its JSON problem (they were 500s, a 503
    or a plain-text 400), a definitions record the catalog cannot store is skipped (it made
    every later registration answer 503), and new executions complete afterwards."""
    rt, api = journey
    wf = unique_id("bad-input")
    register(api, linear(wf, ["noop"]))
    start = f"{api}/v1/executions"
    deep = "[" * 500 + "]" * 500
    for body, expected in [
        (b'{"workflow_id": "%s", "input": NaN}' % wf.encode(), 400),
        (b'{"workflow_id": "%s", "input": %s}' % (wf.encode(), deep.encode()), 400),
        (b'{"workflow_id": "%s", "input": "\\ud800"}' % wf.encode(), 400),
        (b'{"workflow_id": "%s", "search_attributes": {"a": "\\ud800"}}' % wf.encode(), 400),
        (json.dumps({"workflow_id": wf, "workflow_version": 2**31}).encode(), 400),
        (json.dumps({"workflow_id": wf, "input": "x" * 1000 * 1024}).encode(), 413),
    ]:
        status, problem = call("POST", start, body)
        assert status == expected and problem["error"]["code"], (body[:80], status, problem)
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999\r\n\r\n"
        )
        answer = b""
        while b"payload_too_large" not in answer and (chunk := conn.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"payload_too_large" in answer, answer
    status, problem = call("GET", f"{api}/v1/executions/{'x' * 100_000}")
    assert status == 400 and problem["error"]["code"] == "invalid_parameter", problem
    for version in (2**31, 1099511627776):
        bad = {**linear(unique_id("huge-version"), ["noop"]), "version": version}
        status, problem = call("POST", f"{api}/v1/workflows", json.dumps(bad).encode())
        assert status == 422 and "version" in json.dumps(problem), problem

    # Another producer publishes what the catalog cannot store: it is skipped, not retried.
    skipped = {**linear(unique_id("raw-huge"), ["noop"]), "version": 1099511627776}
    producer = Producer(transport.producer_config(kafka_bootstrap))
    producer.produce(
        rt.prefix + transport.DEFINITIONS,
        key=definition_key(skipped["id"], skipped["version"]),
        value=encode_definition_record(skipped, int(time.time() * 1000)),
    )
    assert producer.flush(30) == 0
    a_new_execution_completes(rt, api)
    a_new_execution_completes(rt, api)


def test_a_large_signal_through_the_api(journey: tuple[Runtime, str]) -> None:
    """Issue 16, case 1: a 450 KiB signal was accepted, then its history event was refused by
    the broker and the history processor died on it after every restart. Now it is decided
    (the record limit leaves room for it), one above the payload limit is 413, and new
    executions complete."""
    rt, api = journey
    wf = unique_id("large-signal")
    register(api, approval(wf))
    execution_id = rt.client.start(wf, {})
    rt.wait_for_event(execution_id, "MarkerRecorded")
    payload = {"approved": True, "blob": "x" * 450 * 1024}
    url = f"{api}/v1/executions/{execution_id}/signal"
    status, answer = call("POST", url, json.dumps({"name": "approve", "payload": payload}).encode())
    assert status == 202, answer
    assert rt.wait(execution_id).status == "completed"
    too_big = {"name": "approve", "payload": {"blob": "x" * MAX_PAYLOAD_BYTES}}
    status, problem = call("POST", url, json.dumps(too_big).encode())
    assert status == 413 and problem["error"]["code"] == "payload_too_large", problem
    a_new_execution_completes(rt, api)


def test_a_killed_sink_is_replaced_within_seconds(
    journey: tuple[Runtime, str], database_url: str
) -> None:
    """Issue 16, case 5: after a sink SIGKILL new rows lagged ~36 s (the dead member's session
    timeout, which `sink run` could not set). Its session timeout is 10 s by default now."""
    rt, api = journey
    rt.processes["sink"].kill()
    began = time.monotonic()
    rt.start_sink(database_url, name="sink-2")
    a_new_execution_completes(rt, api)
    took = time.monotonic() - began
    print(f"a new execution shown {took:.1f} s after the sink was killed and started again")
    assert took < 25, took

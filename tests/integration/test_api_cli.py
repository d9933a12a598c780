"""The `linkflow` execution and workflow commands, talking HTTP to a running query service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient
from test_api_support import (
    Services,
    Tap,
    close_execution,
    connect,
    insert_events,
    insert_execution,
    insert_node,
    prepare,
    running_api,
    unique,
    workflow_doc,
)

from linkflow import transport
from linkflow.cli.main import main
from linkflow.client import execution_id_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def services(database_url: str, kafka_bootstrap: str) -> Services:
    return prepare(database_url, kafka_bootstrap)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(services: Services) -> AsyncIterator[Client]:
    async with running_api(services) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def db(services: Services) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await connect(services)
    yield conn
    await conn.close()


async def cli(client: Client, *argv: str) -> int:
    # The CLI is synchronous; the server it calls runs on this event loop.
    api = str(client.make_url("")).rstrip("/")
    return await asyncio.to_thread(main, [*argv, "--api", api])


def _fields(out: str) -> dict[str, str]:
    """The "name  value" block `linkflow get` prints above the node table."""
    fields = {}
    for line in out.splitlines():
        if not line.strip():
            break
        name, _, value = line.partition(" ")
        fields[name] = value.strip()
    return fields


async def test_workflows_register_list_get(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow_id = unique("wf-cli")
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(workflow_doc(workflow_id, name="CLI flow")))
    assert await cli(client, "workflows", "register", str(path)) == 0
    assert capsys.readouterr().out == f"registered {workflow_id} version 1\n"
    assert await cli(client, "workflows", "register", str(path)) == 0
    assert "already registered" in capsys.readouterr().out

    assert await cli(client, "workflows", "list", "--json") == 0
    listed = {w["workflow_id"]: w for w in json.loads(capsys.readouterr().out)}
    assert listed[workflow_id]["name"] == "CLI flow"
    assert await cli(client, "workflows", "list") == 0
    out = capsys.readouterr().out
    assert out.startswith("WORKFLOW")
    assert workflow_id in out

    assert await cli(client, "workflows", "get", workflow_id) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["VERSION", "REGISTERED", "NODES", "EDGES"]
    assert out[1].split()[0] == "1"


async def test_register_an_invalid_file_lists_the_problems(
    client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    bad = {"id": unique("wf-cli-bad"), "version": 1, "nodes": [{"id": "x", "type": "warp"}]}
    path.write_text(json.dumps(bad))
    assert await cli(client, "workflows", "register", str(path)) == 1
    err = capsys.readouterr().err
    assert "invalid_definition, HTTP 422" in err
    assert "node x, field type: unknown node type 'warp'" in err
    assert await cli(client, "workflows", "register", str(tmp_path / "missing.yaml")) == 2


async def test_start_get_list_history(
    client: Client,
    db: psycopg.AsyncConnection[Any],
    services: Services,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workflow_id = unique("wf-cli-start")
    assert (await client.post("/v1/workflows", json=workflow_doc(workflow_id))).status == 201
    key = unique("key")
    tap = await asyncio.to_thread(Tap, services.kafka_bootstrap, transport.COMMANDS)
    try:
        code = await cli(
            client,
            "start",
            workflow_id,
            "--input",
            '{"n": 1}',
            "--idempotency-key",
            key,
            "--sa",
            "team=blue",
        )
        assert code == 0
        execution_id = capsys.readouterr().out.strip()
        assert execution_id == execution_id_for(workflow_id, key)
        await asyncio.to_thread(tap.wait_for, execution_id.encode())
    finally:
        await asyncio.to_thread(tap.close)

    # What the processor and the sink would write for this run.
    await insert_execution(
        db, execution_id, workflow_id, input={"n": 1}, search_attributes={"team": "blue"}
    )
    await insert_node(db, execution_id, "shape", "completed", offset_ms=1, output={"v": 1})
    await insert_events(
        db,
        execution_id,
        [(1, "WorkflowExecutionStarted", {"workflow_id": workflow_id}), (2, "NodeCompleted", {})],
    )
    await close_execution(db, execution_id, "completed", 2, output={"v": 1})

    assert await cli(client, "get", execution_id) == 0
    out = capsys.readouterr().out
    fields = _fields(out)
    assert fields["execution"] == execution_id
    assert fields["status"] == "completed"
    assert fields["output"] == '{"v":1}'
    assert fields["attributes"] == '{"team":"blue"}'
    node_line = next(line for line in out.splitlines() if line.startswith("shape"))
    assert node_line.split()[:3] == ["shape", "http", "completed"]

    assert await cli(client, "get", execution_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["nodes"][0]["node_id"] == "shape"

    assert await cli(client, "list", "--workflow", workflow_id, "--status", "completed") == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:4] == ["EXECUTION", "WORKFLOW", "VERSION", "STATUS"]
    assert rows[1].split()[:4] == [execution_id, workflow_id, "1", "completed"]
    assert await cli(client, "list", "--sa", "team=blue", "--workflow", workflow_id, "--json") == 0
    assert [e["execution_id"] for e in json.loads(capsys.readouterr().out)["executions"]] == [
        execution_id
    ]

    assert await cli(client, "history", execution_id) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["ID", "1", "2"]
    assert await cli(client, "history", execution_id, "--json") == 0
    assert [e["event_type"] for e in json.loads(capsys.readouterr().out)] == [
        "WorkflowExecutionStarted",
        "NodeCompleted",
    ]


async def test_get_and_history_of_a_child_whose_id_holds_slashes(
    client: Client, db: psycopg.AsyncConnection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A child execution's id is `<parent>/<node>/...`: the CLI sends it as one path
    segment."""
    workflow_id = unique("wf-cli-child")
    child_id = f"{unique('parent')}/sub/1"
    await insert_execution(db, child_id, workflow_id)
    await insert_events(db, child_id, [(1, "WorkflowExecutionStarted", {"workflow_id": "w"})])
    assert await cli(client, "get", child_id) == 0
    assert _fields(capsys.readouterr().out)["execution"] == child_id
    assert await cli(client, "history", child_id, "--json") == 0
    assert [e["event_id"] for e in json.loads(capsys.readouterr().out)] == [1]


async def test_start_wait_reports_the_outcome(
    client: Client,
    db: psycopg.AsyncConnection[Any],
    services: Services,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workflow_id = unique("wf-cli-wait")
    assert (await client.post("/v1/workflows", json=workflow_doc(workflow_id))).status == 201
    key = unique("key")
    execution_id = execution_id_for(workflow_id, key)
    tap = await asyncio.to_thread(Tap, services.kafka_bootstrap, transport.COMMANDS)

    async def sink() -> None:
        try:
            await asyncio.to_thread(tap.wait_for, execution_id.encode())
        finally:
            await asyncio.to_thread(tap.close)
        await insert_execution(db, execution_id, workflow_id)
        await close_execution(db, execution_id, "failed", 4)

    playing = asyncio.create_task(sink())
    code = await cli(client, "start", workflow_id, "--idempotency-key", key, "--wait")
    await playing
    assert code == 1  # the execution failed
    out = capsys.readouterr().out
    assert out.splitlines()[0] == execution_id
    assert _fields(out)["status"] == "failed"


async def test_signal_cancel_terminate(
    client: Client, db: psycopg.AsyncConnection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    execution_id = unique("exec-cli-steer")
    await insert_execution(db, execution_id, "wf-cli")
    assert await cli(client, "signal", execution_id, "approve", "--payload", '{"ok": true}') == 0
    assert capsys.readouterr().out.startswith("signal 'approve' sent (request ")
    assert await cli(client, "cancel", execution_id, "--reason", "done") == 0
    assert capsys.readouterr().out.startswith("cancel requested")
    assert await cli(client, "terminate", execution_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["execution_id"] == execution_id


async def test_watch_follows_nodes_until_the_end(
    client: Client, db: psycopg.AsyncConnection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    execution_id = unique("exec-cli-watch")
    await insert_execution(db, execution_id, "wf-watch", last_event_id=3)
    scheduled = {
        "activity_id": "a1",
        "node_id": "fetch",
        "scope": "",
        "node_type": "http",
        "attempt": 1,
    }
    await insert_events(
        db,
        execution_id,
        [
            (1, "WorkflowExecutionStarted", {"workflow_id": "wf-watch", "workflow_version": 2}),
            (2, "ActivityTaskScheduled", scheduled),
            (3, "ActivityTaskStarted", {"activity_id": "a1", "attempt": 1}),
        ],
    )
    watching = asyncio.create_task(cli(client, "watch", execution_id))

    # The rest happens while the CLI watches: it shows up live and the watch ends.
    await insert_events(
        db,
        execution_id,
        [
            (4, "NodeCompleted", {"node_id": "fetch", "scope": "", "handle": "success"}),
            (5, "NodeSkipped", {"node_id": "notify", "scope": ""}),
            (6, "WorkflowExecutionCompleted", {"output": {"ok": 1}}),
        ],
    )
    await close_execution(db, execution_id, "completed", 6)
    assert await asyncio.wait_for(watching, 30) == 0
    lines = [line.split("  ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "started wf-watch v2",
        "fetch  scheduled (http, attempt 1)",
        "fetch  running (attempt 1)",
        "fetch  completed",
        "notify  skipped",
        "execution completed",
    ]

    assert await cli(client, "watch", execution_id, "--json") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event_id"] for e in events] == [1, 2, 3, 4, 5, 6]


async def test_errors_exit_1_with_the_message(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = unique("exec-cli-missing")
    assert await cli(client, "get", missing) == 1
    assert capsys.readouterr().err == f"error: no execution '{missing}' (not_found, HTTP 404)\n"
    assert await cli(client, "get", missing, "--json") == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "not_found"
    assert await cli(client, "watch", missing, "--appear-timeout", "0") == 1
    assert "not_found" in capsys.readouterr().err
    code = await asyncio.to_thread(main, ["get", "x", "--api", "http://127.0.0.1:1"])
    assert code == 1
    assert "cannot reach the LinkFlow API at http://127.0.0.1:1" in capsys.readouterr().err
